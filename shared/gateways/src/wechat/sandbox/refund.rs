//! The sandbox side of refunds: the `Refund` object of answers and queries, and the signed,
//! encrypted `REFUND.SUCCESS` notification (resource AAD `refund`).

use super::*;

/// A refund as the sandbox reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRefund {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    /// `PROCESSING`, `SUCCESS`, `CLOSED`, `ABNORMAL`.
    pub status: String,
    pub total: Fen,
    pub refund: Fen,
    pub created_at: DateTime<Utc>,
    pub success_time: Option<DateTime<Utc>>,
}

impl Sandbox {
    /// The `Refund` JSON of a refund answer or query (§2.5).
    pub fn refund_body(&self, r: &SandboxRefund) -> String {
        let mut v = json!({
            "refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "transaction_id": r.transaction_id,
            "out_trade_no": r.out_trade_no, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
            "create_time": beijing_rfc3339(r.created_at), "status": r.status, "funds_account": "AVAILABLE",
            "amount": { "total": r.total.get(), "refund": r.refund.get(), "payer_total": r.total.get(),
                        "payer_refund": r.refund.get(), "currency": "CNY" },
        });
        if let Some(t) = r.success_time {
            v["success_time"] = beijing_rfc3339(t).into();
        }
        v.to_string()
    }

    /// A `REFUND.SUCCESS` notification: resource encrypted with the APIv3 key (AAD `refund`),
    /// body signed at `now` (§2.6).
    pub fn refund_notification(&self, r: &SandboxRefund, id: &str, now: DateTime<Utc>) -> Result<SignedNotification, GatewayError> {
        let mut plain = json!({
            "mchid": self.mchid, "out_trade_no": r.out_trade_no, "transaction_id": r.transaction_id,
            "out_refund_no": r.out_refund_no, "refund_id": r.refund_id, "refund_status": r.status,
            "user_received_account": "支付用户零钱",
            "amount": { "total": r.total.get(), "refund": r.refund.get(), "payer_total": r.total.get(), "payer_refund": r.refund.get() },
        });
        if let Some(t) = r.success_time {
            plain["success_time"] = beijing_rfc3339(t).into();
        }
        let nonce = random_alphanumeric(12);
        let ciphertext = self.api_v3_key.seal(&nonce, "refund", plain.to_string().as_bytes())?;
        let body = json!({
            "id": id, "create_time": beijing_rfc3339(now), "resource_type": "encrypt-resource",
            "event_type": format!("REFUND.{}", r.status), "summary": "退款成功",
            "resource": {
                "original_type": "refund", "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                "associated_data": "refund", "nonce": nonce,
            },
        })
        .to_string();
        let mut headers = self.signature_headers(body.as_bytes(), &Stamp::fresh(now))?;
        headers.insert("Content-Type", "application/json");
        Ok(SignedNotification { headers, body })
    }
}
