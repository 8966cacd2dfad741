//! Refund (退货): `backTransReq.do` with `txnType=04`, a new `orderId` (the refund number) and
//! `origQryId`; the result comes to `backUrl` (the payments' notification URL: the handler
//! tells refunds apart by `txnType`) or by `queryTrans.do` with the refund's orderId and
//! txnTime (gateways.md §3.4, §3.5).

use super::*;
use crate::RefundOutcome;

/// A verified refund notification (`txnType=04`) from our merchant id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotification {
    /// The refund's orderId (our refund number).
    pub order_id: String,
    pub txn_time: String,
    pub orig_qry_id: String,
    pub query_id: String,
    pub txn_amt: Fen,
    pub resp_code: String,
    pub raw: BTreeMap<String, String>,
}

impl RefundNotification {
    /// `respCode` 00 or A6 (UnionPay notifies successful transactions only, §3.5).
    pub fn is_success(&self) -> bool {
        matches!(self.resp_code.as_str(), "00" | "A6")
    }
}

fn check_order_id(refund_no: &str) -> Result<(), GatewayError> {
    if !(8..=40).contains(&refund_no.len()) || !refund_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(GatewayError::Malformed("refund orderId must be 8-40 letters/digits".into()));
    }
    Ok(())
}

impl Merchant {
    /// The signed refund form, to POST to `backTransReq.do`. `txn_time` is the refund's own
    /// (its first request's time): a retry and a query repeat it.
    pub fn refund(&self, refund_no: &str, orig_qry_id: &str, amount: Fen, txn_time: &str) -> Result<SignedForm, GatewayError> {
        check_order_id(refund_no)?;
        parse_time(txn_time).ok_or_else(|| GatewayError::Malformed("txnTime is not YYYYMMDDhhmmss".into()))?;
        if amount.get() < 1 || orig_qry_id.is_empty() {
            return Err(GatewayError::Malformed("refund needs an amount and origQryId".into()));
        }
        let amount = amount.get().to_string();
        Ok(self.signed(
            &self.back_url,
            &[
                ("txnType", "04"),
                ("txnSubType", "00"),
                ("bizType", "000201"),
                ("channelType", "07"),
                ("orderId", refund_no),
                ("origQryId", orig_qry_id),
                ("txnTime", txn_time),
                ("txnAmt", &amount),
                ("currencyCode", CURRENCY_CNY),
                ("backUrl", &self.back_notify_url),
            ],
        ))
    }

    /// `queryTrans.do` for the refund (its orderId and txnTime).
    pub fn query_refund(&self, refund_no: &str, txn_time: &str) -> Result<SignedForm, GatewayError> {
        check_order_id(refund_no)?;
        let no = OutTradeNo::parse(refund_no).map_err(|_| GatewayError::Malformed("refund orderId".into()))?;
        self.query(&no, txn_time)
    }

    /// A signed answer about `order_id` at `txn_time` (a query's or a refund's): verified
    /// through the certificate chain, from our merId, and about that transaction — or an error.
    pub fn verified_answer(&self, order_id: &str, txn_time: &str, body: &[u8], now: DateTime<Utc>) -> Result<Answer, GatewayError> {
        let text = std::str::from_utf8(body).map_err(|_| GatewayError::Malformed("response is not UTF-8".into()))?;
        let answer = Answer(parse_response(text)?);
        self.chain.verify(&answer.0, now)?;
        if answer.get("merId") != Some(self.mer_id.as_str()) {
            return Err(GatewayError::Malformed("response merId is not ours".into()));
        }
        if answer.get("orderId").is_some_and(|o| o != order_id) || answer.get("txnTime").is_some_and(|t| t != txn_time) {
            return Err(GatewayError::Malformed("response is about another transaction".into()));
        }
        // A query answer may leave the currencies out (§3.5a); given, they must be yuan.
        if ["currencyCode", "settleCurrencyCode"].iter().any(|k| answer.get(k).is_some_and(|c| c != CURRENCY_CNY)) {
            return Err(GatewayError::Malformed("response currency is not 156 (CNY)".into()));
        }
        Ok(answer)
    }
    /// Whether a backUrl body is a refund's (`txnType=04`; unverified: only to route it).
    pub fn is_refund_notification(body: &[u8]) -> bool {
        form::parse(body).ok().and_then(|f| f.get("txnType").cloned()).as_deref() == Some("04")
    }

    /// Verifies a refund notification (chain, CN, signature, merId) and reads it.
    pub fn parse_refund_notification(&self, body: &[u8], now: DateTime<Utc>) -> Result<RefundNotification, GatewayError> {
        let n = self.parse_notification(body, now)?.0;
        if n.txn_type != "04" {
            return Err(GatewayError::Malformed("not a refund notification".into()));
        }
        Ok(RefundNotification {
            orig_qry_id: n.raw.get("origQryId").cloned().filter(|v| !v.is_empty()).ok_or_else(|| missing("origQryId"))?,
            order_id: n.order_id,
            txn_time: n.txn_time,
            query_id: n.query_id,
            txn_amt: n.txn_amt,
            resp_code: n.resp_code,
            raw: n.raw,
        })
    }
}

/// ACP `respCode`s of a refund request that mean UnionPay refused it and nothing was refunded:
/// 01 交易失败, 11 验证签名失败, 13 报文交易要素缺失, 30 交易未通过, 31 商户状态不正确,
/// 32 无此交易权限, 33 交易金额超限, 35 原交易不存在或状态不正确, 36 与原交易信息不符,
/// 38 风险受限, 39 交易不在受理时间范围内.
pub const FINAL_REFUND_CODES: [&str; 11] = ["01", "11", "13", "30", "31", "32", "33", "35", "36", "38", "39"];

/// A verified answer of UnionPay's ([`Merchant::verified_answer`]), read field by field.
#[derive(Debug, Clone)]
pub struct Answer(BTreeMap<String, String>);

impl Answer {
    /// A field, if given and not empty.
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A `queryTrans.do` answer (§3.4): `respCode=34` → `None` (no such transaction); `00` →
    /// the transaction's own result, `origRespCode`. Another `respCode`: the query itself failed.
    pub(super) fn queried(&self) -> Result<Option<&str>, GatewayError> {
        match self.get("respCode") {
            Some("00") => self.get("origRespCode").map(Some).ok_or_else(|| missing("origRespCode")),
            Some("34") => Ok(None),
            code => {
                Err(GatewayError::Refused { code: code.unwrap_or("-").to_owned(), message: self.get("respMsg").unwrap_or("").to_owned() })
            }
        }
    }

    /// The synchronous refund answer: `respCode=00` accepted (`Pending`: the result follows).
    /// Only the codes that say the refund was refused as asked refuse it for good
    /// ([`FINAL_REFUND_CODES`]); every other code — 03/04/05 (unknown), 10 (e.g. an invalid
    /// `txnTime`), 12 (duplicate), 06/37 (busy), anything unexpected — leaves the outcome
    /// unknown: `Pending`, and the query decides.
    pub fn refund_outcome(&self) -> RefundOutcome {
        match self.get("respCode") {
            Some(code) if FINAL_REFUND_CODES.contains(&code) => {
                RefundOutcome::Refused { code: code.to_owned(), message: self.get("respMsg").unwrap_or("").to_owned() }
            }
            _ => RefundOutcome::Pending,
        }
    }

    /// A refund query answer: no such refund → `NotFound`; `origRespCode` 00/A6 → `Succeeded`,
    /// 03/04/05 → `Pending`, other → `Refused`. The query itself failing is an error.
    pub fn refund_query_outcome(&self) -> Result<RefundOutcome, GatewayError> {
        Ok(match self.queried()? {
            None => RefundOutcome::NotFound,
            Some("00" | "A6") => RefundOutcome::Succeeded { gateway_refund_no: self.get("queryId").map(str::to_owned), at: None },
            Some("03" | "04" | "05") => RefundOutcome::Pending,
            Some(code) => RefundOutcome::Refused { code: code.to_owned(), message: self.get("origRespMsg").unwrap_or("").to_owned() },
        })
    }
}
