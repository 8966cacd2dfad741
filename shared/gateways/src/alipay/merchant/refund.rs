//! `alipay.trade.refund` and `alipay.trade.fastpay.refund.query` (gateways.md §1.5, §1.9.4).
//! Refunds have no `notify_url`: Alipay answers synchronously, and also sends a trade-status
//! notification to the payment's `notify_url` (§1.7), which carries no news for us.

use super::*;
use crate::RefundOutcome;

#[derive(Serialize)]
struct RefundBiz<'a> {
    out_trade_no: &'a str,
    refund_amount: String,
    out_request_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refund_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct RefundQueryBiz<'a> {
    out_trade_no: &'a str,
    out_request_no: &'a str,
}

impl Merchant {
    /// `alipay.trade.refund` of `amount` with `out_request_no` — the same value on every retry
    /// (§1.5); POST.
    pub fn refund(
        &self,
        out_trade_no: &str,
        out_request_no: &str,
        amount: Fen,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<SignedRequest, GatewayError> {
        check_out_trade_no(out_trade_no)?;
        check_out_trade_no(out_request_no)?;
        if amount < MIN_AMOUNT || amount > MAX_AMOUNT {
            return Err(malformed("refund_amount must be within 0.01–100000000.00"));
        }
        let reason: Option<String> = reason.map(|r| r.chars().take(256).collect());
        let biz =
            to_json(&RefundBiz { out_trade_no, refund_amount: amount.to_string(), out_request_no, refund_reason: reason.as_deref() })?;
        Ok(self.post(Method::Refund, biz, &[], now))
    }

    /// `alipay.trade.fastpay.refund.query` by out-trade-no and `out_request_no`; POST.
    pub fn refund_query(&self, out_trade_no: &str, out_request_no: &str, now: DateTime<Utc>) -> Result<SignedRequest, GatewayError> {
        check_out_trade_no(out_trade_no)?;
        check_out_trade_no(out_request_no)?;
        Ok(self.post(Method::RefundQuery, to_json(&RefundQueryBiz { out_trade_no, out_request_no })?, &[], now))
    }

    /// A verified refund answer: `fund_change=Y` → `Succeeded`; `N` is ambiguous (already
    /// refunded, or not) → `Pending`, to be decided by a query (§1.9.4). A business failure
    /// (`40004`, other than a system error) is a definite `Refused`; anything else is an error
    /// (outcome unknown).
    pub fn parse_refund(&self, out_trade_no: &str, body: &str) -> Result<RefundOutcome, GatewayError> {
        let node = self.verified(Method::Refund, out_trade_no, body)?;
        if field(&node, "code") == Some(CODE_SUCCESS) {
            return Ok(match field(&node, "fund_change") {
                Some("Y") => RefundOutcome::Succeeded { gateway_refund_no: None, at: field(&node, "gmt_refund_pay").and_then(parse_time) },
                _ => RefundOutcome::Pending,
            });
        }
        definite_refusal(&node)
    }

    /// A verified refund-query answer (§1.5): refund data returned (`refund_status`
    /// `REFUND_SUCCESS`, or a `refund_amount` when the status is absent) → `Succeeded`;
    /// `REFUND_PROCESSING` (or another status) → `Pending`; none → `NotFound` (retry the refund
    /// with the same `out_request_no`).
    pub fn parse_refund_query(&self, out_trade_no: &str, out_request_no: &str, body: &str) -> Result<RefundOutcome, GatewayError> {
        let node = self.verified(Method::RefundQuery, out_trade_no, body)?;
        if field(&node, "code") != Some(CODE_SUCCESS) {
            return match field(&node, "sub_code") {
                Some(TRADE_NOT_EXIST) => Ok(RefundOutcome::NotFound),
                _ => Err(refused(&node)),
            };
        }
        if field(&node, "out_request_no").is_some_and(|r| r != out_request_no) {
            return Err(malformed("refund query answer is about another out_request_no"));
        }
        let succeeded = || RefundOutcome::Succeeded { gateway_refund_no: None, at: field(&node, "gmt_refund_pay").and_then(parse_time) };
        Ok(match field(&node, "refund_status") {
            Some("REFUND_SUCCESS") => succeeded(),
            // Received and under way (or a status we do not know): asked again, never re-sent.
            Some(_) => RefundOutcome::Pending,
            None if field(&node, "refund_amount").is_some() => succeeded(),
            None => RefundOutcome::NotFound,
        })
    }
}

/// `40004` business failures refuse for good (nothing was refunded); a system error
/// (`20000`, `ACQ.SYSTEM_ERROR`) leaves the outcome unknown.
fn definite_refusal(node: &Value) -> Result<RefundOutcome, GatewayError> {
    let e = refused(node);
    match (&e, field(node, "code")) {
        (GatewayError::Refused { code, message }, Some("40004")) if code != "ACQ.SYSTEM_ERROR" => {
            Ok(RefundOutcome::Refused { code: code.clone(), message: message.clone() })
        }
        _ => Err(e),
    }
}
