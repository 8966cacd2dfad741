//! Audit items, in the audit table of their own (`<table>-audit`): `pk = ORDER#<no>`, `STU#<no>`
//! or `IMPORT#<sha256>`, `sk = AUDIT#<rfc3339 µs>#<random>`, listed per student in its `gsi1`
//! under `AUDITS#<student_no>`. Only ever created (`attribute_not_exists`), in the transaction of
//! the change they record; the table's resource policy denies updates and deletes to everyone,
//! and the functions' policies allow them only `PutItem` there (and only the audit function
//! reads it): no function can change or remove an entry, nor learn a key to overwrite.

use super::*;
use crate::domain::{Actor, AuditAction, AuditEntry, AuditSubject};
use store::AuditStore;

pub(super) const AUDIT_PREFIX: &str = "AUDIT#";

fn audits_pk(no: &StudentNo) -> String {
    format!("AUDITS#{}", no.as_str())
}

fn audit_item(e: &AuditEntry) -> Result<Item, StoreError> {
    let pk = match (&e.subject, &e.student_no) {
        (AuditSubject::Order(no), _) => order_pk(no),
        (AuditSubject::Student, Some(no)) => student_pk(no),
        (AuditSubject::Student, None) => return Err(StoreError::Corrupt("a student's audit entry without the student".into())),
        (AuditSubject::Import(id), _) => import_pk(id),
    };
    let short: [u8; 4] = rand::random();
    let sk = format!("{AUDIT_PREFIX}{}#{}", e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true), hex::encode(short));
    let mut item = key(pk, &sk);
    if let Some(no) = &e.student_no {
        item.insert(GSI1_PK.into(), s(audits_pk(no)));
        item.insert(GSI1_SK.into(), s(sk));
        item.insert("student_no".into(), s(no.as_str()));
    }
    item.insert("at".into(), s(e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)));
    item.insert("actor".into(), s(e.actor.label()));
    item.insert("action".into(), s(e.action.as_str()));
    match &e.subject {
        AuditSubject::Order(no) => {
            item.insert("order_no".into(), s(no.to_string()));
        }
        AuditSubject::Import(id) => {
            item.insert("import_id".into(), s(id.as_str()));
        }
        AuditSubject::Student => {}
    }
    for (name, v) in
        [("target", &e.target), ("before", &e.before), ("after", &e.after), ("reason", &e.reason), ("request_id", &e.request_id)]
    {
        if let Some(v) = v {
            item.insert(name.into(), s(v));
        }
    }
    Ok(item)
}

pub(super) fn parse_audit(item: &Item) -> Result<AuditEntry, StoreError> {
    let at = DateTime::parse_from_rfc3339(get_s(item, "at")?).map_err(corrupt("audit at"))?.with_timezone(&Utc);
    let actor = Actor::parse(get_s(item, "actor")?).ok_or_else(|| StoreError::Corrupt("audit actor".into()))?;
    let action = AuditAction::parse(get_s(item, "action")?).ok_or_else(|| StoreError::Corrupt("audit action".into()))?;
    let subject = match (get_opt_s(item, "order_no"), get_opt_s(item, "import_id")) {
        (Some(no), _) => AuditSubject::Order(OrderNo::parse(no).map_err(corrupt("audit order_no"))?),
        (None, Some(id)) => {
            AuditSubject::Import(crate::domain::import::ImportId::parse(id).ok_or_else(|| StoreError::Corrupt("audit import_id".into()))?)
        }
        (None, None) => AuditSubject::Student,
    };
    let opt = |name: &str| get_opt_s(item, name).map(str::to_owned);
    Ok(AuditEntry {
        at,
        actor,
        action,
        subject,
        student_no: get_opt_s(item, "student_no").map(StudentNo::parse).transpose().map_err(corrupt("audit student_no"))?,
        target: opt("target"),
        before: opt("before"),
        after: opt("after"),
        reason: opt("reason"),
        request_id: opt("request_id"),
    })
}

impl DynamoStore {
    /// The audit entry's put, for the transaction of the change it describes.
    pub(super) fn audit_put(&self, e: &AuditEntry) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.audit_table)
            .set_item(Some(audit_item(e)?))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn audit_query(
        &self,
        query: aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.all_pages(query.table_name(&self.audit_table)).await?.iter().map(parse_audit).collect()
    }

    /// Every entry under one subject (`ORDER#…`, `IMPORT#…`), oldest first.
    pub(super) async fn audit_under(&self, pk: String) -> Result<Vec<AuditEntry>, StoreError> {
        let query = self
            .client
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s(AUDIT_PREFIX))
            .consistent_read(true);
        self.audit_query(query).await
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.transact(vec![self.audit_put(e)?]).await
    }

    async fn audit_for_order(&self, no: &OrderNo) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_under(order_pk(no)).await
    }

    async fn audit_for_student(&self, no: &StudentNo) -> Result<Vec<AuditEntry>, StoreError> {
        let query = self
            .client
            .query()
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", s(audits_pk(no)));
        let mut entries = self.audit_query(query).await?;
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }
}
