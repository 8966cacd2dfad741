//! Refunds of paid attempts, in memory.

use super::{MemStore, check, secs};
use crate::{RefundStore, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Attempt, AttemptState, By, Order, OrderNo, OrderState, Refund, RefundNo, RefundState};

#[async_trait]
impl RefundStore for MemStore {
    async fn begin_refund(&self, a: &Attempt, r: &Refund, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        let stored = t.attempts.get(&r.out_trade_no).ok_or(StoreError::Conflict)?;
        check(stored.state == a.state)?;
        // One refund number per attempt: new, or again after the gateway refused it.
        let key = (r.order_no, r.refund_no.clone());
        check(t.refunds.get(&key).is_none_or(|old| old.state == RefundState::Failed))?;
        t.attempts.get_mut(&r.out_trade_no).expect("checked").state = AttemptState::Refunding;
        t.refunds.insert(key, r.clone());
        let entry = by.refund_requested(r, a.state);
        t.audit.push(entry);
        Ok(())
    }

    async fn get_refund(&self, order: &OrderNo, no: &RefundNo) -> Result<Option<Refund>, StoreError> {
        self.pause().await;
        Ok(self.lock().refunds.get(&(*order, no.clone())).cloned())
    }

    async fn refund_succeeded(
        &self,
        r: &Refund,
        order: Option<&Order>,
        gateway_no: Option<&str>,
        by: &By,
        notice: Option<&crate::outbox::OutboxSms>,
    ) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        let (key, otn) = ((r.order_no, r.refund_no.clone()), &r.out_trade_no);
        check(t.refunds.get(&key).is_some_and(|x| x.state == RefundState::Requested))?;
        check(t.attempts.get(otn).is_some_and(|a| a.state == AttemptState::Refunding))?;
        check(t.bank.contains_key(otn))?;
        if let Some(o) = order {
            let row = t.orders.get(&o.order_no).ok_or(StoreError::Conflict)?;
            check(row.order.state == OrderState::Paid && row.paid_by.as_ref() == Some(otn) && !row.refunded)?;
            check(t.receipts.contains_key(&(o.student_no.clone(), o.order_no)))?;
            check(o.lines.iter().all(|l| {
                t.fees
                    .get(&(o.student_no.clone(), l.item_key()))
                    .is_some_and(|row| row.credited_by.contains(otn) && row.item.paid >= l.amount)
            }))?;
        }
        // Every condition holds: the writes.
        let refund = t.refunds.get_mut(&key).expect("checked");
        refund.state = RefundState::Succeeded;
        refund.settled_at = Some(by.at);
        if let Some(g) = gateway_no {
            refund.gateway_refund_no = Some(g.to_owned());
        }
        t.attempts.get_mut(otn).expect("checked").state = AttemptState::Refunded;
        t.bank.get_mut(otn).expect("checked").1.state = AttemptState::Refunded;
        if let Some(o) = order {
            let row = t.orders.get_mut(&o.order_no).expect("checked");
            row.refunded = true;
            row.order.version += 1;
            t.receipts.get_mut(&(o.student_no.clone(), o.order_no)).expect("checked").refunded_at = Some(by.at);
            for line in &o.lines {
                let row = t.fees.get_mut(&(o.student_no.clone(), line.item_key())).expect("checked");
                row.item.paid = row.item.paid.checked_sub(line.amount).expect("checked");
                row.credited_by.remove(otn);
            }
        }
        let entry = by.refund_succeeded(r);
        t.audit.push(entry);
        if let Some(m) = notice {
            t.outbox.entry(m.id.clone()).or_insert_with(|| m.clone());
        }
        Ok(())
    }

    async fn refund_failed(&self, r: &Refund, message: &str, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        let key = (r.order_no, r.refund_no.clone());
        check(t.refunds.get(&key).is_some_and(|x| x.state == RefundState::Requested))?;
        check(t.attempts.get(&r.out_trade_no).is_some_and(|a| a.state == AttemptState::Refunding))?;
        let refund = t.refunds.get_mut(&key).expect("checked");
        refund.state = RefundState::Failed;
        refund.settled_at = Some(by.at);
        refund.failure = Some(message.to_owned());
        t.attempts.get_mut(&r.out_trade_no).expect("checked").state = r.prior_state;
        let entry = by.refund_failed(r, message);
        t.audit.push(entry);
        Ok(())
    }

    async fn refund_resent(&self, r: &Refund, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        let stored = t.refunds.get_mut(&(r.order_no, r.refund_no.clone())).ok_or(StoreError::Conflict)?;
        check(stored.state == RefundState::Requested && stored.resent_at.len() == r.resent_at.len())?;
        stored.resent_at.push(at);
        Ok(())
    }

    async fn refunds_requested_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Refund>, StoreError> {
        let mut due: Vec<Refund> = self
            .lock()
            .refunds
            .values()
            .filter(|r| r.state == RefundState::Requested && secs(r.requested_at) < secs(before))
            .cloned()
            .collect();
        due.sort_by(|a, b| (secs(a.requested_at), &a.refund_no).cmp(&(secs(b.requested_at), &b.refund_no)));
        due.truncate(limit.max(0) as usize);
        Ok(due)
    }
}
