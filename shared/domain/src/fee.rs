//! 费用: fee items a student owes, per academic year.

use super::academic_year::AcademicYear;
use super::money::Fen;
use chrono::NaiveDate;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item id must be 1-20 upper-case letters, digits or underscores")]
pub struct ItemIdError;

/// A fee item's id within an academic year (e.g. `TUITION`, `BOOKS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    pub fn parse(raw: &str) -> Result<Self, ItemIdError> {
        let s = raw.trim();
        if (1..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
            Ok(Self(s.to_owned()))
        } else {
            Err(ItemIdError)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// 收费类型.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum FeeType {
    #[serde(rename = "学费")]
    Tuition,
    #[serde(rename = "其他")]
    Other,
}

impl FeeType {
    pub fn as_str(self) -> &'static str {
        match self {
            FeeType::Tuition => "学费",
            FeeType::Other => "其他",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "学费" => Some(Self::Tuition),
            "其他" | "其他费用" => Some(Self::Other),
            _ => None,
        }
    }
}

/// 收费状态: 收费 (being charged now) or 停止 (charging suspended).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum ChargeStatus {
    #[serde(rename = "收费")]
    Charging,
    #[serde(rename = "停止")]
    Stopped,
}

impl ChargeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ChargeStatus::Charging => "收费",
            ChargeStatus::Stopped => "停止",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "收费" => Some(Self::Charging),
            "停止" => Some(Self::Stopped),
            _ => None,
        }
    }
}

/// Why an item with something outstanding cannot be paid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum NotPayable {
    #[serde(rename = "暂停收费")]
    Stopped,
    #[serde(rename = "不在收费时间内")]
    OutsideWindow,
    #[serde(rename = "已缴清")]
    NothingOwed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeItem {
    pub academic_year: AcademicYear,
    pub item_id: ItemId,
    pub name: String,
    pub fee_type: FeeType,
    pub due: Fen,
    pub paid: Fen,
    /// Charging window, inclusive, Beijing dates.
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub status: ChargeStatus,
}

/// `2025-2026#TUITION`: how an item is named in keys, locks and item sets.
pub fn item_key(year: &AcademicYear, id: &ItemId) -> String {
    format!("{year}#{}", id.as_str())
}

impl FeeItem {
    /// This item's [`item_key`].
    pub fn item_key(&self) -> String {
        item_key(&self.academic_year, &self.item_id)
    }

    pub fn outstanding(&self) -> Fen {
        self.due.saturating_outstanding(self.paid)
    }

    /// Whether a payment of `amount` made elsewhere (offline) may credit this item: not more
    /// than it still owes.
    pub fn accepts_credit(&self, amount: Fen) -> bool {
        amount <= self.outstanding()
    }

    /// Whether the student may pay this item on `today` (Beijing date).
    pub fn payability(&self, today: NaiveDate) -> Result<(), NotPayable> {
        if self.outstanding().is_zero() {
            Err(NotPayable::NothingOwed)
        } else if self.status == ChargeStatus::Stopped {
            Err(NotPayable::Stopped)
        } else if today < self.window_start || today > self.window_end {
            Err(NotPayable::OutsideWindow)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(status: ChargeStatus, paid: i64) -> FeeItem {
        FeeItem {
            academic_year: AcademicYear::parse("2025-2026").unwrap(),
            item_id: ItemId::parse("TUITION").unwrap(),
            name: "学费".into(),
            fee_type: FeeType::Tuition,
            due: Fen::new(350_000),
            paid: Fen::new(paid),
            window_start: NaiveDate::from_ymd_opt(2025, 9, 1).unwrap(),
            window_end: NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
            status,
        }
    }

    #[test]
    fn payability() {
        let d = |m, day| NaiveDate::from_ymd_opt(2025, m, day).unwrap();
        assert_eq!(item(ChargeStatus::Charging, 0).payability(d(9, 1)), Ok(()));
        assert_eq!(item(ChargeStatus::Charging, 0).payability(d(8, 31)), Err(NotPayable::OutsideWindow));
        assert_eq!(item(ChargeStatus::Stopped, 0).payability(d(10, 1)), Err(NotPayable::Stopped));
        assert_eq!(item(ChargeStatus::Charging, 350_000).payability(d(10, 1)), Err(NotPayable::NothingOwed));
        assert_eq!(item(ChargeStatus::Charging, 100_000).outstanding(), Fen::new(250_000));
    }

    #[test]
    fn item_ids() {
        assert!(ItemId::parse("TUITION_2").is_ok());
        assert!(ItemId::parse("tuition").is_err());
        assert!(ItemId::parse("").is_err());
    }
}
