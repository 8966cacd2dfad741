//! Reading the audit log: an operator asks, from the console, for the entries of one order or
//! of one student (the `audit` function; locally `campus-local audit`).

use crate::app::App;
use crate::domain::{AuditEntry, AuditSubject, OrderNo, StudentNo};
use crate::store::{AuditStore, StoreError};
use serde::Serialize;

/// What the operator asked for, parsed from the console event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditQuery {
    Order(OrderNo),
    Student(StudentNo),
}

#[derive(Debug, thiserror::Error)]
pub enum AuditQueryError {
    #[error("请给出 order_no（缴费单号）或 student_no（学号）之一")]
    Missing,
    #[error("order_no 不是有效的缴费单号")]
    BadOrderNo,
    #[error("student_no 不是有效的学号")]
    BadStudentNo,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl AuditQuery {
    /// `{"order_no": "XF…"}` or `{"student_no": "2021…"}` (exactly one).
    pub fn from_event(event: &serde_json::Value) -> Result<Self, AuditQueryError> {
        let text = |k: &str| event.get(k).and_then(|v| v.as_str()).map(str::trim).filter(|s| !s.is_empty());
        match (text("order_no"), text("student_no")) {
            (Some(o), None) => OrderNo::parse(o).map(Self::Order).map_err(|_| AuditQueryError::BadOrderNo),
            (None, Some(s)) => StudentNo::parse(s).map(Self::Student).map_err(|_| AuditQueryError::BadStudentNo),
            _ => Err(AuditQueryError::Missing),
        }
    }
}

/// One entry as the console shows it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct AuditEntryView {
    /// RFC 3339 in Beijing time, to the microsecond.
    pub at: String,
    pub actor: String,
    pub action: &'static str,
    /// Absent only on an entry about a whole import file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub student_no: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_no: Option<String>,
    /// The import (SHA-256 of the file) an entry about a whole import file concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl From<&AuditEntry> for AuditEntryView {
    fn from(e: &AuditEntry) -> Self {
        Self {
            at: e.at.with_timezone(&crate::clock::beijing()).to_rfc3339_opts(chrono::SecondsFormat::Micros, false),
            actor: e.actor.label(),
            action: e.action.as_str(),
            student_no: e.student_no.as_ref().map(|no| no.as_str().to_owned()),
            order_no: match &e.subject {
                AuditSubject::Order(no) => Some(no.to_string()),
                AuditSubject::Student | AuditSubject::Import(_) => None,
            },
            import_id: match &e.subject {
                AuditSubject::Import(id) => Some(id.to_string()),
                _ => None,
            },
            target: e.target.clone(),
            before: e.before.clone(),
            after: e.after.clone(),
            reason: e.reason.clone(),
            request_id: e.request_id.clone(),
        }
    }
}

impl<S: AuditStore> App<S> {
    /// The entries asked for, oldest first.
    pub async fn audit_log(&self, q: &AuditQuery) -> Result<Vec<AuditEntryView>, AuditQueryError> {
        let entries = match q {
            AuditQuery::Order(no) => self.store.audit_for_order(no).await?,
            AuditQuery::Student(no) => self.store.audit_for_student(no).await?,
        };
        Ok(entries.iter().map(AuditEntryView::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exactly_one_key_is_asked_for() {
        assert_eq!(
            AuditQuery::from_event(&json!({"order_no": " XF200510LUTAU000001 "})).unwrap(),
            AuditQuery::Order(OrderNo::parse("XF200510LUTAU000001").unwrap())
        );
        assert_eq!(
            AuditQuery::from_event(&json!({"student_no": "2021010101"})).unwrap(),
            AuditQuery::Student(StudentNo::parse("2021010101").unwrap())
        );
        assert!(matches!(AuditQuery::from_event(&json!({})), Err(AuditQueryError::Missing)));
        assert!(matches!(AuditQuery::from_event(&json!({"order_no": "XF1", "student_no": "2021010101"})), Err(AuditQueryError::Missing)));
        assert!(matches!(AuditQuery::from_event(&json!({"order_no": "XF1"})), Err(AuditQueryError::BadOrderNo)));
        assert!(matches!(AuditQuery::from_event(&json!({"student_no": "学号"})), Err(AuditQueryError::BadStudentNo)));
    }
}
