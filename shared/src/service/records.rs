//! 交易查询 (银行交易记录, 已缴费信息 with 明细 and 票据查询), recording offline payments,
//! 系统公告 and 报名信息.

use crate::app::App;
use crate::domain::records::{OfflinePaymentError, years_of};
use crate::domain::{
    AcademicYear, Announcement, Attempt, Channel, FeeItem, FeeType, Fen, OfflineMethod, OfflineOutcome, OfflinePayment, OrderLine,
    OrderState, PaidRecordId, PaymentRef, StudentNo, TransactionStatus,
};
use crate::error::AppError;
use crate::service::Authed;
use crate::service::orders::OrderLineView;
use crate::store::{
    AnnouncementStore, EnrolmentStore, FeeStore, HistoryStore, OfflinePaymentStore, OrderRecord, OrderStore, PaymentStore, StoreError,
    StudentStore,
};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// Everything the record use cases need from the store.
pub trait RecordStores:
    HistoryStore + PaymentStore + OfflinePaymentStore + AnnouncementStore + EnrolmentStore + FeeStore + StudentStore + OrderStore
{
}
impl<T: HistoryStore + PaymentStore + OfflinePaymentStore + AnnouncementStore + EnrolmentStore + FeeStore + StudentStore + OrderStore>
    RecordStores for T
{
}

/// Where 票据查询 of an order paid here leads (the e-receipt page).
pub fn receipt_url(order_no: &str) -> String {
    format!("/receipts/{order_no}")
}

// ---------- 银行交易记录 ----------

#[derive(Debug, Serialize)]
pub struct TransactionView {
    pub out_trade_no: String,
    pub order_no: String,
    pub channel: Channel,
    pub channel_label: &'static str,
    pub amount: Fen,
    /// The gateway's trade number (交易流水号), once it reported a payment.
    pub gateway_trade_no: Option<String>,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub status: TransactionStatus,
    pub status_label: &'static str,
}

impl TransactionView {
    pub fn new(a: &Attempt, now: DateTime<Utc>) -> Self {
        let status = TransactionStatus::of(a, now);
        Self {
            out_trade_no: a.out_trade_no.to_string(),
            order_no: a.order_no.to_string(),
            channel: a.channel,
            channel_label: a.channel.label(),
            amount: a.amount,
            gateway_trade_no: a.gateway_trade_no.clone(),
            created_at: a.created_at,
            paid_at: a.paid_at,
            status,
            status_label: status.label(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TransactionsView {
    /// Newest first.
    pub transactions: Vec<TransactionView>,
}

// ---------- 已缴费信息 ----------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PaidSource {
    /// Paid here, through a gateway.
    Online,
    /// Paid elsewhere and recorded by an operator or the fee-import job.
    Offline,
}

impl PaidSource {
    pub fn label(self) -> &'static str {
        match self {
            PaidSource::Online => "网上缴费",
            PaidSource::Offline => "线下缴费",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PaidRecordView {
    /// The order number, or `offline-` and the payment reference (`GET /api/paid/{id}`).
    pub id: String,
    pub source: PaidSource,
    pub source_label: &'static str,
    pub order_no: Option<String>,
    pub reference: Option<String>,
    /// 缴费方式: the channel (支付宝 …) or the offline method (现金 …).
    pub method_label: &'static str,
    pub paid_at: DateTime<Utc>,
    pub academic_years: Vec<AcademicYear>,
    /// The fee types among its items (学费 before 其他).
    pub fee_types: Vec<&'static str>,
    /// What its items of the requested fee type add up to (all its items without a filter).
    pub amount: Fen,
    pub total: Fen,
    pub items_count: usize,
    /// 票据查询: the e-receipt page of an order paid here.
    pub receipt_url: Option<String>,
    /// The finance office's receipt number of an offline payment, when it issued one.
    pub receipt_no: Option<String>,
    /// The payment was given back (退款): its items are owed again.
    pub refunded: bool,
    /// 已缴费 or 已退款.
    pub status_label: &'static str,
}

#[derive(Debug, Serialize)]
pub struct PaidListView {
    /// The filter applied (`学费`, `其他`), or null for every record.
    pub fee_type: Option<FeeType>,
    /// Newest first.
    pub records: Vec<PaidRecordView>,
    /// The sum of the records' `amount`, refunded ones left out.
    pub total: Fen,
}

/// One paid record with its items (明细).
#[derive(Debug, Serialize)]
pub struct PaidDetailView {
    #[serde(flatten)]
    pub record: PaidRecordView,
    pub lines: Vec<OrderLineView>,
    /// The attempt that paid it and the gateway's trade number (orders paid here).
    pub out_trade_no: Option<String>,
    pub gateway_trade_no: Option<String>,
}

fn line_views(lines: &[OrderLine]) -> Vec<OrderLineView> {
    lines.iter().map(OrderLineView::from).collect()
}

fn fee_types(lines: &[OrderLine]) -> Vec<&'static str> {
    [FeeType::Tuition, FeeType::Other].into_iter().filter(|t| lines.iter().any(|l| l.fee_type == *t)).map(FeeType::as_str).collect()
}

fn amount_of(lines: &[OrderLine], only: Option<FeeType>) -> Fen {
    lines.iter().filter(|l| only.is_none_or(|t| l.fee_type == t)).map(|l| l.amount).sum()
}

fn online_view(r: &OrderRecord, only: Option<FeeType>) -> Option<PaidRecordView> {
    let (by, at) = r.paid.as_ref()?;
    let o = &r.order;
    let channel = by.as_str().chars().nth(19).and_then(|c| Channel::ALL.into_iter().find(|ch| ch.letter() == c));
    Some(PaidRecordView {
        id: PaidRecordId::Online(o.order_no).to_string(),
        source: PaidSource::Online,
        source_label: PaidSource::Online.label(),
        order_no: Some(o.order_no.to_string()),
        reference: None,
        method_label: channel.map_or("网上支付", Channel::label),
        paid_at: *at,
        academic_years: years_of(&o.lines),
        fee_types: fee_types(&o.lines),
        amount: amount_of(&o.lines, only),
        total: o.total,
        items_count: o.lines.len(),
        receipt_url: Some(receipt_url(&o.order_no.to_string())),
        receipt_no: None,
        refunded: r.refunded_at.is_some(),
        status_label: if r.refunded_at.is_some() { "已退款" } else { "已缴费" },
    })
}

fn offline_view(p: &OfflinePayment, only: Option<FeeType>) -> PaidRecordView {
    PaidRecordView {
        id: PaidRecordId::Offline(p.reference.clone()).to_string(),
        source: PaidSource::Offline,
        source_label: PaidSource::Offline.label(),
        order_no: None,
        reference: Some(p.reference.to_string()),
        method_label: p.method.label(),
        paid_at: p.paid_at,
        academic_years: years_of(&p.lines),
        fee_types: fee_types(&p.lines),
        amount: amount_of(&p.lines, only),
        total: p.total,
        items_count: p.lines.len(),
        receipt_url: None,
        receipt_no: p.receipt_no.clone(),
        refunded: false,
        status_label: "已缴费",
    }
}

/// The `type` filter of 已缴费信息: absent, empty or `全部` for every record.
pub fn parse_fee_type_filter(raw: Option<&str>) -> Result<Option<FeeType>, AppError> {
    match raw.map(str::trim).filter(|t| !t.is_empty() && *t != "全部") {
        None => Ok(None),
        Some(t) => FeeType::parse(t).map(Some).ok_or_else(|| AppError::field("type", "费用类型应为“学费”或“其他费用”")),
    }
}

// ---------- 系统公告, 报名信息 ----------

#[derive(Debug, Serialize)]
pub struct AnnouncementView {
    pub id: String,
    pub title: String,
    pub body: String,
    pub published_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub important: bool,
}

impl From<&Announcement> for AnnouncementView {
    fn from(a: &Announcement) -> Self {
        Self {
            id: a.id.clone(),
            title: a.title.clone(),
            body: a.body.clone(),
            published_at: a.publish_at,
            expires_at: a.expire_at,
            important: a.important,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AnnouncementsView {
    /// The current ones: important first, then newest first.
    pub announcements: Vec<AnnouncementView>,
}

/// The announcements shown at `now`, in the order the pages list them.
pub fn current_announcements(mut all: Vec<Announcement>, now: DateTime<Utc>) -> Vec<Announcement> {
    all.retain(|a| a.is_current(now));
    all.sort_by(|a, b| (b.important, b.publish_at, &a.id).cmp(&(a.important, a.publish_at, &b.id)));
    all
}

#[derive(Debug, Serialize)]
pub struct EnrolmentView {
    pub student_no: String,
    pub admission_year: u16,
    pub level: crate::domain::StudyLevel,
    pub major: String,
    pub study_mode: crate::domain::StudyMode,
    pub study_centre: String,
}

// ---------- recording offline payments ----------

/// One fee item of an offline payment, as an operator or the import file names it.
#[derive(Debug, Clone)]
pub struct OfflineItem {
    pub academic_year: String,
    pub item_id: String,
    pub amount: Fen,
}

/// An offline payment as submitted (by an operator tool or the fee-import job).
#[derive(Debug, Clone)]
pub struct OfflineSubmission {
    pub reference: String,
    pub student_no: String,
    pub items: Vec<OfflineItem>,
    /// `cash`, `bank_transfer`, `pos`, `other`, or their Chinese labels.
    pub method: String,
    pub paid_at: DateTime<Utc>,
    pub receipt_no: Option<String>,
    pub recorded_by: String,
}

/// Why an offline payment was not recorded. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum OfflineRejected {
    #[error("invalid payment reference")]
    Reference,
    #[error("invalid payment method")]
    Method,
    #[error("no such student")]
    UnknownStudent,
    #[error("no fee item {0} for the student")]
    UnknownItem(String),
    #[error(transparent)]
    Invalid(#[from] OfflinePaymentError),
    #[error("the reference already names a different payment")]
    ReferenceReused,
    /// An open order holds the item: the student may be paying it online right now.
    #[error("收费项目 {item} 在未完成的缴费单 {order} 中，线下缴费暂不能入账：请在该缴费单支付或关闭后再导入")]
    ItemHeld { item: String, order: String },
    /// More than the item still owes.
    #[error("线下缴费 {amount} 元超过收费项目 {item} 的未缴金额 {outstanding} 元，未入账")]
    AboveDue { item: String, amount: crate::domain::Fen, outstanding: crate::domain::Fen },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl<S: RecordStores> App<S> {
    /// 银行交易记录: every payment attempt of the student, newest first.
    pub async fn transactions(&self, who: &Authed) -> Result<TransactionsView, AppError> {
        let history = self.store.payment_history(&who.student_no).await?;
        let lists = futures::future::try_join_all(
            history.orders.iter().filter(|r| r.order.attempts > 0).map(|r| self.store.list_attempts(&r.order.order_no)),
        )
        .await?;
        let now = self.clock.now();
        let mut attempts: Vec<Attempt> = lists.into_iter().flatten().filter(|a| a.student_no == who.student_no).collect();
        attempts.sort_by(|a, b| (b.created_at, &b.out_trade_no).cmp(&(a.created_at, &a.out_trade_no)));
        Ok(TransactionsView { transactions: attempts.iter().map(|a| TransactionView::new(a, now)).collect() })
    }

    /// 已缴费信息: orders paid here and offline payments, newest first; with a fee type, those
    /// with an item of that type (`amount` then counts only those items).
    pub async fn paid_records(&self, who: &Authed, fee_type: Option<&str>) -> Result<PaidListView, AppError> {
        let only = parse_fee_type_filter(fee_type)?;
        let history = self.store.payment_history(&who.student_no).await?;
        let has_type = |lines: &[OrderLine]| only.is_none_or(|t| lines.iter().any(|l| l.fee_type == t));
        let mut records: Vec<PaidRecordView> = history
            .orders
            .iter()
            .filter(|r| r.order.state == OrderState::Paid && r.order.student_no == who.student_no && has_type(&r.order.lines))
            .filter_map(|r| online_view(r, only))
            .chain(history.offline.iter().filter(|p| p.student_no == who.student_no && has_type(&p.lines)).map(|p| offline_view(p, only)))
            .collect();
        records.sort_by(|a, b| (b.paid_at, &b.id).cmp(&(a.paid_at, &a.id)));
        Ok(PaidListView { fee_type: only, total: records.iter().filter(|r| !r.refunded).map(|r| r.amount).sum(), records })
    }

    /// 明细 of one of the student's paid records; anything else does not exist for them.
    pub async fn paid_record(&self, who: &Authed, id: &str) -> Result<PaidDetailView, AppError> {
        match PaidRecordId::parse(id).ok_or(AppError::NotFound)? {
            PaidRecordId::Online(no) => {
                let r = self.store.order_record(&no).await?.filter(|r| r.order.student_no == who.student_no).ok_or(AppError::NotFound)?;
                let view = online_view(&r, None).ok_or(AppError::NotFound)?;
                let (by, _) = r.paid.as_ref().expect("a paid record");
                let attempt = self.store.get_attempt(by).await?;
                Ok(PaidDetailView {
                    record: view,
                    lines: line_views(&r.order.lines),
                    out_trade_no: Some(by.to_string()),
                    gateway_trade_no: attempt.and_then(|a| a.gateway_trade_no),
                })
            }
            PaidRecordId::Offline(reference) => {
                let p = self
                    .store
                    .get_offline_payment(&reference)
                    .await?
                    .filter(|p| p.student_no == who.student_no)
                    .ok_or(AppError::NotFound)?;
                Ok(PaidDetailView {
                    record: offline_view(&p, None),
                    lines: line_views(&p.lines),
                    out_trade_no: None,
                    gateway_trade_no: None,
                })
            }
        }
    }

    /// 系统公告 now (public: the login page lists them).
    pub async fn announcements(&self) -> Result<AnnouncementsView, AppError> {
        let all = self.store.list_announcements().await?;
        let now = self.clock.now();
        Ok(AnnouncementsView { announcements: current_announcements(all, now).iter().map(AnnouncementView::from).collect() })
    }

    /// 报名信息 of the student; `NotFound` when admissions has no record of them.
    pub async fn enrolment(&self, who: &Authed) -> Result<EnrolmentView, AppError> {
        let e = self.store.get_enrolment(&who.student_no).await?.ok_or(AppError::NotFound)?;
        Ok(EnrolmentView {
            student_no: who.student_no.as_str().to_owned(),
            admission_year: e.admission_year,
            level: e.level,
            major: e.major,
            study_mode: e.study_mode,
            study_centre: e.study_centre,
        })
    }

    /// Records a payment made outside this platform and credits its fee items, once: the same
    /// submission again changes nothing (`AlreadyRecorded`), so a fee-import job may re-run a
    /// whole file. Each item is named by academic year and item id; its name and fee type come
    /// from the student's fee item.
    pub async fn record_offline_payment(&self, sub: &OfflineSubmission, by: &crate::domain::By) -> Result<OfflineOutcome, OfflineRejected> {
        let reference = PaymentRef::parse(&sub.reference).map_err(|_| OfflineRejected::Reference)?;
        let method = OfflineMethod::parse(&sub.method).ok_or(OfflineRejected::Method)?;
        let student_no = StudentNo::parse(&sub.student_no).map_err(|_| OfflineRejected::UnknownStudent)?;
        if self.store.get_student(&student_no).await?.is_none() {
            return Err(OfflineRejected::UnknownStudent);
        }
        // Three tries: an item may change (an import, an order) between the read and the write.
        for _ in 0..3 {
            let (payment, items) = self.offline_payment(&reference, &student_no, method, sub).await?;
            match self.store.get_offline_payment(&reference).await? {
                Some(existing) if existing.same_payment(&payment) => return Ok(OfflineOutcome::AlreadyRecorded),
                Some(_) => return Err(OfflineRejected::ReferenceReused),
                None => {}
            }
            self.offline_creditable(&payment, &items).await?;
            let dues: Vec<_> = items.iter().map(|f| f.due).collect();
            let outcome = match self.store.record_offline_payment(&payment, &dues, by).await {
                Err(StoreError::Conflict) => continue,
                Err(StoreError::NotFound) => {
                    return Err(OfflineRejected::UnknownItem(payment.lines.iter().map(OrderLine::item_key).collect::<Vec<_>>().join(",")));
                }
                other => other?,
            };
            tracing::info!(reference = %payment.reference, total = %payment.total, ?outcome, "offline payment");
            return Ok(outcome);
        }
        Err(OfflineRejected::Store(StoreError::Unavailable("offline payment: its items kept changing".into())))
    }

    /// The payment as submitted, against the student's fee items as they are now, with each
    /// line's item as read.
    async fn offline_payment(
        &self,
        reference: &PaymentRef,
        student_no: &StudentNo,
        method: OfflineMethod,
        sub: &OfflineSubmission,
    ) -> Result<(OfflinePayment, Vec<FeeItem>), OfflineRejected> {
        let fees = self.store.list_fee_items(student_no).await?;
        let mut lines = Vec::with_capacity(sub.items.len());
        let mut read = Vec::with_capacity(sub.items.len());
        for i in &sub.items {
            let named = format!("{}#{}", i.academic_year.trim(), i.item_id.trim());
            let fee = fees
                .iter()
                .find(|f| f.academic_year.to_string() == i.academic_year.trim() && f.item_id.as_str() == i.item_id.trim())
                .ok_or(OfflineRejected::UnknownItem(named))?;
            lines.push(OrderLine {
                academic_year: fee.academic_year,
                item_id: fee.item_id.clone(),
                name: fee.name.clone(),
                fee_type: fee.fee_type,
                amount: i.amount,
            });
            read.push(fee.clone());
        }
        let payment = OfflinePayment::new(
            reference.clone(),
            student_no.clone(),
            lines,
            method,
            sub.paid_at,
            sub.receipt_no.as_deref(),
            &sub.recorded_by,
            self.clock.now(),
        )?;
        Ok((payment, read))
    }

    /// An offline payment credits an item only up to what it still owes, and never an item an
    /// open order holds (the student may be paying it online at this moment: both would count).
    async fn offline_creditable(&self, payment: &OfflinePayment, items: &[FeeItem]) -> Result<(), OfflineRejected> {
        for (line, fee) in payment.lines.iter().zip(items) {
            let key = line.item_key();
            if let Some(order) = self.store.open_order_for_item(&payment.student_no, &key).await? {
                return Err(OfflineRejected::ItemHeld { item: key, order: order.to_string() });
            }
            if !fee.accepts_credit(line.amount) {
                return Err(OfflineRejected::AboveDue { item: key, amount: line.amount, outstanding: fee.outstanding() });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(id: &str, publish: &str, important: bool) -> Announcement {
        Announcement::parse(id, id, "正文", publish, None, important).unwrap()
    }

    #[test]
    fn important_announcements_first_then_newest() {
        let now: DateTime<Utc> = "2026-10-01T00:00:00Z".parse().unwrap();
        let all = vec![
            ann("old", "2026-09-01", false),
            ann("new", "2026-09-20", false),
            ann("key", "2026-08-01", true),
            ann("future", "2026-10-02", true),
        ];
        let ids: Vec<String> = current_announcements(all, now).into_iter().map(|a| a.id).collect();
        assert_eq!(ids, ["key", "new", "old"]);
    }

    #[test]
    fn fee_type_filter() {
        assert_eq!(parse_fee_type_filter(None).unwrap(), None);
        assert_eq!(parse_fee_type_filter(Some(" ")).unwrap(), None);
        assert_eq!(parse_fee_type_filter(Some("全部")).unwrap(), None);
        assert_eq!(parse_fee_type_filter(Some("学费")).unwrap(), Some(FeeType::Tuition));
        assert_eq!(parse_fee_type_filter(Some("其他费用")).unwrap(), Some(FeeType::Other));
        assert!(matches!(parse_fee_type_filter(Some("住宿费")), Err(AppError::Validation(_))));
    }
}
