//! The table's keys and attribute helpers, in one place: every `pk`/`sk` the store writes or
//! reads is built here. See `docs/data-model.md`.

use super::*;

pub(super) const SWEEP_ORDERS: &str = "SWEEP#ORDER";
pub(super) const SWEEP_ATTEMPTS: &str = "SWEEP#ATTEMPT";
/// Duplicate payments awaiting their automatic refund.
pub(super) const SWEEP_DUPLICATES: &str = "SWEEP#DUP";

/// Sort key of the sweep index: zero-padded epoch seconds, then the id.
pub(super) fn sweep_sk(at: DateTime<Utc>, id: &str) -> String {
    format!("{:012}#{id}", at.timestamp().max(0))
}

/// A student's sessions share one partition, so that a password change can end them all.
pub(super) fn session_pk(no: &StudentNo) -> String {
    format!("SESS#{}", no.as_str())
}
pub(super) const SESSION_PREFIX: &str = "SESS#";
pub(super) fn session_sk(session_id: &str) -> String {
    format!("{SESSION_PREFIX}{session_id}")
}

pub(super) fn student_pk(no: &StudentNo) -> String {
    format!("STU#{}", no.as_str())
}

/// Keys derived from personal data are hashed so that indexes and metrics never show them.
pub fn hashed_key(prefix: &str, secret_part: &str) -> String {
    let digest = Sha256::digest(secret_part.as_bytes());
    format!("{prefix}#{}", &hex::encode(digest)[..32])
}

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}
pub(super) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}
pub(super) fn key(pk: String, sk: &str) -> Item {
    HashMap::from([(PK.to_owned(), s(pk)), (SK.to_owned(), s(sk))])
}

pub(super) fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(StoreError::Corrupt(format!("missing string attribute {name}"))),
    }
}
pub(super) fn get_opt_s<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}
pub(super) fn get_i64(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v.parse().map_err(|_| StoreError::Corrupt(format!("bad number {name}"))),
        _ => Err(StoreError::Corrupt(format!("missing number attribute {name}"))),
    }
}
pub(super) fn get_opt_i64(item: &Item, name: &str) -> Result<Option<i64>, StoreError> {
    if item.contains_key(name) { get_i64(item, name).map(Some) } else { Ok(None) }
}
pub(super) fn get_bool(item: &Item, name: &str) -> bool {
    matches!(item.get(name), Some(AttributeValue::Bool(true)))
}
pub(super) fn instant(secs: i64) -> Result<DateTime<Utc>, StoreError> {
    Utc.timestamp_opt(secs, 0).single().ok_or_else(|| StoreError::Corrupt("bad timestamp".into()))
}
pub(super) fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

/// Maps SDK errors: failed conditions (also inside transactions) become `Conflict`.
pub(super) fn map_err<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    match e.code() {
        Some("ConditionalCheckFailedException") => StoreError::Conflict,
        Some("TransactionCanceledException") if e.message().is_some_and(|m| m.contains("ConditionalCheckFailed")) => StoreError::Conflict,
        Some(code) => StoreError::Unavailable(format!("{code}: {}", e.message().unwrap_or_default())),
        None => StoreError::Unavailable(format!("{e:?}")),
    }
}

pub(super) fn order_pk(no: &OrderNo) -> String {
    format!("ORDER#{no}")
}
/// A kept notification: one item per copy received, under its subject and channel.
pub(super) fn notification_item(raw: &RawNotification) -> Item {
    let mut item =
        key(format!("NOTIFY#{}#{}", raw.channel.as_str(), raw.subject), &format!("{}#{}", raw.received_at.timestamp_millis(), random_id()));
    item.insert("raw".into(), s(&raw.raw));
    item.insert("received_at".into(), n(raw.received_at.timestamp()));
    item
}

pub(super) fn lock_pk(student: &StudentNo, item_key: &str) -> String {
    format!("OPEN#{}#{item_key}", student.as_str())
}

/// gsi1 partition of the attempts of one channel paid on one Beijing day.
pub fn paid_day_pk(channel: Channel, day: NaiveDate) -> String {
    format!("PAID#{}#{day}", channel.as_str())
}

pub(super) const ATTEMPT_PREFIX: &str = "ATTEMPT#";

pub(super) fn attempt_sk(no: &OutTradeNo) -> String {
    format!("{ATTEMPT_PREFIX}{no}")
}

pub(super) const FEE_PREFIX: &str = "FEE#";

/// A fee item's sort key under its student, from its item key (`2025-2026#TUITION`).
pub(super) fn fee_sk(item_key: &str) -> String {
    format!("{FEE_PREFIX}{item_key}")
}

/// An import's manifest and its audit entries.
pub(super) fn import_pk(id: &crate::domain::import::ImportId) -> String {
    format!("IMPORT#{id}")
}

/// 128 random bits, hex: what keeps two items written in the same millisecond apart.
pub(super) fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}
