//! Fee-bill import (收费名单 and 线下缴费 files from the operators' bucket): every row checked
//! against the file and the store, then the whole file applied or none of it, once per content.
//! Plan and decisions: `docs/operators-design.md`, "Fee-bill import".

use crate::app::App;
use crate::domain::import::{
    BillRow, ImportId, ImportKind, ImportRows, ImportState, ImportSummary, PaymentRow, RowError, applied_report, is_report_key,
    parse_import, rejected_report, report_key,
};
use crate::domain::{AccountKind, By, Contact, FeeItem, OfflineOutcome, OfflinePayment, OrderLine, Student, StudentNo};
use crate::service::records::{OfflineItem, OfflineRejected, OfflineSubmission, RecordStores};
use crate::store::import::ImportRejection;
use crate::store::{BillWrite, Credential, ImportStore, OrderStore, StoreError};
use serde::Serialize;
use std::collections::HashMap;

/// Students checked and applied at once (each is independent of the others, so the table's
/// latency overlaps).
const CONCURRENT_STUDENTS: usize = 8;
/// Students whose profiles are read in one batch (DynamoDB's `BatchGetItem` limit).
const STUDENTS_PER_READ: usize = 100;

/// Everything the import needs from the store.
pub trait ImportStores: ImportStore + RecordStores + OrderStore {}
impl<T: ImportStore + RecordStores + OrderStore> ImportStores for T {}

/// What one invocation did with one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStatus {
    /// Every row applied (now, or by this run finishing an interrupted one).
    Applied,
    /// Bad rows: nothing written but the report (and the rejection's audit entry).
    Rejected,
    /// These bytes were imported before: nothing changed.
    AlreadyImported,
    /// Another invocation is validating or applying these bytes right now.
    InProgress,
    /// Not an import file (one of the reports, or outside `imports/`).
    Ignored,
}

#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub status: ImportStatus,
    pub key: String,
    /// Where the report is (none written for `already_imported`, `in_progress`, `ignored`).
    pub report_key: Option<String>,
    pub import_id: Option<String>,
    pub kind: Option<ImportKind>,
    pub rows: usize,
    /// The bad rows (all of them; the report has the same list).
    pub errors: Vec<RowError>,
    pub summary: Option<ImportSummary>,
    /// One sentence for the operator.
    pub message: String,
}

impl ImportOutcome {
    fn new(status: ImportStatus, key: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            key: key.to_owned(),
            report_key: None,
            import_id: None,
            kind: None,
            rows: 0,
            errors: vec![],
            summary: None,
            message: message.into(),
        }
    }
}

/// Why an import could not finish. Nothing is half-validated: a failure while applying leaves
/// the manifest `applying`, and the next invocation (a retry, or the operator's) completes it.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error("the object could not be read or the report written: {0}")]
    S3(String),
    #[error("no operators' bucket configured (OPS_BUCKET)")]
    NoBucket,
    #[error("row {row} could not be applied: {reason} (the import stays 'applying'; run it again to finish)")]
    Apply { row: usize, reason: String },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Rows per student, in file order.
fn by_student<R>(rows: &[R], no: impl Fn(&R) -> &StudentNo) -> Vec<(&StudentNo, Vec<&R>)> {
    let mut order: Vec<(&StudentNo, Vec<&R>)> = Vec::new();
    let mut at: HashMap<&StudentNo, usize> = HashMap::new();
    for r in rows {
        let k = no(r);
        match at.get(k) {
            Some(&i) => order[i].1.push(r),
            None => {
                at.insert(k, order.len());
                order.push((k, vec![r]));
            }
        }
    }
    order
}

/// Rows per payment reference, in file order.
fn by_reference(rows: &[PaymentRow]) -> Vec<Vec<&PaymentRow>> {
    let mut order: Vec<Vec<&PaymentRow>> = Vec::new();
    let mut at: HashMap<&str, usize> = HashMap::new();
    for r in rows {
        match at.get(r.reference.as_str()) {
            Some(&i) => order[i].push(r),
            None => {
                at.insert(r.reference.as_str(), order.len());
                order.push(vec![r]);
            }
        }
    }
    order
}

fn row_error(row: usize, no: &StudentNo, reason: impl Into<String>) -> RowError {
    RowError { row, student_no: no.as_str().to_owned(), reason: reason.into() }
}

/// `recorded_by` of an offline payment (at most 64 characters).
fn recorder(by: &By) -> String {
    by.actor.label().chars().take(64).collect()
}

fn submission(rows: &[&PaymentRow], by: &By) -> OfflineSubmission {
    let first = rows[0];
    OfflineSubmission {
        reference: first.reference.as_str().to_owned(),
        student_no: first.student_no.as_str().to_owned(),
        items: rows
            .iter()
            .map(|r| OfflineItem { academic_year: r.academic_year.to_string(), item_id: r.item_id.as_str().to_owned(), amount: r.amount })
            .collect(),
        method: first.method.as_str().to_owned(),
        paid_at: first.paid_at,
        receipt_no: first.receipt_no.clone(),
        recorded_by: recorder(by),
    }
}

/// A file over the size limit: refused unread, with a report saying so.
fn too_large(key: &str, size: u64, max: u64) -> (ImportOutcome, Option<Vec<u8>>) {
    let mut outcome = ImportOutcome::new(ImportStatus::Rejected, key, "文件过大，未导入");
    let mb = |bytes: u64| format!("{}.{}", bytes / 1_048_576, bytes % 1_048_576 * 10 / 1_048_576);
    let reason = format!("文件过大（{} MB，上限 {} MB），未导入；请按学院或学年拆分后分别上传", mb(size), mb(max));
    outcome.errors = vec![RowError { row: 0, student_no: String::new(), reason }];
    outcome.report_key = Some(report_key(key));
    let report = rejected_report(key, &outcome.errors);
    (outcome, Some(report))
}

impl<S: ImportStores> App<S> {
    /// Imports the object `key` of the operators' bucket and writes its report next to it.
    /// `by` is the operator (or uploader) with the invocation's request id.
    pub async fn import_object(&self, bucket: &str, key: &str, by: &By) -> Result<ImportOutcome, ImportFailure> {
        if is_report_key(key) || !key.starts_with("imports/") {
            return Ok(ImportOutcome::new(ImportStatus::Ignored, key, "不是导入文件（只导入 imports/ 下的 .csv，不含 .report.csv）"));
        }
        let s3 = self.s3.as_ref().ok_or_else(|| ImportFailure::S3("this function has no S3 client (Uses::ops_files)".into()))?;
        let object = s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| ImportFailure::S3(format!("get {key}: {}", aws_sdk_s3::error::DisplayErrorContext(e))))?;
        // Sized before it is read: a file far beyond any school's bill is refused, not loaded.
        let size = u64::try_from(object.content_length().unwrap_or(0)).unwrap_or(0);
        let (outcome, report) = if size > self.settings.import_max_bytes {
            tracing::warn!(key, size, "import refused: file too large");
            too_large(key, size, self.settings.import_max_bytes)
        } else {
            let bytes = object.body.collect().await.map_err(|e| ImportFailure::S3(format!("read {key}: {e}")))?.into_bytes();
            self.import_file(key, &bytes, by).await?
        };
        if let (Some(report), Some(report_key)) = (report, &outcome.report_key) {
            s3.put_object()
                .bucket(bucket)
                .key(report_key)
                .content_type("text/csv; charset=utf-8")
                .body(report.into())
                .send()
                .await
                .map_err(|e| ImportFailure::S3(format!("put {report_key}: {}", aws_sdk_s3::error::DisplayErrorContext(e))))?;
        }
        tracing::info!(key, status = ?outcome.status, rows = outcome.rows, bad_rows = outcome.errors.len(), import_id = outcome.import_id.as_deref().unwrap_or(""), "import");
        Ok(outcome)
    }

    /// The import of one file's bytes: the outcome and the report to write next to it.
    pub async fn import_file(&self, key: &str, bytes: &[u8], by: &By) -> Result<(ImportOutcome, Option<Vec<u8>>), ImportFailure> {
        let id = ImportId::of(bytes);
        let by = by.clone().with_reason(&format!("import {key} (sha256 {})", id.short()));
        let mut outcome = ImportOutcome::new(ImportStatus::InProgress, key, "");
        outcome.import_id = Some(id.to_string());
        let existing = self.store.get_import(&id).await?;
        match existing.as_ref().map(|m| m.state) {
            Some(ImportState::Applied) => return Ok((self.already_imported(outcome, existing.expect("read")), None)),
            Some(ImportState::Applying) => return self.apply(outcome, key, bytes, &id, &by).await,
            _ => {}
        }
        let attempt = match self.store.begin_import_validation(&id, key, &by).await {
            Ok(a) => a,
            Err(StoreError::Conflict) => return self.overtaken(outcome, &id).await,
            Err(e) => return Err(e.into()),
        };
        let parsed = match parse_import(bytes, self.clock.now()) {
            Ok(p) => p,
            Err(file) => {
                outcome.errors = vec![RowError { row: 0, student_no: String::new(), reason: file.to_string() }];
                return self.reject(outcome, key, &id, attempt, &by).await;
            }
        };
        outcome.kind = Some(parsed.rows.kind());
        outcome.rows = parsed.total_rows;
        let mut errors = parsed.errors;
        match &parsed.rows {
            ImportRows::FeeBill(rows) => errors.extend(self.check_bill(rows).await?),
            ImportRows::OfflinePayments(rows) => errors.extend(self.check_offline(rows, &by).await?),
        }
        if !errors.is_empty() {
            errors.sort_by_key(|e| e.row);
            outcome.errors = errors;
            return self.reject(outcome, key, &id, attempt, &by).await;
        }
        match self.store.start_applying_import(&id, attempt, parsed.rows.kind(), parsed.total_rows, &by).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return self.overtaken(outcome, &id).await,
            Err(e) => return Err(e.into()),
        }
        self.apply(outcome, key, bytes, &id, &by).await
    }

    fn already_imported(&self, mut outcome: ImportOutcome, m: crate::store::ImportManifest) -> ImportOutcome {
        outcome.status = ImportStatus::AlreadyImported;
        outcome.kind = m.kind;
        outcome.rows = m.rows;
        outcome.summary = m.summary;
        outcome.message = format!(
            "此文件的内容已于 {} 导入（{}），本次未做任何更改",
            m.updated_at.with_timezone(&crate::clock::beijing()).format("%Y-%m-%d %H:%M"),
            m.key
        );
        outcome
    }

    /// Another invocation moved the manifest on while this one worked.
    async fn overtaken(&self, outcome: ImportOutcome, id: &ImportId) -> Result<(ImportOutcome, Option<Vec<u8>>), ImportFailure> {
        match self.store.get_import(id).await? {
            Some(m) if m.state == ImportState::Applied => Ok((self.already_imported(outcome, m), None)),
            _ => Ok((ImportOutcome { message: "另一次导入正在处理同一文件，请稍后查看报告".into(), ..outcome }, None)),
        }
    }

    async fn reject(
        &self,
        mut outcome: ImportOutcome,
        key: &str,
        id: &ImportId,
        attempt: u64,
        by: &By,
    ) -> Result<(ImportOutcome, Option<Vec<u8>>), ImportFailure> {
        let found = ImportRejection { attempt, kind: outcome.kind, rows: outcome.rows, errors: outcome.errors.len() };
        match self.store.reject_import(id, &found, by).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => return self.overtaken(outcome, id).await,
            Err(e) => return Err(e.into()),
        }
        let report = rejected_report(key, &outcome.errors);
        outcome.status = ImportStatus::Rejected;
        outcome.report_key = Some(report_key(key));
        outcome.message = format!("有 {} 行错误，整个文件未导入，未写入任何数据；错误见报告", outcome.errors.len());
        Ok((outcome, Some(report)))
    }

    /// The stored profiles of a group of students, read together.
    async fn profiles<R>(&self, group: &[(&StudentNo, Vec<&R>)]) -> Result<HashMap<StudentNo, Student>, StoreError> {
        let nos: Vec<StudentNo> = group.iter().map(|(no, _)| (*no).clone()).collect();
        self.store.get_students(&nos).await
    }

    /// The checks of a fee bill against what is stored: a new student costs one hundredth of a
    /// store call (their profile is read in a batch), a known one also a query of their items.
    async fn check_bill(&self, rows: &[BillRow]) -> Result<Vec<RowError>, StoreError> {
        use futures::{StreamExt as _, TryStreamExt as _};
        let mut errors = Vec::new();
        for group in by_student(rows, |r| &r.student_no).chunks(STUDENTS_PER_READ) {
            let stored = self.profiles(group).await?;
            // The futures are made first: a stream of closures over borrowed rows is not `Send`
            // enough for the Lambda runtime's spawned handler.
            let checks: Vec<_> = group.iter().map(|(no, rows)| self.check_student(no, stored.get(*no), rows)).collect();
            let checked: Vec<Vec<RowError>> = futures::stream::iter(checks).buffered(CONCURRENT_STUDENTS).try_collect().await?;
            errors.extend(checked.into_iter().flatten());
        }
        Ok(errors)
    }

    /// One student's rows of a fee bill against what is stored (`stored`: their profile).
    async fn check_student(&self, no: &StudentNo, stored: Option<&Student>, rows: &[&BillRow]) -> Result<Vec<RowError>, StoreError> {
        let mut errors = Vec::new();
        let Some(stored) = stored else { return Ok(errors) };
        let first = rows[0];
        let mismatch = match (stored.id_card == first.id_card, stored.name == first.name) {
            (false, _) => Some("学号已存在，但身份证号与系统中的不同"),
            (true, false) => Some("学号已存在，但姓名与系统中的不同"),
            _ => None,
        };
        if let Some(reason) = mismatch {
            errors.extend(rows.iter().map(|r| row_error(r.row, no, reason)));
            return Ok(errors);
        }
        let items = self.store.list_fee_items(no).await?;
        for r in rows {
            let Some(item) = items.iter().find(|i| i.academic_year == r.item.academic_year && i.item_id == r.item.item_id) else {
                continue;
            };
            if r.same_item(item) {
                continue;
            }
            if r.item.due < item.paid {
                errors.push(row_error(r.row, no, format!("应缴金额 {} 元低于该项目已缴金额 {} 元", r.item.due, item.paid)));
            } else if r.item.due != item.due
                && let Some(order) = self.store.open_order_for_item(no, &r.item_key()).await?
            {
                errors.push(row_error(
                    r.row,
                    no,
                    format!("该收费项目在未完成的缴费单 {order} 中，暂不能修改应缴金额（缴费单支付、取消或过期后再导入）"),
                ));
            }
        }
        Ok(errors)
    }

    /// The checks of an offline-payments file against what is stored.
    async fn check_offline(&self, rows: &[PaymentRow], by: &By) -> Result<Vec<RowError>, StoreError> {
        let mut errors = Vec::new();
        let mut items_of: HashMap<StudentNo, Option<Vec<FeeItem>>> = HashMap::new();
        for payment in by_reference(rows) {
            let no = &payment[0].student_no;
            if !items_of.contains_key(no) {
                let items = match self.store.get_student(no).await? {
                    Some(_) => Some(self.store.list_fee_items(no).await?),
                    None => None,
                };
                items_of.insert(no.clone(), items);
            }
            let Some(items) = &items_of[no] else {
                errors.extend(payment.iter().map(|r| row_error(r.row, no, "学号不存在（请先导入收费名单）")));
                continue;
            };
            let mut lines = Vec::new();
            for r in &payment {
                match items.iter().find(|i| i.academic_year == r.academic_year && i.item_id == r.item_id) {
                    Some(i) => lines.push(OrderLine {
                        academic_year: i.academic_year,
                        item_id: i.item_id.clone(),
                        name: i.name.clone(),
                        fee_type: i.fee_type,
                        amount: r.amount,
                    }),
                    None => {
                        errors.push(row_error(r.row, no, format!("该学生没有 {} 学年的收费项目 {}", r.academic_year, r.item_id.as_str())))
                    }
                }
            }
            if lines.len() != payment.len() {
                continue;
            }
            let first = payment[0];
            let Some(stored) = self.store.get_offline_payment(&first.reference).await? else { continue };
            let this = OfflinePayment::new(
                first.reference.clone(),
                no.clone(),
                lines,
                first.method,
                first.paid_at,
                first.receipt_no.as_deref(),
                &recorder(by),
                by.at,
            );
            if !this.is_ok_and(|p| stored.same_payment(&p)) {
                errors.extend(payment.iter().map(|r| row_error(r.row, no, "凭证号已被另一笔线下缴费使用")));
            }
        }
        Ok(errors)
    }

    /// Applies every row (idempotently: what is already as the file says is left alone), then
    /// marks the import applied. Run again after an interruption, it finishes the file.
    async fn apply(
        &self,
        mut outcome: ImportOutcome,
        key: &str,
        bytes: &[u8],
        id: &ImportId,
        by: &By,
    ) -> Result<(ImportOutcome, Option<Vec<u8>>), ImportFailure> {
        let parsed = parse_import(bytes, self.clock.now()).map_err(|e| ImportFailure::Apply { row: 0, reason: e.to_string() })?;
        if let Some(e) = parsed.errors.first() {
            return Err(ImportFailure::Apply { row: e.row, reason: e.reason.clone() });
        }
        let mut summary = ImportSummary { rows: parsed.total_rows, ..ImportSummary::default() };
        match &parsed.rows {
            ImportRows::FeeBill(rows) => {
                use futures::{StreamExt as _, TryStreamExt as _};
                for group in by_student(rows, |r| &r.student_no).chunks(STUDENTS_PER_READ) {
                    let stored = self.profiles(group).await?;
                    let applies: Vec<_> =
                        group.iter().map(|(no, rows)| self.apply_student(no, stored.get(*no).cloned(), rows, id, key, by)).collect();
                    let done: Vec<ImportSummary> = futures::stream::iter(applies).buffered(CONCURRENT_STUDENTS).try_collect().await?;
                    for s in done {
                        summary.students_created += s.students_created;
                        summary.phones_added += s.phones_added;
                        summary.items_created += s.items_created;
                        summary.items_updated += s.items_updated;
                        summary.items_unchanged += s.items_unchanged;
                    }
                }
            }
            ImportRows::OfflinePayments(rows) => {
                for payment in by_reference(rows) {
                    let reason = format!(
                        "import {key} rows {} (sha256 {})",
                        payment.iter().map(|r| r.row.to_string()).collect::<Vec<_>>().join(","),
                        id.short()
                    );
                    let row_by = by.clone().with_reason(&reason);
                    match self.record_offline_payment(&submission(&payment, by), &row_by).await {
                        Ok(OfflineOutcome::Recorded) => summary.offline_recorded += 1,
                        Ok(OfflineOutcome::AlreadyRecorded) => summary.offline_already_recorded += 1,
                        Err(OfflineRejected::Store(e)) => return Err(e.into()),
                        Err(e) => return Err(ImportFailure::Apply { row: payment[0].row, reason: e.to_string() }),
                    }
                }
            }
        }
        match self.store.finish_import(id, &summary, by).await {
            Ok(()) => {}
            // A concurrent run of the same file finished first: the end state is the same.
            Err(StoreError::Conflict) if self.store.get_import(id).await?.is_some_and(|m| m.state == ImportState::Applied) => {}
            Err(e) => return Err(e.into()),
        }
        let kind = parsed.rows.kind();
        outcome.status = ImportStatus::Applied;
        outcome.kind = Some(kind);
        outcome.rows = parsed.total_rows;
        outcome.report_key = Some(report_key(key));
        outcome.message = match kind {
            ImportKind::FeeBill => format!(
                "已导入 {} 行：新建学生 {}，新建收费项目 {}，更新收费项目 {}，未变化 {}",
                summary.rows, summary.students_created, summary.items_created, summary.items_updated, summary.items_unchanged
            ),
            ImportKind::OfflinePayments => {
                format!(
                    "已导入 {} 行：入账线下缴费 {} 笔，此前已入账 {} 笔",
                    summary.rows, summary.offline_recorded, summary.offline_already_recorded
                )
            }
        };
        let report = applied_report(key, kind, id, &summary);
        outcome.summary = Some(summary);
        Ok((outcome, Some(report)))
    }

    /// One student's rows: what is missing is created, what differs is updated, each change
    /// conditional on what was read; a lost race reads again. `profile` is the student's
    /// profile as the batch read found it (so a new student costs one transaction).
    async fn apply_student(
        &self,
        no: &StudentNo,
        profile: Option<Student>,
        rows: &[&BillRow],
        id: &ImportId,
        key: &str,
        by: &By,
    ) -> Result<ImportSummary, ImportFailure> {
        let mut summary = ImportSummary::default();
        let mut profile = Some(profile);
        for _ in 0..4 {
            let stored = match profile.take() {
                Some(read) => read,
                None => self.store.get_student(no).await?,
            };
            let first = rows[0];
            let mut writes = Vec::new();
            match &stored {
                Some(s) if s.id_card != first.id_card || s.name != first.name => {
                    return Err(ImportFailure::Apply {
                        row: first.row, reason: "学号已存在，但姓名或身份证号与系统中的不同".into()
                    });
                }
                // The college gives the phone of a student who had none (the first login needs it).
                Some(s) if s.contact.phone.is_none() => {
                    if let Some(phone) = rows.iter().find_map(|r| r.phone.clone()) {
                        writes.push(BillWrite::AddPhone { phone, row: first.row });
                    }
                }
                Some(_) => {}
                None => {
                    let student = Student {
                        student_no: no.clone(),
                        name: first.name.clone(),
                        gender: first.id_card.gender(),
                        id_card: first.id_card.clone(),
                        department: first.department.clone(),
                        class_name: first.class_name.clone(),
                        kind: AccountKind::Student,
                        contact: Contact { phone: first.phone.clone(), ..Contact::default() },
                    };
                    writes.push(BillWrite::CreateStudent {
                        student: Box::new(student),
                        credential: Credential::initial(self.clock.now() + self.settings.initial_password_ttl),
                        row: first.row,
                    });
                }
            }
            let items = if stored.is_some() { self.store.fee_items_versioned(no).await? } else { vec![] };
            let mut unchanged = 0;
            for r in rows {
                match items.iter().find(|(i, _)| i.academic_year == r.item.academic_year && i.item_id == r.item.item_id) {
                    None => writes.push(BillWrite::CreateItem { item: r.item.clone(), row: r.row }),
                    Some((i, _)) if r.same_item(i) => unchanged += 1,
                    Some((i, _)) if r.item.due < i.paid => {
                        return Err(ImportFailure::Apply {
                            row: r.row,
                            reason: format!("应缴金额 {} 元低于该项目已缴金额 {} 元", r.item.due, i.paid),
                        });
                    }
                    Some((i, v)) => writes.push(BillWrite::UpdateItem {
                        before: i.clone(),
                        version: *v,
                        after: FeeItem { paid: i.paid, ..r.item.clone() },
                        row: r.row,
                    }),
                }
            }
            if !writes.is_empty() {
                match self.store.apply_bill_writes(no, &writes, id, key, by).await {
                    Ok(()) => {}
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            for w in &writes {
                match w {
                    BillWrite::CreateStudent { .. } => summary.students_created += 1,
                    BillWrite::AddPhone { .. } => summary.phones_added += 1,
                    BillWrite::CreateItem { .. } => summary.items_created += 1,
                    BillWrite::UpdateItem { .. } => summary.items_updated += 1,
                }
            }
            summary.items_unchanged += unchanged;
            return Ok(summary);
        }
        // Still conflicting: most likely an open order now holds an item whose amount changes.
        for r in rows {
            if let Some(order) = self.store.open_order_for_item(no, &r.item_key()).await? {
                return Err(ImportFailure::Apply {
                    row: r.row,
                    reason: format!("该收费项目在未完成的缴费单 {order} 中，暂不能修改应缴金额"),
                });
            }
        }
        Err(ImportFailure::Apply { row: rows[0].row, reason: "写入时数据一再被并发修改".into() })
    }
}
