//! Refund items (`ORDER#<no>` / `REFUND#<refund_no>`) and the refund transitions; while a refund
//! is `requested` it is in the sweeper's index (`gsi2pk = SWEEP#REFUND`, by request time).

use super::*;
use crate::domain::{OperatorName, Refund, RefundNo, RefundState};
use store::RefundStore;

const SWEEP_REFUNDS: &str = "SWEEP#REFUND";

fn refund_sk(no: &RefundNo) -> String {
    format!("REFUND#{no}")
}

fn refund_item(r: &Refund) -> Item {
    let mut item = key(order_pk(&r.order_no), &refund_sk(&r.refund_no));
    item.insert("refund_no".into(), s(r.refund_no.as_str()));
    item.insert("out_trade_no".into(), s(r.out_trade_no.as_str()));
    item.insert("order_no".into(), s(r.order_no.to_string()));
    item.insert("student_no".into(), s(r.student_no.as_str()));
    item.insert("channel".into(), s(r.channel.as_str()));
    item.insert("amount_fen".into(), n(r.amount.get()));
    item.insert("gateway_trade_no".into(), s(&r.gateway_trade_no));
    item.insert("prior_state".into(), s(r.prior_state.as_str()));
    item.insert("operator".into(), s(r.operator.as_str()));
    item.insert("state".into(), s(r.state.as_str()));
    item.insert("requested_at".into(), n(r.requested_at.timestamp()));
    for (name, v) in
        [("reason", &r.reason), ("request_id", &r.request_id), ("gateway_refund_no", &r.gateway_refund_no), ("failure", &r.failure)]
    {
        if let Some(v) = v {
            item.insert(name.into(), s(v));
        }
    }
    if let Some(t) = r.settled_at {
        item.insert("settled_at".into(), n(t.timestamp()));
    }
    if !r.resent_at.is_empty() {
        item.insert("resent_at".into(), AttributeValue::L(r.resent_at.iter().map(|t| n(t.timestamp())).collect()));
    }
    if r.state == RefundState::Requested {
        item.insert(GSI2_PK.into(), s(SWEEP_REFUNDS));
        item.insert(GSI2_SK.into(), s(sweep_sk(r.requested_at, r.refund_no.as_str())));
    }
    item
}

fn parse_refund(item: &Item) -> Result<Refund, StoreError> {
    Ok(Refund {
        refund_no: RefundNo::parse(get_s(item, "refund_no")?).ok_or_else(|| StoreError::Corrupt("refund_no".into()))?,
        out_trade_no: OutTradeNo::parse(get_s(item, "out_trade_no")?).map_err(corrupt("out_trade_no"))?,
        order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        channel: Channel::parse(get_s(item, "channel")?).ok_or_else(|| StoreError::Corrupt("channel".into()))?,
        amount: Fen::new(get_i64(item, "amount_fen")?),
        gateway_trade_no: get_s(item, "gateway_trade_no")?.to_owned(),
        prior_state: AttemptState::parse(get_s(item, "prior_state")?).ok_or_else(|| StoreError::Corrupt("prior_state".into()))?,
        reason: get_opt_s(item, "reason").map(str::to_owned),
        operator: OperatorName::parse(get_s(item, "operator")?).map_err(corrupt("operator"))?,
        request_id: get_opt_s(item, "request_id").map(str::to_owned),
        state: RefundState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("refund state".into()))?,
        requested_at: instant(get_i64(item, "requested_at")?)?,
        settled_at: get_opt_i64(item, "settled_at")?.map(instant).transpose()?,
        gateway_refund_no: get_opt_s(item, "gateway_refund_no").map(str::to_owned),
        failure: get_opt_s(item, "failure").map(str::to_owned),
        resent_at: match item.get("resent_at") {
            None => Vec::new(),
            Some(AttributeValue::L(sends)) => sends
                .iter()
                .map(|v| v.as_n().ok().and_then(|x| x.parse::<i64>().ok()).ok_or_else(|| StoreError::Corrupt("resent_at".into())))
                .map(|secs| secs.and_then(instant))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(StoreError::Corrupt("resent_at".into())),
        },
    })
}

impl DynamoStore {
    /// The attempt `from → to`, conditional on `from`.
    fn move_attempt(&self, r: &Refund, from: AttemptState, to: AttemptState) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(order_pk(&r.order_no), &attempt_sk(&r.out_trade_no))))
                // A refund begun or settled takes a duplicate off the automatic refund's list.
                .update_expression("SET #state = :to REMOVE gsi2pk, gsi2sk")
                .condition_expression("#state = :from")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":to", s(to.as_str()))
                .expression_attribute_values(":from", s(from.as_str()))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The attempt `refunding → duplicate_paid`, back on the duplicates' list (by the time the
    /// refund was asked for).
    fn return_duplicate(&self, r: &Refund) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(order_pk(&r.order_no), &attempt_sk(&r.out_trade_no))))
                .update_expression("SET #state = :to, gsi2pk = :dup, gsi2sk = :due")
                .condition_expression("#state = :from")
                .expression_attribute_names("#state", "state")
                .expression_attribute_values(":to", s(AttemptState::DuplicatePaid.as_str()))
                .expression_attribute_values(":from", s(AttemptState::Refunding.as_str()))
                .expression_attribute_values(":dup", s(super::keys::SWEEP_DUPLICATES))
                .expression_attribute_values(":due", s(super::keys::sweep_sk(r.requested_at, r.out_trade_no.as_str())))
                .build(),
        )?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The refund item `requested → to`, leaving the sweeper's index.
    fn settle_refund(
        &self,
        r: &Refund,
        to: RefundState,
        at: DateTime<Utc>,
        extra: Option<(&str, &str)>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(&r.order_no), &refund_sk(&r.refund_no))))
            .condition_expression("#state = :requested")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":requested", s(RefundState::Requested.as_str()))
            .expression_attribute_values(":to", s(to.as_str()))
            .expression_attribute_values(":at", n(at.timestamp()));
        b = match extra {
            Some((name, value)) => b
                .update_expression("SET #state = :to, settled_at = :at, #extra = :extra REMOVE gsi2pk, gsi2sk")
                .expression_attribute_names("#extra", name)
                .expression_attribute_values(":extra", s(value)),
            None => b.update_expression("SET #state = :to, settled_at = :at REMOVE gsi2pk, gsi2sk"),
        };
        Ok(TransactWriteItem::builder().update(built(b.build())?).build())
    }

    fn update_item(
        &self,
        pk: String,
        sk: &str,
        expr: &str,
        cond: &str,
        values: &[(&str, AttributeValue)],
    ) -> Result<TransactWriteItem, StoreError> {
        let mut b = Update::builder().table_name(&self.table).set_key(Some(key(pk, sk))).update_expression(expr).condition_expression(cond);
        if expr.contains("#state") || cond.contains("#state") {
            b = b.expression_attribute_names("#state", "state");
        }
        for (k, v) in values {
            b = b.expression_attribute_values(*k, v.clone());
        }
        Ok(TransactWriteItem::builder().update(built(b.build())?).build())
    }
}

#[async_trait]
impl RefundStore for DynamoStore {
    async fn begin_refund(&self, a: &Attempt, r: &Refund, by: &By) -> Result<(), StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(refund_item(r)))
            // One refund number per attempt: new, or again after the gateway refused it.
            .condition_expression("attribute_not_exists(pk) OR #state = :failed")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":failed", s(RefundState::Failed.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let entry = by.refund_requested(r, a.state);
        self.client
            .transact_write_items()
            .transact_items(self.move_attempt(r, a.state, AttemptState::Refunding)?)
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.audit_put(&entry)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn get_refund(&self, order: &OrderNo, no: &RefundNo) -> Result<Option<Refund>, StoreError> {
        let item = self.get_consistent(order_pk(order), &refund_sk(no)).await?;
        item.as_ref().map(parse_refund).transpose()
    }

    async fn refund_succeeded(
        &self,
        r: &Refund,
        order: Option<&Order>,
        gateway_no: Option<&str>,
        by: &By,
        notice: Option<&store::outbox::OutboxSms>,
    ) -> Result<(), StoreError> {
        let at = by.at;
        let otn = r.out_trade_no.as_str();
        let entry = by.refund_succeeded(r);
        let mut items = vec![
            self.settle_refund(r, RefundState::Succeeded, at, gateway_no.map(|g| ("gateway_refund_no", g)))?,
            self.move_attempt(r, AttemptState::Refunding, AttemptState::Refunded)?,
            self.update_item(
                student_pk(&r.student_no),
                &format!("TXN#{otn}"),
                "SET #state = :refunded, refunded_at = :at",
                "attribute_exists(pk)",
                &[(":refunded", s(AttemptState::Refunded.as_str())), (":at", n(at.timestamp()))],
            )?,
            self.audit_put(&entry)?,
        ];
        if let Some(m) = notice {
            items.push(self.outbox_put(m)?);
        }
        if let Some(o) = order {
            // The money that paid the order went back: the order and its receipt say so, and
            // every fee item owes its line again (once: the out-trade-no leaves credited_by).
            items.push(self.update_item(
                order_pk(&o.order_no),
                "ORDER",
                "SET refunded_at = :at, refunded_by = :refund, version = version + :one",
                "#state = :paid AND paid_by = :otn AND attribute_not_exists(refunded_at)",
                &[
                    (":at", n(at.timestamp())),
                    (":refund", s(r.refund_no.as_str())),
                    (":one", n(1)),
                    (":paid", s(OrderState::Paid.as_str())),
                    (":otn", s(otn)),
                ],
            )?);
            items.push(self.update_item(
                student_pk(&o.student_no),
                &super::receipts::receipt_sk(&o.order_no),
                "SET refunded_at = :at",
                "attribute_exists(pk)",
                &[(":at", n(at.timestamp()))],
            )?);
            for line in &o.lines {
                items.push(self.update_item(
                    student_pk(&o.student_no),
                    &fee_sk(&line.item_key()),
                    "SET paid_fen = paid_fen - :amt, version = version + :one DELETE credited_by :otn_set",
                    "attribute_exists(pk) AND contains(credited_by, :otn) AND paid_fen >= :amt",
                    &[
                        (":amt", n(line.amount.get())),
                        (":one", n(1)),
                        (":otn", s(otn)),
                        (":otn_set", AttributeValue::Ss(vec![otn.to_owned()])),
                    ],
                )?);
            }
        }
        self.transact(items).await
    }

    async fn refund_failed(&self, r: &Refund, message: &str, by: &By) -> Result<(), StoreError> {
        let entry = by.refund_failed(r, message);
        // A duplicate whose refund was refused is listed again (`SWEEP#DUP`): the automatic
        // refund leaves it (refused before), and reconciliation reports it after a day.
        let back = if r.prior_state == AttemptState::DuplicatePaid {
            self.return_duplicate(r)?
        } else {
            self.move_attempt(r, AttemptState::Refunding, r.prior_state)?
        };
        self.client
            .transact_write_items()
            .transact_items(self.settle_refund(r, RefundState::Failed, by.at, Some(("failure", message)))?)
            .transact_items(back)
            .transact_items(self.audit_put(&entry)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn refund_resent(&self, r: &Refund, at: DateTime<Utc>) -> Result<(), StoreError> {
        let sends_as_read = if r.resent_at.is_empty() { "attribute_not_exists(resent_at)" } else { "size(resent_at) = :count" };
        let mut b = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(&r.order_no), &refund_sk(&r.refund_no))))
            .update_expression("SET resent_at = list_append(if_not_exists(resent_at, :none), :at)")
            .condition_expression(format!("#state = :requested AND {sends_as_read}"))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":requested", s(RefundState::Requested.as_str()))
            .expression_attribute_values(":none", AttributeValue::L(Vec::new()))
            .expression_attribute_values(":at", AttributeValue::L(vec![n(at.timestamp())]));
        if !r.resent_at.is_empty() {
            b = b.expression_attribute_values(":count", n(r.resent_at.len() as i64));
        }
        b.send().await.map_err(map_err)?;
        Ok(())
    }

    async fn refunds_requested_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Refund>, StoreError> {
        self.sweep_query(SWEEP_REFUNDS, before, limit).await?.iter().map(parse_refund).collect()
    }
}
