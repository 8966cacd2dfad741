//! `POST /v3/refund/domestic/refunds`, `GET /v3/refund/domestic/refunds/{out_refund_no}` and
//! the refund notification (`REFUND.*`, resource AAD `refund`) (gateways.md §2.5, §2.6).
//!
//! Refund notifications go to the same `notify_url` as payments (sent as the refund's
//! `notify_url`): the handler tells them apart by `event_type`/`original_type`.

use super::*;
use crate::RefundOutcome;

#[derive(Serialize)]
struct RefundBody<'a> {
    out_trade_no: &'a str,
    out_refund_no: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    notify_url: &'a str,
    amount: RefundAmount,
}

#[derive(Serialize)]
struct RefundAmount {
    refund: i64,
    total: i64,
    currency: &'static str,
}

/// The `Refund` object of refund answers and queries (§2.5).
#[derive(Deserialize)]
struct RefundObject {
    refund_id: Option<String>,
    out_refund_no: String,
    status: String,
    success_time: Option<String>,
}

/// The refund notification plaintext (§2.6 step 4).
#[derive(Deserialize)]
struct RefundPlain {
    mchid: String,
    out_trade_no: String,
    out_refund_no: String,
    refund_id: Option<String>,
    refund_status: String,
    success_time: Option<String>,
    amount: RefundPlainAmount,
}

#[derive(Deserialize)]
struct RefundPlainAmount {
    total: i64,
    refund: i64,
}

/// A verified, decrypted refund notification from our merchant id (§2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundNotification {
    pub id: String,
    /// `REFUND.SUCCESS`, `REFUND.ABNORMAL`, `REFUND.CLOSED`.
    pub event_type: String,
    pub out_trade_no: String,
    pub out_refund_no: String,
    pub refund_id: Option<String>,
    /// `SUCCESS`, `CLOSED`, `ABNORMAL`.
    pub refund_status: String,
    pub success_time: Option<DateTime<Utc>>,
    pub total: Fen,
    pub refund: Fen,
}

impl Merchant {
    /// A full or partial refund of `out_trade_no` (`total` is the original order total).
    pub fn refund(
        &self,
        out_trade_no: &OutTradeNo,
        out_refund_no: &str,
        refund: Fen,
        total: Fen,
        reason: Option<&str>,
        stamp: &Stamp,
    ) -> Result<SignedRequest, GatewayError> {
        let no_ok =
            (1..=64).contains(&out_refund_no.len()) && out_refund_no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b));
        if !no_ok {
            return Err(GatewayError::Malformed("out_refund_no must be 1-64 of [0-9A-Za-z_-|*@]".into()));
        }
        if refund.get() < 1 || refund > total {
            return Err(GatewayError::Malformed("refund must be 1 fen to the order total".into()));
        }
        let body = RefundBody {
            out_trade_no: out_trade_no.as_str(),
            out_refund_no,
            reason: reason.map(|r| r.chars().take(80).collect()),
            notify_url: &self.notify_url,
            amount: RefundAmount { refund: refund.get(), total: total.get(), currency: "CNY" },
        };
        let body = serde_json::to_string(&body).map_err(|e| GatewayError::Malformed(e.to_string()))?;
        self.signed("POST", "/v3/refund/domestic/refunds".into(), body, stamp)
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub fn query_refund(&self, out_refund_no: &str, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        if out_refund_no.is_empty() || !out_refund_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GatewayError::Malformed("out_refund_no".into()));
        }
        self.signed("GET", format!("/v3/refund/domestic/refunds/{out_refund_no}"), String::new(), stamp)
    }

    /// A refund answer or query answer: `SUCCESS` → `Succeeded`; `PROCESSING` → `Pending`;
    /// `ABNORMAL` → `Abnormal` (not final); `CLOSED` → `Refused`. A signed 404 is `NotFound`; other 4xx refuse for good
    /// (nothing was refunded); 5xx and unverifiable answers are errors (outcome unknown).
    pub fn parse_refund_response(
        &self,
        out_refund_no: &str,
        status: u16,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RefundOutcome, GatewayError> {
        if status == 404 {
            self.verify(headers, body, now)?;
            return Ok(RefundOutcome::NotFound);
        }
        if (400..500).contains(&status) && status != 401 && status != 429 {
            self.verify(headers, body, now)?;
            return match refusal(status, body) {
                GatewayError::Refused { code, message } => Ok(RefundOutcome::Refused { code, message }),
                e => Err(e),
            };
        }
        self.answer(status, headers, body, now)?;
        let r: RefundObject = json(body)?;
        if r.out_refund_no != out_refund_no {
            return Err(GatewayError::Malformed("refund answer is about another out_refund_no".into()));
        }
        Ok(match r.status.as_str() {
            "SUCCESS" => {
                RefundOutcome::Succeeded { gateway_refund_no: r.refund_id, at: r.success_time.as_deref().map(rfc3339).transpose()? }
            }
            "PROCESSING" => RefundOutcome::Pending,
            // wechatpay-go refunddomestic: ABNORMAL = the refund to the payer's account failed
            // and the merchant must handle it (异常退款); it can still end SUCCESS. Only CLOSED
            // is final.
            "ABNORMAL" => RefundOutcome::Abnormal { code: r.status },
            other => RefundOutcome::Refused { code: other.to_owned(), message: "退款关闭".into() },
        })
    }

    /// Whether a notification body is a refund's (unverified: only to route it; the refund
    /// handler verifies it in full).
    pub fn is_refund_notification(body: &[u8]) -> bool {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("event_type")?.as_str().map(|e| e.starts_with("REFUND.")))
            .unwrap_or(false)
    }

    /// Verifies (§2.3), decrypts (AAD as sent, `refund` in practice) and parses a refund
    /// notification, and checks its mchid (§2.6).
    pub fn parse_refund_notification(
        &self,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<RefundNotification, GatewayError> {
        self.verify(headers, body, now)?;
        let env: Envelope = json(body)?;
        let r = &env.resource;
        if r.algorithm != "AEAD_AES_256_GCM" {
            return Err(GatewayError::Malformed(format!("unsupported algorithm {}", r.algorithm)));
        }
        if r.original_type != "refund" || !env.event_type.starts_with("REFUND.") {
            return Err(GatewayError::Malformed(format!("not a refund notification: {}", r.original_type)));
        }
        let p: RefundPlain = json(&self.api_v3_key.open(&r.nonce, &r.associated_data, &r.ciphertext)?)?;
        if p.mchid != self.mchid {
            return Err(GatewayError::Malformed(format!("mchid {} is not ours", p.mchid)));
        }
        Ok(RefundNotification {
            id: env.id,
            event_type: env.event_type,
            out_trade_no: p.out_trade_no,
            out_refund_no: p.out_refund_no,
            refund_id: p.refund_id,
            refund_status: p.refund_status,
            success_time: p.success_time.as_deref().map(rfc3339).transpose()?,
            total: fen(p.amount.total)?,
            refund: fen(p.amount.refund)?,
        })
    }
}
