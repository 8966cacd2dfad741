//! Platform side: the front-consume form (§3.3), the query and its response (§3.4), backUrl
//! notifications (§3.5).

use super::{CURRENCY_CNY, ENCODING, SIGN_METHOD, SignKey, TrustChain, VERSION, format_time, parse_fen, parse_response, parse_time};
pub use crate::Mismatch;
use crate::domain::{Fen, OutTradeNo};
use crate::{Device, GatewayError, PaymentAction, TradeState, form};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// The platform's UnionPay merchant as it comes from settings (environment, parameter store).
#[derive(Clone, Deserialize)]
pub struct MerchantSettings {
    /// `…/gateway/api/frontTransReq.do` (UnionPay, its test host, or our sandbox).
    pub front_url: String,
    /// `…/gateway/api/backTransReq.do` (refund, revoke).
    pub back_url: String,
    /// `…/gateway/api/queryTrans.do`.
    pub query_url: String,
    pub mer_id: String,
    /// The key of `acp_*_sign.pfx`, exported once to PKCS#8 or PKCS#1 PEM.
    pub sign_key_pem: String,
    /// `certId`: the decimal serial of the signing certificate ([`super::Cert::serial_decimal`]).
    pub sign_cert_serial: String,
    /// `acp_*_root.cer` and `acp_*_middle.cer` (PEM).
    pub root_cert_pem: String,
    pub middle_cert_pem: String,
    /// Our notification endpoint (`backUrl`); no query string (§3.5).
    pub back_notify_url: String,
    /// Where the browser returns (`frontUrl`); a hint only (§4.6).
    pub front_return_url: String,
    /// Accept SHA-1 certificate signatures in the chain: needed for UnionPay's test
    /// environment (its CFCA TEST chain is SHA-1), off by default.
    #[serde(default)]
    pub allow_sha1_chain: bool,
    /// The file-transfer endpoint for daily settlement files (UnionPay's
    /// `https://filedownload.95516.com/`, its test host, or our sandbox's `…/fileTransfer.do`);
    /// unset = no statements (reconciliation reports the channel as not configured).
    #[serde(default)]
    pub file_url: Option<String>,
    /// What field [2] of the `@`-separated CN of UnionPay's signing certificate may be. Unset:
    /// `["中国银联股份有限公司"]` (production). UnionPay's test environment also signs as
    /// `00040000:SIGN` (the ACP SDK accepts it with `ifValidateCNName=false`): list both there.
    #[serde(default)]
    pub signer_names: Vec<String>,
}

impl fmt::Debug for MerchantSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MerchantSettings {{ mer_id: {:?}, certId: {:?}, <keys redacted> }}", self.mer_id, self.sign_cert_serial)
    }
}

/// The platform's UnionPay merchant: identity, key and trust chain, validated once.
#[derive(Debug, Clone)]
pub struct Merchant {
    front_url: String,
    back_url: String,
    query_url: String,
    mer_id: String,
    cert_id: String,
    key: SignKey,
    pub(super) chain: TrustChain,
    back_notify_url: String,
    front_return_url: String,
    pub(super) file_url: Option<String>,
}

/// One front consume (§3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumeRequest<'a> {
    /// `orderId`: letters and digits only, which [`OutTradeNo`] guarantees.
    pub out_trade_no: &'a OutTradeNo,
    pub amount: Fen,
    /// PC → `channelType=07`, phone → `08`.
    pub device: Device,
    /// `payTimeout`: UnionPay refuses payment after it, and a query after it is final (§3.3).
    pub pay_timeout: DateTime<Utc>,
}

/// A signed form: POST [`Self::body`] to `url` with [`super::FORM_CONTENT_TYPE`] (query), or let
/// the browser auto-submit it (front consume, [`Self::into_action`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedForm {
    pub url: String,
    /// Every field, `signature` included.
    pub fields: BTreeMap<String, String>,
}

impl SignedForm {
    /// `txnTime`: store it with the attempt — a query needs it (§3.4).
    pub fn txn_time(&self) -> &str {
        self.fields.get("txnTime").map_or("", String::as_str)
    }
    pub fn body(&self) -> String {
        form::encode(self.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
    pub fn into_action(self) -> PaymentAction {
        PaymentAction::Form { action: self.url, fields: self.fields.into_iter().collect() }
    }
}

/// A verified notification from our merchant id, **not yet matched with our attempt**: find the
/// attempt by [`Self::order_id`] (and [`Self::txn_time`]), then [`Self::check`] it (§3.5, §4.3).
pub type UncheckedNotification = crate::Unchecked<Notification>;

/// A notification whose merId, orderId and amount are ours. Only
/// [`UncheckedNotification::check`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::manual_non_exhaustive, reason = "the private field also bars construction elsewhere in this crate")]
pub struct Notification {
    pub order_id: String,
    /// UnionPay's trade number; `origQryId` of a later refund.
    pub query_id: String,
    pub txn_amt: Fen,
    pub txn_type: String,
    pub resp_code: String,
    pub txn_time: String,
    /// `MMDDhhmmss`, Beijing.
    pub trace_time: Option<String>,
    /// Every field as received and verified: store it for audit (§4.2).
    pub raw: BTreeMap<String, String>,
    _checked: (),
}

impl UncheckedNotification {
    pub fn order_id(&self) -> &str {
        &self.0.order_id
    }
    pub fn txn_time(&self) -> &str {
        &self.0.txn_time
    }
    /// The verified fields, to store before checking (§4.2).
    pub fn raw(&self) -> &BTreeMap<String, String> {
        &self.0.raw
    }
    pub fn check(self, out_trade_no: &OutTradeNo, amount: Fen) -> Result<Notification, Mismatch> {
        Mismatch::check(out_trade_no.as_str(), &self.0.order_id, amount, self.0.txn_amt)?;
        Ok(self.0)
    }
}

impl Notification {
    /// A consume (`txnType=01`) with `respCode` 00, or A6 (success with defect, §3.4).
    pub fn is_paid(&self) -> bool {
        self.txn_type == "01" && matches!(self.resp_code.as_str(), "00" | "A6")
    }
    /// When the payment happened (`traceTime` placed in `txnTime`'s year; else `txnTime`).
    pub fn paid_at(&self) -> Option<DateTime<Utc>> {
        paid_at(&self.txn_time, self.trace_time.as_deref()).ok()
    }
}

impl Merchant {
    pub fn new(s: &MerchantSettings) -> Result<Self, GatewayError> {
        let key_err = |m: &str| GatewayError::Key(m.into());
        let url = |u: &str, what: &str| {
            let u = u.trim();
            let ok = u.starts_with("https://") || u.starts_with("http://");
            ok.then(|| u.to_owned()).ok_or_else(|| key_err(&format!("{what} must be an http(s) URL")))
        };
        if s.mer_id.is_empty() || s.mer_id.len() > 32 || !s.mer_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(key_err("mer_id must be 1-32 letters/digits"));
        }
        if s.sign_cert_serial.is_empty() || !s.sign_cert_serial.bytes().all(|b| b.is_ascii_digit()) {
            return Err(key_err("sign_cert_serial (certId) must be the decimal serial"));
        }
        for u in [&s.back_notify_url, &s.front_return_url] {
            if u.contains(['?', '#']) {
                return Err(key_err("backUrl/frontUrl must not carry a query (§3.5)"));
            }
        }
        Ok(Self {
            front_url: url(&s.front_url, "front_url")?,
            back_url: url(&s.back_url, "back_url")?,
            query_url: url(&s.query_url, "query_url")?,
            mer_id: s.mer_id.clone(),
            cert_id: s.sign_cert_serial.clone(),
            key: SignKey::parse(&s.sign_key_pem)?,
            chain: TrustChain::new(&s.root_cert_pem, &s.middle_cert_pem, s.allow_sha1_chain, &s.signer_names)?,
            back_notify_url: url(&s.back_notify_url, "back_notify_url")?,
            front_return_url: url(&s.front_return_url, "front_return_url")?,
            file_url: s.file_url.as_deref().map(|u| url(u, "file_url")).transpose()?,
        })
    }

    pub fn mer_id(&self) -> &str {
        &self.mer_id
    }
    /// `backTransReq.do`, for refunds (not built here yet).
    pub fn back_url(&self) -> &str {
        &self.back_url
    }

    /// Blanks dropped, values trimmed, `certId` set, then signed (§3.2 steps 1–5).
    pub(super) fn signed(&self, url: &str, fields: &[(&str, &str)]) -> SignedForm {
        let common = [
            ("version", VERSION),
            ("encoding", ENCODING),
            ("signMethod", SIGN_METHOD),
            ("accessType", "0"),
            ("merId", &self.mer_id),
            ("certId", &self.cert_id),
        ];
        let params =
            common.iter().chain(fields).map(|(k, v)| (k.to_string(), v.trim().to_owned())).filter(|(_, v)| !v.is_empty()).collect();
        SignedForm { url: url.to_owned(), fields: self.key.sign(params) }
    }

    /// The auto-submitting front-consume form (§3.3). `txnTime` is `now` in Beijing time.
    pub fn front_consume(&self, order: &ConsumeRequest<'_>, now: DateTime<Utc>) -> Result<SignedForm, GatewayError> {
        if order.amount.get() < 1 {
            return Err(GatewayError::Malformed("amount must be at least 1 fen".into()));
        }
        if order.pay_timeout <= now {
            return Err(GatewayError::Malformed("payTimeout is not in the future".into()));
        }
        let channel = match order.device {
            Device::Pc => "07",
            Device::Phone | Device::Wechat => "08",
        };
        let (txn_time, timeout, amount) = (format_time(now), format_time(order.pay_timeout), order.amount.get().to_string());
        Ok(self.signed(
            &self.front_url,
            &[
                ("txnType", "01"),
                ("txnSubType", "01"),
                ("bizType", "000201"),
                ("channelType", channel),
                ("orderId", order.out_trade_no.as_str()),
                ("txnTime", &txn_time),
                ("txnAmt", &amount),
                ("currencyCode", CURRENCY_CNY),
                ("frontUrl", &self.front_return_url),
                ("backUrl", &self.back_notify_url),
                ("payTimeout", &timeout),
            ],
        ))
    }

    /// `queryTrans.do` for one attempt, named by orderId **and** the `txnTime` it was sent with.
    pub fn query(&self, out_trade_no: &OutTradeNo, txn_time: &str) -> Result<SignedForm, GatewayError> {
        parse_time(txn_time).ok_or_else(|| GatewayError::Malformed("txnTime is not YYYYMMDDhhmmss".into()))?;
        let fields =
            [("txnType", "00"), ("txnSubType", "00"), ("bizType", "000000"), ("orderId", out_trade_no.as_str()), ("txnTime", txn_time)];
        Ok(self.signed(&self.query_url, &fields))
    }

    /// The state of an attempt from a verified query response (§3.4): `respCode` 34 →
    /// `NotFound` (before `payTimeout` that proves nothing); `respCode` 00 with `origRespCode`
    /// 00/A6 → `Paid`, 03/04/05 → `Pending`, anything else → `Closed` (failed, final). Any other
    /// `respCode` is `Refused`: the query itself did not answer. Compare `Paid.amount` (§4.3).
    pub fn parse_query_response(
        &self,
        out_trade_no: &OutTradeNo,
        txn_time: &str,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<TradeState, GatewayError> {
        let p = self.verified_answer(out_trade_no.as_str(), txn_time, body, now)?;
        Ok(match p.queried()? {
            None => TradeState::NotFound,
            Some("00" | "A6") => TradeState::Paid {
                gateway_trade_no: p.get("queryId").ok_or_else(|| missing("queryId"))?.to_owned(),
                amount: parse_fen(p.get("txnAmt").ok_or_else(|| missing("txnAmt"))?)?,
                paid_at: paid_at(txn_time, p.get("traceTime"))?,
            },
            Some("03" | "04" | "05") => TradeState::Pending,
            Some(_) => TradeState::Closed,
        })
    }

    /// Verifies a backUrl notification body (URL-encoded form, §3.5): chain, CN and signature,
    /// then our merId. Answer HTTP 200 [`super::ACK`] only once stored; any error here: no ACK.
    pub fn parse_notification(&self, body: &[u8], now: DateTime<Utc>) -> Result<UncheckedNotification, GatewayError> {
        let mut raw = form::parse(body).map_err(|e| GatewayError::Malformed(format!("notification: {e}")))?;
        // As the official BackRcvResponse demo reads a notification: a field with an empty value
        // is dropped before verifying (it is not part of what UnionPay signed).
        raw.retain(|_, v| !v.is_empty());
        self.chain.verify(&raw, now)?;
        let get = |k: &str| raw.get(k).map(String::as_str).filter(|v| !v.is_empty());
        if get("merId") != Some(self.mer_id.as_str()) {
            return Err(GatewayError::Malformed("notification merId is not ours".into()));
        }
        // Our every transaction is in yuan: the notification says so (currencyCode is one of its
        // fields, §3.5), and a settlement currency, when given, is yuan too.
        if get("currencyCode") != Some(CURRENCY_CNY) || get("settleCurrencyCode").is_some_and(|c| c != CURRENCY_CNY) {
            return Err(GatewayError::Malformed("notification currency is not 156 (CNY)".into()));
        }
        let required = |k: &str| get(k).map(str::to_owned).ok_or_else(|| missing(k));
        Ok(crate::Unchecked(Notification {
            order_id: required("orderId")?,
            query_id: required("queryId")?,
            txn_amt: parse_fen(&required("txnAmt")?)?,
            txn_type: required("txnType")?,
            resp_code: required("respCode")?,
            txn_time: required("txnTime")?,
            trace_time: get("traceTime").map(str::to_owned),
            _checked: (),
            raw,
        }))
    }
}

fn missing(field: &str) -> GatewayError {
    GatewayError::Malformed(format!("missing {field}"))
}

/// When the payment happened: `traceTime` (`MMDDhhmmss`, Beijing, no year) placed in the year of
/// `txnTime` — or the next one across New Year — else `txnTime` itself.
pub(super) fn paid_at(txn_time: &str, trace_time: Option<&str>) -> Result<DateTime<Utc>, GatewayError> {
    let sent = parse_time(txn_time).ok_or_else(|| GatewayError::Malformed("txnTime".into()))?;
    let beijing = domain::time::beijing();
    let trace = |year: i32| -> Option<DateTime<Utc>> {
        let t = trace_time.filter(|t| t.len() == 10 && t.bytes().all(|b| b.is_ascii_digit()))?;
        let n = |r: std::ops::Range<usize>| t[r].parse::<u32>().ok();
        let date = NaiveDate::from_ymd_opt(year, n(0..2)?, n(2..4)?)?;
        let at = date.and_time(NaiveTime::from_hms_opt(n(4..6)?, n(6..8)?, n(8..10)?)?);
        Some(at.and_local_timezone(beijing).single()?.with_timezone(&Utc))
    };
    let year = sent.with_timezone(&beijing).year();
    let guess = match trace(year) {
        Some(t) if t + chrono::Duration::days(1) < sent => trace(year + 1),
        other => other,
    };
    Ok(guess.unwrap_or(sent))
}

/// Refunds (退货, `txnType=04`), their query and backUrl notifications (§3.4, §3.5).
mod refund;
pub use refund::RefundNotification;
