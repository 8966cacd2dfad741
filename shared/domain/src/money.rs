//! Money: integer fen (分) inside, `rust_decimal` yuan at the edges. No floats anywhere.

use rust_decimal::Decimal;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount is not a number")]
    NotANumber,
    #[error("amount has more than two decimal places")]
    TooPrecise,
    #[error("amount is negative")]
    Negative,
    #[error("amount is out of range")]
    OutOfRange,
}

/// An amount of money in fen (0.01 元). Non-negative amounts are the norm; differences may be
/// negative, so the inner type is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Fen(i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);
    /// Upper bound for one amount: 100,000,000,000.00 元 — far above any tuition bill.
    pub const MAX: Fen = Fen(10_000_000_000_000);

    pub const fn new(fen: i64) -> Self {
        Fen(fen)
    }
    pub const fn get(self) -> i64 {
        self.0
    }

    /// Parses a non-negative yuan amount with at most two decimals, e.g. `"3500"`, `"0.01"`.
    pub fn parse_yuan(raw: &str) -> Result<Self, MoneyError> {
        let t = raw.trim();
        let t = t.strip_prefix('-').map_or(t, |rest| rest);
        let plain = !t.is_empty()
            && !t.starts_with('.')
            && !t.ends_with('.')
            && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
            && t.bytes().filter(|&b| b == b'.').count() <= 1;
        if !plain {
            return Err(MoneyError::NotANumber);
        }
        let d: Decimal = raw.trim().parse().map_err(|_| MoneyError::NotANumber)?;
        Self::from_yuan(d)
    }

    /// From a decimal yuan amount with at most two decimals; never rounds.
    pub fn from_yuan(d: Decimal) -> Result<Self, MoneyError> {
        if d.is_sign_negative() && !d.is_zero() {
            return Err(MoneyError::Negative);
        }
        let d = d.normalize();
        if d.scale() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let fen = d.checked_mul(Decimal::ONE_HUNDRED).ok_or(MoneyError::OutOfRange)?;
        let fen: i64 = fen.try_into().map_err(|_| MoneyError::OutOfRange)?;
        if fen > Self::MAX.0 {
            return Err(MoneyError::OutOfRange);
        }
        Ok(Fen(fen))
    }

    /// The amount in yuan as an exact decimal with two places.
    pub fn to_yuan(self) -> Decimal {
        Decimal::new(self.0, 2)
    }

    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
    pub fn checked_sub(self, other: Fen) -> Option<Fen> {
        self.0.checked_sub(other.0).map(Fen)
    }
    /// `max(self - other, 0)`: what is still owed.
    pub fn saturating_outstanding(self, paid: Fen) -> Fen {
        Fen((self.0 - paid.0).max(0))
    }
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl std::iter::Sum for Fen {
    fn sum<I: Iterator<Item = Fen>>(iter: I) -> Fen {
        Fen(iter.map(|f| f.0).sum())
    }
}

/// `3500.00` — the yuan string with exactly two decimals used on the wire and in gateways.
impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

impl Fen {
    /// `¥1,234.50` for people.
    pub fn to_display_yuan(self) -> String {
        let grouped = self.to_grouped();
        match grouped.strip_prefix('-') {
            Some(abs) => format!("-¥{abs}"),
            None => format!("¥{grouped}"),
        }
    }

    /// `1,234.50`: yuan with thousands separators, for a column headed 金额（元）.
    pub fn to_grouped(self) -> String {
        let plain = self.to_string();
        let (int, frac) = plain.split_once('.').expect("two decimals");
        let (sign, digits) = int.strip_prefix('-').map_or(("", int), |d| ("-", d));
        let mut grouped = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        format!("{sign}{grouped}.{frac}")
    }
}

impl serde::Serialize for Fen {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_yuan_exactly() {
        assert_eq!(Fen::parse_yuan("0.01"), Ok(Fen(1)));
        assert_eq!(Fen::parse_yuan("0.03"), Ok(Fen(3))); // the classic float bug gives 2
        assert_eq!(Fen::parse_yuan("3500"), Ok(Fen(350_000)));
        assert_eq!(Fen::parse_yuan("3500.10"), Ok(Fen(350_010)));
        assert_eq!(Fen::parse_yuan("1.10000"), Ok(Fen(110)));
        assert_eq!(Fen::parse_yuan("0.001"), Err(MoneyError::TooPrecise));
        assert_eq!(Fen::parse_yuan("-1"), Err(MoneyError::Negative));
        assert_eq!(Fen::parse_yuan("abc"), Err(MoneyError::NotANumber));
        assert_eq!(Fen::parse_yuan("1e3"), Err(MoneyError::NotANumber));
        assert_eq!(Fen::parse_yuan("100000000001"), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn formats() {
        assert_eq!(Fen(1).to_string(), "0.01");
        assert_eq!(Fen(350_010).to_string(), "3500.10");
        assert_eq!(Fen(-5).to_string(), "-0.05");
        assert_eq!(Fen(123_456_789).to_display_yuan(), "¥1,234,567.89");
        assert_eq!(Fen(99).to_display_yuan(), "¥0.99");
        assert_eq!(Fen(100_000).to_display_yuan(), "¥1,000.00");
        assert_eq!(Fen(-100_000).to_display_yuan(), "-¥1,000.00");
        assert_eq!(Fen(260_000).to_grouped(), "2,600.00");
        assert_eq!(Fen(12_050).to_grouped(), "120.50");
        assert_eq!(Fen(350_010).to_yuan().to_string(), "3500.10");
        assert_eq!(serde_json::to_string(&Fen(7)).unwrap(), "\"0.07\"");
    }

    #[test]
    fn arithmetic() {
        assert_eq!(Fen(500).saturating_outstanding(Fen(700)), Fen::ZERO);
        assert_eq!(Fen(700).saturating_outstanding(Fen(500)), Fen(200));
        assert_eq!([Fen(1), Fen(2)].into_iter().sum::<Fen>(), Fen(3));
        assert_eq!(Fen(i64::MAX).checked_add(Fen(1)), None);
    }
}
