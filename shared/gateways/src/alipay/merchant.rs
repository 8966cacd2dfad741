//! Platform side: signed requests (§1.2, §1.3, §1.5), verified responses parsed into domain
//! terms (§1.4, §1.6), payment notifications (§1.7).

use super::{
    CODE_SUCCESS, Method, PrivateKey, PublicKey, SIGN_TYPE, TRADE_NOT_EXIST, charset_encoding, format_time, malformed, parse_time,
    rsa2_sign, sign_content, verify_response, verify_v1,
};
pub use crate::Mismatch;
use crate::domain::Fen;
use crate::{GatewayError, form};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The platform's Alipay app as it comes from settings (environment, parameter store).
#[derive(Clone, Deserialize)]
pub struct MerchantSettings {
    /// `https://openapi.alipay.com/gateway.do`, Alipay's sandbox, or our local one; no query.
    pub gateway_url: String,
    pub app_id: String,
    /// Our partner id (`2088…`): notifications naming another seller are refused.
    pub seller_id: String,
    /// App private key: PKCS#1/PKCS#8 PEM or bare Base64 PKCS#8.
    pub app_private_key: String,
    /// Alipay public key: SPKI PEM or the bare Base64 of the console.
    pub alipay_public_key: String,
    pub notify_url: String,
    /// Where the browser lands after a phone payment (a hint only, §1.8).
    pub return_url: String,
    /// Hosts a `bill_download_url` may name (exact, any letter case). Unset: Alipay's own
    /// [`DEFAULT_BILL_HOST`]. The file is unsigned, so it is fetched from nowhere else, and
    /// over https (an `http://` link on a listed host is fetched as `https://`; only a loopback
    /// host — the local sandbox — keeps http).
    #[serde(default)]
    pub bill_hosts: Vec<String>,
}

/// The host of Alipay's bill download links (`http://dwbillcenter.alipay.com/downloadBillFile.resource?…`
/// in Alipay's documented answer of `alipay.data.dataservice.bill.downloadurl.query`).
pub const DEFAULT_BILL_HOST: &str = "dwbillcenter.alipay.com";

impl fmt::Debug for MerchantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantSettings")
            .field("gateway_url", &self.gateway_url)
            .field("app_id", &self.app_id)
            .field("seller_id", &self.seller_id)
            .field("notify_url", &self.notify_url)
            .field("return_url", &self.return_url)
            .finish_non_exhaustive()
    }
}

/// The platform's Alipay app: identity and keys, validated once.
#[derive(Debug, Clone)]
pub struct Merchant {
    gateway_url: String,
    app_id: String,
    seller_id: String,
    key: PrivateKey,
    alipay_key: PublicKey,
    notify_url: String,
    return_url: String,
    bill_hosts: Vec<String>,
}

/// A payment attempt (§1.5): Alipay takes 0.01 – 100,000,000.00 元 and a `subject` of 1–256
/// characters without `/`, `=`, `&`; `time_expire` is sent in Beijing time.
pub use crate::OrderRequest;

/// How to send a [`SignedRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Server to server: POST `body` to `url` with [`super::FORM_CONTENT_TYPE`], then hand the
    /// response text to the matching `parse_*`. As the Java SDK: system parameters (with `sign`)
    /// in the query string, `biz_content` in the body (§1.2).
    Post { url: String, body: String },
    /// Send the payer's browser to `url` (every parameter in the query string, §1.2).
    Redirect { url: String },
}

/// A request with every parameter, `sign` included, and how to send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub method: Method,
    pub params: BTreeMap<String, String>,
    pub delivery: Delivery,
}

/// `trade_status` as Alipay spells it (§1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeStatus {
    WaitBuyerPay,
    TradeSuccess,
    /// Paid and no longer refundable; a year-late repeat of a payment (§1.9.5).
    TradeFinished,
    /// Unpaid and closed, or fully refunded.
    TradeClosed,
}

impl TradeStatus {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "WAIT_BUYER_PAY" => Self::WaitBuyerPay,
            "TRADE_SUCCESS" => Self::TradeSuccess,
            "TRADE_FINISHED" => Self::TradeFinished,
            "TRADE_CLOSED" => Self::TradeClosed,
            _ => return None,
        })
    }
    /// `TRADE_SUCCESS` or `TRADE_FINISHED` (§1.6).
    pub fn is_paid(self) -> bool {
        matches!(self, Self::TradeSuccess | Self::TradeFinished)
    }
}

/// What `alipay.trade.query` says about one attempt (§1.5, §1.6, §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradeState {
    /// `ACQ.TRADE_NOT_EXIST`: normal for a QR code nobody scanned yet — not proof of non-payment.
    NotFound,
    WaitBuyerPay,
    /// `TRADE_SUCCESS` or `TRADE_FINISHED`. Compare `total` with the attempt before crediting.
    Paid {
        trade_no: String,
        total: Fen,
        paid_at: Option<DateTime<Utc>>,
    },
    /// `TRADE_CLOSED`: closed unpaid, or fully refunded.
    Closed,
}

/// What `alipay.trade.close` did (§1.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseOutcome {
    Closed,
    /// `ACQ.TRADE_NOT_EXIST`: never scanned. Keep accepting notifications anyway (§1.9.3).
    NotExist,
    /// `ACQ.TRADE_HAS_SUCCESS` / `ACQ.TRADE_STATUS_ERROR`: the trade is past `WAIT_BUYER_PAY`,
    /// in practice paid (the exact code is unconfirmed, §8.3). Query it for the trade number
    /// and amount; never mark anything paid from this alone.
    NotClosable {
        sub_code: String,
    },
}

/// A verified notification from our app and seller that has **not** yet been matched with our
/// attempt. Look the attempt up by [`Self::out_trade_no`], then [`Self::check`] (§1.7.6).
pub type UncheckedNotification = crate::Unchecked<Notification>;

/// A notification whose app, seller, out-trade-no and amount are ours (§1.7.6, §4.3).
/// Only [`UncheckedNotification::check`] makes one, even inside this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::manual_non_exhaustive)] // `#[non_exhaustive]` would not stop the rest of the crate
pub struct Notification {
    /// Unchanged across retries of one notification.
    pub notify_id: String,
    pub out_trade_no: String,
    pub trade_no: String,
    pub trade_status: TradeStatus,
    pub total_amount: Fen,
    /// `None` when absent (or not in Alipay's time format: the raw text stays in `raw`).
    pub gmt_payment: Option<DateTime<Utc>>,
    /// Every field as received and verified, `sign` included: store it for audit (§4.2).
    pub raw: BTreeMap<String, String>,
    _checked: (),
}

impl UncheckedNotification {
    pub fn notify_id(&self) -> &str {
        &self.0.notify_id
    }
    /// Which of our attempts the notification names.
    pub fn out_trade_no(&self) -> &str {
        &self.0.out_trade_no
    }
    /// The verified fields, to store before checking (§4.2).
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.0.raw
    }
    /// Matches the notification with our attempt's out-trade-no and amount (integer fen, so
    /// `5000` and `5000.00` are equal).
    pub fn check(self, out_trade_no: &str, amount: Fen) -> Result<Notification, Mismatch> {
        Mismatch::check(out_trade_no, &self.0.out_trade_no, amount, self.0.total_amount)?;
        Ok(self.0)
    }
}

impl Notification {
    /// The trade is paid (`TRADE_SUCCESS`/`TRADE_FINISHED`). Repeats, the year-late
    /// `TRADE_FINISHED` and partial-refund notifications all say so too: crediting must be
    /// idempotent (§1.9.5).
    pub fn is_paid(&self) -> bool {
        self.trade_status.is_paid()
    }
    /// A refund notification (`refund_fee`, `gmt_refund` or `out_biz_no` present), not a new
    /// payment (§1.7 triggers).
    pub fn is_refund(&self) -> bool {
        ["refund_fee", "gmt_refund", "out_biz_no"].iter().any(|k| self.raw.get(*k).is_some_and(|v| !v.is_empty()))
    }
}

#[derive(Serialize)]
struct PayBiz<'a> {
    out_trade_no: &'a str,
    total_amount: String,
    subject: &'a str,
    product_code: &'static str,
    time_expire: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    quit_url: Option<&'a str>,
}

#[derive(Serialize)]
struct TradeRef<'a> {
    out_trade_no: &'a str,
}

/// Amount range of `total_amount` (§1.5).
/// How long a precreate QR code is valid at Alipay (two hours): its trade's latest expiry.
pub const PRECREATE_QR_LIFETIME_SECS: i64 = 2 * 3600;

const MIN_AMOUNT: Fen = Fen::new(1);
const MAX_AMOUNT: Fen = Fen::new(10_000_000_000);

impl Merchant {
    pub fn new(s: &MerchantSettings) -> Result<Self, GatewayError> {
        let gateway_url = s.gateway_url.trim();
        if !(gateway_url.starts_with("https://") || gateway_url.starts_with("http://")) {
            return Err(GatewayError::Key("Alipay gateway_url must be an http(s) URL".into()));
        }
        if s.app_id.trim().is_empty() || s.seller_id.trim().is_empty() {
            return Err(GatewayError::Key("Alipay app_id and seller_id are required".into()));
        }
        Ok(Self {
            gateway_url: gateway_url.to_owned(),
            app_id: s.app_id.trim().to_owned(),
            seller_id: s.seller_id.trim().to_owned(),
            key: PrivateKey::parse(&s.app_private_key)?,
            alipay_key: PublicKey::parse(&s.alipay_public_key)?,
            notify_url: s.notify_url.trim().to_owned(),
            return_url: s.return_url.trim().to_owned(),
            bill_hosts: if s.bill_hosts.is_empty() {
                vec![DEFAULT_BILL_HOST.to_owned()]
            } else {
                s.bill_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect()
            },
        })
    }

    /// The bill link as it will be fetched: on a listed host, https (see
    /// [`MerchantSettings::bill_hosts`]), no credentials in it. Anything else is refused.
    pub fn bill_url(&self, link: &str) -> Result<String, GatewayError> {
        let refused = |why: &str| GatewayError::Malformed(format!("bill_download_url {why}"));
        let mut url = reqwest::Url::parse(link.trim()).map_err(|_| refused("is not a URL"))?;
        let host = url.host_str().map(str::to_ascii_lowercase).ok_or_else(|| refused("has no host"))?;
        if !self.bill_hosts.contains(&host) {
            return Err(refused("is not on an allowed host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused("carries credentials"));
        }
        let loopback = host == "localhost" || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => {
                url.set_scheme("https").map_err(|()| refused("cannot be fetched over https"))?;
                if url.port() == Some(80) {
                    url.set_port(None).map_err(|()| refused("has a bad port"))?;
                }
            }
            _ => return Err(refused("is not http(s)")),
        }
        Ok(url.into())
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    pub fn seller_id(&self) -> &str {
        &self.seller_id
    }

    /// `alipay.trade.precreate`: a QR code for the PC page (§1.5); POST.
    /// Its `time_expire` is at most [`PRECREATE_QR_LIFETIME_SECS`] away: the QR code Alipay
    /// returns is valid for two hours, so the trade never outlives its code.
    pub fn precreate(&self, order: &OrderRequest<'_>, now: DateTime<Utc>) -> Result<SignedRequest, GatewayError> {
        let latest = now + chrono::Duration::seconds(PRECREATE_QR_LIFETIME_SECS);
        let capped = OrderRequest { time_expire: order.time_expire.min(latest), ..*order };
        let biz = pay_biz(&capped, now, "FACE_TO_FACE_PAYMENT", None)?;
        Ok(self.post(Method::Precreate, biz, &[("notify_url", &self.notify_url)], now))
    }

    /// `alipay.trade.wap.pay`: the URL to send a phone browser to (§1.5), with
    /// `product_code=QUICK_WAP_WAY` and `quit_url` (where the payer lands on abort; may be empty).
    pub fn wap_pay(&self, order: &OrderRequest<'_>, quit_url: &str, now: DateTime<Utc>) -> Result<SignedRequest, GatewayError> {
        let quit_url = Some(quit_url.trim()).filter(|u| !u.is_empty());
        let biz = pay_biz(order, now, "QUICK_WAP_WAY", quit_url)?;
        let urls = [("notify_url", self.notify_url.as_str()), ("return_url", self.return_url.as_str())];
        let params = self.signed_params(Method::WapPay, biz, &urls, now);
        let url = with_query(&self.gateway_url, &encode(params.iter()));
        Ok(SignedRequest { method: Method::WapPay, params, delivery: Delivery::Redirect { url } })
    }

    /// `alipay.trade.query` by our out-trade-no (§1.5); POST.
    pub fn query(&self, out_trade_no: &str, now: DateTime<Utc>) -> Result<SignedRequest, GatewayError> {
        Ok(self.post(Method::Query, trade_ref(out_trade_no)?, &[], now))
    }

    /// `alipay.trade.close` by our out-trade-no (§1.5); POST.
    pub fn close(&self, out_trade_no: &str, now: DateTime<Utc>) -> Result<SignedRequest, GatewayError> {
        Ok(self.post(Method::Close, trade_ref(out_trade_no)?, &[], now))
    }

    /// The `qr_code` of a verified, successful precreate response.
    pub fn parse_precreate(&self, out_trade_no: &str, body: &str) -> Result<String, GatewayError> {
        let node = self.verified(Method::Precreate, out_trade_no, body)?;
        if field(&node, "code") != Some(CODE_SUCCESS) {
            return Err(refused(&node));
        }
        field(&node, "qr_code").map(str::to_owned).ok_or_else(|| malformed("precreate response has no qr_code"))
    }

    /// The state of an attempt from a verified query response (§1.5, §1.6).
    pub fn parse_query(&self, out_trade_no: &str, body: &str) -> Result<TradeState, GatewayError> {
        let node = self.verified(Method::Query, out_trade_no, body)?;
        if field(&node, "code") != Some(CODE_SUCCESS) {
            return match field(&node, "sub_code") {
                Some(TRADE_NOT_EXIST) => Ok(TradeState::NotFound),
                _ => Err(refused(&node)),
            };
        }
        let status = field(&node, "trade_status").and_then(TradeStatus::parse);
        Ok(match status.ok_or_else(|| malformed("query response has no known trade_status"))? {
            TradeStatus::WaitBuyerPay => TradeState::WaitBuyerPay,
            TradeStatus::TradeClosed => TradeState::Closed,
            TradeStatus::TradeSuccess | TradeStatus::TradeFinished => TradeState::Paid {
                trade_no: field(&node, "trade_no").ok_or_else(|| malformed("paid trade has no trade_no"))?.to_owned(),
                total: amount(field(&node, "total_amount"))?,
                paid_at: field(&node, "send_pay_date").and_then(parse_time),
            },
        })
    }

    /// The outcome of a verified close response (§1.5).
    pub fn parse_close(&self, out_trade_no: &str, body: &str) -> Result<CloseOutcome, GatewayError> {
        let node = self.verified(Method::Close, out_trade_no, body)?;
        if field(&node, "code") == Some(CODE_SUCCESS) {
            return Ok(CloseOutcome::Closed);
        }
        match field(&node, "sub_code") {
            Some(TRADE_NOT_EXIST) => Ok(CloseOutcome::NotExist),
            Some(sub @ ("ACQ.TRADE_HAS_SUCCESS" | "ACQ.TRADE_STATUS_ERROR")) => Ok(CloseOutcome::NotClosable { sub_code: sub.to_owned() }),
            _ => Err(refused(&node)),
        }
    }

    /// Verifies a notification body (§1.7): RSA2 over all fields but `sign` and `sign_type`, over
    /// the percent-decoded bytes as sent; then the values are read in the signed `charset`
    /// (UTF-8 or GBK: an app set to GBK gets GBK notifications — smartwalle/alipay PR #257,
    /// yansongda/pay #167, #183); then `app_id` and `seller_id` must be ours. Answer
    /// [`super::ACK`] only once it is stored; any error here means no ACK.
    pub fn verify_notification(&self, body: &[u8]) -> Result<UncheckedNotification, GatewayError> {
        let bytes = form::parse_bytes(body).map_err(|e| GatewayError::Malformed(format!("notification: {e}")))?;
        verify_v1(&bytes, &self.alipay_key)?;
        let charset = bytes.get("charset").map(|c| String::from_utf8_lossy(c).into_owned()).unwrap_or_else(|| "utf-8".into());
        let encoding = charset_encoding(&charset).ok_or_else(|| malformed("notification charset is neither UTF-8 nor GBK"))?;
        let mut raw = BTreeMap::new();
        for (k, v) in bytes {
            let text = encoding.decode_without_bom_handling_and_without_replacement(&v);
            let text = text.ok_or_else(|| GatewayError::Malformed(format!("notification {k} is not valid {charset}")))?;
            raw.insert(k, text.into_owned());
        }
        let get = |k: &str| raw.get(k).map(String::as_str).filter(|v| !v.is_empty());
        if get("app_id") != Some(self.app_id.as_str()) {
            return Err(malformed("notification app_id is not ours"));
        }
        // Every trade notification names the seller (§1.7): one that does not is not ours.
        if get("seller_id") != Some(self.seller_id.as_str()) {
            return Err(malformed("notification seller_id is not ours"));
        }
        let required = |k: &str| get(k).map(str::to_owned).ok_or_else(|| GatewayError::Malformed(format!("notification has no {k}")));
        let trade_status =
            get("trade_status").and_then(TradeStatus::parse).ok_or_else(|| malformed("notification has no known trade_status"))?;
        Ok(crate::Unchecked(Notification {
            notify_id: required("notify_id")?,
            out_trade_no: required("out_trade_no")?,
            trade_no: required("trade_no")?,
            trade_status,
            total_amount: amount(get("total_amount"))?,
            gmt_payment: get("gmt_payment").and_then(parse_time),
            _checked: (),
            raw,
        }))
    }

    fn signed_params(&self, method: Method, biz_content: String, urls: &[(&str, &str)], now: DateTime<Utc>) -> BTreeMap<String, String> {
        let fixed = [
            ("app_id", self.app_id.as_str()),
            ("method", method.as_str()),
            ("format", "JSON"),
            ("charset", "utf-8"),
            ("sign_type", SIGN_TYPE),
            ("version", "1.0"),
        ];
        let mut params: BTreeMap<String, String> =
            fixed.iter().chain(urls.iter().filter(|(_, v)| !v.is_empty())).map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        params.insert("timestamp".into(), format_time(now));
        params.insert("biz_content".into(), biz_content);
        let sign = rsa2_sign(&sign_content(&params), &self.key);
        params.insert("sign".into(), sign);
        params
    }

    pub(super) fn post(&self, method: Method, biz_content: String, urls: &[(&str, &str)], now: DateTime<Utc>) -> SignedRequest {
        let params = self.signed_params(method, biz_content, urls, now);
        let (biz, system): (Vec<_>, Vec<_>) = params.iter().partition(|(k, _)| *k == "biz_content");
        let url = with_query(&self.gateway_url, &encode(system.into_iter()));
        let body = encode(biz.into_iter());
        SignedRequest { method, params, delivery: Delivery::Post { url, body } }
    }

    /// Verifies a response and checks that it is about `out_trade_no` when it names one.
    pub(super) fn verified(&self, method: Method, out_trade_no: &str, body: &str) -> Result<Value, GatewayError> {
        let node = verify_response(method, body, &self.alipay_key)?;
        match field(&node, "out_trade_no") {
            Some(named) if named != out_trade_no => Err(malformed("response is about another out_trade_no")),
            _ => Ok(node),
        }
    }
}

fn pay_biz(
    order: &OrderRequest<'_>,
    now: DateTime<Utc>,
    product_code: &'static str,
    quit_url: Option<&str>,
) -> Result<String, GatewayError> {
    check_out_trade_no(order.out_trade_no.as_str())?;
    if order.amount < MIN_AMOUNT || order.amount > MAX_AMOUNT {
        return Err(malformed("total_amount must be within 0.01–100000000.00"));
    }
    let subject_len = order.subject.chars().count();
    if subject_len == 0 || subject_len > 256 || order.subject.contains(['/', '=', '&']) {
        return Err(malformed("subject must be 1–256 characters without / = &"));
    }
    if order.time_expire <= now {
        return Err(malformed("time_expire is not in the future"));
    }
    to_json(&PayBiz {
        out_trade_no: order.out_trade_no.as_str(),
        total_amount: order.amount.to_string(),
        subject: order.subject,
        product_code,
        time_expire: format_time(order.time_expire),
        quit_url,
    })
}

fn trade_ref(out_trade_no: &str) -> Result<String, GatewayError> {
    check_out_trade_no(out_trade_no)?;
    to_json(&TradeRef { out_trade_no })
}

fn check_out_trade_no(s: &str) -> Result<(), GatewayError> {
    if s.is_empty() || s.len() > 64 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(malformed("out_trade_no must be 1–64 characters of [A-Za-z0-9_]"));
    }
    Ok(())
}

/// Compact JSON: the exact `biz_content` text that is signed and sent.
fn to_json(biz: &impl Serialize) -> Result<String, GatewayError> {
    serde_json::to_string(biz).map_err(|_| malformed("biz_content does not serialise"))
}

fn encode<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> String {
    form::encode(pairs.map(|(k, v)| (k.as_str(), v.as_str())))
}

fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// A non-empty string member of a response node.
fn field<'a>(node: &'a Value, key: &str) -> Option<&'a str> {
    node.get(key)?.as_str().filter(|s| !s.is_empty())
}

/// A yuan amount with at most two decimals, exactly (§6: reject more).
fn amount(raw: Option<&str>) -> Result<Fen, GatewayError> {
    let raw = raw.ok_or_else(|| malformed("total_amount is missing"))?;
    Fen::parse_yuan(raw).map_err(|e| GatewayError::Malformed(format!("total_amount: {e}")))
}

/// `code != 10000` (§1.4): `sub_code`/`sub_msg` when Alipay gives them, else `code`/`msg`.
fn refused(node: &Value) -> GatewayError {
    GatewayError::Refused {
        code: field(node, "sub_code").or(field(node, "code")).unwrap_or("-").to_owned(),
        message: field(node, "sub_msg").or(field(node, "msg")).unwrap_or("").to_owned(),
    }
}

/// Refunds (§1.5 `alipay.trade.refund`, `alipay.trade.fastpay.refund.query`).
mod refund;
