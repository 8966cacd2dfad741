//! Our local WeChat Pay (§5): checks the merchant's `Authorization`, signs responses, and
//! builds signed, encrypted payment notifications, all in public-key mode (`PUB_KEY_ID_…`).

use super::{
    ApiV3Key, Headers, PrivateKey, PublicKey, SIGNATURE_TYPE, Stamp, TradeStatus, check_fresh, random_alphanumeric, request_message,
};
use crate::GatewayError;
use crate::domain::Fen;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::time::beijing;
use serde::Deserialize;
use serde_json::json;
use std::fmt;

/// Sandbox configuration: the one merchant it serves and its own "WeChat Pay" key.
#[derive(Clone, Deserialize)]
pub struct SandboxSettings {
    pub mchid: String,
    pub appid: String,
    /// The merchant API certificate serial the merchant signs with.
    pub merchant_serial_no: String,
    /// The merchant's public key (SPKI PEM).
    pub merchant_public_key_pem: String,
    /// Our public-key id, e.g. `PUB_KEY_ID_0114232134912410000000000000`.
    pub key_id: String,
    /// Our signing key (PKCS#8 or PKCS#1 PEM).
    pub private_key_pem: String,
    pub api_v3_key: String,
}

impl fmt::Debug for SandboxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SandboxSettings {{ mchid: {:?}, key_id: {:?}, <keys redacted> }}", self.mchid, self.key_id)
    }
}

#[derive(Debug, Clone)]
pub struct Sandbox {
    mchid: String,
    appid: String,
    merchant_serial_no: String,
    merchant_key: PublicKey,
    key_id: String,
    key: PrivateKey,
    api_v3_key: ApiV3Key,
}

/// The parts of a verified `Authorization` header (§2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizedRequest {
    pub mchid: String,
    pub serial_no: String,
    pub timestamp: i64,
    pub nonce: String,
}

/// A transaction as the sandbox reports it in query answers and notifications (§2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTransaction {
    pub out_trade_no: String,
    /// Assigned once paid.
    pub transaction_id: Option<String>,
    /// `NATIVE`, `MWEB` (H5), `JSAPI`.
    pub trade_type: String,
    pub trade_state: TradeStatus,
    pub total: Fen,
    pub success_time: Option<DateTime<Utc>>,
}

/// A notification ready to POST to the merchant's `notify_url` (§2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedNotification {
    pub headers: Headers,
    pub body: String,
}

impl Sandbox {
    pub fn new(s: &SandboxSettings) -> Result<Self, GatewayError> {
        Ok(Self {
            mchid: s.mchid.clone(),
            appid: s.appid.clone(),
            merchant_serial_no: s.merchant_serial_no.clone(),
            merchant_key: PublicKey::from_pem(&s.merchant_public_key_pem)?,
            key_id: s.key_id.clone(),
            key: PrivateKey::from_pem(&s.private_key_pem)?,
            api_v3_key: ApiV3Key::new(&s.api_v3_key)?,
        })
    }

    /// Checks `Authorization` on a merchant request: scheme, mchid, serial, 5-minute
    /// timestamp and the signature over `METHOD\nURL\nts\nnonce\nbody\n` (§2.2, §5). Errors
    /// map to 401 `SIGN_ERROR`.
    pub fn verify_authorization(
        &self,
        method: &str,
        url: &str,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<AuthorizedRequest, GatewayError> {
        let value = headers.get("Authorization").ok_or_else(|| GatewayError::Signature("missing Authorization".into()))?;
        let params = value
            .strip_prefix(SIGNATURE_TYPE)
            .and_then(|rest| rest.strip_prefix(' '))
            .ok_or_else(|| GatewayError::Signature(format!("Authorization scheme is not {SIGNATURE_TYPE}")))?;
        let mut fields: Vec<(&str, &str)> = Vec::new();
        for part in params.split(',') {
            let (k, v) = part.trim().split_once('=').ok_or_else(|| bad_auth("a parameter lacks ="))?;
            let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).ok_or_else(|| bad_auth("unquoted value"))?;
            if fields.iter().any(|(known, _)| *known == k) {
                return Err(bad_auth("repeated parameter"));
            }
            fields.push((k, v));
        }
        let field =
            |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v).ok_or_else(|| bad_auth(&format!("missing {name}")));
        let (mchid, serial_no, nonce) = (field("mchid")?, field("serial_no")?, field("nonce_str")?);
        if mchid != self.mchid {
            return Err(GatewayError::Signature(format!("unknown mchid {mchid}")));
        }
        if serial_no != self.merchant_serial_no {
            return Err(GatewayError::Signature(format!("unknown merchant serial_no {serial_no}")));
        }
        let raw_timestamp = field("timestamp")?;
        let timestamp = check_fresh(raw_timestamp, now)?;
        self.merchant_key.verify(&request_message(method, url, raw_timestamp, nonce, body), field("signature")?)?;
        Ok(AuthorizedRequest { mchid: mchid.into(), serial_no: serial_no.into(), timestamp, nonce: nonce.into() })
    }

    /// Checks the parameters a page gave `getBrandWCPayRequest` (JSAPI): our `appId`, `RSA`,
    /// and `paySign` by the merchant's key over `appId\ntimeStamp\nnonceStr\npackage\n`.
    /// Returns the `prepay_id` they pay.
    pub fn verify_pay_params(&self, p: &super::JsapiParams) -> Result<String, GatewayError> {
        if p.app_id != self.appid || p.sign_type != "RSA" {
            return Err(GatewayError::Signature("appId or signType is not ours".into()));
        }
        self.merchant_key.verify(p.message().as_bytes(), &p.pay_sign)?;
        p.prepay_id().map(str::to_owned).ok_or_else(|| GatewayError::Malformed("package is not prepay_id=…".into()))
    }

    /// The signature headers of a response (also for 204 and error answers, §5).
    pub fn sign_response(&self, body: &[u8], stamp: &Stamp, request_id: &str) -> Result<Headers, GatewayError> {
        let mut h = self.signature_headers(body, stamp)?;
        h.insert("Request-ID", request_id);
        Ok(h)
    }

    fn signature_headers(&self, body: &[u8], stamp: &Stamp) -> Result<Headers, GatewayError> {
        let mut message = format!("{}\n{}\n", stamp.timestamp, stamp.nonce).into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        let mut h = Headers::new();
        h.insert("Wechatpay-Timestamp", stamp.timestamp.to_string());
        h.insert("Wechatpay-Nonce", stamp.nonce.clone());
        h.insert("Wechatpay-Serial", self.key_id.clone());
        h.insert("Wechatpay-Signature-Type", SIGNATURE_TYPE);
        h.insert("Wechatpay-Signature", self.key.sign(&message)?);
        Ok(h)
    }

    /// The `Transaction` JSON of a query answer or notification plaintext (§2.5, §2.6a).
    pub fn transaction_body(&self, tx: &SandboxTransaction) -> String {
        let total = tx.total.get();
        let mut v = json!({
            "mchid": self.mchid, "appid": self.appid, "out_trade_no": tx.out_trade_no,
            "trade_type": tx.trade_type, "trade_state": tx.trade_state,
            "amount": { "total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY" },
        });
        if let Some(id) = &tx.transaction_id {
            v["transaction_id"] = id.as_str().into();
        }
        if let Some(t) = tx.success_time {
            v["success_time"] = beijing_rfc3339(t).into();
        }
        v.to_string()
    }

    /// A `TRANSACTION.SUCCESS` notification for a paid transaction: resource encrypted with
    /// the APIv3 key (random 12-byte nonce, AAD `transaction`), body signed at `now` (§2.6, §5).
    pub fn payment_notification(&self, tx: &SandboxTransaction, id: &str, now: DateTime<Utc>) -> Result<SignedNotification, GatewayError> {
        if tx.trade_state != TradeStatus::Success || tx.transaction_id.is_none() || tx.success_time.is_none() {
            return Err(GatewayError::Malformed("only paid transactions are notified".into()));
        }
        let nonce = random_alphanumeric(12);
        let ciphertext = self.api_v3_key.seal(&nonce, "transaction", self.transaction_body(tx).as_bytes())?;
        let body = json!({
            "id": id, "create_time": beijing_rfc3339(now), "resource_type": "encrypt-resource",
            "event_type": "TRANSACTION.SUCCESS", "summary": "支付成功",
            "resource": {
                "original_type": "transaction", "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext,
                "associated_data": "transaction", "nonce": nonce,
            },
        })
        .to_string();
        let mut headers = self.signature_headers(body.as_bytes(), &Stamp::fresh(now))?;
        headers.insert("Content-Type", "application/json");
        Ok(SignedNotification { headers, body })
    }
}

fn bad_auth(what: &str) -> GatewayError {
    GatewayError::Signature(format!("Authorization: {what}"))
}

fn beijing_rfc3339(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// The sandbox's refunds (§2.5, §2.6).
mod refund;
pub use refund::SandboxRefund;
