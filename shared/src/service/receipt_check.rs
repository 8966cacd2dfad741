//! 票据查验: anyone holding a receipt — a reimbursement office, an employer — checks it by its
//! 票据号 and 校验码 (printed on it, and in the QR code of its page). The answer shows only the
//! receipt's essentials: the payer's name masked (张*), the amount in figures and in capitals,
//! the items, the payee, the date and the status (有效 / 已退款). A wrong pair gets one message
//! and reveals nothing (not whether the 票据号 exists). Every lookup counts against the client's
//! address: at most [`CHECKS_PER_CLIENT`] in the failure window, then 429.

use crate::app::App;
use crate::auth::constant_time_eq;
use crate::clock::beijing;
use crate::domain::typed::half_width;
use crate::domain::{AcademicYear, Fen, ReceiptNo};
use crate::error::AppError;
use crate::store::dynamo::hashed_key;
use crate::store::{OrderStore, ReceiptStore, ThrottleStore};
use serde::Serialize;

/// Lookups per client address within the failure window (15 minutes as deployed).
pub const CHECKS_PER_CLIENT: u32 = 60;

/// What the verification shows of a receipt.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckedReceipt {
    pub receipt_no: String,
    /// 张*: the first character, the rest masked.
    pub payer_masked: String,
    pub lines: Vec<CheckedLine>,
    pub total: Fen,
    /// 人民币…: the total in capitals.
    pub total_capitals: String,
    pub payee: String,
    /// The Beijing date of the payment, `YYYY-MM-DD`.
    pub paid_on: String,
    /// `valid` or `refunded`.
    pub status: &'static str,
    /// 有效 / 已退款.
    pub status_label: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct CheckedLine {
    pub academic_year: AcademicYear,
    pub name: String,
    pub amount: Fen,
}

/// `张三` → `张*`, `欧阳小明` → `欧***`.
pub fn masked_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => std::iter::once(first).chain(chars.map(|_| '*')).collect(),
        None => String::new(),
    }
}

impl<S: ReceiptStore + OrderStore + ThrottleStore> App<S> {
    /// Checks a (票据号, 校验码) pair, typed as a phone may type it.
    pub async fn check_receipt(&self, receipt_no: &str, check_code: &str, client_ip: &str) -> Result<CheckedReceipt, AppError> {
        let now = self.clock.now();
        let key = hashed_key("THR#RCHK", &crate::domain::client::throttle_bucket(client_ip));
        if self.store.get_failures(&key).await?.locked_until.is_some_and(|t| t > now) {
            return Err(AppError::TooManyRequests);
        }
        let s = &self.settings;
        self.store.record_failure(&key, now, s.failure_window, CHECKS_PER_CLIENT, s.lock_for).await?;
        let (no, code) = (half_width(receipt_no).to_ascii_uppercase(), half_width(check_code).to_ascii_uppercase());
        let order_no = ReceiptNo::parse(&no).and_then(|r| r.order_no()).ok_or(AppError::ReceiptMismatch)?;
        let order = self.store.get_order(&order_no).await?.ok_or(AppError::ReceiptMismatch)?;
        let receipt = self.store.get_receipt(&order.student_no, &order_no).await?.ok_or(AppError::ReceiptMismatch)?;
        if !constant_time_eq(receipt.check_code.as_bytes(), code.as_bytes()) {
            return Err(AppError::ReceiptMismatch);
        }
        let refunded = receipt.refunded_at.is_some();
        Ok(CheckedReceipt {
            receipt_no: receipt.receipt_no.to_string(),
            payer_masked: masked_name(receipt.payer_name.as_str()),
            lines: receipt
                .lines
                .iter()
                .map(|l| CheckedLine { academic_year: l.academic_year, name: l.name.clone(), amount: l.amount })
                .collect(),
            total: receipt.total,
            total_capitals: format!("人民币{}", receipt.total_capitals()),
            payee: receipt.payee.clone(),
            paid_on: receipt.paid_at.with_timezone(&beijing()).format("%Y-%m-%d").to_string(),
            status: if refunded { "refunded" } else { "valid" },
            status_label: if refunded { "已退款" } else { "有效" },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_after_their_first_character() {
        assert_eq!(masked_name("张三"), "张*");
        assert_eq!(masked_name("欧阳小明"), "欧***");
        assert_eq!(masked_name("赵"), "赵");
        assert_eq!(masked_name(""), "");
    }
}
