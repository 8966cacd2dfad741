//! DynamoDB side of 交易查询, offline payments, 系统公告 and 报名信息 (see `docs/data-model.md`).

use super::*;
use crate::domain::{Announcement, Enrolment, OfflineMethod, OfflineOutcome, OfflinePayment, PaymentRef};

/// The partition holding every announcement (operators edit it in the console).
const ANNOUNCEMENTS: &str = "ANNOUNCEMENTS";
const ANNOUNCEMENT_PREFIX: &str = "ANN#";
/// A student's payment history in `gsi1`: their orders and offline payments.
fn history_pk(student: &StudentNo) -> String {
    format!("ORDERS#{}", student.as_str())
}
fn offline_pk(r: &PaymentRef) -> String {
    format!("OFFLINE#{r}")
}
/// How an offline payment marks the fee items it credited (`credited_by`), apart from attempts.
fn offline_tag(r: &PaymentRef) -> String {
    format!("OFFLINE#{r}")
}

fn parse_order_record(item: &Item) -> Result<OrderRecord, StoreError> {
    let order = parse_order(item)?;
    // Written with the order's paid transition: a paid order without them is corrupt.
    let paid = match (order.state, get_opt_s(item, "paid_by"), get_opt_i64(item, "paid_at")?) {
        (OrderState::Paid, Some(by), Some(at)) => Some((OutTradeNo::parse(by).map_err(corrupt("paid_by"))?, instant(at)?)),
        (OrderState::Paid, ..) => return Err(StoreError::Corrupt("paid order without paid_by/paid_at".into())),
        _ => None,
    };
    let refunded_at = get_opt_i64(item, "refunded_at")?.map(instant).transpose()?;
    Ok(OrderRecord { order, paid, refunded_at })
}

fn offline_item(p: &OfflinePayment) -> Item {
    let mut item = key(offline_pk(&p.reference), "OFFLINE");
    item.insert(GSI1_PK.into(), s(history_pk(&p.student_no)));
    item.insert(GSI1_SK.into(), s(offline_pk(&p.reference)));
    item.insert("reference".into(), s(p.reference.as_str()));
    item.insert("student_no".into(), s(p.student_no.as_str()));
    item.insert("lines".into(), lines_attr(&p.lines));
    item.insert("total_fen".into(), n(p.total.get()));
    item.insert("method".into(), s(p.method.as_str()));
    item.insert("paid_at".into(), n(p.paid_at.timestamp()));
    if let Some(r) = &p.receipt_no {
        item.insert("receipt_no".into(), s(r));
    }
    item.insert("recorded_by".into(), s(&p.recorded_by));
    item.insert("recorded_at".into(), n(p.recorded_at.timestamp()));
    item
}

fn parse_offline(item: &Item) -> Result<OfflinePayment, StoreError> {
    let p = OfflinePayment::new(
        PaymentRef::parse(get_s(item, "reference")?).map_err(corrupt("reference"))?,
        StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        parse_lines(item)?,
        OfflineMethod::parse(get_s(item, "method")?).ok_or_else(|| StoreError::Corrupt("method".into()))?,
        instant(get_i64(item, "paid_at")?)?,
        get_opt_s(item, "receipt_no"),
        get_s(item, "recorded_by")?,
        instant(get_i64(item, "recorded_at")?)?,
    )
    .map_err(corrupt("offline payment"))?;
    if p.total.get() != get_i64(item, "total_fen")? {
        return Err(StoreError::Corrupt("offline payment total differs from its lines".into()));
    }
    Ok(p)
}

#[async_trait]
impl HistoryStore for DynamoStore {
    async fn payment_history(&self, student: &StudentNo) -> Result<PaymentHistory, StoreError> {
        let mut history = PaymentHistory::default();
        for it in self.query_index(GSI1, GSI1_PK, &history_pk(student)).await? {
            match get_s(&it, PK)? {
                pk if pk.starts_with("ORDER#") => history.orders.push(parse_order_record(&it)?),
                pk if pk.starts_with("OFFLINE#") => history.offline.push(parse_offline(&it)?),
                _ => {}
            }
        }
        Ok(history)
    }

    async fn order_record(&self, no: &OrderNo) -> Result<Option<OrderRecord>, StoreError> {
        let item = self.get_consistent(order_pk(no), "ORDER").await?;
        item.as_ref().map(parse_order_record).transpose()
    }
}

impl DynamoStore {
    /// Credits one fee item with an offline payment's line, once per payment, only while the
    /// item still owes what it owed when the decision was made (`due` as read, `paid` at most
    /// `due - amount`: never above what is due), and a check that no open order holds it.
    fn credit_offline(&self, p: &OfflinePayment, line: &OrderLine, due: Fen) -> Result<[TransactWriteItem; 2], StoreError> {
        let credit = self.credit_fee(&p.student_no, line, &offline_tag(&p.reference), Some(due))?;
        let unheld = built(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(lock_pk(&p.student_no, &line.item_key()), "LOCK")))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok([credit, TransactWriteItem::builder().condition_check(unheld).build()])
    }
}

#[async_trait]
impl OfflinePaymentStore for DynamoStore {
    async fn record_offline_payment(&self, p: &OfflinePayment, dues: &[Fen], by: &crate::domain::By) -> Result<OfflineOutcome, StoreError> {
        let entry = by
            .entry(crate::domain::AuditAction::OfflinePaymentRecorded, crate::domain::AuditSubject::Student, &p.student_no)
            .target(p.reference.as_str())
            .change(
                None,
                &format!(
                    "{} amount_fen={} items={}",
                    p.method.as_str(),
                    p.total.get(),
                    p.lines.iter().map(OrderLine::item_key).collect::<Vec<_>>().join(",")
                ),
            );
        if dues.len() != p.lines.len() {
            return Err(StoreError::Corrupt("one due per line".into()));
        }
        let mut items = vec![self.put_new(offline_item(p))?, self.audit_put(&entry)?];
        for (line, due) in p.lines.iter().zip(dues) {
            items.extend(self.credit_offline(p, line, *due)?);
        }
        match self.transact(items).await {
            Ok(()) => return Ok(OfflineOutcome::Recorded),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // Cancelled: this payment was recorded already, an item is missing, or (`Conflict`) the
        // reference names another payment or an item changed or is held since it was read.
        if let Some(existing) = self.get_offline_payment(&p.reference).await?
            && existing.same_payment(p)
        {
            return Ok(OfflineOutcome::AlreadyRecorded);
        }
        for line in &p.lines {
            if self.get_consistent(student_pk(&p.student_no), &fee_sk(&line.item_key())).await?.is_none() {
                return Err(StoreError::NotFound);
            }
        }
        Err(StoreError::Conflict)
    }

    async fn get_offline_payment(&self, r: &PaymentRef) -> Result<Option<OfflinePayment>, StoreError> {
        let item = self.get_consistent(offline_pk(r), "OFFLINE").await?;
        item.as_ref().map(parse_offline).transpose()
    }
}

// ---------- 系统公告 ----------

/// A time as an operator may have typed it: a string, or epoch seconds.
fn console_time(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        Some(AttributeValue::N(v)) => v.parse::<i64>().ok().and_then(|t| Utc.timestamp_opt(t, 0).single()).map(|t| t.to_rfc3339()),
        _ => None,
    }
}

/// `important` as a console user may have entered it: Boolean, or the string/number forms.
fn console_flag(item: &Item, name: &str) -> bool {
    match item.get(name) {
        Some(AttributeValue::Bool(b)) => *b,
        Some(AttributeValue::S(v)) => matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "是" | "1" | "yes"),
        Some(AttributeValue::N(v)) => v.trim() == "1",
        _ => false,
    }
}

fn parse_announcement(item: &Item) -> Result<Announcement, String> {
    let sk = get_s(item, SK).map_err(|e| e.to_string())?;
    let id = sk.strip_prefix(ANNOUNCEMENT_PREFIX).ok_or("sk does not start with ANN#")?;
    let text = |name: &str| get_opt_s(item, name).ok_or(format!("{name} is missing or not a string"));
    let publish_at = console_time(item, "publish_at").ok_or("publish_at is missing")?;
    Announcement::parse(
        id,
        text("title")?,
        text("body")?,
        &publish_at,
        console_time(item, "expire_at").as_deref(),
        console_flag(item, "important"),
    )
    .map_err(|e| e.to_string())
}

#[async_trait]
impl AnnouncementStore for DynamoStore {
    async fn list_announcements(&self) -> Result<Vec<Announcement>, StoreError> {
        let mut out = Vec::new();
        for it in self.query_prefix(ANNOUNCEMENTS.to_owned(), ANNOUNCEMENT_PREFIX, false).await? {
            match parse_announcement(&it) {
                Ok(a) => out.push(a),
                // One mistyped item must not hide the others; the operator finds it in the log.
                Err(reason) => tracing::warn!(sk = get_opt_s(&it, SK).unwrap_or_default(), reason = %reason, "announcement item skipped"),
            }
        }
        Ok(out)
    }

    async fn create_announcement(&self, a: &Announcement) -> Result<(), StoreError> {
        let beijing = domain::time::beijing();
        let mut item = key(ANNOUNCEMENTS.to_owned(), &format!("{ANNOUNCEMENT_PREFIX}{}", a.id));
        item.insert("title".into(), s(&a.title));
        item.insert("body".into(), s(&a.body));
        item.insert("publish_at".into(), s(a.publish_at.with_timezone(&beijing).to_rfc3339()));
        if let Some(e) = a.expire_at {
            item.insert("expire_at".into(), s(e.with_timezone(&beijing).to_rfc3339()));
        }
        item.insert("important".into(), AttributeValue::Bool(a.important));
        self.create_item(item).await
    }
}

// ---------- 报名信息 ----------

#[async_trait]
impl EnrolmentStore for DynamoStore {
    async fn get_enrolment(&self, student: &StudentNo) -> Result<Option<Enrolment>, StoreError> {
        let Some(item) = self.get_consistent(student_pk(student), "ENROL").await? else { return Ok(None) };
        Enrolment::parse(
            get_i64(&item, "admission_year")?,
            get_s(&item, "level")?,
            get_s(&item, "major")?,
            get_s(&item, "study_mode")?,
            get_s(&item, "study_centre")?,
        )
        .map(Some)
        .map_err(corrupt("enrolment"))
    }

    async fn create_enrolment(&self, student: &StudentNo, e: &Enrolment) -> Result<(), StoreError> {
        let mut item = key(student_pk(student), "ENROL");
        item.insert("admission_year".into(), n(e.admission_year));
        item.insert("level".into(), s(e.level.as_str()));
        item.insert("major".into(), s(&e.major));
        item.insert("study_mode".into(), s(e.study_mode.as_str()));
        item.insert("study_centre".into(), s(&e.study_centre));
        self.create_item(item).await
    }
}
