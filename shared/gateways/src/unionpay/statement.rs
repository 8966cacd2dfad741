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
//! The zip holds the transaction detail file `INN<yyMMdd><2 chars>ZM_<merId>` (and the error
//! file `…ZME_<merId>`, and summaries, which we do not read). The ZM file is fixed-width text
//! in GBK, no header, one transaction per line (CRLF), 42 fields of fixed **byte** widths, each
//! separated by one space: 607 bytes a line. Field widths, in order, from UnionPay's official
//! Java demo (`DemoBase.java`, the `parseZMFile` length array; the .NET, PHP and Python demos
//! agree) — see [`ZM_FIELDS`]. Checked against a real 1207-line ZM file published in
//! pingjianwei/csv_parser (`tests/INN17071888ZM_898319849000018`: every line 607 bytes, a space
//! at each of the 41 separators) and the offsets of its independent parser. Amounts are fen:
//! 交易金额 is 12 digits; fees and settlement amounts carry a sign (C/D/space) before 12 digits.
//! 交易传输时间 is `MMDDhhmmss` (Beijing, no year). Two later re-implementations split the
//! 98-byte reserved tail into more fields (608 bytes in all): we read fields 1–41 only and take
//! any line of at least their 508 bytes. Rows of 交易代码 [`CODE_CONSUME`] (消费) for our merId
//! are payments; others (S30 退货, revocations) are counted as skipped.

use super::{Merchant, SignedForm, parse_response};
use crate::GatewayError;
use crate::domain::{Channel, Fen};
use crate::statement::{MAX_STATEMENT_BYTES, Statement, StatementRow, bad, read_capped};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};

/// The ZM fields in order: (name, width in bytes). One space follows each but the last.
pub const ZM_FIELDS: [(&str, usize); 42] = [
    ("交易代码", 3),
    ("代理机构标识码", 11),
    ("发送机构标识码", 11),
    ("系统跟踪号", 6),
    ("交易传输时间", 10),
    ("帐号", 19),
    ("交易金额", 12),
    ("商户类别", 4),
    ("终端类型", 2),
    ("查询流水号", 21),
    ("支付方式（旧）", 2),
    ("商户订单号", 32),
    ("支付卡类型", 2),
    ("原始交易的系统跟踪号", 6),
    ("原始交易日期时间", 10),
    ("商户手续费", 13),
    ("结算金额", 13),
    ("支付方式", 4),
    ("集团商户代码", 15),
    ("交易类型", 2),
    ("交易子类", 2),
    ("业务类型", 6),
    ("帐号类型", 2),
    ("账单类型", 4),
    ("账单号码", 32),
    ("交互方式", 1),
    ("原交易查询流水号", 21),
    ("商户代码", 15),
    ("分账入账方式", 1),
    ("二级商户代码", 15),
    ("二级商户简称", 32),
    ("二级商户分账入账金额", 13),
    ("清算净额", 13),
    ("终端号", 8),
    ("商户自定义域", 32),
    ("优惠金额", 13),
    ("发票金额", 13),
    ("分期付款附加手续费", 12),
    ("分期付款期数", 2),
    ("交易介质", 1),
    ("原始交易订单号", 32),
    ("保留使用", 98),
];
/// Bytes of a whole ZM line as the official demo lays it out (42 fields, 41 separators).
pub const ZM_LINE_BYTES: usize = 607;
/// The fields we read all lie within the first 41, which end here.
const ZM_READ_BYTES: usize = 508;

pub const COL_CODE: &str = "交易代码";
pub const COL_QUERY_ID: &str = "查询流水号";
pub const COL_TIME: &str = "交易传输时间";
pub const COL_AMOUNT: &str = "交易金额";
pub const COL_MER_ID: &str = "商户代码";
pub const COL_ORDER_ID: &str = "商户订单号";
/// 交易代码 of a consume (消费: a payment); S30 is a refund (退货).
pub const CODE_CONSUME: &str = "S22";

/// Where field `name` lies in a ZM line: (first byte, width).
pub fn zm_field(name: &str) -> (usize, usize) {
    let mut at = 0;
    for (n, width) in ZM_FIELDS {
        if n == name {
            return (at, width);
        }
        at += width + 1;
    }
    panic!("no ZM field {name}")
}

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
        if !is_zm_name(entry.name()) {
            continue;
        }
        text = Some(read_capped(entry, limit, "the ZM file")?);
        break;
    }
    let text = text.ok_or_else(|| bad("the zip holds no ZM file"))?;
    let mut st = parse_zm(day, mer_id, &text)?;
    st.raw = zip_bytes.to_vec();
    Ok(st)
}

/// Whether a zip entry is the ZM detail file: `INN` + `yyMMdd` + 2 characters + `ZM_` (the
/// official demos test `INN` at 0 and `ZM_` at 11), in any folder of the zip. Not `ZME_`.
pub fn is_zm_name(path: &str) -> bool {
    let name = path.rsplit(['/', '\\']).next().unwrap_or(path).as_bytes();
    name.len() > 14 && name.starts_with(b"INN") && name[3..9].iter().all(u8::is_ascii_digit) && &name[11..14] == b"ZM_"
}

/// Parses the bytes of a ZM file (GBK, fixed byte widths; see the module documentation).
pub fn parse_zm(day: NaiveDate, mer_id: &str, bytes: &[u8]) -> Result<Statement, GatewayError> {
    let mut st = Statement::empty(Channel::Unionpay, day);
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(|b| *b == b' ') {
            continue;
        }
        let n = i + 1;
        if line.len() < ZM_READ_BYTES {
            return Err(bad(&format!("ZM line {n} is {} bytes, not the {ZM_LINE_BYTES} of the published layout", line.len())));
        }
        // Every separator within what we read is a space: a shifted line is refused, not misread.
        let mut at = 0;
        for (name, width) in &ZM_FIELDS[..41] {
            at += width;
            if at < ZM_READ_BYTES && line[at] != b' ' {
                return Err(bad(&format!("ZM line {n}: no separator after {name} (byte {at})")));
            }
            at += 1;
        }
        let field = |name: &str| -> String {
            let (from, width) = zm_field(name);
            encoding_rs::GBK.decode_without_bom_handling(&line[from..from + width]).0.trim().to_owned()
        };
        if field(COL_CODE) != CODE_CONSUME || field(COL_MER_ID) != mer_id {
            st.skipped += 1;
            continue;
        }
        let (order, amount) = (field(COL_ORDER_ID), field(COL_AMOUNT));
        let fen = (amount.len() == 12 && amount.bytes().all(|b| b.is_ascii_digit()))
            .then(|| amount.parse::<i64>().ok())
            .flatten()
            .ok_or_else(|| bad(&format!("ZM line {n}: {COL_AMOUNT} of {order} is not 12 digits of fen")))?;
        st.rows.push(StatementRow {
            out_trade_no: order,
            gateway_trade_no: field(COL_QUERY_ID),
            amount: Fen::new(fen),
            paid_at: transmission_time(day, &field(COL_TIME)),
        });
    }
    Ok(st)
}

/// One ZM line laid out as published, from `(field name, value)` pairs (others blank): text
/// left-aligned and space-padded to its width in GBK bytes. For the sandbox and the tests.
pub fn zm_line(values: &[(&str, &str)]) -> Vec<u8> {
    let mut line = Vec::with_capacity(ZM_LINE_BYTES);
    for (i, (name, width)) in ZM_FIELDS.iter().enumerate() {
        if i > 0 {
            line.push(b' ');
        }
        let value = values.iter().find(|(n, _)| n == name).map_or("", |(_, v)| *v);
        let mut bytes = encoding_rs::GBK.encode(value).0.into_owned();
        bytes.truncate(*width);
        bytes.resize(*width, b' ');
        line.extend(bytes);
    }
    line
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

    const MER: &str = "777290058165621";

    /// Two ZM lines laid out by hand as published (our own values): a consume of 4000.00 and a
    /// refund of 1.00 with Chinese in 商户自定义域 (2 GBK bytes a character).
    const CONSUME: &str = "S22 48022901    00040000    105607 1129100009 622280*********0000 000000400000 8220 07 782611291000090000001 05 XF261129LUTAU000001U01           01                   D000000000024 C000000399976 0201                 01    000201                                                                  777290058165621   000000000000000                                   000000000000 C000000399976 01080209 学费                              000000000000  000000000000  00000000000    7                                                                                                                                    ";
    const REFUND: &str = "S30 48022901    00040000    105608 1129110000 622280*********0000 000000000100 8220 07 782611291100000000002 05 RXF261129LUTAU000002U01          01 105600 1128100000 C000000000001 D000000000099 0201                 04    000201                                            782611281000000000009 777290058165621   000000000000000                                   000000000000 D000000000099 01080209 退费                              000000000000  000000000000  00000000000    7 XF261128LUTAU000009U01                                                                                                             ";

    fn gbk(s: &str) -> Vec<u8> {
        encoding_rs::GBK.encode(s).0.into_owned()
    }

    fn file(lines: &[&str]) -> Vec<u8> {
        lines.iter().flat_map(|l| [gbk(l), b"\r\n".to_vec()].concat()).collect()
    }

    /// The widths add up to the published 607-byte line, and the fields we read sit where an
    /// independent parser of a real file has them (pingjianwei/csv_parser, src/test/test.erl).
    #[test]
    fn the_layout_is_the_published_one() {
        assert_eq!(ZM_FIELDS.iter().map(|(_, w)| w + 1).sum::<usize>() - 1, ZM_LINE_BYTES);
        for (name, at) in [
            ("系统跟踪号", (28, 6)),
            ("交易传输时间", (35, 10)),
            ("帐号", (46, 19)),
            ("交易金额", (66, 12)),
            ("查询流水号", (87, 21)),
            ("商户订单号", (112, 32)),
            ("结算金额", (180, 13)),
            ("交易类型", (215, 2)),
            ("原交易查询流水号", (271, 21)),
            ("商户代码", (293, 15)),
            ("终端号", (388, 8)),
            ("商户自定义域", (397, 32)),
        ] {
            assert_eq!(zm_field(name), at, "{name}");
        }
        for line in [CONSUME, REFUND] {
            assert_eq!(gbk(line).len(), ZM_LINE_BYTES);
        }
    }

    #[test]
    fn consumes_are_payments_refunds_are_skipped() {
        let st = parse_zm(day(), MER, &file(&[CONSUME, REFUND])).unwrap();
        assert_eq!((st.rows.len(), st.skipped), (1, 1));
        let r = &st.rows[0];
        assert_eq!(
            (r.out_trade_no.as_str(), r.gateway_trade_no.as_str(), r.amount),
            ("XF261129LUTAU000001U01", "782611291000090000001", Fen::new(400_000))
        );
        assert_eq!(r.paid_at, Some("2026-11-29T02:00:09Z".parse().unwrap()));
        // LF line ends, a blank last line and the newer 608-byte variant read the same.
        let lf: Vec<u8> = [gbk(CONSUME), b"\n".to_vec(), gbk(&format!("{REFUND} ")), b"\n\n".to_vec()].concat();
        assert_eq!(parse_zm(day(), MER, &lf).unwrap().rows, st.rows);
        // Another merchant's rows are not ours.
        assert_eq!(parse_zm(day(), "898319849000018", &file(&[CONSUME])).unwrap().skipped, 1);
        // New Year: a 1231 transmission time in the file of 1 January is last year's.
        let jan1 = NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(transmission_time(jan1, "1231235959"), Some("2026-12-31T15:59:59Z".parse().unwrap()));
    }

    #[test]
    fn the_sandbox_writer_lays_a_line_out_as_published() {
        let line = zm_line(&[
            ("交易代码", "S22"),
            ("代理机构标识码", "48022901"),
            ("发送机构标识码", "00040000"),
            ("系统跟踪号", "105607"),
            ("交易传输时间", "1129100009"),
            ("帐号", "622280*********0000"),
            ("交易金额", "000000400000"),
            ("商户类别", "8220"),
            ("终端类型", "07"),
            ("查询流水号", "782611291000090000001"),
            ("支付方式（旧）", "05"),
            ("商户订单号", "XF261129LUTAU000001U01"),
            ("支付卡类型", "01"),
            ("商户手续费", "D000000000024"),
            ("结算金额", "C000000399976"),
            ("支付方式", "0201"),
            ("交易类型", "01"),
            ("业务类型", "000201"),
            ("商户代码", MER),
            ("二级商户代码", "000000000000000"),
            ("二级商户分账入账金额", " 000000000000"),
            ("清算净额", "C000000399976"),
            ("终端号", "01080209"),
            ("商户自定义域", "学费"),
            ("优惠金额", " 000000000000"),
            ("发票金额", " 000000000000"),
            ("分期付款附加手续费", " 00000000000"),
            ("交易介质", "7"),
        ]);
        assert_eq!(line, gbk(CONSUME));
    }

    #[test]
    fn a_line_off_the_layout_is_refused_not_misread() {
        let short = CONSUME.replacen("XF261129LUTAU000001U01 ", "XF261129LUTAU000001U01", 1);
        let err = parse_zm(day(), MER, &file(&[CONSUME, &format!("{short} ")])).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("separator"), "{err}");
        let csv = "交易代码,查询流水号,交易传输时间,交易金额,商户代码,商户订单号\nS22,1,1129100009,000000400000,777290058165621,X\n";
        assert!(parse_zm(day(), MER, csv.as_bytes()).unwrap_err().to_string().contains("bytes"));
        let bad_amount = CONSUME.replacen("000000400000", "0000004000.0", 1);
        assert!(parse_zm(day(), MER, &file(&[&bad_amount])).unwrap_err().to_string().contains("fen"));
    }

    #[test]
    fn the_zm_file_is_found_by_its_published_name() {
        assert!(is_zm_name("INN26112988ZM_777290058165621"));
        assert!(is_zm_name("777290058165621_20261129/INN26112900ZM_777290058165621"));
        assert!(!is_zm_name("INN26112988ZME_777290058165621"));
        assert!(!is_zm_name("INN26112988ZM"));
        assert!(!is_zm_name("README_ZM_.txt"));
    }

    fn zip_of(name: &str, bytes: &[u8]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(bytes).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn file_content_round_trips_through_zlib_and_base64_in_a_zip() {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        // The error file comes first here: it is not the detail file.
        w.start_file("INN26112988ZME_777290058165621", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(b"not a ZM file").unwrap();
        w.start_file("INN26112988ZM_777290058165621", zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(&file(&[CONSUME, REFUND])).unwrap();
        let zip = w.finish().unwrap().into_inner();
        let content = encode_file_content(&zip);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(B64.decode(content).unwrap().as_slice()).read_to_end(&mut back).unwrap();
        assert_eq!(back, zip);
        let st = parse_settlement_zip(day(), MER, &zip).unwrap();
        assert_eq!((st.rows.len(), st.raw.len()), (1, zip.len()), "GBK read; raw kept");
    }

    /// A ZM file that inflates past the limit (a "zip bomb") is refused, not read into memory.
    #[test]
    fn a_settlement_file_larger_than_the_limit_decompressed_is_refused() {
        let mut bytes = file(&[CONSUME]);
        bytes.extend(vec![b' '; 64 * 1024]);
        let zip = zip_of("INN26112988ZM_777290058165621", &bytes);
        assert!(zip.len() < 4096, "it compresses well: {} bytes", zip.len());
        let err = parse_settlement_zip_within(day(), MER, &zip, 16 * 1024).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(parse_settlement_zip_within(day(), MER, &zip, 128 * 1024).is_ok());
    }

    #[test]
    fn an_empty_file_is_an_empty_day() {
        assert!(parse_zm(day(), MER, b"").unwrap().rows.is_empty());
        assert!(parse_zm(day(), MER, b"\r\n").unwrap().rows.is_empty());
    }
}
