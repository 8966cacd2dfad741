//! Receipts, their links and the SMS outbox, in memory.

use super::{MemStore, check, secs};
use crate::{OutboxSms, OutboxStore, ReceiptLink, ReceiptStore, SmsState, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{OrderNo, Receipt, StudentNo};

#[async_trait]
impl ReceiptStore for MemStore {
    async fn get_receipt(&self, student: &StudentNo, order: &OrderNo) -> Result<Option<Receipt>, StoreError> {
        Ok(self.lock().receipts.get(&(student.clone(), *order)).cloned())
    }

    async fn list_receipts(&self, student: &StudentNo) -> Result<Vec<Receipt>, StoreError> {
        let mut receipts: Vec<Receipt> = self.lock().receipts.values().filter(|r| &r.student_no == student).cloned().collect();
        receipts.sort_by(|a, b| (b.paid_at, b.receipt_no.as_str()).cmp(&(a.paid_at, a.receipt_no.as_str())));
        Ok(receipts)
    }

    async fn get_receipt_link(&self, token_hash: &str) -> Result<Option<ReceiptLink>, StoreError> {
        Ok(self.lock().links.get(token_hash).cloned())
    }
}

impl MemStore {
    /// `m`'s message, if it is still in the state `m` was read in after as many tries (the
    /// condition that lets only the claim that read `m` settle it).
    fn settle(&self, m: &OutboxSms, apply: impl FnOnce(&mut OutboxSms)) -> Result<(), StoreError> {
        let mut t = self.lock();
        let stored = t.outbox.get_mut(&m.id).ok_or(StoreError::Conflict)?;
        check(stored.state == m.state && stored.tries == m.tries)?;
        apply(stored);
        Ok(())
    }
}

#[async_trait]
impl OutboxStore for MemStore {
    async fn get_sms(&self, id: &str) -> Result<Option<OutboxSms>, StoreError> {
        Ok(self.lock().outbox.get(id).cloned())
    }

    async fn claim_sms(&self, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Result<Option<OutboxSms>, StoreError> {
        let mut t = self.lock();
        let Some(m) = t.outbox.get_mut(id) else { return Ok(None) };
        if m.state != SmsState::Pending || secs(m.next_try_at) > secs(now) {
            return Ok(None);
        }
        m.state = SmsState::Sending;
        m.tries += 1;
        m.lease_until = Some(lease_until);
        Ok(Some(m.clone()))
    }

    async fn sms_sent(&self, m: &OutboxSms, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.settle(m, |s| {
            s.state = SmsState::Sent;
            s.sent_at = Some(at);
            s.text = None;
            s.lease_until = None;
            s.last_error = None;
        })
    }

    async fn sms_retry_later(&self, m: &OutboxSms, next_try_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.settle(m, |s| {
            s.state = SmsState::Pending;
            s.next_try_at = next_try_at;
            s.last_error = Some(error.to_owned());
            s.lease_until = None;
        })
    }

    async fn sms_failed(&self, m: &OutboxSms, error: &str) -> Result<(), StoreError> {
        self.settle(m, |s| {
            s.state = SmsState::Failed;
            s.last_error = Some(error.to_owned());
            s.text = None;
            s.lease_until = None;
        })
    }

    async fn sms_needing_attention(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<OutboxSms>, StoreError> {
        // The sweep index holds a pending message by when it is due and a claimed one by when
        // its lease ends.
        let due = |m: &OutboxSms| match m.state {
            SmsState::Pending => Some(m.next_try_at),
            SmsState::Sending => m.lease_until,
            SmsState::Sent | SmsState::Failed => None,
        };
        let mut found: Vec<(i64, OutboxSms)> =
            self.lock().outbox.values().filter_map(|m| due(m).map(|at| (secs(at), m.clone()))).filter(|(at, _)| *at < secs(now)).collect();
        found.sort_by(|a, b| (a.0, &a.1.id).cmp(&(b.0, &b.1.id)));
        Ok(found.into_iter().take(limit.max(0) as usize).map(|(_, m)| m).collect())
    }
}
