//! Fee-bill import files (收费名单 and 线下缴费): decoding (UTF-8 with or without BOM, else GBK),
//! CSV by header name, every row parsed with the domain types, the checks that need nothing but
//! the file (duplicates, one student's rows agreeing), and the report written next to the file.
//! Checks against what is stored are the service's (`service::import`). See
//! `docs/operators-design.md`, "Fee-bill import".

use super::academic_year::AcademicYear;
use super::contact::Phone;
use super::fee::{ChargeStatus, FeeItem, FeeType, ItemId};
use super::ids::{IdCardNo, IdError, StudentNo};
use super::money::{Fen, MoneyError};
use super::records::{MAX_OFFLINE_LINES, OfflineMethod, PaymentRef};
use super::student::PersonName;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::fmt;

/// At most this many data rows in one file (the function's 15 minutes cover it with room).
pub const MAX_ROWS: usize = 10_000;

/// Columns of a fee bill (收费名单): one row per student and fee item.
pub const FEE_BILL_COLUMNS: [&str; 11] =
    ["学号", "姓名", "身份证号", "学年", "收费项目代码", "收费项目", "收费类型", "应缴金额", "收费开始", "收费结束", "状态"];
/// Optional columns of a fee bill, used when a student is created.
pub const FEE_BILL_OPTIONAL: [&str; 3] = ["部门", "班级", "手机号"];
/// Columns of an offline-payments file (线下缴费): one row per payment and fee item; rows with the
/// same 凭证号 are one payment.
pub const OFFLINE_COLUMNS: [&str; 7] = ["学号", "学年", "收费项目代码", "金额", "缴费方式", "凭证号", "缴费时间"];
/// Optional column of an offline-payments file: the finance office's receipt number.
pub const OFFLINE_OPTIONAL: [&str; 1] = ["票据号"];

/// The two kinds of file, told apart by their header row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    FeeBill,
    OfflinePayments,
}

impl ImportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FeeBill => "fee_bill",
            Self::OfflinePayments => "offline_payments",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::FeeBill, Self::OfflinePayments].into_iter().find(|k| k.as_str() == s)
    }
    pub fn label(self) -> &'static str {
        match self {
            Self::FeeBill => "收费名单",
            Self::OfflinePayments => "线下缴费",
        }
    }
}

/// Why a whole file cannot be read. The report shows it with no row number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("文件既不是 UTF-8 也不是 GBK 编码，请另存为“CSV UTF-8”或 GBK 编码的 CSV")]
    Encoding,
    #[error("文件是空的")]
    Empty,
    #[error("文件只有表头，没有数据行")]
    NoData,
    #[error("{0}")]
    Header(String),
    #[error("文件超过 {MAX_ROWS} 行数据，请分成多个文件导入")]
    TooManyRows,
    #[error("第{0}行不是有效的 CSV（{1}）")]
    Csv(usize, String),
}

/// One bad row: its number as a spreadsheet shows it (the header is row 1), the student number
/// as written, and why (Chinese, for the operator). Row 0 is the whole file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub row: usize,
    pub student_no: String,
    pub reason: String,
}

/// A good row of a fee bill: the student as they would be created, and their fee item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillRow {
    pub row: usize,
    pub student_no: StudentNo,
    pub name: PersonName,
    pub id_card: IdCardNo,
    pub department: String,
    pub class_name: String,
    pub phone: Option<Phone>,
    /// The fee item as the file states it (`paid` is zero: payments are never imported here).
    pub item: FeeItem,
}

impl BillRow {
    pub fn item_key(&self) -> String {
        format!("{}#{}", self.item.academic_year, self.item.item_id.as_str())
    }
    /// Whether `stored` already says what this row says (the amounts paid aside).
    pub fn same_item(&self, stored: &FeeItem) -> bool {
        let i = &self.item;
        (&i.name, i.fee_type, i.due, i.window_start, i.window_end, i.status)
            == (&stored.name, stored.fee_type, stored.due, stored.window_start, stored.window_end, stored.status)
    }
}

/// A good row of an offline-payments file: one fee item of one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub row: usize,
    pub student_no: StudentNo,
    pub academic_year: AcademicYear,
    pub item_id: ItemId,
    pub amount: Fen,
    pub method: OfflineMethod,
    pub reference: PaymentRef,
    pub paid_at: DateTime<Utc>,
    pub receipt_no: Option<String>,
}

impl PaymentRow {
    pub fn item_key(&self) -> String {
        format!("{}#{}", self.academic_year, self.item_id.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportRows {
    FeeBill(Vec<BillRow>),
    OfflinePayments(Vec<PaymentRow>),
}

impl ImportRows {
    pub fn kind(&self) -> ImportKind {
        match self {
            Self::FeeBill(_) => ImportKind::FeeBill,
            Self::OfflinePayments(_) => ImportKind::OfflinePayments,
        }
    }
    pub fn len(&self) -> usize {
        match self {
            Self::FeeBill(r) => r.len(),
            Self::OfflinePayments(r) => r.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A read file: its good rows and, for every bad one, why. The file is applied only if
/// `errors` is empty (and the checks against the store find nothing either).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedImport {
    pub rows: ImportRows,
    /// Data rows in the file (good and bad).
    pub total_rows: usize,
    pub errors: Vec<RowError>,
}

/// UTF-8 (a BOM is dropped) if the bytes are UTF-8, else GBK (GB 18030, what Excel saves on a
/// Chinese Windows); anything else is refused rather than guessed.
pub fn decode(bytes: &[u8]) -> Result<String, FileError> {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return std::str::from_utf8(rest).map(str::to_owned).map_err(|_| FileError::Encoding);
    }
    if bytes.starts_with(b"\xFF\xFE") || bytes.starts_with(b"\xFE\xFF") {
        return Err(FileError::Encoding); // UTF-16 ("Unicode text")
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok(s.to_owned());
    }
    encoding_rs::GBK.decode_without_bom_handling_and_without_replacement(bytes).map(|s| s.into_owned()).ok_or(FileError::Encoding)
}

/// Column positions by header name (spaces around names ignored, any order, extra columns
/// ignored).
struct Columns(HashMap<String, usize>);

impl Columns {
    fn get<'r>(&self, rec: &'r csv::StringRecord, name: &str) -> &'r str {
        self.0.get(name).and_then(|&i| rec.get(i)).map(str::trim).unwrap_or("")
    }
    fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

fn header_error(found: &[String]) -> FileError {
    fn absent(cols: &[&'static str], found: &[String]) -> Vec<&'static str> {
        cols.iter().filter(|c| !found.iter().any(|f| f == *c)).copied().collect()
    }
    let missing = |cols: &[&'static str]| absent(cols, found);
    let bill = missing(&FEE_BILL_COLUMNS);
    let offline = missing(&OFFLINE_COLUMNS);
    let columns = format!("收费名单的列：{}；线下缴费的列：{}", FEE_BILL_COLUMNS.join("、"), OFFLINE_COLUMNS.join("、"));
    if bill.len() == FEE_BILL_COLUMNS.len() && offline.len() == OFFLINE_COLUMNS.len() {
        return FileError::Header(format!("表头不是可识别的格式（{columns}）"));
    }
    let (kind, missing) = if bill.len() <= offline.len() { (ImportKind::FeeBill, bill) } else { (ImportKind::OfflinePayments, offline) };
    FileError::Header(format!("表头不是可识别的格式：按{}导入还缺少列 {}（{columns}）", kind.label(), missing.join("、")))
}

/// Reads a file: decoding, header, every row. `now` bounds payment times (none in the future).
pub fn parse_import(bytes: &[u8], now: DateTime<Utc>) -> Result<ParsedImport, FileError> {
    let text = decode(bytes)?;
    if text.trim().is_empty() {
        return Err(FileError::Empty);
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(text.as_bytes());
    let headers: Vec<String> =
        reader.headers().map_err(|e| FileError::Csv(1, e.to_string()))?.iter().map(|h| h.trim().to_owned()).collect();
    let mut columns = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if columns.insert(h.clone(), i).is_some() {
            return Err(FileError::Header(format!("表头中“{h}”出现了两次")));
        }
    }
    let columns = Columns(columns);
    let kind = if FEE_BILL_COLUMNS.iter().all(|c| columns.has(c)) {
        ImportKind::FeeBill
    } else if OFFLINE_COLUMNS.iter().all(|c| columns.has(c)) {
        ImportKind::OfflinePayments
    } else {
        return Err(header_error(&headers));
    };
    // Row numbers as a spreadsheet shows them: the line each record starts on (the csv crate's
    // own line count leaves out blank lines).
    let line_starts: Vec<usize> = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
    // (A record's position may point at the blank lines skipped before it.)
    let row_at = |byte: u64| {
        let start = byte as usize
            + text.as_bytes().get(byte as usize..).map_or(0, |rest| rest.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count());
        line_starts.partition_point(|&s| s <= start)
    };
    let mut records = Vec::new();
    for rec in reader.records() {
        let rec = rec.map_err(|e| FileError::Csv(e.position().map_or(0, |p| row_at(p.byte())), e.to_string()))?;
        // Rows left empty (`,,,,` as spreadsheets save them) are not data.
        if rec.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let row = rec.position().map_or(records.len() + 2, |p| row_at(p.byte()));
        records.push((row, rec));
        if records.len() > MAX_ROWS {
            return Err(FileError::TooManyRows);
        }
    }
    if records.is_empty() {
        return Err(FileError::NoData);
    }
    let total_rows = records.len();
    let (rows, errors) = match kind {
        ImportKind::FeeBill => {
            let (rows, errors) = parse_bill(&columns, &records);
            (ImportRows::FeeBill(rows), errors)
        }
        ImportKind::OfflinePayments => {
            let (rows, errors) = parse_offline(&columns, &records, now);
            (ImportRows::OfflinePayments(rows), errors)
        }
    };
    Ok(ParsedImport { rows, total_rows, errors })
}

/// Collects the reasons of one row.
#[derive(Default)]
struct Reasons(Vec<String>);

impl Reasons {
    fn check<T>(&mut self, r: Result<T, String>) -> Option<T> {
        r.map_err(|e| self.0.push(e)).ok()
    }
    fn push(&mut self, reason: String) {
        self.0.push(reason);
    }
}

/// A number a spreadsheet turned into `6.20102E+17`: its digits are lost.
fn scientific(raw: &str) -> bool {
    raw.contains(['E', 'e']) && raw.contains('+') && raw.chars().next().is_some_and(|c| c.is_ascii_digit())
}

fn student_no(raw: &str) -> Result<StudentNo, String> {
    if scientific(raw) {
        return Err("学号被表格软件改成了科学计数法，请把该列设为文本后重新导出".into());
    }
    StudentNo::parse(raw).map_err(|_| "学号应为4–20位字母或数字".into())
}

fn id_card(raw: &str) -> Result<IdCardNo, String> {
    if scientific(raw) {
        return Err("身份证号被表格软件改成了科学计数法，请把该列设为文本后重新导出".into());
    }
    IdCardNo::parse(raw).map_err(|e| {
        match e {
            IdError::IdCardBirthDate => "身份证号中的出生日期不存在",
            IdError::IdCardCheckDigit => "身份证号校验位不正确",
            _ => "身份证号应为18位：17位数字加一位数字或X",
        }
        .into()
    })
}

fn year(raw: &str) -> Result<AcademicYear, String> {
    AcademicYear::parse(raw).map_err(|_| "学年格式应为2025-2026".into())
}

fn item_id(raw: &str) -> Result<ItemId, String> {
    ItemId::parse(raw).map_err(|_| "收费项目代码应为1–20位大写字母、数字或下划线".into())
}

/// A yuan amount as spreadsheets write it: `3500`, `3500.50`, `3,500.50`, `¥3500`.
fn yuan(column: &str, raw: &str) -> Result<Fen, String> {
    let plain: String = raw.trim().trim_start_matches(['¥', '￥']).chars().filter(|&c| c != ',').collect();
    Fen::parse_yuan(&plain).map_err(|e| match e {
        MoneyError::NotANumber => format!("{column}不是数字"),
        MoneyError::TooPrecise => format!("{column}最多两位小数"),
        MoneyError::Negative => format!("{column}不能为负数"),
        MoneyError::OutOfRange => format!("{column}超出范围"),
    })
}

/// A Beijing date: `2026-09-01`, `2026/9/1`, `2026.9.1`.
fn date(column: &str, raw: &str) -> Result<NaiveDate, String> {
    let s = raw.trim().replace(['/', '.'], "-");
    NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|_| format!("{column}不是日期（例如 2026-09-01）"))
}

/// A Beijing time: `2026-09-10 10:30[:00]`, with `/` as well, or a date (its midnight).
fn beijing_time(raw: &str) -> Option<DateTime<Utc>> {
    let s = raw.trim().replace('/', "-").replace('T', " ");
    let local = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(&s, f).ok())
        .or_else(|| NaiveDate::parse_from_str(&s, "%Y-%m-%d").ok().and_then(|d| d.and_hms_opt(0, 0, 0)))?;
    crate::time::beijing().from_local_datetime(&local).single().map(|t| t.with_timezone(&Utc))
}

fn printable(column: &str, raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max || t.chars().any(char::is_control) {
        Err(format!("{column}应为1–{max}个字符"))
    } else {
        Ok(t.to_owned())
    }
}

fn optional_text(column: &str, raw: &str, max: usize) -> Result<String, String> {
    if raw.trim().is_empty() { Ok(String::new()) } else { printable(column, raw, max) }
}

fn parse_bill(cols: &Columns, records: &[(usize, csv::StringRecord)]) -> (Vec<BillRow>, Vec<RowError>) {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    // First row of each student, and of each (student, year, item).
    let mut students: HashMap<StudentNo, (usize, PersonName, IdCardNo)> = HashMap::new();
    let mut items: HashMap<(StudentNo, String), usize> = HashMap::new();
    for (row, rec) in records {
        let f = |name: &str| cols.get(rec, name);
        let mut why = Reasons::default();
        let no = why.check(student_no(f("学号")));
        let name = why.check(PersonName::parse(f("姓名")).map_err(|_| "姓名应为1–30个字符，不含数字或符号".to_owned()));
        let id = why.check(id_card(f("身份证号")));
        let academic_year = why.check(year(f("学年")));
        let item = why.check(item_id(f("收费项目代码")));
        let item_name = why.check(printable("收费项目", f("收费项目"), 50));
        let fee_type = why.check(FeeType::parse(f("收费类型")).ok_or_else(|| "收费类型应为“学费”或“其他”".to_owned()));
        let due = why.check(yuan("应缴金额", f("应缴金额")));
        let start = why.check(date("收费开始", f("收费开始")));
        let end = why.check(date("收费结束", f("收费结束")));
        let status = why.check(ChargeStatus::parse(f("状态")).ok_or_else(|| "状态应为“收费”或“停止”".to_owned()));
        let department = why.check(optional_text("部门", f("部门"), 50));
        let class_name = why.check(optional_text("班级", f("班级"), 50));
        let phone = match f("手机号") {
            "" => Some(None),
            p => why.check(Phone::parse(p).map(Some).map_err(|_| "手机号应为11位中国大陆手机号码".to_owned())),
        };
        if let (Some(s), Some(e)) = (start, end)
            && s > e
        {
            why.push("收费开始晚于收费结束".into());
        }
        if let (Some(no), Some(name), Some(id)) = (&no, &name, &id) {
            match students.get(no) {
                Some((first, n, i)) if n != name || i != id => why.push(format!("学号与第{first}行相同，但姓名或身份证号不同")),
                Some(_) => {}
                None => {
                    students.insert(no.clone(), (*row, name.clone(), id.clone()));
                }
            }
        }
        if let (Some(no), Some(y), Some(i)) = (&no, academic_year, &item) {
            let k = (no.clone(), format!("{y}#{}", i.as_str()));
            match items.get(&k) {
                Some(first) => why.push(format!("与第{first}行重复（同一学号、学年、收费项目代码）")),
                None => {
                    items.insert(k, *row);
                }
            }
        }
        if !why.0.is_empty() {
            errors.push(RowError { row: *row, student_no: f("学号").to_owned(), reason: why.0.join("；") });
            continue;
        }
        let (
            Some(no),
            Some(name),
            Some(id),
            Some(y),
            Some(item),
            Some(item_name),
            Some(fee_type),
            Some(due),
            Some(start),
            Some(end),
            Some(status),
            Some(department),
            Some(class_name),
            Some(phone),
        ) = (no, name, id, academic_year, item, item_name, fee_type, due, start, end, status, department, class_name, phone)
        else {
            unreachable!("a row without reasons has every field");
        };
        rows.push(BillRow {
            row: *row,
            student_no: no,
            name,
            id_card: id,
            department,
            class_name,
            phone,
            item: FeeItem {
                academic_year: y,
                item_id: item,
                name: item_name,
                fee_type,
                due,
                paid: Fen::ZERO,
                window_start: start,
                window_end: end,
                status,
            },
        });
    }
    (rows, errors)
}

/// The first row of a payment reference: its row, student, method, time and receipt number.
type FirstOfPayment = (usize, StudentNo, OfflineMethod, DateTime<Utc>, Option<String>);

fn parse_offline(cols: &Columns, records: &[(usize, csv::StringRecord)], now: DateTime<Utc>) -> (Vec<PaymentRow>, Vec<RowError>) {
    let mut rows: Vec<PaymentRow> = Vec::new();
    let mut errors = Vec::new();
    // First row of each reference; rows per reference; first row of each (reference, item).
    let mut refs: HashMap<PaymentRef, FirstOfPayment> = HashMap::new();
    let mut lines_of: HashMap<PaymentRef, usize> = HashMap::new();
    let mut items: HashMap<(PaymentRef, String), usize> = HashMap::new();
    for (row, rec) in records {
        let f = |name: &str| cols.get(rec, name);
        let mut why = Reasons::default();
        let no = why.check(student_no(f("学号")));
        let academic_year = why.check(year(f("学年")));
        let item = why.check(item_id(f("收费项目代码")));
        let amount = why.check(yuan("金额", f("金额")).and_then(|a| if a.is_zero() { Err("金额应大于0".into()) } else { Ok(a) }));
        let method = why.check(OfflineMethod::parse(f("缴费方式")).ok_or_else(|| "缴费方式应为现金、银行转账、POS刷卡或其他".to_owned()));
        let reference = why.check(PaymentRef::parse(f("凭证号")).map_err(|_| "凭证号应为1–40位字母、数字、“-”或“_”".to_owned()));
        let paid_at = why.check(match beijing_time(f("缴费时间")) {
            Some(t) if t > now => Err("缴费时间晚于当前时间".to_owned()),
            Some(t) => Ok(t),
            None => Err("缴费时间应为北京时间，例如 2026-09-10 10:30 或 2026-09-10".to_owned()),
        });
        let receipt_no = match f("票据号") {
            "" => Some(None),
            r => why.check(printable("票据号", r, 40).map(Some)),
        };
        if let (Some(r), Some(no), Some(m), Some(t), Some(rn)) = (&reference, &no, method, paid_at, &receipt_no) {
            match refs.get(r) {
                Some((first, n, fm, ft, frn)) if n != no || *fm != m || *ft != t || frn != rn => {
                    why.push(format!("凭证号与第{first}行相同，但学号、缴费方式、缴费时间或票据号不同"))
                }
                Some(_) => {}
                None => {
                    refs.insert(r.clone(), (*row, no.clone(), m, t, rn.clone()));
                }
            }
        }
        if let (Some(r), Some(y), Some(i)) = (&reference, academic_year, &item) {
            let k = (r.clone(), format!("{y}#{}", i.as_str()));
            match items.get(&k) {
                Some(first) => why.push(format!("与第{first}行重复（同一凭证号、学年、收费项目代码）")),
                None => {
                    items.insert(k, *row);
                    let n = lines_of.entry(r.clone()).or_default();
                    *n += 1;
                    if *n > MAX_OFFLINE_LINES {
                        why.push(format!("同一凭证号最多{MAX_OFFLINE_LINES}个收费项目"));
                    }
                }
            }
        }
        if !why.0.is_empty() {
            errors.push(RowError { row: *row, student_no: f("学号").to_owned(), reason: why.0.join("；") });
            continue;
        }
        let (Some(no), Some(y), Some(item), Some(amount), Some(method), Some(reference), Some(paid_at), Some(receipt_no)) =
            (no, academic_year, item, amount, method, reference, paid_at, receipt_no)
        else {
            unreachable!("a row without reasons has every field");
        };
        rows.push(PaymentRow {
            row: *row,
            student_no: no,
            academic_year: y,
            item_id: item,
            amount,
            method,
            reference,
            paid_at,
            receipt_no,
        });
    }
    (rows, errors)
}

/// The id of an import: the SHA-256 of the file's bytes, in hex. The same bytes, under any
/// name, are one import.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportId(String);

impl ImportId {
    pub fn of(bytes: &[u8]) -> Self {
        use sha2::{Digest, Sha256};
        Self(hex::encode(Sha256::digest(bytes)))
    }
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())).then(|| Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The first 12 hex digits, for people.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for ImportId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where an import stands (`IMPORT#<id>`): `validating` → `applying` → `applied` (terminal), or
/// `validating` → `rejected` (the same bytes may be validated again later, when what made a
/// row bad — an open order, a missing student — may have changed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    Validating,
    Rejected,
    Applying,
    Applied,
}

impl ImportState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Validating => "validating",
            Self::Rejected => "rejected",
            Self::Applying => "applying",
            Self::Applied => "applied",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Validating, Self::Rejected, Self::Applying, Self::Applied].into_iter().find(|k| k.as_str() == s)
    }
}

/// What applying a file did (this run; a resumed run counts what was left to do).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub rows: usize,
    pub students_created: usize,
    /// Existing students without a phone on file given the file's.
    pub phones_added: usize,
    pub items_created: usize,
    pub items_updated: usize,
    /// Rows whose student and item already read as the file says.
    pub items_unchanged: usize,
    pub offline_recorded: usize,
    /// Payments recorded before (an earlier, interrupted run of this file, or another file).
    pub offline_already_recorded: usize,
}

/// `imports/a.csv` → `imports/a.report.csv`.
pub fn report_key(key: &str) -> String {
    let stem = if key.len() >= 4 && key[key.len() - 4..].eq_ignore_ascii_case(".csv") { &key[..key.len() - 4] } else { key };
    format!("{stem}.report.csv")
}

/// Whether a key is one of the import's own reports (they land under the same prefix).
pub fn is_report_key(key: &str) -> bool {
    key.to_ascii_lowercase().ends_with(".report.csv")
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn csv_bytes(rows: &[Vec<String>]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(BOM.to_vec());
    for r in rows {
        w.write_record(r.iter().map(|c| crate::spreadsheet::cell(c).into_owned())).expect("writing to memory");
    }
    w.into_inner().expect("writing to memory")
}

/// The report of a refused file: one line per bad row (`行号,学号,原因`), UTF-8 with a BOM so
/// that Excel shows the Chinese.
pub fn rejected_report(file_key: &str, errors: &[RowError]) -> Vec<u8> {
    let mut rows = vec![
        vec!["行号".to_owned(), "学号".to_owned(), "原因".to_owned()],
        vec![
            String::new(),
            String::new(),
            format!("文件 {file_key} 未导入：有 {} 行错误，未写入任何数据。改正后重新上传整个文件。", errors.len()),
        ],
    ];
    rows.extend(
        errors.iter().map(|e| vec![if e.row == 0 { String::new() } else { e.row.to_string() }, e.student_no.clone(), e.reason.clone()]),
    );
    csv_bytes(&rows)
}

/// The report of an applied file: what it did.
pub fn applied_report(file_key: &str, kind: ImportKind, id: &ImportId, s: &ImportSummary) -> Vec<u8> {
    let line = |k: &str, v: String| vec![k.to_owned(), v];
    let mut rows = vec![
        line("项目", "数值".into()),
        line("结果", "已全部导入".into()),
        line("文件", file_key.into()),
        line("类型", kind.label().into()),
        line("文件指纹(SHA-256)", id.to_string()),
        line("导入行数", s.rows.to_string()),
    ];
    match kind {
        ImportKind::FeeBill => {
            rows.push(line("新建学生", s.students_created.to_string()));
            rows.push(line("补登手机号码", s.phones_added.to_string()));
            rows.push(line("新建收费项目", s.items_created.to_string()));
            rows.push(line("更新收费项目", s.items_updated.to_string()));
            rows.push(line("未变化的收费项目", s.items_unchanged.to_string()));
        }
        ImportKind::OfflinePayments => {
            rows.push(line("入账的线下缴费", s.offline_recorded.to_string()));
            rows.push(line("此前已入账的线下缴费", s.offline_already_recorded.to_string()));
        }
    }
    csv_bytes(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "学号,姓名,身份证号,学年,收费项目代码,收费项目,收费类型,应缴金额,收费开始,收费结束,状态";

    fn now() -> DateTime<Utc> {
        "2026-11-30T00:00:00Z".parse().unwrap()
    }

    fn bill(rows: &[&str]) -> ParsedImport {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        parse_import(text.as_bytes(), now()).unwrap()
    }

    fn reasons(p: &ParsedImport) -> Vec<(usize, String)> {
        p.errors.iter().map(|e| (e.row, e.reason.clone())).collect()
    }

    #[test]
    fn a_good_fee_bill_parses_into_students_and_items() {
        let p = bill(&[
            "2026990001,陈一,11010519491231002X,2026-2027,TUITION,学费,学费,\"3,500.50\",2026-09-01,2027/8/31,收费",
            "2026990001,陈一,11010519491231002x,2026-2027,BOOKS,教材费,其他,420,2026-09-01,2027-08-31,停止",
        ]);
        assert_eq!(p.errors, vec![]);
        let ImportRows::FeeBill(rows) = &p.rows else { panic!("fee bill") };
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].row, rows[1].row), (2, 3), "the header is row 1");
        assert_eq!(rows[0].item.due, Fen::new(350_050));
        assert_eq!(rows[0].item.window_end, NaiveDate::from_ymd_opt(2027, 8, 31).unwrap());
        assert_eq!(rows[1].item.status, ChargeStatus::Stopped);
        assert_eq!(rows[1].item.fee_type, FeeType::Other);
        assert_eq!(rows[0].item_key(), "2026-2027#TUITION");
    }

    #[test]
    fn columns_are_found_by_name_in_any_order_with_spaces() {
        let text = " 状态 ,收费结束,收费开始,应缴金额,收费类型,收费项目,收费项目代码,学年,身份证号,姓名, 学号 ,备注\n\
                    收费,2027-08-31,2026-09-01,100,其他,考试费,EXAM,2026-2027,11010519491231002X,陈一,2026990001,随便写\n";
        let p = parse_import(text.as_bytes(), now()).unwrap();
        assert_eq!(p.errors, vec![]);
        let ImportRows::FeeBill(rows) = &p.rows else { panic!() };
        assert_eq!(rows[0].student_no.as_str(), "2026990001");
        assert_eq!(rows[0].item.name, "考试费");
    }

    #[test]
    fn every_bad_row_is_reported_with_its_number_and_reasons() {
        let p = bill(&[
            "2026990001,陈一,110105194912310021,2026-2027,TUITION,学费,学费,3500,2026-09-01,2027-08-31,收费",
            "2026990002,陈二,11010519491231002X,2026-2028,TUITION,学费,学费,3500.001,2026-09-01,2027-08-31,收费",
            "2026990003,陈三,11010519491231002X,2026-2027,tuition,学费,住宿,-1,2027-09-01,2027-08-31,暂停",
            "2026990004,陈四,6.20102E+17,2026-2027,TUITION,学费,学费,3500,2026-09-01,2027-08-31,收费",
            "2026990005,陈五,11010519491231002X,2026-2027,TUITION,学费,学费,3500,2026-09-01,2027-08-31,收费",
            "2026990005,陈五,11010519491231002X,2026-2027,TUITION,学费,学费,3600,2026-09-01,2027-08-31,收费",
            "2026990005,陈六,11010519491231002X,2026-2027,BOOKS,教材费,其他,100,2026-09-01,2027-08-31,收费",
        ]);
        let r = reasons(&p);
        assert_eq!(r.len(), 6, "{r:?}");
        assert_eq!(r[0], (2, "身份证号校验位不正确".into()));
        assert_eq!(r[1].0, 3);
        assert!(r[1].1.contains("学年格式") && r[1].1.contains("应缴金额最多两位小数"), "{}", r[1].1);
        assert_eq!(r[2].0, 4);
        for part in ["收费项目代码", "收费类型", "应缴金额不能为负数", "状态", "收费开始晚于收费结束"] {
            assert!(r[2].1.contains(part), "{part} in {}", r[2].1);
        }
        assert_eq!(r[3], (5, "身份证号被表格软件改成了科学计数法，请把该列设为文本后重新导出".into()));
        assert_eq!(r[4], (7, "与第6行重复（同一学号、学年、收费项目代码）".into()));
        assert_eq!(r[5], (8, "学号与第6行相同，但姓名或身份证号不同".into()));
        assert_eq!(p.errors[0].student_no, "2026990001");
        assert_eq!(p.total_rows, 7);
        assert_eq!(p.rows.len(), 1, "only row 6 is good");
    }

    #[test]
    fn gbk_and_bom_files_decode_and_others_are_refused() {
        let text = format!("{HEADER}\n2026990001,陈一,11010519491231002X,2026-2027,TUITION,学费,学费,3500,2026-09-01,2027-08-31,收费\n");
        let (gbk, _, bad) = encoding_rs::GBK.encode(&text);
        assert!(!bad);
        assert!(std::str::from_utf8(&gbk).is_err(), "really GBK bytes");
        assert_eq!(parse_import(&gbk, now()).unwrap().errors, vec![]);
        let bom = [BOM, text.as_bytes()].concat();
        let p = parse_import(&bom, now()).unwrap();
        assert_eq!((p.errors.len(), p.rows.len()), (0, 1), "the BOM is not part of 学号's header");
        assert_eq!(decode(&[BOM, &gbk[..]].concat()), Err(FileError::Encoding), "a BOM promises UTF-8");
        assert_eq!(decode(b"\xFF\xFEa\x00"), Err(FileError::Encoding));
        assert_eq!(decode(&[0x81, 0x20]), Err(FileError::Encoding), "not GBK either");
    }

    #[test]
    fn file_level_errors() {
        assert_eq!(parse_import(b"", now()), Err(FileError::Empty));
        assert_eq!(parse_import(format!("{HEADER}\n,,,,\n").as_bytes(), now()), Err(FileError::NoData));
        let Err(FileError::Header(m)) = parse_import("学号,姓名,身份证号\n1,2,3\n".as_bytes(), now()) else { panic!() };
        assert!(m.contains("收费名单") && m.contains("应缴金额"), "{m}");
        let Err(FileError::Header(m)) = parse_import("学号,学号,金额\n".as_bytes(), now()) else { panic!() };
        assert!(m.contains("两次"), "{m}");
    }

    #[test]
    fn blank_lines_keep_spreadsheet_row_numbers() {
        let p = bill(&["", "2026990001,陈一,110105194912310021,2026-2027,TUITION,学费,学费,3500,2026-09-01,2027-08-31,收费"]);
        assert_eq!(p.errors[0].row, 3);
    }

    #[test]
    fn offline_payments_group_by_reference() {
        let text = "学号,学年,收费项目代码,金额,缴费方式,凭证号,缴费时间,票据号\n\
                    2026990001,2026-2027,TUITION,3500,银行转账,yh-001,2026/9/10 10:30,GS1\n\
                    2026990001,2026-2027,BOOKS,420.5,bank_transfer,YH-001,2026-09-10 10:30:00,GS1\n\
                    2026990001,2026-2027,BOOKS,420.5,银行转账,YH-001,2026-09-10 10:30,GS1\n\
                    2026990002,2026-2027,TUITION,0,现金,YH-002,2026-09-11,\n\
                    2026990003,2026-2027,EXAM,10,现金,YH-001,2026-09-11,\n\
                    2026990004,2026-2027,TUITION,10,支票,YH-004,2030-01-01,\n";
        let p = parse_import(text.as_bytes(), now()).unwrap();
        let ImportRows::OfflinePayments(rows) = &p.rows else { panic!("offline") };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].reference.as_str(), "YH-001");
        assert_eq!(rows[0].paid_at, "2026-09-10T02:30:00Z".parse::<DateTime<Utc>>().unwrap(), "Beijing time");
        assert_eq!(rows[1].amount, Fen::new(42_050));
        let r = reasons(&p);
        assert_eq!(r[0], (4, "与第3行重复（同一凭证号、学年、收费项目代码）".into()));
        assert_eq!(r[1], (5, "金额应大于0".into()));
        assert_eq!(r[2], (6, "凭证号与第2行相同，但学号、缴费方式、缴费时间或票据号不同".into()));
        assert!(r[3].1.contains("缴费方式") && r[3].1.contains("晚于当前时间"), "{}", r[3].1);
    }

    #[test]
    fn reports() {
        assert_eq!(report_key("imports/2026 秋.csv"), "imports/2026 秋.report.csv");
        assert_eq!(report_key("imports/a.CSV"), "imports/a.report.csv");
        assert!(is_report_key("imports/a.report.csv") && !is_report_key("imports/a.csv"));
        let r = rejected_report(
            "imports/a.csv",
            &[RowError { row: 3, student_no: "2026990001".into(), reason: "学年格式应为2025-2026".into() }],
        );
        assert!(r.starts_with(BOM));
        let text = std::str::from_utf8(&r[3..]).unwrap();
        assert!(text.starts_with("行号,学号,原因\n"), "{text}");
        assert!(text.ends_with("3,2026990001,学年格式应为2025-2026\n"), "{text}");
        let id = ImportId::of(b"x");
        assert_eq!(id.as_str().len(), 64);
        assert_eq!(ImportId::parse(id.as_str()), Some(id.clone()));
        let a = applied_report(
            "imports/a.csv",
            ImportKind::FeeBill,
            &id,
            &ImportSummary { rows: 2, students_created: 1, items_created: 2, ..Default::default() },
        );
        let text = std::str::from_utf8(&a[3..]).unwrap();
        assert!(text.contains("新建学生,1\n") && text.contains("新建收费项目,2\n"), "{text}");
    }
}
