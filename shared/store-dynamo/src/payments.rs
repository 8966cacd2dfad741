//! Attempts, the payment transition, and the sweeper's work list.

use super::*;

/// An item of an order's partition: the order itself, or one of its attempts.
pub(super) fn is_order(item: &Item) -> bool {
    get_s(item, "sk").is_ok_and(|sk| sk == "ORDER")
}
pub(super) fn is_attempt(item: &Item) -> bool {
    get_s(item, "sk").is_ok_and(|sk| sk.starts_with(ATTEMPT_PREFIX))
}

/// In the order they were made (the key order groups them by channel letter).
pub(super) fn sort_attempts(attempts: &mut [Attempt]) {
    attempts.sort_by(|a, b| (a.created_at, &a.out_trade_no).cmp(&(b.created_at, &b.out_trade_no)));
}

pub(super) fn attempt_item(a: &Attempt) -> Item {
    let mut item = key(order_pk(&a.order_no), &attempt_sk(&a.out_trade_no));
    item.insert("out_trade_no".into(), s(a.out_trade_no.as_str()));
    item.insert("order_no".into(), s(a.order_no.to_string()));
    item.insert("student_no".into(), s(a.student_no.as_str()));
    item.insert("channel".into(), s(a.channel.as_str()));
    item.insert("amount_fen".into(), n(a.amount.get()));
    item.insert("state".into(), s(a.state.as_str()));
    item.insert("created_at".into(), n(a.created_at.timestamp()));
    item.insert("pay_by".into(), n(a.pay_by.timestamp()));
    if let Some(t) = &a.gateway_trade_no {
        item.insert("gateway_trade_no".into(), s(t));
    }
    if let Some(t) = a.paid_at {
        item.insert("paid_at".into(), n(t.timestamp()));
    }
    if a.state == AttemptState::Created {
        item.insert(GSI2_PK.into(), s(SWEEP_ATTEMPTS));
        item.insert(GSI2_SK.into(), s(sweep_sk(a.created_at, a.out_trade_no.as_str())));
    }
    item
}

pub(super) fn parse_attempt(item: &Item) -> Result<Attempt, StoreError> {
    Ok(Attempt {
        out_trade_no: OutTradeNo::parse(get_s(item, "out_trade_no")?).map_err(corrupt("out_trade_no"))?,
        order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        channel: Channel::parse(get_s(item, "channel")?).ok_or_else(|| StoreError::Corrupt("channel".into()))?,
        amount: Fen::new(get_i64(item, "amount_fen")?),
        state: AttemptState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("attempt state".into()))?,
        created_at: instant(get_i64(item, "created_at")?)?,
        pay_by: instant(get_i64(item, "pay_by")?)?,
        gateway_trade_no: get_opt_s(item, "gateway_trade_no").map(str::to_owned),
        paid_at: get_opt_i64(item, "paid_at")?.map(instant).transpose()?,
    })
}

pub(super) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Unavailable(e.to_string()))
}

impl DynamoStore {
    /// attempt `from` (its state as read) → `to` with the payment's facts, conditional on the attempt's state.
    pub(super) fn pay_attempt(&self, paid: &AttemptPaid) -> Result<TransactWriteItem, StoreError> {
        let (a, p, to) = (&paid.attempt, &paid.payment, paid.to);
        // Listed in gsi1 under the Beijing day it was paid: reconciliation's "ours". A duplicate
        // moves to the automatic refund's work list (gsi2 `SWEEP#DUP`); anything else leaves gsi2.
        let b = if to == AttemptState::DuplicatePaid {
            Update::builder()
                .update_expression(
                    "SET #state = :to, gateway_trade_no = :trade, paid_at = :paid, gsi1pk = :day, gsi1sk = :otn, gsi2pk = :dup, gsi2sk = :due",
                )
                .expression_attribute_values(":dup", s(SWEEP_DUPLICATES))
                .expression_attribute_values(":due", s(sweep_sk(p.paid_at, a.out_trade_no.as_str())))
        } else {
            Update::builder().update_expression(
                "SET #state = :to, gateway_trade_no = :trade, paid_at = :paid, gsi1pk = :day, gsi1sk = :otn REMOVE gsi2pk, gsi2sk",
            )
        };
        let update = built(
            b.table_name(&self.table)
                .set_key(Some(key(order_pk(&a.order_no), &attempt_sk(&a.out_trade_no))))
                .condition_expression("#state = :from")
                .expression_attribute_values(":day", s(paid_day_pk(a.channel, domain::time::beijing_date(p.paid_at))))
                .expression_attribute_values(":otn", s(a.out_trade_no.as_str()))
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":to", s(to.as_str()))
                .expression_attribute_values(":from", s(a.state.as_str()))
                .expression_attribute_values(":trade", s(&p.gateway_trade_no))
                .expression_attribute_values(":paid", n(p.paid_at.timestamp()))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The bank-transaction record (银行交易记录) of a paid attempt.
    pub(super) fn bank_record(&self, paid: &AttemptPaid) -> Result<TransactWriteItem, StoreError> {
        let (a, p, state) = (&paid.attempt, &paid.payment, paid.to);
        let mut item = key(student_pk(&a.student_no), &format!("TXN#{}", a.out_trade_no));
        item.insert("out_trade_no".into(), s(a.out_trade_no.as_str()));
        item.insert("order_no".into(), s(a.order_no.to_string()));
        item.insert("channel".into(), s(a.channel.as_str()));
        item.insert("gateway_trade_no".into(), s(&p.gateway_trade_no));
        item.insert("amount_fen".into(), n(p.amount.get()));
        item.insert("paid_at".into(), n(p.paid_at.timestamp()));
        item.insert("state".into(), s(state.as_str()));
        self.put_new(item)
    }
}

#[async_trait]
impl PaymentStore for DynamoStore {
    async fn create_attempt(&self, o: &Order, a: &Attempt, by: &By) -> Result<(), StoreError> {
        let bump = built(self.open_order_update(o, "SET attempts = attempts + :one, version = version + :one").build())?;
        let entry = by.attempt_created(a);
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(bump).build())
            .transact_items(self.put_new(attempt_item(a))?)
            .transact_items(self.audit_put(&entry)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn payment_state(&self, no: &OutTradeNo) -> Result<Option<(Attempt, Order)>, StoreError> {
        let Some(order_no) = no.order_no() else { return Ok(None) };
        let items = self.get_many_consistent(vec![key(order_pk(&order_no), &attempt_sk(no)), key(order_pk(&order_no), "ORDER")]).await?;
        let Some(attempt) = items.iter().find(|it| is_attempt(it)) else { return Ok(None) };
        let order = items.iter().find(|it| is_order(it)).ok_or_else(|| StoreError::Corrupt("attempt without its order".into()))?;
        Ok(Some((parse_attempt(attempt)?, parse_order(order)?)))
    }

    async fn get_attempt(&self, no: &OutTradeNo) -> Result<Option<Attempt>, StoreError> {
        let Some(order) = no.order_no() else { return Ok(None) };
        let item = self.get_consistent(order_pk(&order), &attempt_sk(no)).await?;
        item.as_ref().map(parse_attempt).transpose()
    }

    async fn list_attempts(&self, order: &OrderNo) -> Result<Vec<Attempt>, StoreError> {
        let mut attempts: Vec<Attempt> =
            self.query_prefix(order_pk(order), ATTEMPT_PREFIX, true).await?.iter().map(parse_attempt).collect::<Result<_, _>>()?;
        sort_attempts(&mut attempts);
        Ok(attempts)
    }

    async fn order_with_attempts(&self, no: &OrderNo) -> Result<Option<(Order, Vec<Attempt>)>, StoreError> {
        // The order's partition from its first attempt to the order item (the audit entries
        // between them are filtered out): one read where GetItem + Query took two.
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :a AND :o")
            .filter_expression("sk = :o OR begins_with(sk, :a)")
            .expression_attribute_values(":pk", s(order_pk(no)))
            .expression_attribute_values(":a", s(ATTEMPT_PREFIX))
            .expression_attribute_values(":o", s("ORDER"))
            .consistent_read(true);
        let items = self.all_pages(query).await?;
        let Some(order) = items.iter().find(|it| is_order(it)) else { return Ok(None) };
        let mut attempts: Vec<Attempt> = items.iter().filter(|it| is_attempt(it)).map(parse_attempt).collect::<Result<_, _>>()?;
        sort_attempts(&mut attempts);
        Ok(Some((parse_order(order)?, attempts)))
    }

    async fn close_attempt(&self, a: &Attempt, by: &By) -> Result<(), StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(order_pk(&a.order_no), &attempt_sk(&a.out_trade_no))))
                .update_expression("SET #state = :closed REMOVE gsi2pk, gsi2sk")
                .condition_expression("#state = :created")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":closed", s(AttemptState::Closed.as_str()))
                .expression_attribute_values(":created", s(AttemptState::Created.as_str()))
                .build(),
        )?;
        let entry = by.attempt_closed(a);
        self.transact(vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&entry)?]).await
    }

    async fn store_notification(&self, raw: &RawNotification) -> Result<(), StoreError> {
        self.client.put_item().table_name(&self.table).set_item(Some(notification_item(raw))).send().await.map_err(map_err)?;
        Ok(())
    }

    async fn apply_payment(&self, t: &PaymentTransition, raw: Option<&RawNotification>) -> Result<(), StoreError> {
        let mut tx = self.client.transact_write_items();
        match t {
            PaymentTransition::AlreadyRecorded => {
                return match raw {
                    Some(raw) => self.store_notification(raw).await,
                    None => Ok(()),
                };
            }
            PaymentTransition::OrderPaid(paid) => {
                let (order, p) = (&paid.order, &paid.attempt.payment);
                let update = built(
                    self.open_order_update(
                        order,
                        "SET #state = :paid, paid_at = :at, paid_by = :by, version = version + :one REMOVE gsi2pk, gsi2sk",
                    )
                    .expression_attribute_values(":paid", s(OrderState::Paid.as_str()))
                    .expression_attribute_values(":at", n(p.paid_at.timestamp()))
                    .expression_attribute_values(":by", s(p.out_trade_no.as_str()))
                    .build(),
                )?;
                tx = tx.transact_items(TransactWriteItem::builder().update(update).build());
                tx = tx.transact_items(self.pay_attempt(&paid.attempt)?);
                // Each payment credits an item at most once, whatever else happens.
                for line in &order.lines {
                    tx = tx.transact_items(self.credit_fee(&order.student_no, line, p.out_trade_no.as_str(), None)?);
                }
                for unlock in self.release_locks(order)? {
                    tx = tx.transact_items(unlock);
                }
                tx = tx.transact_items(self.bank_record(&paid.attempt)?);
                // The e-receipt exists iff the order is paid: issued here, never elsewhere.
                for put in self.receipt_writes(paid)? {
                    tx = tx.transact_items(put);
                }
                for entry in &paid.audit {
                    tx = tx.transact_items(self.audit_put(entry)?);
                }
            }
            PaymentTransition::DuplicatePaid(dup) => {
                tx = tx.transact_items(self.pay_attempt(&dup.attempt)?);
                tx = tx.transact_items(self.bank_record(&dup.attempt)?);
                tx = tx.transact_items(self.audit_put(&dup.audit)?);
            }
        }
        if let Some(raw) = raw {
            tx = tx.transact_items(self.put_new(notification_item(raw))?);
        }
        tx.send().await.map_err(map_err)?;
        Ok(())
    }
}

// ---------- the sweeper's work list ----------

#[async_trait]
impl SweepStore for DynamoStore {
    async fn attempts_created_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        self.sweep_query(SWEEP_ATTEMPTS, before, limit).await?.iter().map(parse_attempt).collect()
    }
    async fn open_orders_expired_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Order>, StoreError> {
        self.sweep_query(SWEEP_ORDERS, before, limit).await?.iter().map(parse_order).collect()
    }
    async fn duplicates_paid_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        self.sweep_query(SWEEP_DUPLICATES, before, limit).await?.iter().map(parse_attempt).collect()
    }
}
