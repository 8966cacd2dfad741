//! 交易查询 and the other read-only records: how a payment attempt reads in 银行交易记录,
//! payments recorded by operators (线下缴费), 系统公告 and 报名信息.

use super::academic_year::AcademicYear;
use super::ids::StudentNo;
use super::money::Fen;
use super::order::{Attempt, AttemptState, OrderLine};
use super::order_no::OrderNo;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::fmt;

// ---------- 银行交易记录 ----------

/// The status a payment attempt shows in 银行交易记录.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TransactionStatus {
    /// 成功: this payment paid its order.
    Success,
    /// 失败: the gateway's payment window ended without a confirmed payment. The sweeper then
    /// asks the gateway: usually 已关闭 follows; a payment it finds (a lost notification) is
    /// recorded and the attempt turns 成功.
    Failed,
    /// 处理中: started at the gateway, still payable there, no payment confirmed yet.
    Processing,
    /// 已关闭: closed at the gateway and proven unpaid (channel changed, order cancelled or expired).
    Closed,
    /// 重复支付待退款: paid after its order had been paid by another attempt.
    DuplicatePendingRefund,
    /// 退款中: an operator asked the gateway to refund it; the outcome is awaited.
    Refunding,
    /// 已退款: the payment was given back.
    Refunded,
}

impl TransactionStatus {
    pub const ALL: [TransactionStatus; 7] =
        [Self::Success, Self::Failed, Self::Processing, Self::Closed, Self::DuplicatePendingRefund, Self::Refunding, Self::Refunded];

    /// The attempt's status at `now`.
    pub fn of(a: &Attempt, now: DateTime<Utc>) -> Self {
        match a.state {
            AttemptState::Created if now >= a.pay_by => Self::Failed,
            AttemptState::Created => Self::Processing,
            AttemptState::Paid => Self::Success,
            AttemptState::Closed => Self::Closed,
            AttemptState::DuplicatePaid => Self::DuplicatePendingRefund,
            AttemptState::Refunding => Self::Refunding,
            AttemptState::Refunded => Self::Refunded,
        }
    }

    /// What students read.
    pub fn label(self) -> &'static str {
        match self {
            Self::Success => "成功",
            Self::Failed => "失败",
            Self::Processing => "处理中",
            Self::Closed => "已关闭",
            Self::DuplicatePendingRefund => "重复支付待退款",
            Self::Refunding => "退款中",
            Self::Refunded => "已退款",
        }
    }
}

// ---------- 线下缴费 (payments recorded by operators) ----------

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payment reference must be 1-40 letters, digits, '-' or '_'")]
pub struct PaymentRefError;

/// The reference of a payment made outside this platform (a bank slip, a finance-office
/// journal number): what makes recording it idempotent. Letters are upper-cased, so `cw-1`
/// and `CW-1` are one payment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PaymentRef(String);

impl PaymentRef {
    pub fn parse(raw: &str) -> Result<Self, PaymentRefError> {
        let s = raw.trim();
        if (1..=40).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            Err(PaymentRefError)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PaymentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How an offline payment was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfflineMethod {
    Cash,
    BankTransfer,
    Pos,
    Other,
}

impl OfflineMethod {
    pub const ALL: [OfflineMethod; 4] = [Self::Cash, Self::BankTransfer, Self::Pos, Self::Other];
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cash => "cash",
            Self::BankTransfer => "bank_transfer",
            Self::Pos => "pos",
            Self::Other => "other",
        }
    }
    /// From the stored code or the Chinese label (what a fee-import file says).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL.into_iter().find(|m| m.as_str() == s || m.label() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::Cash => "现金",
            Self::BankTransfer => "银行转账",
            Self::Pos => "POS刷卡",
            Self::Other => "其他",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfflinePaymentError {
    #[error("an offline payment needs at least one item")]
    NoLines,
    #[error("an offline payment credits at most {0} items")]
    TooManyLines(usize),
    #[error("item {0} appears twice")]
    RepeatedItem(String),
    #[error("amount of item {0} must be above zero")]
    NonPositive(String),
    #[error("amounts add up to more than the largest amount")]
    TooLarge,
    #[error("receipt number must be 1-40 printable characters")]
    ReceiptNo,
    #[error("recorded_by must be 1-64 printable characters")]
    RecordedBy,
}

/// A payment a student made outside this platform (at the finance office, by bank transfer),
/// recorded by an operator or by the fee-import job. Recording it credits each fee item once,
/// whatever the number of times it is submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfflinePayment {
    pub reference: PaymentRef,
    pub student_no: StudentNo,
    /// The fee items paid, each with the amount it received.
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    pub method: OfflineMethod,
    pub paid_at: DateTime<Utc>,
    /// The finance office's own receipt (票据) number, when it issued one.
    pub receipt_no: Option<String>,
    /// Who recorded it: an operator's account or the import job's run.
    pub recorded_by: String,
    pub recorded_at: DateTime<Utc>,
}

/// At most this many fee items in one offline payment (one DynamoDB transaction).
pub const MAX_OFFLINE_LINES: usize = 20;

fn printable(s: &str, max: usize) -> Option<String> {
    let t = s.trim();
    (!t.is_empty() && t.chars().count() <= max && !t.chars().any(char::is_control)).then(|| t.to_owned())
}

impl OfflinePayment {
    /// Checks the lines (some, distinct items, each above zero) and totals them.
    #[allow(clippy::too_many_arguments)] // one row of the import file
    pub fn new(
        reference: PaymentRef,
        student_no: StudentNo,
        lines: Vec<OrderLine>,
        method: OfflineMethod,
        paid_at: DateTime<Utc>,
        receipt_no: Option<&str>,
        recorded_by: &str,
        recorded_at: DateTime<Utc>,
    ) -> Result<Self, OfflinePaymentError> {
        if lines.is_empty() {
            return Err(OfflinePaymentError::NoLines);
        }
        if lines.len() > MAX_OFFLINE_LINES {
            return Err(OfflinePaymentError::TooManyLines(MAX_OFFLINE_LINES));
        }
        let mut total = Fen::ZERO;
        for (i, l) in lines.iter().enumerate() {
            if lines[..i].iter().any(|o| o.item_key() == l.item_key()) {
                return Err(OfflinePaymentError::RepeatedItem(l.item_key()));
            }
            if l.amount <= Fen::ZERO {
                return Err(OfflinePaymentError::NonPositive(l.item_key()));
            }
            total = total.checked_add(l.amount).filter(|t| *t <= Fen::MAX).ok_or(OfflinePaymentError::TooLarge)?;
        }
        let receipt_no = match receipt_no.map(str::trim).filter(|r| !r.is_empty()) {
            Some(r) => Some(printable(r, 40).ok_or(OfflinePaymentError::ReceiptNo)?),
            None => None,
        };
        let recorded_by = printable(recorded_by, 64).ok_or(OfflinePaymentError::RecordedBy)?;
        Ok(Self { reference, student_no, lines, total, method, paid_at, receipt_no, recorded_by, recorded_at })
    }

    /// Whether `other` is this same payment submitted again (who recorded it, and when, may
    /// differ; what was paid may not).
    pub fn same_payment(&self, other: &OfflinePayment) -> bool {
        let lines = |p: &OfflinePayment| {
            let mut v: Vec<(String, Fen)> = p.lines.iter().map(|l| (l.item_key(), l.amount)).collect();
            v.sort();
            v
        };
        self.reference == other.reference
            && self.student_no == other.student_no
            && self.total == other.total
            && self.method == other.method
            && self.paid_at.timestamp() == other.paid_at.timestamp()
            && lines(self) == lines(other)
    }
}

/// What recording an offline payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OfflineOutcome {
    /// Stored, and its fee items credited.
    Recorded,
    /// The same payment was recorded before: nothing changed.
    AlreadyRecorded,
}

/// A paid record of 已缴费信息: an order paid here, or an offline payment. Its id in URLs is
/// the order number, or `offline-` and the payment reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaidRecordId {
    Online(OrderNo),
    Offline(PaymentRef),
}

impl PaidRecordId {
    pub const OFFLINE_PREFIX: &'static str = "offline-";
    pub fn parse(raw: &str) -> Option<Self> {
        if let Ok(no) = OrderNo::parse(raw) {
            return Some(Self::Online(no));
        }
        raw.strip_prefix(Self::OFFLINE_PREFIX).and_then(|r| PaymentRef::parse(r).ok()).map(Self::Offline)
    }
}

impl fmt::Display for PaidRecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Online(no) => write!(f, "{no}"),
            Self::Offline(r) => write!(f, "{}{r}", Self::OFFLINE_PREFIX),
        }
    }
}

// ---------- 系统公告 ----------

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnouncementError {
    #[error("id must be 1-64 printable characters")]
    Id,
    #[error("title must be 1-100 characters")]
    Title,
    #[error("body must be 1-5000 characters")]
    Body,
    #[error("{0} is not a time (RFC 3339, or Beijing 'YYYY-MM-DD HH:MM[:SS]', or 'YYYY-MM-DD')")]
    Time(&'static str),
    #[error("expire_at is not after publish_at")]
    Window,
}

/// A 系统公告, as operators keep it in the table (see `docs/data-model.md`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    pub id: String,
    pub title: String,
    /// Plain text; line breaks are kept.
    pub body: String,
    pub publish_at: DateTime<Utc>,
    /// Shown until this instant (exclusive); `None`: until removed.
    pub expire_at: Option<DateTime<Utc>>,
    /// Pops up before the payment wizard, to be acknowledged.
    pub important: bool,
}

/// The times operators type in the console: RFC 3339 (`2026-09-01T08:00:00+08:00`), or a
/// Beijing wall-clock time `2026-09-01 08:00` (seconds optional, `T` allowed), or a Beijing
/// date `2026-09-01` (its midnight).
pub fn parse_console_time(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    let beijing = crate::time::beijing();
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    beijing.from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

impl Announcement {
    /// From the attributes an operator wrote; times as [`parse_console_time`] reads them.
    pub fn parse(
        id: &str,
        title: &str,
        body: &str,
        publish_at: &str,
        expire_at: Option<&str>,
        important: bool,
    ) -> Result<Self, AnnouncementError> {
        let id = printable(id, 64).ok_or(AnnouncementError::Id)?;
        let title = printable(title, 100).ok_or(AnnouncementError::Title)?;
        let body = body.trim();
        if body.is_empty() || body.chars().count() > 5000 {
            return Err(AnnouncementError::Body);
        }
        let publish_at = parse_console_time(publish_at).ok_or(AnnouncementError::Time("publish_at"))?;
        let expire_at = match expire_at.map(str::trim).filter(|e| !e.is_empty()) {
            Some(e) => Some(parse_console_time(e).ok_or(AnnouncementError::Time("expire_at"))?),
            None => None,
        };
        if expire_at.is_some_and(|e| e <= publish_at) {
            return Err(AnnouncementError::Window);
        }
        Ok(Self { id, title, body: body.to_owned(), publish_at, expire_at, important })
    }

    /// Published, and not yet expired.
    pub fn is_current(&self, now: DateTime<Utc>) -> bool {
        self.publish_at <= now && self.expire_at.is_none_or(|e| now < e)
    }
}

// ---------- 报名信息 ----------

/// 层次.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StudyLevel {
    #[serde(rename = "高起专")]
    HighSchoolToJunior,
    #[serde(rename = "高起本")]
    HighSchoolToBachelor,
    #[serde(rename = "专升本")]
    JuniorToBachelor,
}

impl StudyLevel {
    pub const ALL: [StudyLevel; 3] = [Self::HighSchoolToJunior, Self::HighSchoolToBachelor, Self::JuniorToBachelor];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HighSchoolToJunior => "高起专",
            Self::HighSchoolToBachelor => "高起本",
            Self::JuniorToBachelor => "专升本",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.as_str() == s.trim())
    }
}

/// 学习形式.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum StudyMode {
    #[serde(rename = "函授")]
    Correspondence,
    #[serde(rename = "业余")]
    PartTime,
    #[serde(rename = "脱产")]
    FullTime,
}

impl StudyMode {
    pub const ALL: [StudyMode; 3] = [Self::Correspondence, Self::PartTime, Self::FullTime];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Correspondence => "函授",
            Self::PartTime => "业余",
            Self::FullTime => "脱产",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnrolmentError {
    #[error("admission year must be 1950-2100")]
    Year,
    #[error("level must be 高起专, 高起本 or 专升本")]
    Level,
    #[error("study mode must be 函授, 业余 or 脱产")]
    Mode,
    #[error("major must be 1-60 characters")]
    Major,
    #[error("study centre must be 1-60 characters")]
    Centre,
}

/// 报名信息: a student's enrolment record, as the admissions office keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrolment {
    pub admission_year: u16,
    pub level: StudyLevel,
    pub major: String,
    pub study_mode: StudyMode,
    /// 学习中心 / 函授站.
    pub study_centre: String,
}

impl Enrolment {
    pub fn parse(admission_year: i64, level: &str, major: &str, study_mode: &str, study_centre: &str) -> Result<Self, EnrolmentError> {
        Ok(Self {
            admission_year: u16::try_from(admission_year).ok().filter(|y| (1950..=2100).contains(y)).ok_or(EnrolmentError::Year)?,
            level: StudyLevel::parse(level).ok_or(EnrolmentError::Level)?,
            major: printable(major, 60).ok_or(EnrolmentError::Major)?,
            study_mode: StudyMode::parse(study_mode).ok_or(EnrolmentError::Mode)?,
            study_centre: printable(study_centre, 60).ok_or(EnrolmentError::Centre)?,
        })
    }
}

/// The academic years of some lines, sorted, each once.
pub fn years_of(lines: &[OrderLine]) -> Vec<AcademicYear> {
    let mut v: Vec<AcademicYear> = lines.iter().map(|l| l.academic_year).collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, FeeType, ItemId, OutTradeNo};

    fn attempt(state: AttemptState, pay_by: &str) -> Attempt {
        let order = OrderNo::parse("XF261126LUTAU000001").unwrap();
        Attempt {
            out_trade_no: OutTradeNo::new(&order, Channel::Alipay, 1),
            order_no: order,
            student_no: StudentNo::parse("2021010101").unwrap(),
            channel: Channel::Alipay,
            amount: Fen::new(100),
            state,
            created_at: "2026-11-26T08:00:00Z".parse().unwrap(),
            pay_by: pay_by.parse().unwrap(),
            gateway_trade_no: None,
            paid_at: None,
        }
    }

    #[test]
    fn attempt_states_read_as_bank_statuses() {
        let now: DateTime<Utc> = "2026-11-26T09:00:00Z".parse().unwrap();
        let later = "2026-11-26T09:55:00Z";
        let cases = [
            (AttemptState::Created, later, "处理中"),
            (AttemptState::Created, "2026-11-26T09:00:00Z", "失败"),
            (AttemptState::Paid, later, "成功"),
            (AttemptState::Closed, later, "已关闭"),
            (AttemptState::DuplicatePaid, later, "重复支付待退款"),
            (AttemptState::Refunding, later, "退款中"),
            (AttemptState::Refunded, later, "已退款"),
        ];
        for (state, pay_by, label) in cases {
            assert_eq!(TransactionStatus::of(&attempt(state, pay_by), now).label(), label, "{state:?}");
        }
        let labels: std::collections::BTreeSet<_> = TransactionStatus::ALL.iter().map(|s| s.label()).collect();
        assert_eq!(labels.len(), 7);
    }

    #[test]
    fn payment_references_and_record_ids() {
        assert_eq!(PaymentRef::parse(" cw-2025_001 ").unwrap().as_str(), "CW-2025_001");
        assert!(PaymentRef::parse("").is_err());
        assert!(PaymentRef::parse("a b").is_err());
        assert!(PaymentRef::parse(&"A".repeat(41)).is_err());
        assert_eq!(PaidRecordId::parse("XF261126LUTAU000001"), Some(PaidRecordId::Online(OrderNo::parse("XF261126LUTAU000001").unwrap())));
        let off = PaidRecordId::parse("offline-CW1").unwrap();
        assert_eq!(off.to_string(), "offline-CW1");
        assert_eq!(PaidRecordId::parse("offline-"), None);
        assert_eq!(PaidRecordId::parse("CW1"), None);
        assert_eq!(OfflineMethod::parse("银行转账"), Some(OfflineMethod::BankTransfer));
        assert_eq!(OfflineMethod::parse("pos"), Some(OfflineMethod::Pos));
    }

    fn line(item: &str, fen: i64) -> OrderLine {
        OrderLine {
            academic_year: AcademicYear::parse("2024-2025").unwrap(),
            item_id: ItemId::parse(item).unwrap(),
            name: item.into(),
            fee_type: FeeType::Tuition,
            amount: Fen::new(fen),
        }
    }

    #[test]
    fn offline_payments_parse() {
        let new = |lines: Vec<OrderLine>| {
            OfflinePayment::new(
                PaymentRef::parse("CW1").unwrap(),
                StudentNo::parse("2021010101").unwrap(),
                lines,
                OfflineMethod::Cash,
                Utc::now(),
                Some("  "),
                "import-2026-09-01",
                Utc::now(),
            )
        };
        let p = new(vec![line("TUITION", 200_000), line("BOOKS", 50)]).unwrap();
        assert_eq!((p.total, p.receipt_no.as_deref()), (Fen::new(200_050), None));
        assert_eq!(new(vec![]), Err(OfflinePaymentError::NoLines));
        assert!(matches!(new(vec![line("TUITION", 1), line("TUITION", 2)]), Err(OfflinePaymentError::RepeatedItem(_))));
        assert!(matches!(new(vec![line("TUITION", 0)]), Err(OfflinePaymentError::NonPositive(_))));
        let mut again = p.clone();
        again.recorded_by = "operator-7".into();
        again.lines.reverse();
        assert!(p.same_payment(&again), "who recorded it and the line order do not matter");
        again.lines[0].amount = Fen::new(51);
        assert!(!p.same_payment(&again));
    }

    #[test]
    fn console_times() {
        let t = |s| parse_console_time(s).map(|t| t.to_rfc3339());
        assert_eq!(t("2026-09-01T08:00:00+08:00").as_deref(), Some("2026-09-01T00:00:00+00:00"));
        assert_eq!(t("2026-09-01 08:00").as_deref(), Some("2026-09-01T00:00:00+00:00"));
        assert_eq!(t("2026-09-01T08:00:30").as_deref(), Some("2026-09-01T00:00:30+00:00"));
        assert_eq!(t("2026-09-01").as_deref(), Some("2026-08-31T16:00:00+00:00"), "Beijing midnight");
        assert_eq!(t("2026-09-01Z"), None);
        assert_eq!(t("yesterday"), None);
    }

    #[test]
    fn announcements_parse_and_have_a_window() {
        let a = Announcement::parse("fee-2026", " 缴费通知 ", "正文\n第二行", "2026-09-01", Some("2026-10-01 00:00"), true).unwrap();
        assert_eq!((a.title.as_str(), a.body.as_str(), a.important), ("缴费通知", "正文\n第二行", true));
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(!a.is_current(at("2026-08-31T15:59:59Z")), "before publishing");
        assert!(a.is_current(at("2026-08-31T16:00:00Z")), "from publishing");
        assert!(a.is_current(at("2026-09-30T15:59:59Z")));
        assert!(!a.is_current(at("2026-09-30T16:00:00Z")), "expired");
        assert_eq!(Announcement::parse("x", "t", "b", "2026-09-01", Some("2026-09-01"), false), Err(AnnouncementError::Window));
        assert_eq!(Announcement::parse("x", "", "b", "2026-09-01", None, false), Err(AnnouncementError::Title));
        assert_eq!(Announcement::parse("x", "t", "b", "soon", None, false), Err(AnnouncementError::Time("publish_at")));
        assert!(Announcement::parse("x", "t", "b", "2026-09-01", Some(""), false).unwrap().expire_at.is_none());
    }

    #[test]
    fn enrolments_parse() {
        let e = Enrolment::parse(2021, "专升本", "土木工程", "函授", "兰州理工大学继续教育学院本部").unwrap();
        assert_eq!((e.admission_year, e.level, e.study_mode), (2021, StudyLevel::JuniorToBachelor, StudyMode::Correspondence));
        assert_eq!(Enrolment::parse(1900, "专升本", "x", "函授", "y"), Err(EnrolmentError::Year));
        assert_eq!(Enrolment::parse(2021, "本科", "x", "函授", "y"), Err(EnrolmentError::Level));
        assert_eq!(Enrolment::parse(2021, "专升本", "x", "网络", "y"), Err(EnrolmentError::Mode));
        assert_eq!(Enrolment::parse(2021, "专升本", " ", "函授", "y"), Err(EnrolmentError::Major));
    }
}
