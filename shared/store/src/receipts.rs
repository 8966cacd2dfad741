//! E-receipts as stored: issued only inside the payment transition (see
//! `PaymentStore::record_payment`), read here.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{OrderNo, Receipt, StudentNo};

/// What a public receipt link names. The token itself is never stored, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptLink {
    pub student_no: StudentNo,
    pub order_no: OrderNo,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait ReceiptStore: Send + Sync {
    /// The receipt of one of the student's orders, if that order is paid.
    async fn get_receipt(&self, student: &StudentNo, order: &OrderNo) -> Result<Option<Receipt>, StoreError>;
    /// Every receipt of the student, newest first.
    async fn list_receipts(&self, student: &StudentNo) -> Result<Vec<Receipt>, StoreError>;
    /// The link whose token hashes to `token_hash`, expired or not.
    async fn get_receipt_link(&self, token_hash: &str) -> Result<Option<ReceiptLink>, StoreError>;
}
