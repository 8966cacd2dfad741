//! The `store-dynamo` crate (re-exported as `shared::store::dynamo`): the DynamoDB implementation
//! of every store capability: one table, `pk`/`sk` keys, one GSI
//! (`gsi1pk`/`gsi1sk`), TTL attribute `ttl`. See `docs/data-model.md`.

// The domain under the name the modules use (`crate::domain::…`), and the capabilities.
use crate::domain::{AcademicYear, AccountKind, Address, ChargeStatus, Email, FeeType, Fen, Gender, ItemId, PersonName, Phone, Postcode};
use crate::domain::{Attempt, AttemptPaid, AttemptState, By, Channel, OutTradeNo, PaymentTransition};
use crate::domain::{Contact, FeeItem, IdCardNo, OrderType, Serial, Student, StudentNo, UnitId};
use crate::domain::{Order, OrderLine, OrderNo, OrderState};
use ::domain;
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::Update;
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::TimeZone;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use store::*;

type Item = HashMap<String, AttributeValue>;

/// The audit log.
mod audit;
/// Fee-bill imports.
mod import;
mod outbox;
mod receipts;
/// Reconciliation: paid attempts per channel and day, run summaries.
mod reconcile;
/// 交易查询, offline payments, announcements, enrolment.
mod records;
/// Refunds.
mod refunds;

mod accounts;
mod fees;
mod keys;
mod orders;
mod payments;
mod students;

use keys::*;
pub use keys::{hashed_key, paid_day_pk};
#[allow(unused_imports)]
use {accounts::*, fees::*, orders::*, payments::*, students::*};

/// Names of the table's key attributes and index, shared with the template's definition.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL: &str = "ttl";

/// The audit table of the table `table` (the template names them so: `campus-pay-<stage>` and
/// `campus-pay-<stage>-audit`).
pub fn audit_table_of(table: &str) -> String {
    format!("{table}-audit")
}
/// The sweeper's sparse index: open orders by expiry, unsettled attempts by age.
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// The audit log's own table, `<table>-audit`: append-only at the IAM level (its resource
    /// policy denies updates and deletes to everyone; functions may only put), written in the
    /// same transactions as the changes it records.
    audit_table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        let table = table.into();
        Self { client, audit_table: audit_table_of(&table), table }
    }

    /// The audit table's name.
    pub fn audit_table(&self) -> &str {
        &self.audit_table
    }

    /// One item by key, strongly consistent (every read here decides a write).
    async fn get_consistent(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(map_err)?;
        Ok(out.item)
    }

    /// Items by key, strongly consistent, in `BatchGetItem`s of at most 100 keys; keys DynamoDB
    /// leaves unprocessed are asked again (with a short pause) until all are answered.
    async fn get_many_consistent(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        const MAX_KEYS: usize = 100;
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_KEYS) {
            let mut pending = Some(chunk.to_vec());
            let mut pause = std::time::Duration::from_millis(20);
            while let Some(keys) = pending.take().filter(|k| !k.is_empty()) {
                let ask = built(KeysAndAttributes::builder().set_keys(Some(keys)).consistent_read(true).build())?;
                let out = self.client.batch_get_item().request_items(&self.table, ask).send().await.map_err(map_err)?;
                if let Some(items) = out.responses.and_then(|mut r| r.remove(&self.table)) {
                    found.extend(items);
                }
                pending = out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys);
                if pending.as_ref().is_some_and(|k| !k.is_empty()) {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(std::time::Duration::from_secs(1));
                }
            }
        }
        Ok(found)
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, all pages.
    async fn query_prefix(&self, pk: String, prefix: &str, consistent: bool) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(prefix))
            .consistent_read(consistent);
        self.all_pages(query).await
    }

    /// Every item of an index partition (`pk_attr = pk`), all pages, in index order.
    async fn query_index(&self, index: &str, pk_attr: &str, pk: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(pk));
        self.all_pages(query).await
    }

    /// Runs `query` page after page until DynamoDB has no more.
    async fn all_pages(&self, query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = query.clone().set_exclusive_start_key(start.take()).send().await.map_err(map_err)?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Puts `item`, which must not exist yet (`attribute_not_exists`).
    async fn create_item(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    pub fn client(&self) -> &Client {
        &self.client
    }
    pub fn table(&self) -> &str {
        &self.table
    }
}

impl DynamoStore {
    /// Writes `items` in one transaction, all or none; a failed condition is `Conflict`.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), StoreError> {
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(map_err)?;
        Ok(())
    }

    /// What the sweeper's sparse index lists under `pk` before `before`, oldest first.
    async fn sweep_query(&self, pk: &str, before: DateTime<Utc>, limit: i32) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI2)
            .key_condition_expression("gsi2pk = :pk AND gsi2sk < :before")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":before", s(sweep_sk(before, "")))
            .limit(limit)
            .send()
            .await
            .map_err(map_err)?;
        Ok(out.items().to_vec())
    }
}
