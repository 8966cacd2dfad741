//! Refunds (operators' tool): the attempt's `paid|duplicate_paid → refunding → refunded`
//! transitions with their refund item and audit entries. Keys: `docs/data-model.md`.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Attempt, By, Order, OrderNo, Refund, RefundNo};

#[async_trait]
pub trait RefundStore: Send + Sync {
    /// One transaction: the attempt `refund.prior_state → refunding` (conditional on its state),
    /// the refund item put (new, or replacing a failed one of the same number), and the
    /// `RefundRequested` audit entry. `Conflict` if the attempt moved meanwhile.
    async fn begin_refund(&self, attempt: &Attempt, refund: &Refund, by: &By) -> Result<(), StoreError>;
    async fn get_refund(&self, order: &OrderNo, no: &RefundNo) -> Result<Option<Refund>, StoreError>;
    /// One transaction: refund `requested → succeeded`, attempt `refunding → refunded`, the bank
    /// record (`TXN#`) `refunded`, the `RefundSucceeded` entry; and when the refunded attempt
    /// had paid its order (`order` given): each fee item `paid_fen − line` (once: the
    /// out-trade-no leaves `credited_by`), the order and its receipt marked refunded.
    /// `Conflict` if it was settled meanwhile. `notice`: an SMS to queue in the same
    /// transaction (the student told a duplicate payment went back).
    async fn refund_succeeded(
        &self,
        refund: &Refund,
        order: Option<&Order>,
        gateway_no: Option<&str>,
        by: &By,
        notice: Option<&crate::outbox::OutboxSms>,
    ) -> Result<(), StoreError>;
    /// One transaction: refund `requested → failed` with the gateway's words, attempt
    /// `refunding → prior state`, the `RefundFailed` entry. `Conflict` if settled meanwhile.
    async fn refund_failed(&self, refund: &Refund, message: &str, by: &By) -> Result<(), StoreError>;
    /// One more send of a requested refund recorded at `at` (appended to `resent_at`),
    /// conditional on the refund still `requested` with the sends as read. `Conflict` if it was
    /// settled or sent again meanwhile.
    async fn refund_resent(&self, refund: &Refund, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// Refunds still `requested` that were asked for before `before`, oldest first (gsi2).
    async fn refunds_requested_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Refund>, StoreError>;
}
