//! UnionPay's daily settlement file (对账文件), by the ACP file-transfer call.
//!
//! Sources (public facts): the file-transfer request is a signed form like any other ACP call
//! with `txnType=76`, `txnSubType=01`, `bizType=000000`, `fileType=00`, `settleDate` (`MMDD`,
//! the clearing day) and `txnTime`, posted to the file host (`https://filedownload.95516.com/`;
//! the official demo `Form_7_2_FileTransfer` and the `FileTransferReq` models of ACP SDK ports,
//! e.g. jifuwei/lol `FileTransferReq.java`, Varorbc/PaySharp `file_transfer.aspx`). The signed
//! answer carries `fileName` and `fileContent` = Base64 of the zlib-deflated zip (the SDKs'
//! `deCodeFileContent`: Base64-decode, inflate, write `fileName`). A day without a file answers
//! a non-00 `respCode`; we take `98` (文件不存在, in the demo's FAQ list) as the empty day.
//!
//! The zip holds the transaction detail file (named like `INN<yyMMdd>88ZM_<merId>`). UnionPay's
//! own layout of that file is fixed-width, and no public source of the column positions was at
//! hand; we therefore read **a documented subset by header name**: a header row of the ZM
//! field names 交易代码, 查询流水号, 交易传输时间 (`MMDDhhmmss`), 交易金额 (fen), 商户代码,
//! 订单号, comma-separated, one row per transaction. Rows of 交易代码 [`CODE_CONSUME`] are
//! payments; others (refunds, revocations) are counted as skipped. Mapping the real fixed-width
//! positions to these names is the one step left before a production run (docs/operators-design.md).

use super::{Merchant, SignedForm, parse_response};
use crate::GatewayError;
use crate::domain::{Channel, Fen};
use crate::statement::{MAX_STATEMENT_BYTES, Statement, StatementRow, Table, bad, cell, decode_text, read_capped};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

pub const COL_CODE: &str = "交易代码";
pub const COL_QUERY_ID: &str = "查询流水号";
pub const COL_TIME: &str = "交易传输时间";
pub const COL_AMOUNT: &str = "交易金额";
pub const COL_MER_ID: &str = "商户代码";
pub const COL_ORDER_ID: &str = "订单号";
/// 交易代码 of a consume (payment).
pub const CODE_CONSUME: &str = "S22";
/// `respCode` of "no file for that day".
pub const NO_FILE: &str = "98";

/// What the file-transfer answer carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementFile {
    pub file_name: String,
    /// The zip, inflated.
    pub zip: Vec<u8>,
}

impl Merchant {
    /// The signed file-transfer form for the clearing day `day` (POST its body to `url`).
    pub fn file_transfer(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<SignedForm, GatewayError> {
        let url = self.file_url.clone().ok_or_else(|| GatewayError::Key("UnionPay file_url is not configured".into()))?;
        let settle = day.format("%m%d").to_string();
        let txn_time = super::format_time(now);
        let fields = [
            ("txnType", "76"),
            ("txnSubType", "01"),
            ("bizType", "000000"),
            ("fileType", "00"),
            ("settleDate", settle.as_str()),
            ("txnTime", txn_time.as_str()),
        ];
        Ok(self.signed(&url, &fields))
    }

    /// The verified answer: `Some(file)`, or `None` when UnionPay has no file for the day.
    pub fn parse_file_transfer(&self, body: &[u8], now: DateTime<Utc>) -> Result<Option<SettlementFile>, GatewayError> {
        let text = std::str::from_utf8(body).map_err(|_| bad("file-transfer answer is not UTF-8"))?;
        let p = parse_response(text)?;
        self.chain.verify(&p, now)?;
        let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
        if get("merId") != Some(self.mer_id()) {
            return Err(bad("file-transfer answer merId is not ours"));
        }
        match get("respCode") {
            Some("00") => {}
            Some(NO_FILE) => return Ok(None),
            code => {
                return Err(GatewayError::Refused {
                    code: code.unwrap_or("-").to_owned(),
                    message: get("respMsg").unwrap_or("").to_owned(),
                });
            }
        }
        let content = get("fileContent").ok_or_else(|| bad("no fileContent"))?;
        let deflated = B64.decode(content.trim()).map_err(|_| bad("fileContent is not Base64"))?;
        let zip = read_capped(flate2::read::ZlibDecoder::new(deflated.as_slice()), MAX_STATEMENT_BYTES, "fileContent")?;
        Ok(Some(SettlementFile { file_name: get("fileName").unwrap_or("settlement.zip").to_owned(), zip }))
    }
}

/// `fileContent` for a zip: zlib-deflated, Base64 (what the sandbox sends).
pub fn encode_file_content(zip: &[u8]) -> String {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(zip).expect("in memory");
    B64.encode(enc.finish().expect("in memory"))
}

/// Parses the settlement zip (its `ZM` detail file) for clearing day `day`; `raw` keeps the zip.
pub fn parse_settlement_zip(day: NaiveDate, mer_id: &str, zip_bytes: &[u8]) -> Result<Statement, GatewayError> {
    parse_settlement_zip_within(day, mer_id, zip_bytes, MAX_STATEMENT_BYTES)
}

/// [`parse_settlement_zip`], reading at most `limit` bytes of its ZM file decompressed.
fn parse_settlement_zip_within(day: NaiveDate, mer_id: &str, zip_bytes: &[u8], limit: u64) -> Result<Statement, GatewayError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).map_err(|e| bad(&format!("not a zip: {e}")))?;
    let mut text = None;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| bad(&format!("zip entry: {e}")))?;
        if !entry.name().contains("ZM") {
            continue;
        }
        let bytes = read_capped(entry, limit, "the ZM file")?;
        text = Some(decode_text(&bytes));
        break;
    }
    let text = text.ok_or_else(|| bad("the zip holds no ZM file"))?;
    let mut st = parse_zm(day, mer_id, &text)?;
    st.raw = zip_bytes.to_vec();
    Ok(st)
}

/// Parses the text of a ZM file (our header-named subset, see the module documentation).
pub fn parse_zm(day: NaiveDate, mer_id: &str, text: &str) -> Result<Statement, GatewayError> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let table = Table::parse(&lines.join("\n"))?;
    let (code, query_id, time, amount, order) = (
        table.column(COL_CODE)?,
        table.column(COL_QUERY_ID)?,
        table.column(COL_TIME)?,
        table.column(COL_AMOUNT)?,
        table.column(COL_ORDER_ID)?,
    );
    let merchant = table.column(COL_MER_ID).ok();
    let mut st = Statement::empty(Channel::Unionpay, day);
    for row in &table.rows {
        if cell(row, code) != CODE_CONSUME || merchant.is_some_and(|i| cell(row, i) != mer_id) {
            st.skipped += 1;
            continue;
        }
        let raw = cell(row, amount);
        let fen = (!raw.is_empty() && raw.len() <= 16 && raw.bytes().all(|b| b.is_ascii_digit()))
            .then(|| raw.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| bad(&format!("{COL_AMOUNT} of {} is not fen", cell(row, order))))?;
        st.rows.push(StatementRow {
            out_trade_no: cell(row, order).to_owned(),
            gateway_trade_no: cell(row, query_id).to_owned(),
            amount: Fen::new(fen),
            paid_at: transmission_time(day, cell(row, time)),
        });
    }
    Ok(st)
}

/// `MMDDhhmmss` (Beijing) placed in the clearing day's year (the year before, across New Year).
fn transmission_time(day: NaiveDate, t: &str) -> Option<DateTime<Utc>> {
    if t.len() != 10 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let at = |year: i32| NaiveDateTime::parse_from_str(&format!("{year}{t}"), "%Y%m%d%H%M%S").ok();
    let mut naive = at(day.year())?;
    if naive.date() > day + chrono::Duration::days(1) {
        naive = at(day.year() - 1)?;
    }
    Some(naive.and_local_timezone(domain::time::beijing()).single()?.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    const ZM: &str = "交易代码,查询流水号,交易传输时间,交易金额,商户代码,订单号\nS22,782611291000000000001,1129100009,000000400000,777290058165621,XF261129LUTAU000001U01\nS30,782611291100000000002,1129110000,000000000100,777290058165621,XF261129LUTAU000002U01\n";

    #[test]
    fn the_zm_file_is_read_by_header_name_and_refunds_are_skipped() {
        let st = parse_zm(day(), "777290058165621", ZM).unwrap();
        assert_eq!((st.rows.len(), st.skipped), (1, 1));
        let r = &st.rows[0];
        assert_eq!(
            (r.out_trade_no.as_str(), r.gateway_trade_no.as_str(), r.amount),
            ("XF261129LUTAU000001U01", "782611291000000000001", Fen::new(400_000))
        );
        assert_eq!(r.paid_at, Some("2026-11-29T02:00:09Z".parse().unwrap()));
        // New Year: a 1231 transmission time in the file of 1 January is last year's.
        let jan1 = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(transmission_time(jan1, "1231235959"), Some("2026-12-31T15:59:59Z".parse().unwrap()));
    }

    #[test]
    fn file_content_round_trips_through_zlib_and_base64_in_a_zip() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("INN26112988ZM_777290058165621", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(encoding_rs::GBK.encode(ZM).0.as_ref()).unwrap();
        let zip = w.finish().unwrap().into_inner();
        let content = encode_file_content(&zip);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(B64.decode(content).unwrap().as_slice()).read_to_end(&mut back).unwrap();
        assert_eq!(back, zip);
        let st = parse_settlement_zip(day(), "777290058165621", &zip).unwrap();
        assert_eq!((st.rows.len(), st.raw.len()), (1, zip.len()), "GBK decoded; raw kept");
    }

    /// A ZM file that inflates past the limit (a "zip bomb") is refused, not read into memory.
    #[test]
    fn a_settlement_file_larger_than_the_limit_decompressed_is_refused() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file("INN26112988ZM_777290058165621", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(ZM.as_bytes()).unwrap();
        w.write_all(&vec![b' '; 64 * 1024]).unwrap();
        let zip = w.finish().unwrap().into_inner();
        assert!(zip.len() < 4096, "it compresses well: {} bytes", zip.len());
        let err = parse_settlement_zip_within(day(), "777290058165621", &zip, 16 * 1024).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(parse_settlement_zip_within(day(), "777290058165621", &zip, 128 * 1024).is_ok());
    }

    #[test]
    fn a_header_only_file_is_empty_and_another_merchant_is_not_ours() {
        let st = parse_zm(day(), "777290058165621", "交易代码,查询流水号,交易传输时间,交易金额,商户代码,订单号\n").unwrap();
        assert!(st.rows.is_empty());
        let st = parse_zm(day(), "000000000000000", ZM).unwrap();
        assert_eq!((st.rows.len(), st.skipped), (0, 2));
        assert!(parse_zm(day(), "x", "交易代码,订单号\nS22,1\n").is_err());
    }
}
