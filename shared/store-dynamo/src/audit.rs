//! Audit items: `pk = ORDER#<no>` or `STU#<no>`, `sk = AUDIT#<rfc3339 µs>#<random>`, listed per
//! student in `gsi1` under `AUDITS#<student_no>`. Only ever created (`attribute_not_exists`).

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
        self.put_new(audit_item(e)?)
    }
}

#[async_trait]
impl AuditStore for DynamoStore {
    async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.create_item(audit_item(e)?).await
    }

    async fn audit_for_order(&self, no: &OrderNo) -> Result<Vec<AuditEntry>, StoreError> {
        self.query_prefix(order_pk(no), AUDIT_PREFIX, true).await?.iter().map(parse_audit).collect()
    }

    async fn audit_for_student(&self, no: &StudentNo) -> Result<Vec<AuditEntry>, StoreError> {
        let items = self.query_index(GSI1, GSI1_PK, &audits_pk(no)).await?;
        let mut entries: Vec<AuditEntry> = items.iter().map(parse_audit).collect::<Result<_, _>>()?;
        entries.sort_by_key(|e| e.at);
        Ok(entries)
    }
}
