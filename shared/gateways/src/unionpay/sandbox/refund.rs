//! The sandbox side of refunds: the verified `backTransReq.do` form, its synchronous answer,
//! query answers about a refund and its backUrl notification.

use super::*;

/// A verified refund request (`txnType=04`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundAsked {
    pub order_id: String,
    pub txn_time: String,
    pub orig_qry_id: String,
    pub txn_amt: Fen,
    pub back_url: Option<String>,
}

/// A refund as the sandbox knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRefund<'a> {
    pub order_id: &'a str,
    pub txn_time: &'a str,
    pub orig_qry_id: &'a str,
    pub query_id: &'a str,
    pub txn_amt: Fen,
}

impl Sandbox {
    /// `backTransReq.do`: a verified refund form.
    pub fn verify_refund(&self, body: &[u8]) -> Result<RefundAsked, GatewayError> {
        let p = self.verify_request(body)?;
        expect(&p, &[("txnType", "04"), ("txnSubType", "00"), ("accessType", "0"), ("currencyCode", CURRENCY_CNY)])?;
        let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let required = |k: &str| get(k).map(str::to_owned).ok_or_else(|| bad(&format!("missing {k}")));
        let order_id = required("orderId")?;
        if !(8..=40).contains(&order_id.len()) || !order_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("orderId must be 8-40 letters/digits"));
        }
        let txn_time = required("txnTime")?;
        parse_time(&txn_time).ok_or_else(|| bad("txnTime is not YYYYMMDDhhmmss"))?;
        Ok(RefundAsked {
            order_id,
            txn_time,
            orig_qry_id: required("origQryId")?,
            txn_amt: parse_fen(&required("txnAmt")?)?,
            back_url: get("backUrl").map(str::to_owned),
        })
    }

    fn refund_fields(&self, r: &SandboxRefund<'_>) -> BTreeMap<String, String> {
        let mut f = self.base(r.order_id, r.txn_time);
        let amount = r.txn_amt.get().to_string();
        f.extend(owned(&[
            ("txnType", "04"),
            ("txnSubType", "00"),
            ("bizType", "000201"),
            ("txnAmt", &amount),
            ("currencyCode", CURRENCY_CNY),
            ("origQryId", r.orig_qry_id),
            ("queryId", r.query_id),
        ]));
        f
    }

    /// The signed synchronous answer to a refund request: `respCode` and `respMsg` as given.
    pub fn refund_response(&self, asked: &RefundAsked, resp_code: &str, resp_msg: &str) -> String {
        let mut f = self.base(&asked.order_id, &asked.txn_time);
        let amount = asked.txn_amt.get().to_string();
        f.extend(owned(&[
            ("txnType", "04"),
            ("txnSubType", "00"),
            ("bizType", "000201"),
            ("txnAmt", &amount),
            ("origQryId", &asked.orig_qry_id),
            ("respCode", resp_code),
            ("respMsg", resp_msg),
        ]));
        body(&self.sign(f))
    }

    /// The signed answer to `queryTrans.do` about a (successful) refund.
    pub fn refund_query_response(&self, r: &SandboxRefund<'_>) -> String {
        let mut f = self.refund_fields(r);
        f.extend(owned(&[("respCode", "00"), ("respMsg", "成功[0000000]"), ("origRespCode", "00"), ("origRespMsg", "成功[0000000]")]));
        body(&self.sign(f))
    }

    /// The URL-encoded body of a signed backUrl notification for a successful refund.
    pub fn refund_notification(&self, r: &SandboxRefund<'_>) -> String {
        let mut f = self.refund_fields(r);
        f.extend(owned(&[("respCode", "00"), ("respMsg", "success")]));
        self.notification_body(f)
    }
}
