//! Storage capabilities, each a small trait, and an in-memory implementation of them
//! ([`memory::MemStore`]) for fast service and property tests. The DynamoDB implementation is
//! `shared::store::DynamoStore`; its access patterns, keys and conditions are documented in
//! `docs/data-model.md`. No AWS here: this crate's dependencies are the proof.

pub mod audit;
pub mod import;
pub mod memory;
pub mod outbox;
pub mod receipts;
pub mod reconcile;
pub mod records;
pub mod refunds;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{Contact, FeeItem, IdCardNo, OrderType, PersonName, Serial, Student, StudentNo, UnitId};

pub use audit::AuditStore;
pub use import::{BillWrite, ImportManifest, ImportStore};
pub use outbox::{OutboxSms, OutboxStore, SmsState};
pub use receipts::{ReceiptLink, ReceiptStore};
pub use reconcile::ReconcileStore;
pub use records::{AnnouncementStore, EnrolmentStore, HistoryStore, OfflinePaymentStore, OrderRecord, PaymentHistory};
pub use refunds::RefundStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A conditional write found a state other than the one it expected.
    #[error("conditional write failed: the item changed or already exists")]
    Conflict,
    #[error("item not found")]
    NotFound,
    /// The daily counter is exhausted (999999 orders of one type and unit in one day).
    #[error("daily order serial exhausted")]
    SerialExhausted,
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

/// How an account's password is checked.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    /// Still the initial password: the last 8 ID-card characters (the name for other users).
    /// It is a function of the profile stored beside it, so a hash of it would hide nothing
    /// from anyone who can read the table, and hashing 30,000 of them makes an import spend
    /// most of its time in argon2id. It is checked against the profile at the same cost as a
    /// hash (`Hasher::verify_derived`) and replaced by a hash at the first change.
    ///
    /// It stops working at `expires_at` (issue #12: a guessable password must not wait for
    /// whoever guesses it first); a stored one without the date is taken as expired.
    Initial { expires_at: DateTime<Utc> },
    /// The argon2id PHC string of a password the user chose.
    Hash(String),
}

/// Login state of an account. `version` makes every change a compare-and-set.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub password: Password,
    pub must_change: bool,
    pub security_question: Option<String>,
    pub security_answer_hash: Option<String>,
    pub version: u64,
}

impl Credential {
    /// A new account's: the initial password until `expires_at`, to be changed at first login
    /// (after proving the phone on file).
    pub fn initial(expires_at: DateTime<Utc>) -> Self {
        Self {
            password: Password::Initial { expires_at },
            must_change: true,
            security_question: None,
            security_answer_hash: None,
            version: 1,
        }
    }

    /// Still on the initial password: the first login has not been completed.
    pub fn is_initial(&self) -> bool {
        matches!(self.password, Password::Initial { .. })
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("must_change", &self.must_change)
            .field("has_security_question", &self.security_question.is_some())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait StudentStore: Send + Sync {
    async fn get_student(&self, no: &StudentNo) -> Result<Option<Student>, StoreError>;
    /// The stored students among `nos` (strongly consistent; one store call per 100).
    async fn get_students(&self, nos: &[StudentNo]) -> Result<std::collections::HashMap<StudentNo, Student>, StoreError>;
    /// Finds an account by ID-card number (GSI).
    async fn find_by_id_card(&self, id: &IdCardNo) -> Result<Option<StudentNo>, StoreError>;
    /// Creates a student and their initial credential together; `Conflict` if either exists.
    async fn create_student(&self, student: &Student, credential: &Credential) -> Result<(), StoreError>;
    /// Replaces the contact details of an existing student, with its audit entry and, when
    /// given, an SMS queued in the outbox (the notice to the replaced phone), all or nothing.
    async fn update_contact(
        &self,
        no: &StudentNo,
        contact: &Contact,
        audit: &domain::AuditEntry,
        notice: Option<&OutboxSms>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait CredentialStore: Send + Sync {
    async fn get_credential(&self, no: &StudentNo) -> Result<Option<Credential>, StoreError>;
    /// Writes `next` if the stored version still equals `expected_version`; `next.version`
    /// must be `expected_version + 1`.
    /// `audit` describes the change and `notice`, when given, is the SMS telling the student
    /// about it (queued in the outbox): both written in the same transaction.
    async fn replace_credential(
        &self,
        no: &StudentNo,
        expected_version: u64,
        next: &Credential,
        audit: &domain::AuditEntry,
        notice: Option<&OutboxSms>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait FeeStore: Send + Sync {
    async fn list_fee_items(&self, no: &StudentNo) -> Result<Vec<FeeItem>, StoreError>;
    /// Creates a fee item; `Conflict` if that (year, item) already exists for the student.
    async fn create_fee_item(&self, no: &StudentNo, item: &FeeItem) -> Result<(), StoreError>;
}

/// A login session; the JWT names it, logout deletes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_id: String,
    pub student_no: StudentNo,
    pub created_at: DateTime<Utc>,
    /// Absolute end, however active the session is.
    pub expires_at: DateTime<Utc>,
    /// The student's name at login (orders made in the session name their payer with it).
    /// `None` for sessions started before it was kept.
    pub name: Option<PersonName>,
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new session, only while the student's credential is still at
    /// `credential_version` — the version whose password the login checked. `Conflict` when it
    /// changed since: a password change (or reset) ends every session, including one being
    /// opened with the old password at that moment.
    async fn create_session(&self, s: &SessionRecord, credential_version: u64) -> Result<(), StoreError>;
    /// A session is named by its student and its id (the token carries both).
    async fn get_session(&self, student: &StudentNo, session_id: &str) -> Result<Option<SessionRecord>, StoreError>;
    async fn delete_session(&self, student: &StudentNo, session_id: &str) -> Result<(), StoreError>;
    /// Ends every session of `student` but `keep` (after a password change or reset); returns
    /// how many ended.
    async fn end_sessions(&self, student: &StudentNo, keep: Option<&str>) -> Result<usize, StoreError>;
}

/// Failure counter of one key (an account name or a client address) inside a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureState {
    pub failures: u32,
    pub window_start: Option<DateTime<Utc>>,
    pub locked_until: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    async fn get_failures(&self, key: &str) -> Result<FailureState, StoreError>;
    /// Atomically counts one failure. A window older than `window` restarts at 1. When the count
    /// reaches `lock_after`, the key is locked until `now + lock_for` and the count restarts.
    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<FailureState, StoreError>;
    async fn clear_failures(&self, key: &str) -> Result<(), StoreError>;
}

/// A password-reset code sent by SMS.
#[derive(Clone, PartialEq, Eq)]
pub struct ResetCode {
    pub code_hash: String,
    pub sent_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub tries_left: u32,
}

#[async_trait]
pub trait ResetCodeStore: Send + Sync {
    async fn get_reset_code(&self, no: &StudentNo) -> Result<Option<ResetCode>, StoreError>;
    /// Stores a new code unless one was sent after `cooldown_before` (then `Conflict`).
    async fn put_reset_code(&self, no: &StudentNo, code: &ResetCode, cooldown_before: DateTime<Utc>) -> Result<(), StoreError>;
    /// Takes one try if any are left (`Conflict` otherwise); returns the tries left after it.
    async fn take_reset_try(&self, no: &StudentNo) -> Result<u32, StoreError>;
    async fn delete_reset_code(&self, no: &StudentNo) -> Result<(), StoreError>;
}

#[async_trait]
pub trait SerialCounter: Send + Sync {
    /// The next daily serial for (type, Beijing date, unit): 1, 2, 3 … never twice, never above
    /// 999999 (`SerialExhausted`).
    async fn next_serial(&self, order_type: OrderType, day: NaiveDate, unit: UnitId) -> Result<Serial, StoreError>;
}

/// Orders and the locks that keep each fee item in at most one open order.
#[async_trait]
pub trait OrderStore: Send + Sync {
    /// Every change below writes its audit entry (`by`) in the same transaction.
    /// Writes the order and one lock per line in one transaction; `Conflict` if the order
    /// number is taken or any item is already locked by an open order.
    async fn create_order(&self, order: &domain::Order, by: &domain::By) -> Result<(), StoreError>;
    async fn get_order(&self, no: &domain::OrderNo) -> Result<Option<domain::Order>, StoreError>;
    /// The open order holding `item_key` (`2025-2026#TUITION`) for the student, if any.
    async fn open_order_for_item(&self, student: &StudentNo, item_key: &str) -> Result<Option<domain::OrderNo>, StoreError>;
    /// The open orders holding any of `item_keys` (each once, in no particular order): one
    /// batched read for every item of an order.
    async fn open_orders_for_items(&self, student: &StudentNo, item_keys: &[String]) -> Result<Vec<domain::OrderNo>, StoreError>;
    /// Open → Closed at `expected_version`, releasing the order's item locks.
    async fn close_order(&self, order: &domain::Order, by: &domain::By) -> Result<(), StoreError>;
    /// Changes the receipt phone of an open order at `expected_version`.
    async fn set_receipt_phone(&self, order: &domain::Order, phone: &domain::Phone, by: &domain::By) -> Result<(), StoreError>;
}

/// Attempts and the payment transition.
#[async_trait]
pub trait PaymentStore: Send + Sync {
    /// Records a new attempt and bumps the order's attempt count, if the order is still open at
    /// its version; `Conflict` otherwise (or if the out-trade-no exists).
    async fn create_attempt(&self, order: &domain::Order, attempt: &domain::Attempt, by: &domain::By) -> Result<(), StoreError>;
    async fn get_attempt(&self, no: &domain::OutTradeNo) -> Result<Option<domain::Attempt>, StoreError>;
    /// An order's attempts in the order they were made.
    async fn list_attempts(&self, order: &domain::OrderNo) -> Result<Vec<domain::Attempt>, StoreError>;
    /// An order with its attempts, in one read. Not isolated from a payment committing
    /// meanwhile: the attempts may show a payment the order does not yet (read the order again).
    async fn order_with_attempts(&self, order: &domain::OrderNo) -> Result<Option<(domain::Order, Vec<domain::Attempt>)>, StoreError>;
    /// Created → Closed (the gateway closed it and a query proved it unpaid).
    async fn close_attempt(&self, attempt: &domain::Attempt, by: &domain::By) -> Result<(), StoreError>;
    /// An attempt with its order, read together (one round trip: they share a partition).
    /// `None`: no such attempt. An attempt whose order is missing is `Corrupt`.
    async fn payment_state(&self, no: &domain::OutTradeNo) -> Result<Option<(domain::Attempt, domain::Order)>, StoreError>;
    /// Keeps a verified notification as received (body and relevant headers), before acting on it.
    async fn store_notification(&self, raw: &RawNotification) -> Result<(), StoreError>;
    /// Applies the payment transition decided in the domain ([`domain::PaymentTransition`]) as
    /// one transaction, every write conditional on the state the decision was made on:
    /// `OrderPaid` — attempt → paid, order → paid at its version, each fee item credited with
    /// its line (at most once per out-trade-no), the item locks released, the bank transaction,
    /// the receipt, its public link and its SMS in the outbox (each `attribute_not_exists`) and
    /// both audit entries; `DuplicatePaid` — attempt → duplicate-paid, its bank transaction and
    /// entry. `raw`, the notification that vouched for the payment, is kept in the same
    /// transaction (on its own for `AlreadyRecorded`, which writes nothing else). `Conflict`:
    /// something changed since the read; read again and decide again.
    async fn apply_payment(&self, transition: &domain::PaymentTransition, raw: Option<&RawNotification>) -> Result<(), StoreError>;
}

/// A verified gateway notification as received, kept under the attempt (or refund) it names.
/// Its `Debug` leaves the body out: bodies carry payers' accounts and phones.
#[derive(Clone)]
pub struct RawNotification {
    pub channel: domain::Channel,
    /// The out-trade-no or refund number the notification is about.
    pub subject: String,
    pub received_at: DateTime<Utc>,
    /// The body (and for WeChat the signature headers), exactly as received.
    pub raw: String,
}

impl RawNotification {
    pub fn new(channel: domain::Channel, subject: impl std::fmt::Display, received_at: DateTime<Utc>, raw: impl Into<String>) -> Self {
        Self { channel, subject: subject.to_string(), received_at, raw: raw.into() }
    }
}

impl std::fmt::Debug for RawNotification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawNotification")
            .field("channel", &self.channel)
            .field("subject", &self.subject)
            .field("received_at", &self.received_at)
            .field("raw", &format_args!("<{} bytes>", self.raw.len()))
            .finish()
    }
}

/// The sweeper's work list (a sparse index, eventually consistent: every item it returns is
/// re-read before anything is changed).
#[async_trait]
pub trait SweepStore: Send + Sync {
    /// Unsettled (Created) attempts started before `before`, oldest first.
    async fn attempts_created_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<domain::Attempt>, StoreError>;
    /// Open orders whose expiry is before `before`, earliest first.
    async fn open_orders_expired_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<domain::Order>, StoreError>;
    /// Duplicate payments (`duplicate_paid` attempts) recorded before `before`, oldest first:
    /// the automatic refund's work list and reconciliation's "unrefunded after a day". An
    /// attempt leaves it when a refund of it begins, and comes back (by the time that refund was
    /// asked for) when the gateway refuses it.
    async fn duplicates_paid_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<domain::Attempt>, StoreError>;
}
