//! Orders, their item locks, attempts and the payment transition, in memory.

use super::{BankTransaction, MemStore, OrderRow, Tables, check, secs};
use crate::{OrderStore, PaymentStore, RawNotification, ReceiptLink, StoreError, SweepStore, outbox};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::{Attempt, AttemptPaid, AttemptState, By, Order, OrderNo, OrderState, OutTradeNo, PaymentTransition, Phone, StudentNo};

impl Tables {
    /// The order `o` names, if it is still open at `o`'s version (every order change's condition).
    fn open_order(&self, o: &Order) -> Result<(), StoreError> {
        let row = self.orders.get(&o.order_no).ok_or(StoreError::Conflict)?;
        check(row.order.state == OrderState::Open && row.order.version == o.version)
    }

    /// Each of the order's item locks still names it.
    fn holds_locks(&self, o: &Order) -> Result<(), StoreError> {
        check(o.lines.iter().all(|l| self.locks.get(&(o.student_no.clone(), l.item_key())) == Some(&o.order_no)))
    }

    fn release_locks(&mut self, o: &Order) {
        for line in &o.lines {
            self.locks.remove(&(o.student_no.clone(), line.item_key()));
        }
    }

    fn order_mut(&mut self, no: &OrderNo) -> &mut Order {
        &mut self.orders.get_mut(no).expect("checked before").order
    }

    /// The attempt's side of a payment: condition (its state as read, no bank record yet) …
    fn can_pay_attempt(&self, p: &AttemptPaid) -> Result<(), StoreError> {
        let stored = self.attempts.get(&p.attempt.out_trade_no).ok_or(StoreError::Conflict)?;
        check(stored.state == p.attempt.state && !self.bank.contains_key(&p.attempt.out_trade_no))
    }

    /// … and writes: the attempt moved with the gateway's facts, its bank record.
    fn pay_attempt(&mut self, p: &AttemptPaid) {
        let a = self.attempts.get_mut(&p.attempt.out_trade_no).expect("checked before");
        a.state = p.to;
        a.gateway_trade_no = Some(p.payment.gateway_trade_no.clone());
        a.paid_at = Some(p.payment.paid_at);
        let txn = BankTransaction {
            out_trade_no: a.out_trade_no.clone(),
            order_no: a.order_no,
            amount: p.payment.amount,
            gateway_trade_no: p.payment.gateway_trade_no.clone(),
            state: p.to,
        };
        self.bank.insert(a.out_trade_no.clone(), (a.student_no.clone(), txn));
    }

    fn keep(&mut self, raw: Option<&RawNotification>) {
        if let Some(raw) = raw {
            self.notifications.push(raw.clone());
        }
    }
}

fn sort_attempts(attempts: &mut [Attempt]) {
    attempts.sort_by(|a, b| (a.created_at, &a.out_trade_no).cmp(&(b.created_at, &b.out_trade_no)));
}

#[async_trait]
impl OrderStore for MemStore {
    async fn create_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        check(!t.orders.contains_key(&o.order_no))?;
        check(o.lines.iter().all(|l| !t.locks.contains_key(&(o.student_no.clone(), l.item_key()))))?;
        for line in &o.lines {
            t.locks.insert((o.student_no.clone(), line.item_key()), o.order_no);
        }
        t.orders.insert(o.order_no, OrderRow { order: o.clone(), paid_by: None, refunded: false });
        let entry = by.order_created(o);
        t.audit.push(entry);
        Ok(())
    }

    async fn get_order(&self, no: &OrderNo) -> Result<Option<Order>, StoreError> {
        self.pause().await;
        Ok(self.lock().orders.get(no).map(|r| r.order.clone()))
    }

    async fn open_order_for_item(&self, student: &StudentNo, item_key: &str) -> Result<Option<OrderNo>, StoreError> {
        Ok(self.lock().locks.get(&(student.clone(), item_key.to_owned())).copied())
    }

    async fn open_orders_for_items(&self, student: &StudentNo, item_keys: &[String]) -> Result<Vec<OrderNo>, StoreError> {
        let t = self.lock();
        let mut holders = Vec::new();
        for k in item_keys {
            if let Some(no) = t.locks.get(&(student.clone(), k.clone()))
                && !holders.contains(no)
            {
                holders.push(*no);
            }
        }
        Ok(holders)
    }

    async fn close_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        t.open_order(o)?;
        t.holds_locks(o)?;
        let order = t.order_mut(&o.order_no);
        order.state = OrderState::Closed;
        order.version += 1;
        t.release_locks(o);
        t.audit.push(by.order_closed(o));
        Ok(())
    }

    async fn set_receipt_phone(&self, o: &Order, phone: &Phone, by: &By) -> Result<(), StoreError> {
        let mut t = self.lock();
        t.open_order(o)?;
        let order = t.order_mut(&o.order_no);
        order.receipt_phone = phone.clone();
        order.version += 1;
        let entry = by.receipt_phone_changed(o, phone);
        t.audit.push(entry);
        Ok(())
    }
}

#[async_trait]
impl PaymentStore for MemStore {
    async fn create_attempt(&self, o: &Order, a: &Attempt, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        t.open_order(o)?;
        check(!t.attempts.contains_key(&a.out_trade_no))?;
        let order = t.order_mut(&o.order_no);
        order.attempts += 1;
        order.version += 1;
        t.attempts.insert(a.out_trade_no.clone(), a.clone());
        let entry = by.attempt_created(a);
        t.audit.push(entry);
        Ok(())
    }

    async fn get_attempt(&self, no: &OutTradeNo) -> Result<Option<Attempt>, StoreError> {
        Ok(self.lock().attempts.get(no).cloned())
    }

    async fn list_attempts(&self, order: &OrderNo) -> Result<Vec<Attempt>, StoreError> {
        self.pause().await;
        let mut attempts: Vec<Attempt> = self.lock().attempts.values().filter(|a| &a.order_no == order).cloned().collect();
        sort_attempts(&mut attempts);
        Ok(attempts)
    }

    async fn order_with_attempts(&self, order: &OrderNo) -> Result<Option<(Order, Vec<Attempt>)>, StoreError> {
        let Some(o) = self.get_order(order).await? else { return Ok(None) };
        Ok(Some((o, self.list_attempts(order).await?)))
    }

    async fn close_attempt(&self, a: &Attempt, by: &By) -> Result<(), StoreError> {
        self.pause().await;
        let mut t = self.lock();
        let stored = t.attempts.get_mut(&a.out_trade_no).ok_or(StoreError::Conflict)?;
        check(stored.state == AttemptState::Created)?;
        stored.state = AttemptState::Closed;
        let entry = by.attempt_closed(a);
        t.audit.push(entry);
        Ok(())
    }

    async fn payment_state(&self, no: &OutTradeNo) -> Result<Option<(Attempt, Order)>, StoreError> {
        self.pause().await;
        let t = self.lock();
        let Some(a) = t.attempts.get(no) else { return Ok(None) };
        let row = t.orders.get(&a.order_no).ok_or_else(|| StoreError::Corrupt("attempt without its order".into()))?;
        Ok(Some((a.clone(), row.order.clone())))
    }

    async fn store_notification(&self, raw: &RawNotification) -> Result<(), StoreError> {
        self.pause().await;
        self.lock().keep(Some(raw));
        Ok(())
    }

    async fn apply_payment(&self, transition: &PaymentTransition, raw: Option<&RawNotification>) -> Result<(), StoreError> {
        self.pause().await;
        let applied = self.apply_payment_now(transition, raw);
        if matches!(applied, Err(StoreError::Conflict)) {
            self.lost_races.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        applied
    }
}

impl MemStore {
    fn apply_payment_now(&self, transition: &PaymentTransition, raw: Option<&RawNotification>) -> Result<(), StoreError> {
        let mut t = self.lock();
        match transition {
            PaymentTransition::AlreadyRecorded => {}
            PaymentTransition::OrderPaid(paid) => {
                let (o, otn) = (&paid.order, &paid.attempt.payment.out_trade_no);
                t.open_order(o)?;
                t.can_pay_attempt(&paid.attempt)?;
                check(o.lines.iter().all(|l| {
                    t.fees
                        .get(&(o.student_no.clone(), l.item_key()))
                        .is_some_and(|row| !row.credited_by.contains(otn) && row.item.paid.checked_add(l.amount).is_some())
                }))?;
                t.holds_locks(o)?;
                let receipt_id = paid.receipt.receipt_no.as_str();
                check(
                    !t.receipts.contains_key(&(o.student_no.clone(), o.order_no))
                        && !t.links.contains_key(&paid.issue.link_hash)
                        && !t.outbox.contains_key(receipt_id),
                )?;
                // Every condition holds: the writes.
                let row = t.orders.get_mut(&o.order_no).expect("checked");
                row.order.state = OrderState::Paid;
                row.order.version += 1;
                row.paid_by = Some(otn.clone());
                t.pay_attempt(&paid.attempt);
                for line in &o.lines {
                    let row = t.fees.get_mut(&(o.student_no.clone(), line.item_key())).expect("checked");
                    row.item.paid = row.item.paid.checked_add(line.amount).expect("checked");
                    row.credited_by.insert(otn.clone());
                }
                t.release_locks(o);
                t.receipts.insert((o.student_no.clone(), o.order_no), paid.receipt.clone());
                let link = ReceiptLink { student_no: o.student_no.clone(), order_no: o.order_no, expires_at: paid.issue.link_expires_at };
                t.links.insert(paid.issue.link_hash.clone(), link);
                let sms = outbox::OutboxSms::pending(receipt_id, &o.receipt_phone, &paid.issue.sms_text, paid.issue.issued_at);
                t.outbox.insert(receipt_id.to_owned(), sms);
                t.audit.extend(paid.audit.iter().cloned());
            }
            PaymentTransition::DuplicatePaid(dup) => {
                t.can_pay_attempt(&dup.attempt)?;
                t.pay_attempt(&dup.attempt);
                t.audit.push(dup.audit.clone());
            }
        }
        t.keep(raw);
        Ok(())
    }
}

#[async_trait]
impl SweepStore for MemStore {
    async fn duplicates_paid_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        let t = self.lock();
        // Listed by when it was paid, or (back after a refused refund) when that refund was asked for.
        let since = |a: &Attempt| {
            let refund = t.refunds.values().find(|r| r.out_trade_no == a.out_trade_no).map(|r| r.requested_at);
            secs(refund.or(a.paid_at).unwrap_or(a.created_at))
        };
        let mut due: Vec<Attempt> =
            t.attempts.values().filter(|a| a.state == AttemptState::DuplicatePaid && since(a) < secs(before)).cloned().collect();
        due.sort_by(|a, b| (since(a), &a.out_trade_no).cmp(&(since(b), &b.out_trade_no)));
        due.truncate(limit.max(0) as usize);
        Ok(due)
    }

    async fn attempts_created_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        let mut due: Vec<Attempt> = self
            .lock()
            .attempts
            .values()
            .filter(|a| a.state == AttemptState::Created && secs(a.created_at) < secs(before))
            .cloned()
            .collect();
        due.sort_by(|a, b| (secs(a.created_at), &a.out_trade_no).cmp(&(secs(b.created_at), &b.out_trade_no)));
        due.truncate(limit.max(0) as usize);
        Ok(due)
    }

    async fn open_orders_expired_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Order>, StoreError> {
        let mut due: Vec<Order> = self
            .lock()
            .orders
            .values()
            .map(|r| &r.order)
            .filter(|o| o.state == OrderState::Open && secs(o.expires_at) < secs(before))
            .cloned()
            .collect();
        due.sort_by_key(|o| (secs(o.expires_at), o.order_no));
        due.truncate(limit.max(0) as usize);
        Ok(due)
    }
}
