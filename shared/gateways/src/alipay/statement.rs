//! Alipay's daily trade bill (对账单).
//!
//! Sources (public facts): the method `alipay.data.dataservice.bill.downloadurl.query` with
//! `biz_content` `{"bill_type":"trade","bill_date":"yyyy-MM-dd"}` answers `bill_download_url`
//! (valid about 30 s, lessons-from-peers.md); the URL serves a zip holding GBK CSV files: the
//! detail file `…_业务明细.csv` and a summary `…_业务明细(汇总).csv`. The detail file starts
//! and ends with `#` comment lines (`#支付宝业务明细查询`, `#账号：…`, `#-----业务明细列表结束----`,
//! `#交易合计：…`, `#导出时间：…`); its header names the columns, among them 支付宝交易号,
//! 商户订单号, 业务类型 (交易 / 退款), 完成时间 and 订单金额（元）. (Integration write-ups of the
//! method, e.g. https://yq.aliyun.com/articles/710932, and the Alipay SDK request model
//! `AlipayDataDataserviceBillDownloadurlQueryModel`.)
//!
//! We read the detail file by header name and keep rows of 业务类型 交易. A day without a bill is
//! answered with a business error whose `sub_code` is [`BILL_NOT_EXIST`]: an empty day.

use super::{CODE_SUCCESS, Merchant, Method, SignedRequest};
use crate::GatewayError;
use crate::domain::Channel;
use crate::statement::{MAX_STATEMENT_BYTES, Statement, StatementRow, Table, bad, beijing_time, cell, decode_text, read_capped};
use chrono::{DateTime, NaiveDate, Utc};

/// `sub_code` of "no bill for that day" (账单不存在).
pub const BILL_NOT_EXIST: &str = "isp.bill_not_exist";

/// The detail file's column names we read.
pub const COL_TRADE_NO: &str = "支付宝交易号";
pub const COL_OUT_TRADE_NO: &str = "商户订单号";
pub const COL_KIND: &str = "业务类型";
pub const COL_FINISHED: &str = "完成时间";
pub const COL_AMOUNT: &str = "订单金额（元）";
/// 业务类型 of a payment.
pub const KIND_PAYMENT: &str = "交易";

impl Merchant {
    /// `alipay.data.dataservice.bill.downloadurl.query` for the trade bill of `day`; POST.
    pub fn bill_download_url(&self, day: NaiveDate, now: DateTime<Utc>) -> SignedRequest {
        let biz = serde_json::json!({ "bill_type": "trade", "bill_date": day.format("%Y-%m-%d").to_string() }).to_string();
        self.post(Method::BillDownloadUrl, biz, &[], now)
    }

    /// The verified answer: `Some(url)` to download, `None` when Alipay has no bill that day.
    pub fn parse_bill_download_url(&self, body: &str) -> Result<Option<String>, GatewayError> {
        let node = self.verified(Method::BillDownloadUrl, "", body)?;
        let field = |k: &str| node.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty());
        if field("code") != Some(CODE_SUCCESS) {
            if field("sub_code") == Some(BILL_NOT_EXIST) {
                return Ok(None);
            }
            return Err(GatewayError::Refused {
                code: field("sub_code").or(field("code")).unwrap_or("-").to_owned(),
                message: field("sub_msg").or(field("msg")).unwrap_or("").to_owned(),
            });
        }
        let url = field("bill_download_url").ok_or_else(|| bad("no bill_download_url"))?;
        Ok(Some(self.bill_url(url)?))
    }
}

/// Parses the downloaded zip into the day's statement (`raw` keeps the zip).
pub fn parse_bill_zip(day: NaiveDate, zip_bytes: &[u8]) -> Result<Statement, GatewayError> {
    parse_bill_zip_within(day, zip_bytes, MAX_STATEMENT_BYTES)
}

/// [`parse_bill_zip`], reading at most `limit` bytes decompressed over all its files.
fn parse_bill_zip_within(day: NaiveDate, zip_bytes: &[u8], limit: u64) -> Result<Statement, GatewayError> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip_bytes)).map_err(|e| bad(&format!("not a zip: {e}")))?;
    let mut detail = None;
    let mut left = limit;
    for i in 0..archive.len() {
        let entry = archive.by_index(i).map_err(|e| bad(&format!("zip entry: {e}")))?;
        let bytes = read_capped(entry, left, "the bill zip")?;
        left -= bytes.len() as u64;
        // The summary file has no 商户订单号 column: the detail file is the one that does.
        // (Entry names are GBK without the UTF-8 flag, so they are not relied on.)
        let text = decode_text(&bytes);
        if detail_lines(&text).lines().next().is_some_and(|header| header.contains(COL_OUT_TRADE_NO)) {
            detail = Some(text);
            break;
        }
    }
    let text = detail.ok_or_else(|| bad("the zip holds no 业务明细 file"))?;
    let mut st = parse_detail_csv(day, &text)?;
    st.raw = zip_bytes.to_vec();
    Ok(st)
}

/// The table between the leading and trailing `#` comment lines.
fn detail_lines(text: &str) -> String {
    let body = text.lines().skip_while(|l| l.trim_start().starts_with('#') || l.trim().is_empty());
    let table: Vec<&str> = body.take_while(|l| !l.trim_start().starts_with('#')).filter(|l| !l.trim().is_empty()).collect();
    table.join("\n")
}

/// Parses the text of a 业务明细 file (already decoded).
pub fn parse_detail_csv(day: NaiveDate, text: &str) -> Result<Statement, GatewayError> {
    let table = Table::parse(&detail_lines(text))?;
    let (trade_no, otn, kind, amount) =
        (table.column(COL_TRADE_NO)?, table.column(COL_OUT_TRADE_NO)?, table.column(COL_KIND)?, table.column(COL_AMOUNT)?);
    let finished = table.column(COL_FINISHED).ok();
    let mut st = Statement::empty(Channel::Alipay, day);
    for row in &table.rows {
        if cell(row, kind) != KIND_PAYMENT {
            st.skipped += 1;
            continue;
        }
        let fen =
            crate::domain::Fen::parse_yuan(cell(row, amount)).map_err(|e| bad(&format!("{COL_AMOUNT} of {}: {e}", cell(row, otn))))?;
        st.rows.push(StatementRow {
            out_trade_no: cell(row, otn).to_owned(),
            gateway_trade_no: cell(row, trade_no).to_owned(),
            amount: fen,
            paid_at: finished.and_then(|i| beijing_time(cell(row, i))),
        });
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fen;
    use std::io::Write;

    const DETAIL: &str = "#支付宝业务明细查询\n#账号：[20880000000000010156]\n#起始日期：[2026年11月29日 00:00:00]   终止日期：[2026年11月30日 00:00:00]\n#-----------------------------------------业务明细列表----------------------------------------\n支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n2026112922001400000000000001\t,XF261129LUTAU000001A01\t,交易\t,甘肃省财政厅 学费缴费\t,2026-11-29 10:00:01\t,2026-11-29 10:00:09\t,\t,\t,\t,\t,159****5620\t,4000.00\t,4000.00\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,-24.00\t,0.00\t,\n2026112922001400000000000002\t,XF261129LUTAU000002A01\t,退款\t,甘肃省财政厅 学费缴费\t,2026-11-29 11:00:01\t,2026-11-29 11:30:00\t,\t,\t,\t,\t,159****5620\t,-1.00\t,-1.00\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,R01\t,0.01\t,0.00\t,\n#-----------------------------------------业务明细列表结束------------------------------------\n#交易合计：1笔，商家实收共4000.00元，商家优惠共0.00元\n#退款合计：1笔，商家实收退款共-1.00元，商家优惠退款共0.00元\n#导出时间：[2026年11月30日 10:30:00]\n";

    fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, bytes) in files {
            w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            w.write_all(bytes).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    /// Files that inflate past the limit together (a "zip bomb", spread over entries or not) are
    /// refused, not read into memory.
    #[test]
    fn a_bill_larger_than_the_limit_decompressed_is_refused() {
        let padding = vec![b'#'; 40 * 1024];
        let zip = zip_of(&[("summary.csv", padding.clone()), ("detail.csv", [DETAIL.as_bytes(), &padding].concat())]);
        assert!(zip.len() < 8192, "it compresses well: {} bytes", zip.len());
        let err = parse_bill_zip_within(day(), &zip, 64 * 1024).unwrap_err();
        assert!(err.to_string().contains("larger than"), "{err}");
        assert!(parse_bill_zip_within(day(), &zip, 256 * 1024).is_ok());
    }

    #[test]
    fn a_gbk_bill_in_a_zip_is_read_by_header_name() {
        let summary = "#支付宝业务汇总查询\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）\n,,1,1,4000.00\n";
        let zip = zip_of(&[
            ("20880000000000010156_20261129_业务明细(汇总).csv", encoding_rs::GBK.encode(summary).0.into_owned()),
            ("20880000000000010156_20261129_业务明细.csv", encoding_rs::GBK.encode(DETAIL).0.into_owned()),
        ]);
        assert!(std::str::from_utf8(&encoding_rs::GBK.encode(DETAIL).0).is_err(), "really GBK bytes");
        let st = parse_bill_zip(day(), &zip).unwrap();
        assert_eq!(st.raw, zip, "the raw file is kept");
        assert_eq!(st.skipped, 1, "the refund row is not a payment");
        assert_eq!(st.rows.len(), 1);
        let r = &st.rows[0];
        assert_eq!(
            (r.out_trade_no.as_str(), r.gateway_trade_no.as_str(), r.amount),
            ("XF261129LUTAU000001A01", "2026112922001400000000000001", Fen::new(400_000))
        );
        assert_eq!(r.paid_at, Some("2026-11-29T02:00:09Z".parse().unwrap()));
    }

    #[test]
    fn columns_are_found_by_name_not_position() {
        let moved = "#支付宝业务明细查询\n订单金额（元）,业务类型,商户订单号,支付宝交易号\n12.34,交易,XF261129LUTAU000003A01,2026112922001400000000000009\n#导出时间：[2026年11月30日 10:30:00]\n";
        let st = parse_detail_csv(day(), moved).unwrap();
        assert_eq!(
            (st.rows[0].out_trade_no.as_str(), st.rows[0].amount, st.rows[0].paid_at),
            ("XF261129LUTAU000003A01", Fen::new(1234), None)
        );
    }

    #[test]
    fn an_empty_day_has_a_header_and_no_rows_and_a_missing_column_is_an_error() {
        let empty = "#支付宝业务明细查询\n支付宝交易号,商户订单号,业务类型,订单金额（元）\n#-----业务明细列表结束----\n#交易合计：0笔\n";
        let st = parse_detail_csv(day(), empty).unwrap();
        assert!(st.rows.is_empty());
        assert!(parse_detail_csv(day(), "#x\n支付宝交易号,业务类型\n1,交易\n").is_err());
        assert!(parse_bill_zip(day(), b"not a zip").is_err());
    }
}
