//! DynamoDB implementation of every store capability: one table, `pk`/`sk` keys, one GSI
//! (`gsi1pk`/`gsi1sk`), TTL attribute `ttl`. See `docs/data-model.md`.

use super::*;
use crate::domain::{AcademicYear, AccountKind, Address, ChargeStatus, Email, FeeType, Fen, Gender, ItemId, PersonName, Phone, Postcode};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, Put, ReturnValue, TransactWriteItem};
use chrono::TimeZone;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

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

/// Names of the table's key attributes and index, shared with the template's definition.
pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL: &str = "ttl";
/// The sweeper's sparse index: open orders by expiry, unsettled attempts by age.
pub const GSI2: &str = "gsi2";
pub const GSI2_PK: &str = "gsi2pk";
pub const GSI2_SK: &str = "gsi2sk";
const SWEEP_ORDERS: &str = "SWEEP#ORDER";
const SWEEP_ATTEMPTS: &str = "SWEEP#ATTEMPT";

/// Sort key of the sweep index: zero-padded epoch seconds, then the id.
fn sweep_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("{:012}#{id}", at.timestamp().max(0))
}

#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
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

// ---------- key and attribute helpers ----------

fn student_pk(no: &StudentNo) -> String {
    format!("STU#{}", no.as_str())
}

/// Keys derived from personal data are hashed so that indexes and metrics never show them.
pub fn hashed_key(prefix: &str, secret_part: &str) -> String {
    let digest = Sha256::digest(secret_part.as_bytes());
    format!("{prefix}#{}", &hex::encode(digest)[..32])
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("missing string attribute {name}"))),
    }
}
fn get_opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}
fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| StoreError::Corrupt(format!("bad number {name}"))),
        _ => Err(StoreError::Corrupt(format!("missing number attribute {name}"))),
    }
}
fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    if item.contains_key(name) { get_i64(item, name).map(Some) } else { Ok(None) }
}
fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}
fn instant(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0).single().ok_or_else(|| StoreError::Corrupt("bad timestamp".into()))
}
fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// Maps SDK errors: failed conditions (also inside transactions) become `Conflict`.
fn map_err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    match e.code() {
        Some("ConditionalCheckFailedException") => StoreError::Conflict,
        Some("TransactionCanceledException") if e.message().is_some_and(|m| m.contains("ConditionalCheckFailed")) => StoreError::Conflict,
        Some(code) => StoreError::Unavailable(format!("{code}: {}", e.message().unwrap_or_default())),
        None => StoreError::Unavailable(format!("{e:?}")),
    }
}

// ---------- students ----------

fn student_item(st: &Student) -> Item {
    let mut item = key(student_pk(&st.student_no), "PROFILE");
    item.insert(GSI1_PK.into(), s(hashed_key("IDC", st.id_card.expose())));
    item.insert(GSI1_SK.into(), s(student_pk(&st.student_no)));
    item.insert("student_no".into(), s(st.student_no.as_str()));
    item.insert("name".into(), s(st.name.as_str()));
    item.insert("gender".into(), s(st.gender.as_str()));
    item.insert("id_card".into(), s(st.id_card.expose()));
    item.insert("department".into(), s(&st.department));
    item.insert("class_name".into(), s(&st.class_name));
    item.insert("kind".into(), s(st.kind.as_str()));
    let c = &st.contact;
    for (k, v) in [
        ("phone", c.phone.as_ref().map(|p| p.expose().to_owned())),
        ("email", c.email.as_ref().map(|e| e.as_str().to_owned())),
        ("postcode", c.postcode.as_ref().map(|p| p.as_str().to_owned())),
        ("address", c.address.as_ref().map(|a| a.as_str().to_owned())),
    ] {
        if let Some(v) = v {
            item.insert(k.into(), s(v));
        }
    }
    item
}

fn parse_student(item: &Item) -> Result<Student, StoreError> {
    Ok(Student {
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        name: PersonName::parse(get_s(item, "name")?).map_err(corrupt("name"))?,
        gender: Gender::parse(get_s(item, "gender")?).ok_or_else(|| StoreError::Corrupt("gender".into()))?,
        id_card: IdCardNo::parse(get_s(item, "id_card")?).map_err(corrupt("id_card"))?,
        department: get_s(item, "department")?.to_owned(),
        class_name: get_s(item, "class_name")?.to_owned(),
        kind: AccountKind::parse(get_s(item, "kind")?).ok_or_else(|| StoreError::Corrupt("kind".into()))?,
        contact: Contact {
            phone: get_opt_s(item, "phone").map(Phone::parse).transpose().map_err(corrupt("phone"))?,
            email: get_opt_s(item, "email").map(Email::parse).transpose().map_err(corrupt("email"))?,
            postcode: get_opt_s(item, "postcode").map(Postcode::parse).transpose().map_err(corrupt("postcode"))?,
            address: get_opt_s(item, "address").map(Address::parse).transpose().map_err(corrupt("address"))?,
        },
    })
}

fn credential_item(no: &StudentNo, c: &Credential) -> Item {
    let mut item = key(student_pk(no), "CRED");
    match &c.password {
        Password::Hash(phc) => item.insert("password_hash".into(), s(phc)),
        Password::Initial => item.insert("initial_password".into(), AttributeValue::Bool(true)),
    };
    item.insert("must_change".into(), AttributeValue::Bool(c.must_change));
    if let Some(q) = &c.security_question {
        item.insert("security_question".into(), s(q));
    }
    if let Some(a) = &c.security_answer_hash {
        item.insert("security_answer_hash".into(), s(a));
    }
    item.insert("version".into(), n(c.version));
    item
}

#[async_trait]
impl StudentStore for DynamoStore {
    async fn get_student(&self, no: &StudentNo) -> Result<Option<Student>, StoreError> {
        let item = self.get_consistent(student_pk(no), "PROFILE").await?;
        item.as_ref().map(parse_student).transpose()
    }

    async fn get_students(&self, nos: &[StudentNo]) -> Result<HashMap<StudentNo, Student>, StoreError> {
        let items = self.get_many_consistent(nos.iter().map(|no| key(student_pk(no), "PROFILE")).collect()).await?;
        items.iter().map(|it| parse_student(it).map(|s| (s.student_no.clone(), s))).collect()
    }

    async fn find_by_id_card(&self, id: &IdCardNo) -> Result<Option<StudentNo>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", s(hashed_key("IDC", id.expose())))
            .limit(2)
            .send()
            .await
            .map_err(map_err)?;
        match out.items() {
            [item] => Ok(Some(StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?)),
            // Two accounts on one ID number: ambiguous, so nobody logs in by ID number.
            _ => Ok(None),
        }
    }

    async fn create_student(&self, student: &Student, credential: &Credential) -> Result<(), StoreError> {
        let put = |item: Item| -> Result<TransactWriteItem, StoreError> {
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            Ok(TransactWriteItem::builder().put(put).build())
        };
        let mut profile = student_item(student);
        profile.insert("version".into(), n(1));
        self.client
            .transact_write_items()
            .transact_items(put(profile)?)
            .transact_items(put(credential_item(&student.student_no, credential))?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn update_contact(&self, no: &StudentNo, c: &Contact, audit: &crate::domain::AuditEntry) -> Result<(), StoreError> {
        let mut sets = vec!["version = version + :one".to_owned()];
        let mut removes = vec![];
        let mut values: Item = HashMap::from([(":one".to_owned(), n(1))]);
        for (k, v) in [
            ("phone", c.phone.as_ref().map(|p| p.expose().to_owned())),
            ("email", c.email.as_ref().map(|e| e.as_str().to_owned())),
            ("postcode", c.postcode.as_ref().map(|p| p.as_str().to_owned())),
            ("address", c.address.as_ref().map(|a| a.as_str().to_owned())),
        ] {
            match v {
                Some(v) => {
                    sets.push(format!("{k} = :{k}"));
                    values.insert(format!(":{k}"), s(v));
                }
                None => removes.push(k),
            }
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = built(
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(student_pk(no), "PROFILE")))
                .update_expression(expr)
                .condition_expression("attribute_exists(pk)")
                .set_expression_attribute_values(Some(values))
                .build(),
        )?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.audit_put(audit)?)
            .send()
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict => StoreError::NotFound,
                other => other,
            })?;
        Ok(())
    }
}

#[async_trait]
impl CredentialStore for DynamoStore {
    async fn get_credential(&self, no: &StudentNo) -> Result<Option<Credential>, StoreError> {
        let item = self.get_consistent(student_pk(no), "CRED").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(Credential {
            password: match get_opt_s(item, "password_hash") {
                Some(phc) => Password::Hash(phc.to_owned()),
                None if get_bool(item, "initial_password") => Password::Initial,
                None => return Err(StoreError::Corrupt("credential without a password".into())),
            },
            must_change: get_bool(item, "must_change"),
            security_question: get_opt_s(item, "security_question").map(str::to_owned),
            security_answer_hash: get_opt_s(item, "security_answer_hash").map(str::to_owned),
            version: get_i64(item, "version")? as u64,
        }))
    }

    async fn replace_credential(
        &self,
        no: &StudentNo,
        expected_version: u64,
        next: &Credential,
        audit: &crate::domain::AuditEntry,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(next.version, expected_version + 1);
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(credential_item(no, next)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version))
                .build(),
        )?;
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(self.audit_put(audit)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

// ---------- fee items ----------

fn fee_sk(item: &FeeItem) -> String {
    format!("FEE#{}#{}", item.academic_year, item.item_id.as_str())
}

fn parse_fee(item: &Item) -> Result<FeeItem, StoreError> {
    let date = |name| -> Result<NaiveDate, StoreError> { get_s(item, name)?.parse().map_err(corrupt("date")) };
    Ok(FeeItem {
        academic_year: AcademicYear::parse(get_s(item, "academic_year")?).map_err(corrupt("academic_year"))?,
        item_id: ItemId::parse(get_s(item, "item_id")?).map_err(corrupt("item_id"))?,
        name: get_s(item, "name")?.to_owned(),
        fee_type: FeeType::parse(get_s(item, "fee_type")?).ok_or_else(|| StoreError::Corrupt("fee_type".into()))?,
        due: Fen::new(get_i64(item, "due_fen")?),
        paid: Fen::new(get_i64(item, "paid_fen")?),
        window_start: date("window_start")?,
        window_end: date("window_end")?,
        status: ChargeStatus::parse(get_s(item, "status")?).ok_or_else(|| StoreError::Corrupt("status".into()))?,
    })
}

/// A new fee item (version 1).
fn fee_item_item(no: &StudentNo, f: &FeeItem) -> Item {
    let mut item = key(student_pk(no), &fee_sk(f));
    item.insert("academic_year".into(), s(f.academic_year.to_string()));
    item.insert("item_id".into(), s(f.item_id.as_str()));
    item.insert("name".into(), s(&f.name));
    item.insert("fee_type".into(), s(f.fee_type.as_str()));
    item.insert("due_fen".into(), n(f.due.get()));
    item.insert("paid_fen".into(), n(f.paid.get()));
    item.insert("window_start".into(), s(f.window_start.to_string()));
    item.insert("window_end".into(), s(f.window_end.to_string()));
    item.insert("status".into(), s(f.status.as_str()));
    item.insert("version".into(), n(1));
    item
}

#[async_trait]
impl FeeStore for DynamoStore {
    async fn list_fee_items(&self, no: &StudentNo) -> Result<Vec<FeeItem>, StoreError> {
        self.query_prefix(student_pk(no), "FEE#", false).await?.iter().map(parse_fee).collect()
    }

    async fn create_fee_item(&self, no: &StudentNo, f: &FeeItem) -> Result<(), StoreError> {
        self.create_item(fee_item_item(no, f)).await
    }
}

// ---------- sessions ----------

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, sess: &SessionRecord) -> Result<(), StoreError> {
        let mut item = key(format!("SESS#{}", sess.session_id), "SESS");
        item.insert("student_no".into(), s(sess.student_no.as_str()));
        item.insert("created_at".into(), n(sess.created_at.timestamp()));
        item.insert("expires_at".into(), n(sess.expires_at.timestamp()));
        item.insert(TTL.into(), n(sess.expires_at.timestamp()));
        if let Some(name) = &sess.name {
            item.insert("name".into(), s(name.as_str()));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| match map_err(e) {
            // A 128-bit random id collided: never expected, and not the user's doing.
            StoreError::Conflict => StoreError::Unavailable("session id collision".into()),
            other => other,
        })?;
        Ok(())
    }

    async fn get_session(&self, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let item = self.get_consistent(format!("SESS#{session_id}"), "SESS").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(SessionRecord {
            session_id: session_id.to_owned(),
            student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
            created_at: instant(get_i64(item, "created_at")?)?,
            expires_at: instant(get_i64(item, "expires_at")?)?,
            name: get_opt_s(item, "name").map(PersonName::parse).transpose().map_err(corrupt("name"))?,
        }))
    }

    async fn delete_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("SESS#{session_id}"), "SESS")))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

// ---------- throttling ----------

fn parse_failures(item: Option<&Item>) -> Result<FailureState, StoreError> {
    let Some(item) = item else { return Ok(FailureState::default()) };
    Ok(FailureState {
        failures: get_opt_i64(item, "failures")?.unwrap_or(0).max(0) as u32,
        window_start: get_opt_i64(item, "window_start")?.map(instant).transpose()?,
        locked_until: get_opt_i64(item, "locked_until")?.map(instant).transpose()?,
    })
}

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn get_failures(&self, k: &str) -> Result<FailureState, StoreError> {
        let item = self.get_consistent(k.to_owned(), "THR").await?;
        parse_failures(item.as_ref())
    }

    async fn record_failure(
        &self,
        k: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<FailureState, StoreError> {
        let cutoff = (now - window).timestamp();
        let ttl = (now + window.max(lock_for) + chrono::Duration::days(1)).timestamp();
        let mut state = None;
        for _ in 0..4 {
            // Count inside the current window …
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(k.to_owned(), "THR")))
                .update_expression(
                    "SET failures = if_not_exists(failures, :zero) + :one, \
                     window_start = if_not_exists(window_start, :now), #ttl = :ttl",
                )
                .condition_expression("attribute_not_exists(window_start) OR window_start > :cutoff")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":cutoff", n(cutoff))
                .expression_attribute_values(":ttl", n(ttl))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match counted {
                Ok(out) => {
                    state = Some(parse_failures(out.attributes())?);
                    break;
                }
                Err(e) => match map_err(e) {
                    StoreError::Conflict => {}
                    other => return Err(other),
                },
            }
            // … or restart a stale window at 1 (only if it is still stale).
            let restarted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(k.to_owned(), "THR")))
                .update_expression("SET failures = :one, window_start = :now, #ttl = :ttl")
                .condition_expression("window_start <= :cutoff")
                .expression_attribute_names("#ttl", TTL)
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":now", n(now.timestamp()))
                .expression_attribute_values(":cutoff", n(cutoff))
                .expression_attribute_values(":ttl", n(ttl))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match restarted {
                Ok(out) => {
                    state = Some(parse_failures(out.attributes())?);
                    break;
                }
                Err(e) => match map_err(e) {
                    StoreError::Conflict => continue,
                    other => return Err(other),
                },
            }
        }
        // Four lost races in a row: the key is under heavy contention; report it as a store fault.
        let state = state.ok_or_else(|| StoreError::Unavailable("failure counter contended".into()))?;
        if state.failures < lock_after {
            return Ok(state);
        }
        let until = now + lock_for;
        let locked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(k.to_owned(), "THR")))
            .update_expression("SET locked_until = :until, failures = :zero REMOVE window_start")
            .condition_expression("failures >= :limit")
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":limit", n(lock_after))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match locked {
            Ok(out) => parse_failures(out.attributes()),
            // A concurrent failure already locked it.
            Err(e) => match map_err(e) {
                StoreError::Conflict => self.get_failures(k).await,
                other => Err(other),
            },
        }
    }

    async fn clear_failures(&self, k: &str) -> Result<(), StoreError> {
        // Success clears the count but never an active lock.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(k.to_owned(), "THR")))
            .update_expression("REMOVE failures, window_start")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match map_err(e) {
                StoreError::Conflict => Ok(()),
                other => Err(other),
            })
    }
}

// ---------- password-reset codes ----------

#[async_trait]
impl ResetCodeStore for DynamoStore {
    async fn get_reset_code(&self, no: &StudentNo) -> Result<Option<ResetCode>, StoreError> {
        let item = self.get_consistent(student_pk(no), "RESET").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(ResetCode {
            code_hash: get_s(item, "code_hash")?.to_owned(),
            sent_at: instant(get_i64(item, "sent_at")?)?,
            expires_at: instant(get_i64(item, "expires_at")?)?,
            tries_left: get_i64(item, "tries_left")?.max(0) as u32,
        }))
    }

    async fn put_reset_code(&self, no: &StudentNo, c: &ResetCode, cooldown_before: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = key(student_pk(no), "RESET");
        item.insert("code_hash".into(), s(&c.code_hash));
        item.insert("sent_at".into(), n(c.sent_at.timestamp()));
        item.insert("expires_at".into(), n(c.expires_at.timestamp()));
        item.insert("tries_left".into(), n(c.tries_left));
        item.insert(TTL.into(), n(c.expires_at.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR sent_at < :cool")
            .expression_attribute_values(":cool", n(cooldown_before.timestamp()))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_reset_try(&self, no: &StudentNo) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(student_pk(no), "RESET")))
            .update_expression("SET tries_left = tries_left - :one")
            .condition_expression("tries_left > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(map_err)?;
        let attrs = out.attributes().ok_or_else(|| StoreError::Corrupt("no attributes".into()))?;
        Ok(get_i64(attrs, "tries_left")?.max(0) as u32)
    }

    async fn delete_reset_code(&self, no: &StudentNo) -> Result<(), StoreError> {
        self.client.delete_item().table_name(&self.table).set_key(Some(key(student_pk(no), "RESET"))).send().await.map_err(map_err)?;
        Ok(())
    }
}

// ---------- daily order serial ----------

#[async_trait]
impl SerialCounter for DynamoStore {
    async fn next_serial(&self, order_type: OrderType, day: NaiveDate, unit: UnitId) -> Result<Serial, StoreError> {
        let pk = format!("SEQ#{}#{}#{}", order_type.as_str(), day.format("%y%m%d"), unit.as_str());
        // Kept a week after its day, then removed by TTL.
        let ttl = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() + 8 * 86_400;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, "SEQ")))
            .update_expression("ADD seq :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(seq) OR seq < :max")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":max", n(Serial::MAX))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict => StoreError::SerialExhausted,
                other => other,
            })?;
        // When ADD creates the item some emulators also return the key attributes: read `seq` by name.
        let attrs = out.attributes().ok_or_else(|| StoreError::Corrupt("no attributes".into()))?;
        let seq = get_i64(attrs, "seq")?;
        Serial::new(seq as u64).map_err(|_| StoreError::SerialExhausted)
    }
}

// ---------- orders ----------

use crate::domain::{Order, OrderLine, OrderNo, OrderState};

fn order_pk(no: &OrderNo) -> String {
    format!("ORDER#{no}")
}
/// A kept notification: one item per copy received, under its subject and channel.
fn notification_item(raw: &RawNotification) -> Item {
    let mut item = key(
        format!("NOTIFY#{}#{}", raw.channel.as_str(), raw.subject),
        &format!("{}#{}", raw.received_at.timestamp_millis(), crate::auth::random_id()),
    );
    item.insert("raw".into(), s(&raw.raw));
    item.insert("received_at".into(), n(raw.received_at.timestamp()));
    item
}

fn lock_pk(student: &StudentNo, item_key: &str) -> String {
    format!("OPEN#{}#{item_key}", student.as_str())
}

fn order_item(o: &Order) -> Item {
    let mut item = key(order_pk(&o.order_no), "ORDER");
    item.insert(GSI1_PK.into(), s(format!("ORDERS#{}", o.student_no.as_str())));
    item.insert(GSI1_SK.into(), s(o.order_no.to_string()));
    item.insert("order_no".into(), s(o.order_no.to_string()));
    item.insert("student_no".into(), s(o.student_no.as_str()));
    item.insert("total_fen".into(), n(o.total.get()));
    item.insert("receipt_phone".into(), s(o.receipt_phone.expose()));
    if let Some(name) = &o.payer_name {
        item.insert("payer_name".into(), s(name.as_str()));
    }
    item.insert("state".into(), s(o.state.as_str()));
    item.insert("created_at".into(), n(o.created_at.timestamp()));
    item.insert("expires_at".into(), n(o.expires_at.timestamp()));
    item.insert("attempts".into(), n(o.attempts));
    item.insert("version".into(), n(o.version));
    if o.state == OrderState::Open {
        item.insert(GSI2_PK.into(), s(SWEEP_ORDERS));
        item.insert(GSI2_SK.into(), s(sweep_sk(o.expires_at, &o.order_no.to_string())));
    }
    item.insert("lines".into(), lines_attr(&o.lines));
    item
}

/// An order's lines as stored (on the order, and copied onto its receipt).
fn lines_attr(lines: &[OrderLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|l| {
                AttributeValue::M(HashMap::from([
                    ("academic_year".to_owned(), s(l.academic_year.to_string())),
                    ("item_id".to_owned(), s(l.item_id.as_str())),
                    ("name".to_owned(), s(&l.name)),
                    ("fee_type".to_owned(), s(l.fee_type.as_str())),
                    ("amount_fen".to_owned(), n(l.amount.get())),
                ]))
            })
            .collect(),
    )
}

fn parse_lines(item: &Item) -> Result<Vec<OrderLine>, StoreError> {
    match item.get("lines") {
        Some(AttributeValue::L(v)) => v
            .iter()
            .map(|l| {
                let AttributeValue::M(m) = l else { return Err(StoreError::Corrupt("order line".into())) };
                Ok(OrderLine {
                    academic_year: AcademicYear::parse(get_s(m, "academic_year")?).map_err(corrupt("academic_year"))?,
                    item_id: ItemId::parse(get_s(m, "item_id")?).map_err(corrupt("item_id"))?,
                    name: get_s(m, "name")?.to_owned(),
                    fee_type: FeeType::parse(get_s(m, "fee_type")?).ok_or_else(|| StoreError::Corrupt("fee_type".into()))?,
                    amount: Fen::new(get_i64(m, "amount_fen")?),
                })
            })
            .collect(),
        _ => Err(StoreError::Corrupt("no lines".into())),
    }
}

fn parse_order(item: &Item) -> Result<Order, StoreError> {
    let lines = parse_lines(item)?;
    Ok(Order {
        order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        lines,
        total: Fen::new(get_i64(item, "total_fen")?),
        receipt_phone: Phone::parse(get_s(item, "receipt_phone")?).map_err(corrupt("receipt_phone"))?,
        payer_name: get_opt_s(item, "payer_name").map(PersonName::parse).transpose().map_err(corrupt("payer_name"))?,
        state: OrderState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("state".into()))?,
        created_at: instant(get_i64(item, "created_at")?)?,
        expires_at: instant(get_i64(item, "expires_at")?)?,
        attempts: get_i64(item, "attempts")?.clamp(0, 99) as u8,
        version: get_i64(item, "version")? as u64,
    })
}

impl DynamoStore {
    fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An update of an order that is still open at the version read — the condition every
    /// order change carries. `update` must bump `version` (`:one` is bound).
    fn open_order_update(&self, o: &Order, update: &str) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(&o.order_no), "ORDER")))
            .update_expression(update)
            .condition_expression("#state = :open AND version = :v")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":open", s(OrderState::Open.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(o.version))
    }

    /// Deletes of the order's item locks (each only if it still names this order).
    fn release_locks(&self, o: &Order) -> Result<Vec<TransactWriteItem>, StoreError> {
        o.lines
            .iter()
            .map(|line| {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(lock_pk(&o.student_no, &line.item_key()), "LOCK")))
                    .condition_expression("order_no = :no")
                    .expression_attribute_values(":no", s(o.order_no.to_string()))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(TransactWriteItem::builder().delete(delete).build())
            })
            .collect()
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn create_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        let entry = by
            .entry(AuditAction::OrderCreated, AuditSubject::Order(o.order_no), &o.student_no)
            .change(None, &format!("open total_fen={}", o.total.get()));
        let mut tx =
            self.client.transact_write_items().transact_items(self.put_new(order_item(o))?).transact_items(self.audit_put(&entry)?);
        for line in &o.lines {
            let mut lock = key(lock_pk(&o.student_no, &line.item_key()), "LOCK");
            lock.insert("order_no".into(), s(o.order_no.to_string()));
            tx = tx.transact_items(self.put_new(lock)?);
        }
        tx.send().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_order(&self, no: &OrderNo) -> Result<Option<Order>, StoreError> {
        let item = self.get_consistent(order_pk(no), "ORDER").await?;
        item.as_ref().map(parse_order).transpose()
    }

    async fn open_order_for_item(&self, student: &StudentNo, item_key: &str) -> Result<Option<OrderNo>, StoreError> {
        let item = self.get_consistent(lock_pk(student, item_key), "LOCK").await?;
        item.as_ref().map(|it| OrderNo::parse(get_s(it, "order_no")?).map_err(corrupt("order_no"))).transpose()
    }

    async fn open_orders_for_items(&self, student: &StudentNo, item_keys: &[String]) -> Result<Vec<OrderNo>, StoreError> {
        let keys = item_keys.iter().map(|k| key(lock_pk(student, k), "LOCK")).collect();
        let mut holders: Vec<OrderNo> = Vec::new();
        for it in self.get_many_consistent(keys).await? {
            let no = OrderNo::parse(get_s(&it, "order_no")?).map_err(corrupt("order_no"))?;
            if !holders.contains(&no) {
                holders.push(no);
            }
        }
        Ok(holders)
    }

    async fn close_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        let update = self
            .open_order_update(o, "SET #state = :closed, version = version + :one REMOVE gsi2pk, gsi2sk")
            .expression_attribute_values(":closed", s(OrderState::Closed.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let entry = by.entry(AuditAction::OrderClosed, AuditSubject::Order(o.order_no), &o.student_no).change(Some("open"), "closed");
        let mut items = vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&entry)?];
        items.extend(self.release_locks(o)?);
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(map_err)?;
        Ok(())
    }

    async fn set_receipt_phone(&self, o: &Order, phone: &Phone, by: &By) -> Result<(), StoreError> {
        let update = built(
            self.open_order_update(o, "SET receipt_phone = :p, version = version + :one")
                .expression_attribute_values(":p", s(phone.expose()))
                .build(),
        )?;
        // Phones appear in the log only masked.
        let entry = by
            .entry(AuditAction::OrderReceiptPhoneChanged, AuditSubject::Order(o.order_no), &o.student_no)
            .change(Some(&o.receipt_phone.masked()), &phone.masked());
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.audit_put(&entry)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }
}

// ---------- attempts and payments ----------

use crate::domain::{Attempt, AttemptState, AuditAction, AuditSubject, By, Channel, ConfirmedPayment, OutTradeNo, PaymentOutcome};
use aws_sdk_dynamodb::types::Update;

/// gsi1 partition of the attempts of one channel paid on one Beijing day.
pub fn paid_day_pk(channel: Channel, day: NaiveDate) -> String {
    format!("PAID#{}#{day}", channel.as_str())
}

const ATTEMPT_PREFIX: &str = "ATTEMPT#";

fn attempt_sk(no: &OutTradeNo) -> String {
    format!("{ATTEMPT_PREFIX}{no}")
}

/// An item of an order's partition: the order itself, or one of its attempts.
fn is_order(item: &Item) -> bool {
    get_s(item, "sk").is_ok_and(|sk| sk == "ORDER")
}
fn is_attempt(item: &Item) -> bool {
    get_s(item, "sk").is_ok_and(|sk| sk.starts_with(ATTEMPT_PREFIX))
}

/// In the order they were made (the key order groups them by channel letter).
fn sort_attempts(attempts: &mut [Attempt]) {
    attempts.sort_by(|a, b| (a.created_at, &a.out_trade_no).cmp(&(b.created_at, &b.out_trade_no)));
}

fn attempt_item(a: &Attempt) -> Item {
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

fn parse_attempt(item: &Item) -> Result<Attempt, StoreError> {
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

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Unavailable(e.to_string()))
}

impl DynamoStore {
    /// attempt `from` → `to` with the payment's facts, conditional on the attempt's state.
    fn pay_attempt(&self, a: &Attempt, p: &ConfirmedPayment, to: AttemptState) -> Result<TransactWriteItem, StoreError> {
        let update = built(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(order_pk(&a.order_no), &attempt_sk(&a.out_trade_no))))
                // Listed in gsi1 under the Beijing day it was paid: reconciliation's "ours".
                .update_expression(
                    "SET #state = :to, gateway_trade_no = :trade, paid_at = :paid, gsi1pk = :day, gsi1sk = :otn REMOVE gsi2pk, gsi2sk",
                )
                .condition_expression("#state = :from")
                .expression_attribute_values(":day", s(paid_day_pk(a.channel, crate::clock::beijing_date(p.paid_at))))
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
    fn bank_record(&self, a: &Attempt, p: &ConfirmedPayment, state: AttemptState) -> Result<TransactWriteItem, StoreError> {
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
        let entry = by
            .entry(AuditAction::AttemptCreated, AuditSubject::Order(o.order_no), &o.student_no)
            .target(a.out_trade_no.as_str())
            .change(None, &format!("{} {} amount_fen={}", a.state.as_str(), a.channel.as_str(), a.amount.get()));
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
        let entry = by
            .entry(AuditAction::AttemptClosed, AuditSubject::Order(a.order_no), &a.student_no)
            .target(a.out_trade_no.as_str())
            .change(Some(AttemptState::Created.as_str()), AttemptState::Closed.as_str());
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(self.audit_put(&entry)?)
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn store_notification(&self, raw: &RawNotification) -> Result<(), StoreError> {
        self.client.put_item().table_name(&self.table).set_item(Some(notification_item(raw))).send().await.map_err(map_err)?;
        Ok(())
    }

    async fn record_payment(
        &self,
        p: &ConfirmedPayment,
        known: (Attempt, Order),
        issue: &crate::domain::ReceiptIssue,
        raw: Option<&RawNotification>,
        by: &By,
    ) -> Result<PaymentOutcome, StoreError> {
        // Each round decides on the states read (first the caller's) and writes conditionally on
        // them; a lost race (a concurrent copy of the same notification) re-reads and finds it
        // recorded.
        let mut state = Some(known);
        for _ in 0..5 {
            let (attempt, order) = match state.take() {
                Some(known) => known,
                None => self.payment_state(&p.out_trade_no).await?.ok_or(StoreError::NotFound)?,
            };
            if !attempt.state.awaits_payment() {
                if let Some(raw) = raw {
                    self.store_notification(raw).await?;
                }
                return Ok(PaymentOutcome::AlreadyRecorded);
            }
            let mut tx = self.client.transact_write_items();
            let outcome = if order.state == OrderState::Open {
                let paid = built(
                    self.open_order_update(
                        &order,
                        "SET #state = :paid, paid_at = :at, paid_by = :by, version = version + :one REMOVE gsi2pk, gsi2sk",
                    )
                    .expression_attribute_values(":paid", s(OrderState::Paid.as_str()))
                    .expression_attribute_values(":at", n(p.paid_at.timestamp()))
                    .expression_attribute_values(":by", s(p.out_trade_no.as_str()))
                    .build(),
                )?;
                tx = tx.transact_items(TransactWriteItem::builder().update(paid).build());
                tx = tx.transact_items(self.pay_attempt(&attempt, p, AttemptState::Paid)?);
                for line in &order.lines {
                    let credit = built(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(student_pk(&order.student_no), &format!("FEE#{}", line.item_key()))))
                            // Each payment credits an item at most once, whatever else happens.
                            .update_expression("SET paid_fen = paid_fen + :amt, version = version + :one ADD credited_by :otn_set")
                            .condition_expression("attribute_exists(pk) AND NOT contains(credited_by, :otn)")
                            .expression_attribute_values(":amt", n(line.amount.get()))
                            .expression_attribute_values(":one", n(1))
                            .expression_attribute_values(":otn", s(p.out_trade_no.as_str()))
                            .expression_attribute_values(":otn_set", AttributeValue::Ss(vec![p.out_trade_no.as_str().to_owned()]))
                            .build(),
                    )?;
                    tx = tx.transact_items(TransactWriteItem::builder().update(credit).build());
                }
                for unlock in self.release_locks(&order)? {
                    tx = tx.transact_items(unlock);
                }
                tx = tx.transact_items(self.bank_record(&attempt, p, AttemptState::Paid)?);
                // The e-receipt exists iff the order is paid: issued here, never elsewhere.
                for put in self.receipt_writes(&order, p, issue)? {
                    tx = tx.transact_items(put);
                }
                let subject = || AuditSubject::Order(order.order_no);
                let attempt_paid = by
                    .entry(AuditAction::AttemptPaid, subject(), &order.student_no)
                    .target(p.out_trade_no.as_str())
                    .change(Some(attempt.state.as_str()), &format!("paid amount_fen={} trade={}", p.amount.get(), p.gateway_trade_no));
                let order_paid = by
                    .entry(AuditAction::OrderPaid, subject(), &order.student_no)
                    .target(p.out_trade_no.as_str())
                    .change(Some("open"), "paid");
                tx = tx.transact_items(self.audit_put(&attempt_paid)?).transact_items(self.audit_put(&order_paid)?);
                PaymentOutcome::OrderPaid
            } else {
                tx = tx.transact_items(self.pay_attempt(&attempt, p, AttemptState::DuplicatePaid)?);
                tx = tx.transact_items(self.bank_record(&attempt, p, AttemptState::DuplicatePaid)?);
                let duplicate = by
                    .entry(AuditAction::AttemptDuplicatePaid, AuditSubject::Order(order.order_no), &order.student_no)
                    .target(p.out_trade_no.as_str())
                    .change(
                        Some(attempt.state.as_str()),
                        &format!("duplicate_paid amount_fen={} trade={}", p.amount.get(), p.gateway_trade_no),
                    );
                tx = tx.transact_items(self.audit_put(&duplicate)?);
                PaymentOutcome::DuplicatePaid
            };
            if let Some(raw) = raw {
                tx = tx.transact_items(self.put_new(notification_item(raw))?);
            }
            match tx.send().await.map_err(map_err) {
                Ok(_) => return Ok(outcome),
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::Unavailable("payment transition contended".into()))
    }
}

// ---------- the sweeper's work list ----------

impl DynamoStore {
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

#[async_trait]
impl SweepStore for DynamoStore {
    async fn attempts_created_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Attempt>, StoreError> {
        self.sweep_query(SWEEP_ATTEMPTS, before, limit).await?.iter().map(parse_attempt).collect()
    }
    async fn open_orders_expired_before(&self, before: DateTime<Utc>, limit: i32) -> Result<Vec<Order>, StoreError> {
        self.sweep_query(SWEEP_ORDERS, before, limit).await?.iter().map(parse_order).collect()
    }
}
