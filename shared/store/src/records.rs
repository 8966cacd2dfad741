//! Storage capabilities of 交易查询 (a student's payment history), payments recorded by
//! operators, 系统公告 and 报名信息. Keys and conditions: `docs/data-model.md`.

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Announcement, Enrolment, OfflineOutcome, OfflinePayment, Order, OutTradeNo, PaymentRef, StudentNo};

/// An order as 交易查询 needs it: with when, and by which attempt, it was paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub order: Order,
    /// The attempt that paid it and when the gateway says it was paid; `None` unless paid.
    pub paid: Option<(OutTradeNo, DateTime<Utc>)>,
    /// When the payment that paid it was refunded (退款), if it was.
    pub refunded_at: Option<DateTime<Utc>>,
}

/// What a student paid, and tried to pay, as their history lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PaymentHistory {
    /// Every order of the student, in any state.
    pub orders: Vec<OrderRecord>,
    /// Every offline payment recorded for the student.
    pub offline: Vec<OfflinePayment>,
}

/// A student's payment history (one index query; eventually consistent — a payment a second
/// old may not be listed yet).
#[async_trait]
pub trait HistoryStore: Send + Sync {
    async fn payment_history(&self, student: &StudentNo) -> Result<PaymentHistory, StoreError>;
    /// One order with its payment facts (strongly consistent).
    async fn order_record(&self, no: &domain::OrderNo) -> Result<Option<OrderRecord>, StoreError>;
}

/// Payments made outside this platform, recorded by operators or the fee-import job.
#[async_trait]
pub trait OfflinePaymentStore: Send + Sync {
    /// Stores the payment and credits each of its fee items with its line, in one transaction
    /// conditional on the reference being new and on no item having been credited by it.
    /// The same payment again is `AlreadyRecorded`; the reference already naming a different
    /// payment is `Conflict`; a fee item that does not exist is `NotFound` (nothing written).
    /// Records `payment` and credits its items, all or nothing, if each item still has the due
    /// it had when read (`dues`, one per line), owes at least its line, and is held by no open
    /// order. `AlreadyRecorded` for the same payment again; `NotFound` for a missing item;
    /// `Conflict` when the reference names another payment or an item changed or is held.
    async fn record_offline_payment(
        &self,
        payment: &OfflinePayment,
        dues: &[domain::Fen],
        by: &domain::By,
    ) -> Result<OfflineOutcome, StoreError>;
    async fn get_offline_payment(&self, reference: &PaymentRef) -> Result<Option<OfflinePayment>, StoreError>;
}

/// 系统公告, written by operators in the DynamoDB console.
#[async_trait]
pub trait AnnouncementStore: Send + Sync {
    /// Every announcement item that parses; an item an operator mistyped is left out and logged.
    async fn list_announcements(&self) -> Result<Vec<Announcement>, StoreError>;
    /// Creates one (seed data; operators use the console); `Conflict` if the id exists.
    async fn create_announcement(&self, a: &Announcement) -> Result<(), StoreError>;
}

/// 报名信息.
#[async_trait]
pub trait EnrolmentStore: Send + Sync {
    async fn get_enrolment(&self, student: &StudentNo) -> Result<Option<Enrolment>, StoreError>;
    /// Creates the record (seed or import); `Conflict` if the student has one.
    async fn create_enrolment(&self, student: &StudentNo, e: &Enrolment) -> Result<(), StoreError>;
}
