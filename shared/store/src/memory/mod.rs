//! Every payment-side capability in memory, for fast service tests and property tests of the
//! order, payment, refund and expiry state machine: no AWS, no moto, microseconds a call.
//!
//! It keeps the DynamoDB implementation's contract, conditions included: each method checks
//! every condition its transaction carries first, then applies all of its writes or none
//! (`Conflict`), under one lock — a transaction. What it does not model is DynamoDB itself
//! (eventually consistent indexes, paging, capacity): the moto integration tests cover that.
//!
//! Implemented: students, sessions, fee items, the serial counter, orders, attempts and payments, the
//! sweeper's lists, refunds, receipts, the SMS outbox and the audit log. Not yet: credentials,
//! throttles, reset codes, imports, records and reconciliation (their services run
//! against moto).

mod orders;
mod outbox;
mod refunds;

use crate::{AuditStore, Credential, OutboxSms, RawNotification, ReceiptLink};
use crate::{FailureState, FeeStore, SerialCounter, SessionRecord, SessionStore, StoreError, StudentStore, ThrottleStore};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use domain::{
    AttemptState, AuditEntry, AuditSubject, Contact, Fen, IdCardNo, Order, OrderNo, OrderType, OutTradeNo, Receipt, Refund, RefundNo,
    Serial, Student, StudentNo, UnitId,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard};

/// A fee item as stored: the item, and the payments that credited it (each at most once).
#[derive(Debug, Clone)]
struct FeeRow {
    item: domain::FeeItem,
    credited_by: BTreeSet<OutTradeNo>,
}

/// An order as stored: what the domain sees, and who paid and refunded it.
#[derive(Debug, Clone)]
struct OrderRow {
    order: Order,
    paid_by: Option<OutTradeNo>,
    refunded: bool,
}

/// One 银行交易记录 (bank transaction) of a paid attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankTransaction {
    pub out_trade_no: OutTradeNo,
    pub order_no: OrderNo,
    pub amount: Fen,
    pub gateway_trade_no: String,
    /// `paid`, `duplicate_paid` or, once given back, `refunded`.
    pub state: AttemptState,
}

#[derive(Default)]
struct Tables {
    students: BTreeMap<StudentNo, Student>,
    credentials: BTreeMap<StudentNo, Credential>,
    fees: BTreeMap<(StudentNo, String), FeeRow>,
    serials: HashMap<(String, NaiveDate, String), u64>,
    orders: BTreeMap<OrderNo, OrderRow>,
    /// (student, item key) → the open order holding it.
    locks: BTreeMap<(StudentNo, String), OrderNo>,
    attempts: BTreeMap<OutTradeNo, domain::Attempt>,
    bank: BTreeMap<OutTradeNo, (StudentNo, BankTransaction)>,
    notifications: Vec<RawNotification>,
    receipts: BTreeMap<(StudentNo, OrderNo), Receipt>,
    links: BTreeMap<String, ReceiptLink>,
    outbox: BTreeMap<String, OutboxSms>,
    refunds: BTreeMap<(OrderNo, RefundNo), Refund>,
    audit: Vec<AuditEntry>,
    sessions: BTreeMap<String, SessionRecord>,
    throttles: HashMap<String, FailureState>,
}

/// The in-memory store. Cheap to clone: clones share the tables (as two functions share a table).
#[derive(Clone, Default)]
pub struct MemStore {
    tables: std::sync::Arc<Mutex<Tables>>,
    interleave: bool,
    lost_races: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// A store whose state-machine calls (reads and transitions of orders, attempts, payments
    /// and refunds) each give way once before they run, so that concurrent callers joined in
    /// one task interleave between their read and their write — the races a real table sees.
    pub fn interleaving() -> Self {
        Self { interleave: true, ..Self::default() }
    }

    /// Gives way once if interleaving.
    async fn pause(&self) {
        if self.interleave {
            YieldOnce(false).await;
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tables> {
        // A panic while holding the lock happens only inside a failing test; its tables are
        // still whole (every method checks before it writes).
        self.tables.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The student's bank transactions, in out-trade-no order (what 银行交易记录 lists).
    pub fn bank_transactions(&self, student: &StudentNo) -> Vec<BankTransaction> {
        self.lock().bank.values().filter(|(s, _)| s == student).map(|(_, t)| t.clone()).collect()
    }

    /// Payment transitions refused because what they were decided on had changed meanwhile.
    pub fn lost_races(&self) -> usize {
        self.lost_races.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Sessions stored (open or expired, not yet deleted).
    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Every fee item's paid amount and the payments that credited it.
    pub fn credits(&self, student: &StudentNo) -> Vec<(String, Fen, Vec<OutTradeNo>)> {
        self.lock()
            .fees
            .iter()
            .filter(|((s, _), _)| s == student)
            .map(|((_, k), row)| (k.clone(), row.item.paid, row.credited_by.iter().cloned().collect()))
            .collect()
    }
}

/// Pending once (waking itself), then ready: lets the other futures of a join run.
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// `Ok` if `ok`, else `Conflict`: a condition of the transaction failed.
fn check(ok: bool) -> Result<(), StoreError> {
    if ok { Ok(()) } else { Err(StoreError::Conflict) }
}

#[async_trait]
impl StudentStore for MemStore {
    async fn get_student(&self, no: &StudentNo) -> Result<Option<Student>, StoreError> {
        self.pause().await;
        Ok(self.lock().students.get(no).cloned())
    }

    async fn get_students(&self, nos: &[StudentNo]) -> Result<HashMap<StudentNo, Student>, StoreError> {
        let t = self.lock();
        Ok(nos.iter().filter_map(|no| t.students.get(no).map(|s| (no.clone(), s.clone()))).collect())
    }

    async fn find_by_id_card(&self, id: &IdCardNo) -> Result<Option<StudentNo>, StoreError> {
        Ok(self.lock().students.values().find(|s| &s.id_card == id).map(|s| s.student_no.clone()))
    }

    async fn create_student(&self, student: &Student, credential: &Credential) -> Result<(), StoreError> {
        let mut t = self.lock();
        let no = &student.student_no;
        check(!t.students.contains_key(no) && !t.credentials.contains_key(no))?;
        t.students.insert(no.clone(), student.clone());
        t.credentials.insert(no.clone(), credential.clone());
        Ok(())
    }

    async fn update_contact(
        &self,
        no: &StudentNo,
        contact: &Contact,
        audit: &AuditEntry,
        notice: Option<&OutboxSms>,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        check(notice.is_none_or(|m| !t.outbox.contains_key(&m.id)))?;
        let student = t.students.get_mut(no).ok_or(StoreError::NotFound)?;
        student.contact = contact.clone();
        t.audit.push(audit.clone());
        if let Some(m) = notice {
            t.outbox.insert(m.id.clone(), m.clone());
        }
        Ok(())
    }
}

#[async_trait]
impl FeeStore for MemStore {
    async fn list_fee_items(&self, no: &StudentNo) -> Result<Vec<domain::FeeItem>, StoreError> {
        Ok(self.lock().fees.iter().filter(|((s, _), _)| s == no).map(|(_, row)| row.item.clone()).collect())
    }

    async fn create_fee_item(&self, no: &StudentNo, item: &domain::FeeItem) -> Result<(), StoreError> {
        let mut t = self.lock();
        let key = (no.clone(), item.item_key());
        check(!t.fees.contains_key(&key))?;
        t.fees.insert(key, FeeRow { item: item.clone(), credited_by: BTreeSet::new() });
        Ok(())
    }
}

#[async_trait]
impl SerialCounter for MemStore {
    async fn next_serial(&self, order_type: OrderType, day: NaiveDate, unit: UnitId) -> Result<Serial, StoreError> {
        let mut t = self.lock();
        let seq = t.serials.entry((order_type.as_str().to_owned(), day, unit.as_str().to_owned())).or_insert(0);
        if *seq >= u64::from(Serial::MAX) {
            return Err(StoreError::SerialExhausted);
        }
        *seq += 1;
        Serial::new(*seq).map_err(|_| StoreError::SerialExhausted)
    }
}

#[async_trait]
impl SessionStore for MemStore {
    async fn create_session(&self, s: &SessionRecord, credential_version: u64) -> Result<(), StoreError> {
        let mut t = self.lock();
        check(t.credentials.get(&s.student_no).is_some_and(|c| c.version == credential_version))?;
        check(!t.sessions.contains_key(&s.session_id))?;
        t.sessions.insert(s.session_id.clone(), s.clone());
        Ok(())
    }

    async fn get_session(&self, student: &StudentNo, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.lock().sessions.get(session_id).filter(|s| &s.student_no == student).cloned())
    }

    async fn delete_session(&self, student: &StudentNo, session_id: &str) -> Result<(), StoreError> {
        let mut t = self.lock();
        if t.sessions.get(session_id).is_some_and(|s| &s.student_no == student) {
            t.sessions.remove(session_id);
        }
        Ok(())
    }

    async fn end_sessions(&self, student: &StudentNo, keep: Option<&str>) -> Result<usize, StoreError> {
        let mut t = self.lock();
        let before = t.sessions.len();
        t.sessions.retain(|id, s| &s.student_no != student || Some(id.as_str()) == keep);
        Ok(before - t.sessions.len())
    }
}

#[async_trait]
impl ThrottleStore for MemStore {
    async fn get_failures(&self, key: &str) -> Result<FailureState, StoreError> {
        Ok(self.lock().throttles.get(key).copied().unwrap_or_default())
    }

    async fn record_failure(
        &self,
        key: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<FailureState, StoreError> {
        let mut t = self.lock();
        let s = t.throttles.entry(key.to_owned()).or_default();
        match s.window_start {
            Some(start) if start > now - window => s.failures += 1,
            _ => (s.failures, s.window_start) = (1, Some(now)),
        }
        if s.failures >= lock_after {
            (s.locked_until, s.failures, s.window_start) = (Some(now + lock_for), 0, None);
        }
        Ok(*s)
    }

    async fn clear_failures(&self, key: &str) -> Result<(), StoreError> {
        if let Some(s) = self.lock().throttles.get_mut(key) {
            (s.failures, s.window_start) = (0, None);
        }
        Ok(())
    }
}

#[async_trait]
impl AuditStore for MemStore {
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.lock().audit.push(entry.clone());
        Ok(())
    }

    async fn audit_for_order(&self, no: &OrderNo) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries: Vec<AuditEntry> =
            self.lock().audit.iter().filter(|e| matches!(&e.subject, AuditSubject::Order(o) if o == no)).cloned().collect();
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }

    async fn audit_for_student(&self, no: &StudentNo) -> Result<Vec<AuditEntry>, StoreError> {
        let mut entries: Vec<AuditEntry> = self.lock().audit.iter().filter(|e| e.student_no.as_ref() == Some(no)).cloned().collect();
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }
}

/// Seconds since the epoch: the sweep index orders by whole seconds.
fn secs(at: DateTime<Utc>) -> i64 {
    at.timestamp()
}
