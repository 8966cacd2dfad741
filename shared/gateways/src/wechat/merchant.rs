//! Platform side: request signing and builders (§2.2, §2.4, §2.5), response verification and
//! parsing (§2.3, §2.5), payment notifications (§2.6).

use super::{ApiV3Key, Headers, PrivateKey, SIGNATURE_TYPE, Stamp, TradeStatus, WechatPayKeys, request_message};
pub use crate::Mismatch;
use crate::domain::{Fen, OutTradeNo};
use crate::{GatewayError, TradeState};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::time::beijing;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::IpAddr;

/// Merchant configuration as it comes from settings (environment, parameter store).
#[derive(Clone, Deserialize)]
pub struct MerchantSettings {
    pub mchid: String,
    pub appid: String,
    /// Serial of the merchant API certificate (`serial_no` in `Authorization`, §2.1).
    pub serial_no: String,
    /// Merchant API private key, PKCS#8 (`apiclient_key.pem`) or PKCS#1 PEM.
    pub private_key_pem: String,
    /// The 32-byte APIv3 key.
    pub api_v3_key: String,
    /// Publicly reachable URL without query string (§2.4).
    pub notify_url: String,
    /// WeChat Pay public keys; the first is named in requests' `Wechatpay-Serial`.
    pub wechatpay_public_keys: Vec<PublicKeySetting>,
    /// Paying inside WeChat (JSAPI): the official account (`appid`) whose OAuth gives the
    /// payer's openid. Unset: inside WeChat the student scans a QR code instead.
    #[serde(default)]
    pub jsapi: Option<JsapiSettings>,
}

impl fmt::Debug for MerchantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerchantSettings {{ mchid: {:?}, appid: {:?}, <keys redacted> }}", self.mchid, self.appid)
    }
}

/// One WeChat Pay public key: its id (`PUB_KEY_ID_…` or certificate serial) and SPKI PEM.
#[derive(Debug, Clone, Deserialize)]
pub struct PublicKeySetting {
    pub id: String,
    pub pem: String,
}

/// The platform's WeChat Pay merchant: keys and identity, validated once.
#[derive(Debug, Clone)]
pub struct Merchant {
    mchid: String,
    appid: String,
    serial_no: String,
    key: PrivateKey,
    api_v3_key: ApiV3Key,
    notify_url: String,
    keys: WechatPayKeys,
    jsapi: Option<jsapi::Jsapi>,
}

/// A create-order request (§2.4): its `subject` is WeChat Pay's `description`, shown in the
/// payer's bill (1–127 characters); `time_expire` is sent as RFC 3339 in Beijing time (§2.7.5).
pub use crate::OrderRequest;

/// A signed request for the API host (§2.1); `path` includes the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: &'static str,
    pub path: String,
    pub body: String,
    pub headers: Headers,
}

/// A verified, decrypted payment notification **not yet matched with our attempt**: look the
/// attempt up by [`Self::out_trade_no`], then [`Self::check`] it (§2.6 step 5, §4.3).
pub type UncheckedNotification = crate::Unchecked<Notification>;

/// A payment notification whose mchid, appid, out-trade-no and amount match ours (§2.6, §4.3).
/// Only [`UncheckedNotification::check`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::manual_non_exhaustive, reason = "the private field also bars construction elsewhere in this crate")]
pub struct Notification {
    pub id: String,
    pub create_time: DateTime<Utc>,
    pub event_type: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub trade_state: TradeStatus,
    pub total: Fen,
    pub payer_total: Option<Fen>,
    pub success_time: Option<DateTime<Utc>>,
    _checked: (),
}

/// Our HTTP answer to a notification (§2.6 step 6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyAnswer {
    pub status: u16,
    pub body: String,
}

impl NotifyAnswer {
    /// 204, no body: received and durably stored (§4.2).
    pub fn ack() -> Self {
        Self { status: 204, body: String::new() }
    }
    /// 500 with `{"code":"FAIL","message":…}`: WeChat Pay will retry.
    pub fn fail(message: &str) -> Self {
        Self { status: 500, body: super::error_body("FAIL", message) }
    }
    /// Whether a merchant's answer counts as an acknowledgement (sandbox side).
    pub fn is_ack(status: u16) -> bool {
        status == 200 || status == 204
    }
}

impl UncheckedNotification {
    pub fn id(&self) -> &str {
        &self.0.id
    }
    /// Which of our attempts the notification names.
    pub fn out_trade_no(&self) -> &str {
        &self.0.out_trade_no
    }
    /// Matches the notification with our attempt's out-trade-no and amount (integer fen).
    pub fn check(self, out_trade_no: &OutTradeNo, total: Fen) -> Result<Notification, Mismatch> {
        Mismatch::check(out_trade_no.as_str(), &self.0.out_trade_no, total, self.0.total)?;
        Ok(self.0)
    }
}

impl Notification {
    /// `trade_state == SUCCESS`: the attempt is paid.
    pub fn is_paid(&self) -> bool {
        self.trade_state == TradeStatus::Success
    }
}

/// Create-order body; field order as in gateways.md §7.2 D4.
#[derive(Serialize)]
struct OrderBody<'a> {
    appid: &'a str,
    mchid: &'a str,
    description: &'a str,
    out_trade_no: &'a str,
    time_expire: String,
    notify_url: &'a str,
    amount: OrderAmount,
    #[serde(skip_serializing_if = "Option::is_none")]
    scene_info: Option<SceneInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payer: Option<Payer<'a>>,
}

/// JSAPI's payer: the openid of `appid`'s user.
#[derive(Serialize)]
struct Payer<'a> {
    openid: &'a str,
}

#[derive(Serialize)]
struct OrderAmount {
    total: i64,
    currency: &'static str,
}

#[derive(Serialize)]
struct SceneInfo {
    payer_client_ip: String,
    h5_info: H5Info,
}

#[derive(Serialize)]
struct H5Info {
    #[serde(rename = "type")]
    kind: &'static str,
}

/// The `Transaction` object of query answers and notification plaintexts (§2.5, §2.6a).
#[derive(Deserialize)]
struct Transaction {
    mchid: String,
    appid: String,
    out_trade_no: String,
    transaction_id: Option<String>,
    trade_state: TradeStatus,
    success_time: Option<String>,
    amount: Option<Amount>,
}

#[derive(Deserialize)]
struct Amount {
    total: i64,
    payer_total: Option<i64>,
    currency: Option<String>,
}

/// The notification body (§2.6).
#[derive(Deserialize)]
struct Envelope {
    id: String,
    create_time: String,
    event_type: String,
    resource: Resource,
}

#[derive(Deserialize)]
struct Resource {
    original_type: String,
    algorithm: String,
    ciphertext: String,
    #[serde(default)]
    associated_data: String,
    nonce: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    #[serde(default)]
    message: String,
}

/// What a create-order answer carries: `code_url` (Native) or `h5_url` (H5).
#[derive(Deserialize)]
struct Created {
    code_url: Option<String>,
    h5_url: Option<String>,
}

impl Merchant {
    pub fn new(s: &MerchantSettings) -> Result<Self, GatewayError> {
        let ident = |what: &str, v: &str, max: usize| {
            let ok = (1..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric());
            ok.then(|| v.to_owned()).ok_or_else(|| GatewayError::Key(format!("{what} must be 1-{max} letters/digits")))
        };
        let url = &s.notify_url;
        if !url.starts_with("https://") && !url.starts_with("http://") || url.contains(['?', '#']) || url.len() > 255 {
            return Err(GatewayError::Key("notify_url must be an http(s) URL without query, at most 255".into()));
        }
        Ok(Self {
            mchid: ident("mchid", &s.mchid, 32)?,
            appid: ident("appid", &s.appid, 32)?,
            serial_no: ident("merchant serial_no", &s.serial_no, 64)?, // 40 hex digits in practice
            key: PrivateKey::from_pem(&s.private_key_pem)?,
            api_v3_key: ApiV3Key::new(&s.api_v3_key)?,
            notify_url: s.notify_url.clone(),
            keys: WechatPayKeys::new(s.wechatpay_public_keys.iter().map(|k| (k.id.as_str(), k.pem.as_str())))?,
            jsapi: s.jsapi.as_ref().map(jsapi::Jsapi::new).transpose()?,
        })
    }

    pub fn mchid(&self) -> &str {
        &self.mchid
    }
    pub fn appid(&self) -> &str {
        &self.appid
    }

    /// The `Authorization` header value (§2.2): SHA256withRSA over `METHOD\nURL\nts\nnonce\nbody\n`,
    /// URL being the path plus `?query`, body empty for GET.
    pub fn authorization(&self, method: &str, url: &str, timestamp: i64, nonce: &str, body: &str) -> Result<String, GatewayError> {
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(GatewayError::Malformed("HTTP method must be upper case".into()));
        }
        if !url.starts_with('/') || url.contains(char::is_whitespace) {
            return Err(GatewayError::Malformed("URL must be a path (and query) starting with /".into()));
        }
        if nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GatewayError::Malformed("nonce must be letters/digits".into()));
        }
        let signature = self.key.sign(&request_message(method, url, timestamp, nonce, body.as_bytes()))?;
        let (mchid, serial_no) = (&self.mchid, &self.serial_no);
        Ok(format!(
            r#"{SIGNATURE_TYPE} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",timestamp="{timestamp}",serial_no="{serial_no}""#
        ))
    }

    pub(super) fn signed(&self, method: &'static str, path: String, body: String, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let mut headers = Headers::new();
        headers.insert("Authorization", self.authorization(method, &path, stamp.timestamp, &stamp.nonce, &body)?);
        headers.insert("Accept", "application/json");
        if !body.is_empty() {
            headers.insert("Content-Type", "application/json");
        }
        headers.insert("User-Agent", "campus-pay");
        headers.insert("Wechatpay-Serial", self.keys.preferred_id());
        Ok(SignedRequest { method, path, body, headers })
    }

    fn order_body(&self, o: &OrderRequest<'_>, scene_info: Option<SceneInfo>, payer: Option<&str>) -> Result<String, GatewayError> {
        if o.amount.get() <= 0 {
            return Err(GatewayError::Malformed("amount must be at least 1 fen".into()));
        }
        if o.subject.is_empty() || o.subject.chars().count() > 127 {
            return Err(GatewayError::Malformed("description must be 1-127 characters".into()));
        }
        let body = OrderBody {
            appid: &self.appid,
            mchid: &self.mchid,
            description: o.subject,
            out_trade_no: o.out_trade_no.as_str(),
            time_expire: o.time_expire.with_timezone(&beijing()).to_rfc3339_opts(SecondsFormat::Secs, false),
            notify_url: &self.notify_url,
            amount: OrderAmount { total: o.amount.get(), currency: "CNY" },
            scene_info,
            payer: payer.map(|openid| Payer { openid }),
        };
        serde_json::to_string(&body).map_err(|e| GatewayError::Malformed(e.to_string()))
    }

    /// `POST /v3/pay/transactions/native`; the answer carries `code_url` (§2.4).
    pub fn native_order(&self, order: &OrderRequest<'_>, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let body = self.order_body(order, None, None)?;
        self.signed("POST", "/v3/pay/transactions/native".into(), body, stamp)
    }

    /// `POST /v3/pay/transactions/h5` with the payer's IP and `h5_info.type=Wap`; the answer
    /// carries `h5_url`, valid 5 minutes (§2.4, §2.7.6).
    pub fn h5_order(&self, order: &OrderRequest<'_>, client_ip: IpAddr, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let scene = SceneInfo { payer_client_ip: client_ip.to_string(), h5_info: H5Info { kind: "Wap" } };
        let body = self.order_body(order, Some(scene), None)?;
        self.signed("POST", "/v3/pay/transactions/h5".into(), body, stamp)
    }

    /// `GET /v3/pay/transactions/out-trade-no/{no}?mchid=…` (§2.5).
    pub fn query_order(&self, out_trade_no: &OutTradeNo, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={}", self.mchid);
        self.signed("GET", path, String::new(), stamp)
    }

    /// `POST …/out-trade-no/{no}/close` with `{"mchid":…}`, answered 204 (§2.5). A 204 is no
    /// proof of non-payment: query afterwards (§2.7.4).
    pub fn close_order(&self, out_trade_no: &OutTradeNo, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        let path = format!("/v3/pay/transactions/out-trade-no/{out_trade_no}/close");
        self.signed("POST", path, serde_json::json!({ "mchid": self.mchid }).to_string(), stamp)
    }

    /// Verifies a response or notification signature (§2.3); see [`WechatPayKeys::verify`].
    pub fn verify(&self, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<(), GatewayError> {
        self.keys.verify(headers, body, now)
    }

    /// A verified 2xx answer. Other statuses become `Refused` without a signature check:
    /// WeChat Pay does not sign answers to requests it could not authenticate (401), and a
    /// refusal changes no state — the caller resolves by query (§4.4).
    pub(super) fn answer(&self, status: u16, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<(), GatewayError> {
        if !(200..300).contains(&status) {
            return Err(refusal(status, body));
        }
        self.verify(headers, body, now)
    }

    /// The `code_url` (Native, render as a QR code) or `h5_url` (H5) of a create-order answer.
    pub fn parse_order_response(&self, status: u16, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<String, GatewayError> {
        self.answer(status, headers, body, now)?;
        let created: Created = json(body)?;
        created.code_url.or(created.h5_url).ok_or_else(|| missing("code_url/h5_url"))
    }

    /// What a close answer means (§2.5): a signed 204 closed the order (the signed body line is
    /// empty, §2.3); `ORDER_CLOSED`, `ORDER_NOT_EXIST` and `ORDERPAID` leave nothing to close
    /// (the caller's query decides what the attempt is). Anything else is an error and the
    /// attempt stays open: 202 `USER_PAYING` (the payer is entering a password), 429, 401, 5xx
    /// `SYSTEM_ERROR` — WeChat would still let the student pay, so treating them as closed
    /// would let a second channel charge them again.
    pub fn parse_close_response(
        &self,
        status: u16,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<CloseAnswer, GatewayError> {
        if status == 204 {
            self.verify(headers, body, now)?;
            return Ok(CloseAnswer::Closed);
        }
        match refusal(status, body) {
            GatewayError::Refused { code, .. } if NOTHING_TO_CLOSE.contains(&code.as_str()) => Ok(CloseAnswer::NothingToClose(code)),
            e => Err(e),
        }
    }

    /// A query answer for `out_trade_no` (§2.5) in the gateway-neutral [`TradeState`]:
    /// `NOTPAY`/`USERPAYING` → `Pending`; `CLOSED`/`REVOKED` → `Closed`; `REFUND` → `Refunded`;
    /// `PAYERROR` (付款码 only, not expected for Native/H5) → `Pending`, so the caller closes and
    /// queries again rather than settling the attempt. A 404 `ORDER_NOT_EXIST` must be signed
    /// too, as it leads to a decision. Compare `Paid.amount` with the attempt (§4.3).
    pub fn parse_query_response(
        &self,
        out_trade_no: &OutTradeNo,
        status: u16,
        headers: &Headers,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<TradeState, GatewayError> {
        if status == 404 {
            self.verify(headers, body, now)?;
            return match serde_json::from_slice::<ErrorBody>(body) {
                Ok(e) if e.code == "ORDER_NOT_EXIST" => Ok(TradeState::NotFound),
                _ => Err(refusal(status, body)),
            };
        }
        self.answer(status, headers, body, now)?;
        let tx: Transaction = json(body)?;
        self.check_identity(&tx)?;
        if tx.out_trade_no != out_trade_no.as_str() {
            return Err(GatewayError::Malformed("query answer is for another out_trade_no".into()));
        }
        Ok(match tx.trade_state {
            TradeStatus::NotPay | TradeStatus::UserPaying | TradeStatus::PayError => TradeState::Pending,
            TradeStatus::Closed | TradeStatus::Revoked => TradeState::Closed,
            TradeStatus::Refund => TradeState::Refunded,
            TradeStatus::Success => TradeState::Paid {
                amount: paid_total(&tx)?,
                paid_at: rfc3339(tx.success_time.as_deref().ok_or_else(|| missing("success_time"))?)?,
                gateway_trade_no: tx.transaction_id.ok_or_else(|| missing("transaction_id"))?,
            },
        })
    }

    fn check_identity(&self, tx: &Transaction) -> Result<(), GatewayError> {
        if tx.mchid != self.mchid {
            return Err(GatewayError::Malformed(format!("mchid {} is not ours", tx.mchid)));
        }
        if tx.appid != self.appid {
            return Err(GatewayError::Malformed(format!("appid {} is not ours", tx.appid)));
        }
        Ok(())
    }

    /// Verifies (§2.3), decrypts (§2.6 step 3) and parses a payment notification and checks its
    /// mchid and appid; out-trade-no and amount are left to [`UncheckedNotification::check`].
    pub fn parse_notification(&self, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<UncheckedNotification, GatewayError> {
        self.verify(headers, body, now)?;
        let env: Envelope = json(body)?;
        let r = &env.resource;
        if r.algorithm != "AEAD_AES_256_GCM" {
            return Err(GatewayError::Malformed(format!("unsupported algorithm {}", r.algorithm)));
        }
        if r.original_type != "transaction" {
            return Err(GatewayError::Malformed(format!("unsupported resource {}", r.original_type)));
        }
        let tx: Transaction = json(&self.api_v3_key.open(&r.nonce, &r.associated_data, &r.ciphertext)?)?;
        self.check_identity(&tx)?;
        Ok(crate::Unchecked(Notification {
            create_time: rfc3339(&env.create_time)?,
            id: env.id,
            event_type: env.event_type,
            total: paid_total(&tx)?,
            payer_total: tx.amount.as_ref().and_then(|a| a.payer_total).map(fen).transpose()?,
            success_time: tx.success_time.as_deref().map(rfc3339).transpose()?,
            transaction_id: tx.transaction_id.ok_or_else(|| missing("transaction_id"))?,
            trade_state: tx.trade_state,
            out_trade_no: tx.out_trade_no,
            _checked: (),
        }))
    }
}

fn paid_total(tx: &Transaction) -> Result<Fen, GatewayError> {
    let amount = tx.amount.as_ref().ok_or_else(|| missing("amount"))?;
    if amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return Err(GatewayError::Malformed("currency is not CNY".into()));
    }
    fen(amount.total)
}

fn fen(v: i64) -> Result<Fen, GatewayError> {
    (0..=Fen::MAX.get()).contains(&v).then(|| Fen::new(v)).ok_or_else(|| GatewayError::Malformed("amount out of range".into()))
}

fn missing(field: &str) -> GatewayError {
    GatewayError::Malformed(format!("missing {field}"))
}

fn rfc3339(s: &str) -> Result<DateTime<Utc>, GatewayError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| GatewayError::Malformed(format!("time {s:?} is not RFC 3339")))
}

pub(super) fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, GatewayError> {
    serde_json::from_slice(body).map_err(|e| GatewayError::Malformed(format!("JSON: {e}")))
}

/// The close refusals that mean there is nothing left to close (§2.5).
const NOTHING_TO_CLOSE: [&str; 3] = ["ORDER_CLOSED", "ORDER_NOT_EXIST", "ORDERPAID"];

/// A close the gateway answered as [`Merchant::parse_close_response`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseAnswer {
    /// 204: closed now (or already, or never existed: WeChat answers all three with 204).
    Closed,
    /// Refused with one of [`NOTHING_TO_CLOSE`]: the order is closed, unknown or paid.
    NothingToClose(String),
}

/// Non-2xx: `{"code","message"}` when present (§2.3), else the HTTP status.
pub(super) fn refusal(status: u16, body: &[u8]) -> GatewayError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => GatewayError::Refused { code: e.code, message: e.message },
        Err(_) => GatewayError::Refused { code: format!("HTTP_{status}"), message: String::new() },
    }
}

/// Paying inside WeChat: the payer's openid by OAuth, the JSAPI order and the signed
/// parameters of `getBrandWCPayRequest`.
mod jsapi;
pub use jsapi::{JsapiParams, JsapiSettings};

/// Refunds and refund notifications (§2.5, §2.6).
mod refund;
pub use refund::RefundNotification;
