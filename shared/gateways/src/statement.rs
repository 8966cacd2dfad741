//! Daily statements (对账单) in domain terms: what each gateway says was paid on one day.
//!
//! Each protocol module downloads and parses its own file format (wire types stay there:
//! `alipay::statement`, `wechat::statement`, `unionpay::statement`); what leaves it is a
//! [`Statement`]. Lessons from peers (`lessons-from-peers.md`, "Statements and reconciliation"):
//! parse by header name, treat "no bill" as a normal empty day, keep the raw file.

use crate::domain::{Channel, Fen};
use chrono::{DateTime, NaiveDate, Utc};

/// One day's statement of one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    pub channel: Channel,
    /// The Beijing day it covers.
    pub day: NaiveDate,
    /// The payments it lists (refunds and other kinds are left out; see `skipped`).
    pub rows: Vec<StatementRow>,
    /// Detail rows that are not payments (refunds, revocations), counted only.
    pub skipped: usize,
    /// The file exactly as downloaded (empty when the gateway has no bill for the day): kept
    /// beside the report, as evidence.
    pub raw: Vec<u8>,
    /// Something the operator should know about how far to trust it (logged with the run).
    pub warning: Option<String>,
}

impl Statement {
    /// A day without a bill: nothing paid at the gateway.
    pub fn empty(channel: Channel, day: NaiveDate) -> Self {
        Self { channel, day, rows: Vec::new(), skipped: 0, raw: Vec::new(), warning: None }
    }
}

/// One successful payment as the gateway lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRow {
    /// Our out-trade-no as the gateway has it (not parsed: an unknown one is a difference).
    pub out_trade_no: String,
    pub gateway_trade_no: String,
    pub amount: Fen,
    /// When it was paid, where the file says.
    pub paid_at: Option<DateTime<Utc>>,
}

/// Reads a Beijing `yyyy-MM-dd HH:mm:ss` (the time columns of Alipay and WeChat bills).
pub(crate) fn beijing_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%d %H:%M:%S").ok()?;
    Some(naive.and_local_timezone(domain::time::beijing()).single()?.with_timezone(&Utc))
}

/// Text of a downloaded file: UTF-8 (a BOM dropped) when it decodes, else GBK — the encoding
/// Chinese gateways use for their CSV bills.
pub fn decode_text(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => encoding_rs::GBK.decode(bytes).0.into_owned(),
    }
}

/// A CSV table read by header name: every record as its fields, trimmed of spaces, tabs and
/// the backtick WeChat Pay puts in front of every value.
pub(crate) struct Table {
    header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn parse(lines: &str) -> Result<Self, crate::GatewayError> {
        let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(lines.as_bytes());
        let mut records = reader.records();
        let clean = |r: csv::StringRecord| -> Vec<String> { r.iter().map(clean_field).collect() };
        let header = match records.next() {
            Some(r) => clean(r.map_err(|e| bad(&format!("CSV header: {e}")))?),
            None => return Err(bad("the bill has no header row")),
        };
        let mut rows = Vec::new();
        for r in records {
            rows.push(clean(r.map_err(|e| bad(&format!("CSV: {e}")))?));
        }
        Ok(Self { header, rows })
    }

    /// The index of a column by its header name.
    pub fn column(&self, name: &str) -> Result<usize, crate::GatewayError> {
        self.header.iter().position(|h| h == name).ok_or_else(|| bad(&format!("the bill has no column {name}")))
    }

    pub fn has(&self, name: &str) -> bool {
        self.header.iter().any(|h| h == name)
    }
}

fn clean_field(f: &str) -> String {
    let f = f.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    f.strip_prefix('`').unwrap_or(f).trim().to_owned()
}

/// The most a statement may hold once decompressed. A day of a school's payments is a few
/// megabytes; a file that inflates past this (a "zip bomb", or a wrong file) is refused before
/// more of it is read.
pub const MAX_STATEMENT_BYTES: u64 = 64 * 1024 * 1024;

/// Reads `r` to its end, refusing more than `limit` bytes (`what` names it in the error).
pub(crate) fn read_capped(r: impl std::io::Read, limit: u64, what: &str) -> Result<Vec<u8>, crate::GatewayError> {
    use std::io::Read as _;
    let mut out = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut out).map_err(|e| bad(&format!("{what}: {e}")))?;
    if out.len() as u64 > limit {
        return Err(bad(&format!("{what} is larger than {limit} bytes decompressed")));
    }
    Ok(out)
}

pub(crate) fn bad(what: &str) -> crate::GatewayError {
    crate::GatewayError::Malformed(format!("statement: {what}"))
}

/// The field at `i` of a row (empty when the row is short).
pub(crate) fn cell(row: &[String], i: usize) -> &str {
    row.get(i).map_or("", String::as_str)
}

#[cfg(test)]
mod capped {
    use super::read_capped;
    use std::io::Write;

    #[test]
    fn reading_stops_past_the_limit() {
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bomb = z.finish().unwrap();
        assert!(bomb.len() < 4096, "a megabyte of zeros in {} bytes", bomb.len());
        let err = read_capped(flate2::read::ZlibDecoder::new(bomb.as_slice()), 64 * 1024, "the file").unwrap_err();
        assert!(err.to_string().contains("the file is larger than 65536 bytes"), "{err}");
        assert_eq!(read_capped(flate2::read::ZlibDecoder::new(bomb.as_slice()), 1 << 20, "the file").unwrap().len(), 1 << 20);
    }
}
