//! WeChat Pay's daily trade bill (交易账单), APIv3.
//!
//! Sources (public facts): `GET /v3/bill/tradebill?bill_date=yyyy-MM-dd&bill_type=ALL` answers
//! (signed, like every APIv3 answer) `{"hash_type":"SHA1","hash_value":…,"download_url":…}`;
//! the download (`GET` the URL with a signed `Authorization`, the answer itself unsigned) is
//! checked against `hash_value`. The bill is CSV: a header row (交易时间, 公众账号ID, 商户号,
//! 特约商户号, 设备号, 微信订单号, 商户订单号, 用户标识, 交易类型, 交易状态, 付款银行, 货币种类,
//! 应结订单金额, 代金券金额, 微信退款单号, 商户退款单号, 退款金额, …, 订单金额, 申请退款金额, …),
//! one row per trade with every value prefixed by a backtick, then a summary header (总交易单数,
//! 应结订单总金额, …) and its row. Amounts are yuan. A day without trades is answered
//! `400 NO_STATEMENT_EXIST` — spelled differently in places (lessons-from-peers.md, WxJava
//! #1275/#308/#1241), so any `NO_STATEMENT_EXIST`/"No statement exist" counts as an empty day.
//! Bills are ready after 10:00 the next day (https://pay.weixin.qq.com, 下载对账单 notes).
//!
//! We read it by header name and keep rows with 交易状态 `SUCCESS` (REFUND rows are counted
//! as skipped); the amount is 订单金额 (what the payer was asked for), else 应结订单金额.

use super::merchant::{json, refusal};
use super::{Headers, Merchant, SignedRequest, Stamp};
use crate::GatewayError;
use crate::domain::{Channel, Fen};
use crate::statement::{Statement, StatementRow, Table, bad, beijing_time, cell, decode_text};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use sha1::{Digest, Sha1};

pub const COL_TIME: &str = "交易时间";
pub const COL_TRANSACTION_ID: &str = "微信订单号";
pub const COL_OUT_TRADE_NO: &str = "商户订单号";
pub const COL_STATE: &str = "交易状态";
pub const COL_ORDER_AMOUNT: &str = "订单金额";
pub const COL_SETTLE_AMOUNT: &str = "应结订单金额";
/// First cell of the summary header that ends the detail rows.
pub const SUMMARY_FIRST: &str = "总交易单数";
pub const NO_STATEMENT_EXIST: &str = "NO_STATEMENT_EXIST";

/// Where to fetch a day's bill and how to check it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BillLink {
    pub hash_type: String,
    pub hash_value: String,
    pub download_url: String,
}

/// What the trade-bill call said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BillAnswer {
    Bill(BillLink),
    /// A signed `NO_STATEMENT_EXIST`: no trades that day.
    NoBill,
    /// `NO_STATEMENT_EXIST` without any signature header (whether WeChat Pay signs its 4xx
    /// answers is unconfirmed): taken as no trades, with a warning on the report.
    NoBillUnsigned,
}

impl Merchant {
    /// `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`.
    pub fn trade_bill(&self, day: NaiveDate, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let path = format!("/v3/bill/tradebill?bill_date={}&bill_type=ALL", day.format("%Y-%m-%d"));
        self.signed("GET", path, String::new(), stamp)
    }

    /// The verified answer: the link, or a day without a bill (signed, or not signed at all).
    pub fn parse_trade_bill(&self, status: u16, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<BillAnswer, GatewayError> {
        if status == 400 || status == 404 {
            // Whether WeChat Pay signs its 4xx answers is not confirmed either way. A signed one
            // must verify; one without any signature header that says "no statement" counts as
            // an empty day, with a warning. An empty day can only show payments of ours as
            // missing from the bill (differences for a person), never credit money.
            let unsigned = headers.get("Wechatpay-Signature").is_none();
            if !unsigned {
                self.verify(headers, body, now)?;
            }
            return match refusal(status, body) {
                GatewayError::Refused { code, message }
                    if code == NO_STATEMENT_EXIST || message.to_ascii_lowercase().contains("no statement exist") =>
                {
                    Ok(if unsigned { BillAnswer::NoBillUnsigned } else { BillAnswer::NoBill })
                }
                GatewayError::Refused { code, .. } if unsigned => {
                    Err(GatewayError::Signature(format!("unsigned {status} answer ({code}) to the bill request")))
                }
                other => Err(other),
            };
        }
        self.answer(status, headers, body, now)?;
        let link: BillLink = json(body)?;
        if !link.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(bad("hash_type is not SHA1"));
        }
        Ok(BillAnswer::Bill(link))
    }

    /// `GET` of the download URL's path (signed like any call). `api_base` is where we send
    /// calls: a URL elsewhere is refused, so the `Authorization` never leaves WeChat Pay.
    pub fn bill_download(&self, link: &BillLink, api_base: &str, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let path = link
            .download_url
            .strip_prefix(api_base.trim_end_matches('/'))
            .filter(|p| p.starts_with('/'))
            .ok_or_else(|| bad("download_url is not on the API host"))?;
        self.signed("GET", path.to_owned(), String::new(), stamp)
    }
}

/// Checks the downloaded bytes against the link's SHA-1, then parses them.
pub fn parse_downloaded(day: NaiveDate, link: &BillLink, bytes: &[u8]) -> Result<Statement, GatewayError> {
    let digest = hex::encode(Sha1::digest(bytes));
    if !digest.eq_ignore_ascii_case(link.hash_value.trim()) {
        return Err(GatewayError::Signature("bill SHA-1 differs from hash_value".into()));
    }
    let mut st = parse_bill(day, &decode_text(bytes))?;
    st.raw = bytes.to_vec();
    Ok(st)
}

/// Parses the bill text: detail rows up to the summary header.
pub fn parse_bill(day: NaiveDate, text: &str) -> Result<Statement, GatewayError> {
    let detail: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take_while(|l| !l.trim_start_matches('\u{feff}').starts_with(SUMMARY_FIRST))
        .collect();
    let table = Table::parse(&detail.join("\n"))?;
    let (otn, id, state) = (table.column(COL_OUT_TRADE_NO)?, table.column(COL_TRANSACTION_ID)?, table.column(COL_STATE)?);
    let amount = if table.has(COL_ORDER_AMOUNT) { table.column(COL_ORDER_AMOUNT)? } else { table.column(COL_SETTLE_AMOUNT)? };
    let time = table.column(COL_TIME).ok();
    let mut st = Statement::empty(Channel::Wechat, day);
    for row in &table.rows {
        if cell(row, state) != "SUCCESS" {
            st.skipped += 1;
            continue;
        }
        let fen = Fen::parse_yuan(cell(row, amount)).map_err(|e| bad(&format!("amount of {}: {e}", cell(row, otn))))?;
        st.rows.push(StatementRow {
            out_trade_no: cell(row, otn).to_owned(),
            gateway_trade_no: cell(row, id).to_owned(),
            amount: fen,
            paid_at: time.and_then(|i| beijing_time(cell(row, i))),
        });
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 29).unwrap()
    }

    fn bill() -> String {
        format!(
            "{HEADER}\n\
`2026-11-29 10:00:09,`wxd678efh567hg6787,`1900000001,`0,`,`4200000000202611290000000001,`XF261129LUTAU000001W01,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`4000.00,`0.00,`0,`0,`0.00,`0.00,`,`,`甘肃省财政厅 学费缴费,`,`24.00000,`0.60%,`4000.00,`0.00,`\n\
`2026-11-29 11:00:00,`wxd678efh567hg6787,`1900000001,`0,`,`4200000000202611290000000002,`XF261129LUTAU000002W01,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50000000000000000001,`RXF261129LUTAU000002W01,`1.00,`0.00,`ORIGINAL,`SUCCESS,`甘肃省财政厅 学费缴费,`,`-0.01000,`0.60%,`0.00,`1.00,`\n\
总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n\
`2,`4000.00,`1.00,`0.00,`23.99000,`4000.00,`1.00\n"
        )
    }

    #[test]
    fn backticks_are_dropped_and_columns_found_by_name() {
        let st = parse_bill(day(), &bill()).unwrap();
        assert_eq!(st.skipped, 1, "the refund row");
        assert_eq!(st.rows.len(), 1, "the summary is not a trade");
        let r = &st.rows[0];
        assert_eq!(
            (r.out_trade_no.as_str(), r.gateway_trade_no.as_str(), r.amount),
            ("XF261129LUTAU000001W01", "4200000000202611290000000001", Fen::new(400_000))
        );
        assert_eq!(r.paid_at, Some("2026-11-29T02:00:09Z".parse().unwrap()));
    }

    #[test]
    fn the_download_must_match_its_sha1() {
        let bytes = format!("\u{feff}{}", bill()).into_bytes();
        let link = BillLink {
            hash_type: "SHA1".into(),
            hash_value: hex::encode(Sha1::digest(&bytes)).to_uppercase(),
            download_url: String::new(),
        };
        let st = parse_downloaded(day(), &link, &bytes).unwrap();
        assert_eq!((st.rows.len(), st.raw.len()), (1, bytes.len()), "a BOM is fine; the raw bytes are kept");
        let mut tampered = bytes.clone();
        tampered[bytes.len() - 3] = b'9';
        assert!(matches!(parse_downloaded(day(), &link, &tampered), Err(GatewayError::Signature(_))));
    }

    #[test]
    fn a_header_only_bill_is_an_empty_day_and_a_missing_column_an_error() {
        let st = parse_bill(day(), &format!("{HEADER}\n总交易单数,应结订单总金额\n`0,`0.00\n")).unwrap();
        assert!(st.rows.is_empty());
        assert!(parse_bill(day(), "交易时间,微信订单号,交易状态\n`2026-11-29 10:00:00,`1,`SUCCESS\n").is_err());
    }
}
