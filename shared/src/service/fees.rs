//! 当前费用: what a student owes, per academic year and item, with totals.

use crate::app::App;
use crate::clock::beijing_date;
use crate::domain::{AcademicYear, FeeItem, Fen, NotPayable};
use crate::error::AppError;
use crate::service::Authed;
use crate::store::FeeStore;
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct ItemView {
    pub item_id: String,
    pub name: String,
    pub fee_type: &'static str,
    pub due: Fen,
    pub paid: Fen,
    pub outstanding: Fen,
    pub window_start: NaiveDate,
    pub window_end: NaiveDate,
    pub status: &'static str,
    pub payable: bool,
    pub not_payable_reason: Option<NotPayable>,
}

#[derive(Debug, Serialize)]
pub struct YearView {
    pub academic_year: AcademicYear,
    pub items: Vec<ItemView>,
    pub due: Fen,
    pub paid: Fen,
    pub outstanding: Fen,
}

#[derive(Debug, Serialize)]
pub struct FeesView {
    pub years: Vec<YearView>,
    pub total_due: Fen,
    pub total_paid: Fen,
    pub total_outstanding: Fen,
    /// What can be paid today (charging, inside its window).
    pub payable_outstanding: Fen,
}

/// Groups items by academic year (newest first) and totals them. Items with nothing
/// outstanding are shown but never counted as payable.
pub fn summarise(items: Vec<FeeItem>, today: NaiveDate) -> FeesView {
    let mut by_year: BTreeMap<AcademicYear, Vec<FeeItem>> = BTreeMap::new();
    for it in items {
        by_year.entry(it.academic_year).or_default().push(it);
    }
    let mut payable_outstanding = Fen::ZERO;
    let years: Vec<YearView> = by_year
        .into_iter()
        .rev()
        .map(|(year, mut items)| {
            items.sort_by(|a, b| (a.fee_type as u8, &a.item_id).cmp(&(b.fee_type as u8, &b.item_id)));
            let views: Vec<ItemView> = items
                .iter()
                .map(|it| {
                    let pay = it.payability(today);
                    if pay.is_ok() {
                        payable_outstanding = payable_outstanding.checked_add(it.outstanding()).expect("bounded amounts");
                    }
                    ItemView {
                        item_id: it.item_id.as_str().to_owned(),
                        name: it.name.clone(),
                        fee_type: it.fee_type.as_str(),
                        due: it.due,
                        paid: it.paid,
                        outstanding: it.outstanding(),
                        window_start: it.window_start,
                        window_end: it.window_end,
                        status: it.status.as_str(),
                        payable: pay.is_ok(),
                        not_payable_reason: pay.err().filter(|r| *r != NotPayable::NothingOwed),
                    }
                })
                .collect();
            YearView {
                academic_year: year,
                due: items.iter().map(|i| i.due).sum(),
                paid: items.iter().map(|i| i.paid).sum(),
                outstanding: items.iter().map(FeeItem::outstanding).sum(),
                items: views,
            }
        })
        .collect();
    FeesView {
        total_due: years.iter().map(|y| y.due).sum(),
        total_paid: years.iter().map(|y| y.paid).sum(),
        total_outstanding: years.iter().map(|y| y.outstanding).sum(),
        payable_outstanding,
        years,
    }
}

impl<S: FeeStore> App<S> {
    pub async fn fees(&self, who: &Authed) -> Result<FeesView, AppError> {
        let items = self.store.list_fee_items(&who.student_no).await?;
        Ok(summarise(items, beijing_date(self.clock.now())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::*;

    fn item(year: &str, id: &str, due: i64, paid: i64, status: ChargeStatus) -> FeeItem {
        FeeItem {
            academic_year: AcademicYear::parse(year).unwrap(),
            item_id: ItemId::parse(id).unwrap(),
            name: id.into(),
            fee_type: FeeType::Tuition,
            due: Fen::new(due),
            paid: Fen::new(paid),
            window_start: NaiveDate::from_ymd_opt(2024, 9, 1).unwrap(),
            window_end: NaiveDate::from_ymd_opt(2026, 8, 31).unwrap(),
            status,
        }
    }

    #[test]
    fn totals_and_payable() {
        let today = NaiveDate::from_ymd_opt(2025, 10, 1).unwrap();
        let v = summarise(
            vec![
                item("2024-2025", "TUITION", 350_000, 100_000, ChargeStatus::Charging),
                item("2025-2026", "TUITION", 350_000, 0, ChargeStatus::Charging),
                item("2025-2026", "BOOKS", 30_050, 0, ChargeStatus::Stopped),
                item("2025-2026", "EXAM", 10_000, 12_000, ChargeStatus::Charging),
            ],
            today,
        );
        assert_eq!(v.years[0].academic_year.to_string(), "2025-2026", "newest first");
        assert_eq!(v.total_due, Fen::new(740_050));
        assert_eq!(v.total_paid, Fen::new(112_000));
        assert_eq!(v.total_outstanding, Fen::new(630_050), "overpayment of one item never offsets another");
        assert_eq!(v.payable_outstanding, Fen::new(600_000));
        let books = v.years[0].items.iter().find(|i| i.item_id == "BOOKS").unwrap();
        assert!(!books.payable);
        assert_eq!(books.not_payable_reason, Some(NotPayable::Stopped));
        let exam = v.years[0].items.iter().find(|i| i.item_id == "EXAM").unwrap();
        assert_eq!((exam.payable, exam.not_payable_reason), (false, None));
    }
}
