//! Payment gateways (the `gateways` crate; `shared` re-exports it as `shared::gateway`): one
//! module each. Wire types (the gateway's field names and formats) stay
//! inside the module; what leaves it is domain language (`Fen`, our out-trade-no, states).
//!
//! Each module is pure protocol code — canonical strings, signing, verification, parsing — so
//! the same code serves the platform (signing requests, verifying responses and notifications)
//! and the local sandbox gateways (verifying requests, signing responses and notifications).

// The domain under the name the modules use (`crate::domain::…`).
use ::domain;

pub mod alipay;
pub mod form;
pub mod net;
pub mod notice;
pub mod rsa_keys;
pub mod rsa_verify;
pub mod statement;
pub mod unionpay;
pub mod wechat;

/// A gateway's rejection or a protocol failure, in words safe to log (no keys, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("signature missing or invalid: {0}")]
    Signature(String),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("gateway refused: {code} {message}")]
    Refused { code: String, message: String },
    #[error("key material invalid: {0}")]
    Key(String),
}

use crate::domain::{Channel, Fen, OutTradeNo};

/// A payment attempt as every gateway's protocol module takes it (Alipay §1.5, WeChat Pay
/// §2.4): our out-trade-no, the amount, what is paid for (Alipay `subject`, WeChat Pay
/// `description`; each gateway checks its own length rules) and the last moment it may be paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest<'a> {
    pub out_trade_no: &'a OutTradeNo,
    pub amount: Fen,
    pub subject: &'a str,
    pub time_expire: DateTime<Utc>,
}

/// A gateway's verified notification **not yet matched with our attempt** (`N`: its
/// `Notification`): look the attempt up by what it names, then `check` it against the attempt
/// (gateways.md §4.3) — the only way to an `N`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "check the notification against the payment attempt before trusting it"]
pub struct Unchecked<N>(pub(crate) N);

/// Why a notification does not belong to the attempt it names: alert, do not credit (§4.3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// Another merchant order id (Alipay and WeChat Pay `out_trade_no`, UnionPay `orderId`).
    #[error("notification is for {got}, expected {expected}")]
    Trade { expected: String, got: String },
    #[error("notification amount {got} differs from the attempt's {expected}")]
    Amount { expected: Fen, got: Fen },
}

impl Mismatch {
    /// The one comparison every gateway's notification goes through: the trade it names and
    /// its amount (integer fen, so `5000` and `5000.00` are equal) against our attempt's.
    pub fn check(expected: &str, got: &str, expected_amount: Fen, got_amount: Fen) -> Result<(), Mismatch> {
        if got != expected {
            return Err(Mismatch::Trade { expected: expected.to_owned(), got: got.to_owned() });
        }
        if got_amount != expected_amount {
            return Err(Mismatch::Amount { expected: expected_amount, got: got_amount });
        }
        Ok(())
    }
}
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Where the student is paying from: a QR code on a PC, H5 on a phone, JSAPI inside WeChat's
/// own browser (WeChat Pay; the other channels treat it as a phone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    Pc,
    Phone,
    Wechat,
}

impl Device {
    pub const ALL: [Device; 3] = [Device::Pc, Device::Phone, Device::Wechat];
    pub fn as_str(self) -> &'static str {
        match self {
            Device::Pc => "pc",
            Device::Phone => "phone",
            Device::Wechat => "wechat",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

/// What a gateway needs to start one attempt.
#[derive(Debug, Clone)]
pub struct StartRequest {
    pub out_trade_no: OutTradeNo,
    pub amount: Fen,
    pub subject: String,
    /// Already shortened below the order's own expiry.
    pub expires_at: DateTime<Utc>,
    pub device: Device,
    /// The payer's address, when known (WeChat Pay H5 must send it).
    pub client_ip: Option<std::net::IpAddr>,
    /// The payer's id at the gateway, when the device needs one (WeChat Pay JSAPI: the openid
    /// of our official account's user).
    pub payer: Option<String>,
    pub now: DateTime<Utc>,
}

/// What the browser does next.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum PaymentAction {
    /// Show this content as a QR code to scan with the channel's app.
    Qr { content: String },
    /// Send the browser here (H5 cashier).
    Redirect { url: String },
    /// Auto-submit this form (UnionPay front consume).
    Form { action: String, fields: Vec<(String, String)> },
    /// Inside WeChat: `WeixinJSBridge.invoke('getBrandWCPayRequest', params, …)`.
    Jsapi { params: wechat::JsapiParams },
}

/// A trade as the gateway reports it when asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    /// The gateway does not know it (yet: an Alipay QR not scanned).
    NotFound,
    /// Created at the gateway, not paid.
    Pending,
    Paid {
        gateway_trade_no: String,
        amount: Fen,
        paid_at: DateTime<Utc>,
    },
    Closed,
    Refunded,
}

/// A gateway call that did not give an answer we can act on.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("gateway unreachable: {0}")]
    Transport(String),
    #[error(transparent)]
    Gateway(#[from] GatewayError),
}

/// The attempt a query or close is about, as the gateways need to name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRef {
    pub out_trade_no: OutTradeNo,
    /// The `now` of the attempt's start request (UnionPay names a trade by orderId + txnTime).
    pub started_at: DateTime<Utc>,
    /// The expiry the gateway was given: no payment after it.
    pub pay_by: DateTime<Utc>,
}

impl From<&crate::domain::Attempt> for TradeRef {
    fn from(a: &crate::domain::Attempt) -> Self {
        Self { out_trade_no: a.out_trade_no.clone(), started_at: a.created_at, pay_by: a.pay_by }
    }
}

/// What closing a trade at its gateway achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// It can no longer be paid (closed now, never seen, already paid, or past its expiry): a
    /// query now tells the final state.
    Closed,
    /// The gateway cannot close it (UnionPay has no close for a consume): it stays payable
    /// until this moment, and only a query after it is final.
    PayableUntil(DateTime<Utc>),
}

/// One payment channel's gateway, as the use cases see it.
#[async_trait]
pub trait PaymentGateway: Send + Sync {
    fn channel(&self) -> Channel;
    /// The longest an attempt may stay payable at this gateway (`None`: as long as the order).
    /// Gateways without a close API keep it short, so a student can switch channel soon.
    fn max_pay_window(&self) -> Option<chrono::Duration> {
        None
    }
    /// Whether starting on `device` needs the payer's own IP address (refused without one).
    fn needs_client_ip(&self, _device: Device) -> bool {
        false
    }
    /// Whether starting on `device` needs the payer named by the gateway first
    /// ([`StartRequest::payer`]; WeChat Pay JSAPI: the openid).
    fn needs_payer(&self, _device: Device) -> bool {
        false
    }
    /// Where to send the browser so the gateway names the payer (WeChat: OAuth); it comes back
    /// to `redirect_uri` with a `code` and our `state`.
    fn payer_authorize_url(&self, _redirect_uri: &str, _state: &str) -> Result<String, GatewayError> {
        Err(GatewayError::Refused { code: "UNSUPPORTED".into(), message: "this gateway names no payer".into() })
    }
    /// The payer id for the `code` an authorization came back with.
    async fn payer_from_code(&self, _code: &str) -> Result<String, CallError> {
        Err(GatewayError::Refused { code: "UNSUPPORTED".into(), message: "this gateway names no payer".into() }.into())
    }
    async fn start(&self, req: &StartRequest) -> Result<PaymentAction, CallError>;
    async fn query(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<TradeState, CallError>;
    /// Makes an unpaid trade unpayable, where the gateway can. A trade the gateway never saw
    /// counts as closed.
    async fn close(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<Closing, CallError>;
    /// Asks for a full refund of a paid trade. `Err` means the outcome is unknown: query it
    /// ([`Self::query_refund`]), never send a new refund number.
    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError>;
    /// Where a refund asked for before stands.
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError>;
    /// Verifies a notification posted to this channel's notify URL — signature, and what else
    /// the gateway secures it with — and says what it is about. `now` bounds timestamp windows.
    fn verify_notification(&self, headers: &::http::HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<notice::Notice, GatewayError>;
    /// Our HTTP answer to one of its notifications, in its terms.
    fn answer(&self, verdict: notice::Verdict) -> notice::Answer;
    /// The attempt named by the form a cashier posts the browser back with (UnionPay's
    /// `frontUrl`), if this gateway posts one: a hint for where to send the browser, never
    /// trusted for anything else.
    fn returning_attempt(&self, form: &[u8]) -> Option<OutTradeNo> {
        let _ = form;
        None
    }
    /// The gateway's statement of the payments of Beijing day `day` (reconciliation). A day
    /// without a bill is an empty statement, not an error.
    async fn statement(&self, day: chrono::NaiveDate, now: DateTime<Utc>) -> Result<statement::Statement, CallError> {
        let _ = (day, now);
        Err(GatewayError::Refused { code: "UNSUPPORTED".into(), message: "no statements from this gateway".into() }.into())
    }
}

/// A full refund of one paid attempt, as the gateways need to name it (see `refund.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub out_trade_no: OutTradeNo,
    /// Alipay `out_request_no`, WeChat Pay `out_refund_no`, UnionPay refund `orderId`: the same
    /// on every retry.
    pub refund_no: String,
    /// The payment's gateway trade number (UnionPay `origQryId`).
    pub gateway_trade_no: String,
    pub amount: Fen,
    pub reason: Option<String>,
    /// Every send of the refund, oldest first (never empty); the last is the current one. Each
    /// is a UnionPay `txnTime` of its own: a send carries the current time, and a query asks
    /// about every (orderId, txnTime).
    pub sent_at: Vec<DateTime<Utc>>,
}

impl RefundRequest {
    /// The current send's time.
    pub fn last_sent_at(&self) -> DateTime<Utc> {
        *self.sent_at.last().expect("a refund request has been sent at least once")
    }
}

/// What a gateway says about a refund: domain language ([`crate::domain::RefundOutcome`]).
pub use crate::domain::RefundOutcome;

/// One gateway this build can take payments with: its channel, the configuration setting that
/// holds its settings JSON, and how it is built from them.
pub struct Registration {
    pub channel: Channel,
    /// The plain variable holding the settings JSON (locally); in the cloud the secret named by
    /// `<setting>_SECRET_ARN` holds it (see `shared::config`).
    pub setting: &'static str,
    pub setting_arn: &'static str,
    /// Parses the settings JSON and builds the gateway; `Err` in words safe to log.
    pub build: fn(&str, &Wiring) -> Result<Gateway, GatewayError>,
}

/// A configured gateway, shared by every request of the process.
pub type Gateway = std::sync::Arc<dyn PaymentGateway>;

/// What every gateway is built with besides its own settings.
#[derive(Clone)]
pub struct Wiring {
    /// The one HTTP client (`net::http_client`).
    pub http: reqwest::Client,
    /// Our order page, where a cashier sends the browser back (Alipay's wap `quit_url`, WeChat
    /// Pay's H5 `redirect_url`); `None`: the gateway's own default.
    pub order_page: Option<String>,
}

/// Every gateway, one line each: the one place a gateway is registered
/// (docs/architecture.md, "Adding a gateway").
pub const REGISTRY: &[Registration] = &[
    Registration {
        channel: Channel::Alipay,
        setting: "ALIPAY_MERCHANT",
        setting_arn: "ALIPAY_MERCHANT_SECRET_ARN",
        build: alipay::client::configure,
    },
    Registration {
        channel: Channel::Wechat,
        setting: "WECHAT_MERCHANT",
        setting_arn: "WECHAT_MERCHANT_SECRET_ARN",
        build: wechat::client::configure,
    },
    Registration {
        channel: Channel::Unionpay,
        setting: "UNIONPAY_MERCHANT",
        setting_arn: "UNIONPAY_MERCHANT_SECRET_ARN",
        build: unionpay::client::configure,
    },
];

/// Parses a gateway's settings JSON. The error names a missing or unknown field, or only where
/// the JSON went wrong: serde's other messages quote the value, which may be a key.
pub fn settings_json<T: serde::de::DeserializeOwned>(json: &str) -> Result<T, GatewayError> {
    serde_json::from_str(json).map_err(|e| {
        let text = e.to_string();
        if text.starts_with("missing field") || text.starts_with("unknown field") {
            GatewayError::Key(format!("settings JSON: {text}"))
        } else {
            GatewayError::Key(format!("settings are not the expected JSON (line {}, column {})", e.line(), e.column()))
        }
    })
}

/// The registry: the configured gateways by channel, built once per cold start from the
/// configuration ([`Payments::configure`]). A channel without configuration is simply not offered.
#[derive(Clone, Default)]
pub struct Payments(std::collections::HashMap<Channel, std::sync::Arc<dyn PaymentGateway>>);

impl Payments {
    pub fn with(mut self, gateway: std::sync::Arc<dyn PaymentGateway>) -> Self {
        self.0.insert(gateway.channel(), gateway);
        self
    }
    pub fn get(&self, channel: Channel) -> Option<&std::sync::Arc<dyn PaymentGateway>> {
        self.0.get(&channel)
    }
    /// Configured channels, in the order students see them.
    pub fn channels(&self) -> Vec<Channel> {
        Channel::ALL.into_iter().filter(|c| self.0.contains_key(c)).collect()
    }

    /// Builds every registered gateway whose settings `settings` gives ([`REGISTRY`]); a
    /// gateway without settings is not offered. `Err` names the setting that is wrong.
    pub fn configure(settings: impl Fn(&Registration) -> Option<String>, wiring: &Wiring) -> Result<Self, (&'static str, GatewayError)> {
        let mut p = Payments::default();
        for r in REGISTRY {
            if let Some(json) = settings(r) {
                p = p.with((r.build)(&json, wiring).map_err(|e| (r.setting, e))?);
            }
        }
        Ok(p)
    }
}

/// The QR code for `content` as an SVG image (for the PC cashier).
pub fn qr_svg(content: &str) -> Option<String> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build())
}
