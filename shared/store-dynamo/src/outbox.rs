//! The SMS outbox in the table: `OUTBOX#<id>` / `SMS`. While it needs the sweeper (pending, or
//! claimed) it sits in the sparse sweep index `gsi2` under `SWEEP#SMS`, by the time it is due
//! (pending: `next_try_at`; sending: `lease_until`). See `docs/data-model.md`.

use super::*;
use store::outbox::{OutboxSms, OutboxStore, SmsState};

const SWEEP_SMS: &str = "SWEEP#SMS";

const OUTBOX_PREFIX: &str = "OUTBOX#";
const OUTBOX_SK: &str = "SMS";

fn outbox_pk(id: &str) -> String {
    format!("{OUTBOX_PREFIX}{id}")
}

impl DynamoStore {
    /// The message an item's primary key names, if it is an outbox item: what the table's
    /// stream reports (keys only) becomes the id [``shared::App::deliver_sms``] takes. The
    /// template's stream filter (`OutboxFunction`) matches the same prefix.
    pub fn outbox_id_of_key<'a>(pk: &'a str, sk: &str) -> Option<&'a str> {
        pk.strip_prefix(OUTBOX_PREFIX).filter(|id| !id.is_empty() && sk == OUTBOX_SK)
    }
}

impl DynamoStore {
    /// The put that queues `m` (a new pending message) inside a caller's transaction.
    pub(super) fn outbox_put(&self, m: &OutboxSms) -> Result<TransactWriteItem, StoreError> {
        let text = m.text.as_deref().ok_or_else(|| StoreError::Corrupt("a queued SMS without text".into()))?;
        self.put_new(new_sms_item(&m.id, &m.phone, text, m.next_try_at))
    }
}

/// A new pending message, due at `at`.
pub(super) fn new_sms_item(id: &str, phone: &Phone, text: &str, at: DateTime<Utc>) -> Item {
    let mut item = key(outbox_pk(id), OUTBOX_SK);
    item.insert("sms_id".into(), s(id));
    item.insert("phone".into(), s(phone.expose()));
    item.insert("message_text".into(), s(text));
    item.insert("state".into(), s(SmsState::Pending.as_str()));
    item.insert("tries".into(), n(0));
    item.insert("next_try_at".into(), n(at.timestamp()));
    item.insert("created_at".into(), n(at.timestamp()));
    item.insert(GSI2_PK.into(), s(SWEEP_SMS));
    item.insert(GSI2_SK.into(), s(sweep_sk(at, id)));
    item
}

fn parse_sms(item: &Item) -> Result<OutboxSms, StoreError> {
    Ok(OutboxSms {
        id: get_s(item, "sms_id")?.to_owned(),
        phone: Phone::parse(get_s(item, "phone")?).map_err(corrupt("phone"))?,
        text: get_opt_s(item, "message_text").map(str::to_owned),
        state: SmsState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("sms state".into()))?,
        tries: get_i64(item, "tries")?.max(0) as u32,
        next_try_at: instant(get_i64(item, "next_try_at")?)?,
        lease_until: get_opt_i64(item, "lease_until")?.map(instant).transpose()?,
        created_at: instant(get_i64(item, "created_at")?)?,
        sent_at: get_opt_i64(item, "sent_at")?.map(instant).transpose()?,
        last_error: get_opt_s(item, "last_error").map(str::to_owned),
    })
}

impl DynamoStore {
    /// An update of the message, conditional on it being in `m`'s state after `m`'s number of
    /// tries — so only the claim that read `m` can settle it, once.
    fn settle_sms(&self, m: &OutboxSms, update: &str) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(outbox_pk(&m.id), OUTBOX_SK)))
            .update_expression(update)
            .condition_expression("#state = :seen AND tries = :tries")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":seen", s(m.state.as_str()))
            .expression_attribute_values(":tries", n(m.tries))
    }
}

#[async_trait]
impl OutboxStore for DynamoStore {
    async fn get_sms(&self, id: &str) -> Result<Option<OutboxSms>, StoreError> {
        let item = self.get_consistent(outbox_pk(id), OUTBOX_SK).await?;
        item.as_ref().map(parse_sms).transpose()
    }

    async fn claim_sms(&self, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Result<Option<OutboxSms>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(outbox_pk(id), OUTBOX_SK)))
            .update_expression("SET #state = :sending, tries = tries + :one, lease_until = :lease, gsi2sk = :due")
            .condition_expression("#state = :pending AND next_try_at <= :now")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":sending", s(SmsState::Sending.as_str()))
            .expression_attribute_values(":pending", s(SmsState::Pending.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":lease", n(lease_until.timestamp()))
            .expression_attribute_values(":due", s(sweep_sk(lease_until, id)))
            .expression_attribute_values(":now", n(now.timestamp()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out.map_err(map_err) {
            Ok(out) => out.attributes().map(parse_sms).transpose(),
            Err(StoreError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn sms_sent(&self, m: &OutboxSms, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.settle_sms(m, "SET #state = :sent, sent_at = :at REMOVE message_text, lease_until, last_error, gsi2pk, gsi2sk")
            .expression_attribute_values(":sent", s(SmsState::Sent.as_str()))
            .expression_attribute_values(":at", n(at.timestamp()))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn sms_retry_later(&self, m: &OutboxSms, next_try_at: DateTime<Utc>, error: &str) -> Result<(), StoreError> {
        self.settle_sms(m, "SET #state = :pending, next_try_at = :next, last_error = :err, gsi2sk = :due REMOVE lease_until")
            .expression_attribute_values(":pending", s(SmsState::Pending.as_str()))
            .expression_attribute_values(":next", n(next_try_at.timestamp()))
            .expression_attribute_values(":err", s(error))
            .expression_attribute_values(":due", s(sweep_sk(next_try_at, &m.id)))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn sms_failed(&self, m: &OutboxSms, error: &str) -> Result<(), StoreError> {
        // The text goes: it holds the receipt's link, which nobody will send now.
        self.settle_sms(m, "SET #state = :failed, last_error = :err REMOVE message_text, lease_until, gsi2pk, gsi2sk")
            .expression_attribute_values(":failed", s(SmsState::Failed.as_str()))
            .expression_attribute_values(":err", s(error))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn sms_needing_attention(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<OutboxSms>, StoreError> {
        self.sweep_query(SWEEP_SMS, now, limit).await?.iter().map(parse_sms).collect()
    }
}
