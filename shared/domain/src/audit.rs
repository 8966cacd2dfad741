//! The audit log: who changed what, when, from which state to which. One append-only entry per
//! state change or operator action, written in the same transaction as the change it describes.
//! See `docs/operators-design.md`.

use super::ids::StudentNo;
use super::order::Channel;
use super::order_no::OrderNo;
use chrono::{DateTime, Utc};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("operator name must be 1-64 characters without control characters or ':'")]
pub struct OperatorNameError;

/// An operator as they name themselves in a console event (`"operator": "财务处-张敏"`).
/// The Lambda request id recorded beside it ties the entry to CloudTrail's IAM principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorName(String);

impl OperatorName {
    pub fn parse(raw: &str) -> Result<Self, OperatorNameError> {
        let s = raw.trim();
        let len = s.chars().count();
        if (1..=64).contains(&len) && !s.chars().any(|c| c.is_control() || c == ':') {
            Ok(Self(s.to_owned()))
        } else {
            Err(OperatorNameError)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A signed-in student, acting on their own orders and profile.
    Student(StudentNo),
    /// A gateway, by a verified asynchronous notification.
    Gateway(Channel),
    /// The scheduled sweeper (expiry, queries of unsettled attempts, SMS retries).
    Sweeper,
    /// The daily reconciliation against the gateways' statements.
    Reconciliation,
    /// A finance-office operator, by a console invocation or an uploaded file.
    Operator(OperatorName),
    /// The local platform's demo data.
    Seed,
    /// A rule the school configured, acting by itself (a duplicate payment refunded
    /// automatically).
    Policy,
}

impl Actor {
    /// `student:2021010101`, `gateway:alipay`, `sweeper`, `reconciliation`, `operator:张敏`, `seed`.
    pub fn label(&self) -> String {
        match self {
            Actor::Student(no) => format!("student:{}", no.as_str()),
            Actor::Gateway(c) => format!("gateway:{}", c.as_str()),
            Actor::Sweeper => "sweeper".into(),
            Actor::Reconciliation => "reconciliation".into(),
            Actor::Operator(name) => format!("operator:{}", name.as_str()),
            Actor::Seed => "seed".into(),
            Actor::Policy => "policy".into(),
        }
    }

    pub fn parse(label: &str) -> Option<Self> {
        Some(match label.split_once(':') {
            Some(("student", no)) => Actor::Student(StudentNo::parse(no).ok()?),
            Some(("gateway", c)) => Actor::Gateway(Channel::parse(c)?),
            Some(("operator", name)) => Actor::Operator(OperatorName::parse(name).ok()?),
            None if label == "sweeper" => Actor::Sweeper,
            None if label == "reconciliation" => Actor::Reconciliation,
            None if label == "seed" => Actor::Seed,
            None if label == "policy" => Actor::Policy,
            _ => return None,
        })
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// What an entry is about: an order (its own partition), or a student (changes with no order,
/// such as an imported fee item or an offline payment), or an import file as a whole (its
/// validation, rejection and completion: entries that concern no one student).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditSubject {
    Order(OrderNo),
    Student,
    /// Listed under the import's manifest (`IMPORT#<sha256>`), not under a student.
    Import(super::import::ImportId),
}

/// The kinds of change the log records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    OrderCreated,
    OrderReceiptPhoneChanged,
    OrderClosed,
    OrderPaid,
    AttemptCreated,
    AttemptClosed,
    AttemptPaid,
    AttemptDuplicatePaid,
    RefundRequested,
    RefundSucceeded,
    RefundFailed,
    FeeItemImported,
    FeeItemUpdated,
    StudentImported,
    OfflinePaymentRecorded,
    ImportApplied,
    ImportRejected,
    ReconciliationRepaired,
    ContactChanged,
    PasswordChanged,
    SecurityQuestionChanged,
}

impl AuditAction {
    pub const ALL: [AuditAction; 21] = [
        Self::OrderCreated,
        Self::OrderReceiptPhoneChanged,
        Self::OrderClosed,
        Self::OrderPaid,
        Self::AttemptCreated,
        Self::AttemptClosed,
        Self::AttemptPaid,
        Self::AttemptDuplicatePaid,
        Self::RefundRequested,
        Self::RefundSucceeded,
        Self::RefundFailed,
        Self::FeeItemImported,
        Self::FeeItemUpdated,
        Self::StudentImported,
        Self::OfflinePaymentRecorded,
        Self::ImportApplied,
        Self::ImportRejected,
        Self::ReconciliationRepaired,
        Self::ContactChanged,
        Self::PasswordChanged,
        Self::SecurityQuestionChanged,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderReceiptPhoneChanged => "order.receipt_phone_changed",
            Self::OrderClosed => "order.closed",
            Self::OrderPaid => "order.paid",
            Self::AttemptCreated => "attempt.created",
            Self::AttemptClosed => "attempt.closed",
            Self::AttemptPaid => "attempt.paid",
            Self::AttemptDuplicatePaid => "attempt.duplicate_paid",
            Self::RefundRequested => "refund.requested",
            Self::RefundSucceeded => "refund.succeeded",
            Self::RefundFailed => "refund.failed",
            Self::FeeItemImported => "fee_item.imported",
            Self::FeeItemUpdated => "fee_item.updated",
            Self::StudentImported => "student.imported",
            Self::OfflinePaymentRecorded => "offline_payment.recorded",
            Self::ImportApplied => "import.applied",
            Self::ImportRejected => "import.rejected",
            Self::ReconciliationRepaired => "reconciliation.repaired",
            Self::ContactChanged => "profile.contact_changed",
            Self::PasswordChanged => "account.password_changed",
            Self::SecurityQuestionChanged => "account.security_question_changed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// One audit entry. `before`/`after` are short state descriptions (`created`, `paid`,
/// `paid_fen=0`); personal data appears only masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: Actor,
    pub action: AuditAction,
    pub subject: AuditSubject,
    /// The student the change concerns: every entry with one is listed under them. Only an
    /// entry about a whole import file (`AuditSubject::Import`) has none.
    pub student_no: Option<StudentNo>,
    /// What within the subject changed (an out-trade-no, a fee item key, a payment reference).
    pub target: Option<String>,
    pub before: Option<String>,
    pub after: Option<String>,
    pub reason: Option<String>,
    /// The Lambda request id (or local command run id) of an operator action.
    pub request_id: Option<String>,
}

impl AuditEntry {
    pub fn new(at: DateTime<Utc>, actor: &Actor, action: AuditAction, subject: AuditSubject, student_no: &StudentNo) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            subject,
            student_no: Some(student_no.clone()),
            target: None,
            before: None,
            after: None,
            reason: None,
            request_id: None,
        }
    }
    /// An entry about a whole import file (no student).
    pub fn for_import(at: DateTime<Utc>, actor: &Actor, action: AuditAction, id: &super::import::ImportId) -> Self {
        Self {
            at,
            actor: actor.clone(),
            action,
            subject: AuditSubject::Import(id.clone()),
            student_no: None,
            target: None,
            before: None,
            after: None,
            reason: None,
            request_id: None,
        }
    }
    pub fn target(mut self, t: impl Into<String>) -> Self {
        self.target = Some(t.into());
        self
    }
    pub fn change(mut self, before: Option<&str>, after: &str) -> Self {
        self.before = before.map(str::to_owned);
        self.after = Some(after.to_owned());
        self
    }
    pub fn reason(mut self, r: impl Into<String>) -> Self {
        self.reason = Some(r.into());
        self
    }
    pub fn request_id(mut self, r: Option<&str>) -> Self {
        self.request_id = r.map(str::to_owned);
        self
    }
}

/// Who is making a change, when, and on whose request: what every audited store write takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct By {
    pub actor: Actor,
    pub at: DateTime<Utc>,
    pub request_id: Option<String>,
    pub reason: Option<String>,
}

impl By {
    pub fn new(actor: Actor, at: DateTime<Utc>) -> Self {
        Self { actor, at, request_id: None, reason: None }
    }
    pub fn with_request(mut self, request_id: &str) -> Self {
        self.request_id = Some(request_id.to_owned());
        self
    }
    pub fn with_reason(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }
    /// The entry for one change made by this actor.
    pub fn entry(&self, action: AuditAction, subject: AuditSubject, student_no: &StudentNo) -> AuditEntry {
        let mut e = AuditEntry::new(self.at, &self.actor, action, subject, student_no);
        e.request_id = self.request_id.clone();
        e.reason = self.reason.clone();
        e
    }
    /// The entry for something this actor did to a whole import file.
    pub fn import_entry(&self, action: AuditAction, id: &super::import::ImportId) -> AuditEntry {
        let mut e = AuditEntry::for_import(self.at, &self.actor, action, id);
        e.request_id = self.request_id.clone();
        e.reason = self.reason.clone();
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_labels_round_trip() {
        let actors = [
            Actor::Student(StudentNo::parse("2021010101").unwrap()),
            Actor::Gateway(Channel::Unionpay),
            Actor::Sweeper,
            Actor::Reconciliation,
            Actor::Operator(OperatorName::parse("财务处-张敏").unwrap()),
            Actor::Seed,
            Actor::Policy,
        ];
        for a in actors {
            assert_eq!(Actor::parse(&a.label()), Some(a.clone()), "{a}");
        }
        assert_eq!(Actor::parse("operator:"), None);
        assert_eq!(Actor::parse("root"), None);
    }

    #[test]
    fn operator_names_are_bounded_and_printable() {
        assert!(OperatorName::parse("  张敏 ").is_ok());
        assert!(OperatorName::parse("").is_err());
        assert!(OperatorName::parse("a\nb").is_err());
        assert!(OperatorName::parse("a:b").is_err());
        assert!(OperatorName::parse(&"长".repeat(65)).is_err());
    }

    #[test]
    fn action_names_are_unique_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for a in AuditAction::ALL {
            assert!(seen.insert(a.as_str()));
            assert_eq!(AuditAction::parse(a.as_str()), Some(a));
        }
    }
}
