//! Alipay OpenAPI gateway, key mode ("公钥模式"), RSA2 (gateways.md §1).
//!
//! Pure protocol code: no HTTP I/O and no clock reads — builders take `now`.
//! * [`Merchant`] is the platform side: signs requests with the app private key (§1.3), verifies
//!   responses (§1.4) and notifications (§1.7) with the Alipay public key, and parses results
//!   into domain terms ([`TradeState`], [`CloseOutcome`], [`Notification`]).
//! * `Sandbox` (cargo feature `sandbox`) is our local Alipay: verifies requests with the app public key, signs responses
//!   and notifications with its own "Alipay" private key (§5).
//!
//! Both sides share the primitives of this file: [`sign_content`], [`notification_content`],
//! [`rsa2_sign`], [`rsa2_verify`], [`verify_v1`], [`verify_response`].
//!
//! Charset: everything is UTF-8. We send `charset=utf-8` both as a parameter and in the
//! `Content-Type` ([`FORM_CONTENT_TYPE`]), which is what keeps Alipay from notifying in GBK
//! (§1.9 pitfall 1). A notification that is not UTF-8 anyway is refused (not acknowledged); the
//! payment is then picked up by the active query (§4.4), so nothing is lost.
//! Keys, app id and seller id come from configuration, never from code.

pub mod client;
mod merchant;
mod notice;
// The gateway's side, for the local platform and the tests only (cargo feature `sandbox`):
// no deployed function compiles it (scripts/lint checks each one's `cargo tree`).
#[cfg(feature = "sandbox")]
mod sandbox;
pub mod statement;
#[cfg(test)]
mod tests;

pub use merchant::{
    CloseOutcome, Delivery, Merchant, MerchantSettings, Mismatch, Notification, OrderRequest, SignedRequest, TradeState, TradeStatus,
    UncheckedNotification,
};
#[cfg(feature = "sandbox")]
pub use sandbox::{IncomingRequest, PaidTrade, Sandbox, SandboxSettings};

use super::GatewayError;
use crate::rsa_keys::{self, RsaSigner};
use crate::rsa_verify::{HashAlg, RsaVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDateTime, Utc};

use std::collections::BTreeMap;

/// The body that acknowledges a verified, stored notification: exactly these 7 bytes (§1.7.7).
pub const ACK: &str = "success";
/// `Content-Type` of every call; the charset matters (§1.9 pitfall 1).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=utf-8";
/// The only signature type we send or accept (§1.2).
pub const SIGN_TYPE: &str = "RSA2";
/// `code` of a successful call (§1.4).
pub const CODE_SUCCESS: &str = "10000";
/// `sub_code` for a trade Alipay does not know (yet): a precreate not scanned (§1.5, §1.9.3).
pub const TRADE_NOT_EXIST: &str = "ACQ.TRADE_NOT_EXIST";

/// The gateway methods we call (§1.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `alipay.trade.precreate`: QR code for a PC page.
    Precreate,
    /// `alipay.trade.wap.pay`: browser redirect on a phone.
    WapPay,
    Query,
    Close,
    /// `alipay.trade.refund`.
    Refund,
    /// `alipay.trade.fastpay.refund.query`.
    RefundQuery,
    /// `alipay.data.dataservice.bill.downloadurl.query`: where to download a day's bill.
    BillDownloadUrl,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Precreate => "alipay.trade.precreate",
            Method::WapPay => "alipay.trade.wap.pay",
            Method::Query => "alipay.trade.query",
            Method::Close => "alipay.trade.close",
            Method::Refund => "alipay.trade.refund",
            Method::RefundQuery => "alipay.trade.fastpay.refund.query",
            Method::BillDownloadUrl => "alipay.data.dataservice.bill.downloadurl.query",
        }
    }
    pub fn from_name(name: &str) -> Option<Self> {
        [Method::Precreate, Method::WapPay, Method::Query, Method::Close, Method::Refund, Method::RefundQuery, Method::BillDownloadUrl]
            .into_iter()
            .find(|m| m.as_str() == name)
    }
}

/// An RSA private key (≥ 2048 bits) that signs RSA2: PKCS#1 or PKCS#8 PEM, or the bare Base64
/// DER the Alipay key tool prints (§1.1; `crate::rsa_keys`).
#[derive(Debug, Clone)]
pub struct PrivateKey(RsaSigner);

impl PrivateKey {
    pub fn parse(text: &str) -> Result<Self, GatewayError> {
        RsaSigner::parse(text).map(Self)
    }

    /// The matching public key (what the other side verifies with).
    pub fn public_key(&self) -> PublicKey {
        PublicKey(RsaVerifier::new(&self.0.public_key()))
    }
}

/// An RSA public key (≥ 2048 bits): SPKI or PKCS#1 PEM, or the bare Base64 SPKI the Alipay
/// console shows (§1.1; `crate::rsa_keys`).
#[derive(Debug, Clone)]
pub struct PublicKey(RsaVerifier);

impl PublicKey {
    pub fn parse(text: &str) -> Result<Self, GatewayError> {
        Ok(Self(RsaVerifier::new(&rsa_keys::public_key(text)?)))
    }
}

/// The canonical string of a request (§1.3): non-empty pairs sorted by key bytes, raw `k=v`
/// joined by `&`, `sign` left out, **`sign_type` kept**.
pub fn sign_content(params: &BTreeMap<String, String>) -> String {
    canonical(params, &["sign"])
}

/// The canonical string of a notification or return URL ("V1", §1.7): as [`sign_content`] but
/// without `sign` **and** `sign_type`.
pub fn notification_content(params: &BTreeMap<String, String>) -> String {
    canonical(params, &["sign", "sign_type"])
}

fn canonical(params: &BTreeMap<String, String>, excluded: &[&str]) -> String {
    String::from_utf8(canonical_bytes(params, excluded)).expect("UTF-8 pairs join to UTF-8")
}

/// The canonical content over values as bytes (in whatever charset they came).
fn canonical_bytes<V: AsRef<[u8]>>(params: &BTreeMap<String, V>, excluded: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    // A BTreeMap of Strings iterates in byte order, which is Java's order for ASCII keys.
    for (k, v) in params {
        let v = v.as_ref();
        if k.is_empty() || v.is_empty() || excluded.contains(&k.as_str()) {
            continue;
        }
        if !out.is_empty() {
            out.push(b'&');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        out.extend_from_slice(v);
    }
    out
}

/// Base64 (standard, padded, one line) of SHA256withRSA over the UTF-8 bytes of `content`.
pub fn rsa2_sign(content: &str, key: &PrivateKey) -> String {
    rsa2_sign_bytes(content.as_bytes(), key)
}

/// Base64 of SHA256withRSA over `content` as given (bytes in the signer's charset).
pub fn rsa2_sign_bytes(content: &[u8], key: &PrivateKey) -> String {
    B64.encode(key.0.sign(content).expect("an RSA key of ours signs"))
}

/// Checks a Base64 RSA2 signature over the UTF-8 bytes of `content`.
pub fn rsa2_verify(content: &str, sign_b64: &str, key: &PublicKey) -> Result<(), GatewayError> {
    rsa2_verify_bytes(content.as_bytes(), sign_b64, key)
}

/// Checks a Base64 RSA2 signature over `content` as signed (bytes in the signer's charset).
fn rsa2_verify_bytes(content: &[u8], sign_b64: &str, key: &PublicKey) -> Result<(), GatewayError> {
    let raw = B64.decode(sign_b64).map_err(|_| GatewayError::Signature("sign is not Base64".into()))?;
    if !key.0.verifies(HashAlg::Sha256, content, &raw) {
        return Err(GatewayError::Signature("RSA2 signature does not verify".into()));
    }
    Ok(())
}

/// Verifies signed form parameters under the V1 rules of notifications and return URLs (§1.7):
/// `sign_type` must be `RSA2`, the signature covers [`notification_content`]. Values may be
/// text or the percent-decoded bytes of a form in another charset (Alipay signs the content's
/// bytes in the `charset` the form names).
pub fn verify_v1<V: AsRef<[u8]>>(params: &BTreeMap<String, V>, key: &PublicKey) -> Result<(), GatewayError> {
    let sign = signature_of(params)?;
    rsa2_verify_bytes(&canonical_bytes(params, &["sign", "sign_type"]), sign, key)
}

/// `sign` of signed parameters, once `sign_type` is checked to be RSA2.
fn signature_of<V: AsRef<[u8]>>(params: &BTreeMap<String, V>) -> Result<&str, GatewayError> {
    let text = |k: &str| params.get(k).and_then(|v| std::str::from_utf8(v.as_ref()).ok());
    if text("sign_type") != Some(SIGN_TYPE) {
        return Err(GatewayError::Signature("sign_type is not RSA2".into()));
    }
    match text("sign") {
        Some(sign) if !sign.is_empty() => Ok(sign),
        _ => Err(GatewayError::Signature("sign is missing".into())),
    }
}

/// The encoding a notification's `charset` names: UTF-8, or GBK and its family (GB2312,
/// GB18030; encoding_rs reads all three with its GB18030 decoder). `None` for anything else.
pub fn charset_encoding(charset: &str) -> Option<&'static encoding_rs::Encoding> {
    let c = charset.trim().to_ascii_lowercase();
    match c.as_str() {
        "utf-8" | "utf8" => Some(encoding_rs::UTF_8),
        "gbk" | "gb2312" | "gb18030" => Some(encoding_rs::GB18030),
        _ => None,
    }
}

/// `alipay.trade.query` → `alipay_trade_query_response` (§1.4).
pub fn response_node_name(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// Verifies a synchronous response (§1.4) and returns its verified node.
///
/// `sign` covers the exact text of the `<method>_response` member (or of `error_response` when
/// Alipay answers with that instead), taken from the body as it came — never re-serialised, so
/// a single space matters. A response without `sign` is an error: never act on it (§1.9.6).
pub fn verify_response(method: Method, body: &str, key: &PublicKey) -> Result<serde_json::Value, GatewayError> {
    let members = top_level_members(body).ok_or_else(|| malformed("response is not a JSON object"))?;
    let member = |name: &str| -> Result<Option<&str>, GatewayError> {
        let mut found = members.iter().filter(|(k, _)| *k == name).map(|(_, v)| *v);
        let first = found.next();
        match found.next() {
            Some(_) => Err(malformed("response repeats a member")),
            None => Ok(first),
        }
    };
    let node = match member(&response_node_name(method.as_str()))? {
        Some(node) => node,
        None => member("error_response")?.ok_or_else(|| malformed("response has no response node"))?,
    };
    if !node.starts_with('{') {
        return Err(malformed("response node is not an object"));
    }
    let Some(sign) = member("sign")? else {
        let parsed: serde_json::Value = serde_json::from_str(node).unwrap_or_default();
        // Unverified text: keep only code-like characters so it is safe to log.
        let field = |k: &str| -> String {
            let raw = parsed.get(k).and_then(|v| v.as_str()).unwrap_or("-");
            raw.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(64).collect()
        };
        return Err(GatewayError::Signature(format!(
            "unsigned response (code {}, sub_code {}); not acted on",
            field("code"),
            field("sub_code")
        )));
    };
    let sign: String = serde_json::from_str(sign).map_err(|_| malformed("response sign is not a string"))?;
    // The Java SDK's one retry (AbstractAlipayClient.checkResponseSign): when the text as sent
    // does not verify and holds an escaped `\/`, Alipay may have signed it with a plain `/`.
    let verified = rsa2_verify(node, &sign, key);
    if verified.is_err() && node.contains("\\/") {
        rsa2_verify(&node.replace("\\/", "/"), &sign, key)?;
    } else {
        verified?;
    }
    serde_json::from_str(node).map_err(|_| malformed("response node is not valid JSON"))
}

/// The members of the top-level JSON object as raw `(key, value text)` slices of `body`, or
/// `None` when `body` is not one object. Values are delimited by a brace matcher that skips
/// strings and escapes, so a `{` inside a string value does not count (§1.4).
fn top_level_members(body: &str) -> Option<Vec<(&str, &str)>> {
    let b = body.as_bytes();
    let mut i = skip_ws(b, 0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    let mut out = Vec::new();
    if b.get(i) == Some(&b'}') {
        return (skip_ws(b, i + 1) == b.len()).then_some(out);
    }
    loop {
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(b, i)?;
        let key = body.get(i + 1..key_end - 1)?;
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        let value_end = value_end(b, i)?;
        out.push((key, body.get(i..value_end)?));
        i = skip_ws(b, value_end);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return (skip_ws(b, i + 1) == b.len()).then_some(out),
            _ => return None,
        }
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// End (exclusive) of the JSON string whose opening quote is at `start`.
fn string_end(b: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// End (exclusive) of the JSON value starting at `start`.
fn value_end(b: &[u8], start: usize) -> Option<usize> {
    match *b.get(start)? {
        b'"' => string_end(b, start),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut i = start;
            while i < b.len() {
                match b[i] {
                    b'"' => {
                        i = string_end(b, i)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(i + 1);
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            None
        }
        _ => {
            let len =
                b[start..].iter().position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')).unwrap_or(b.len() - start);
            (len > 0).then_some(start + len)
        }
    }
}

fn malformed(what: &str) -> GatewayError {
    GatewayError::Malformed(what.into())
}

const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// `yyyy-MM-dd HH:mm:ss` in Beijing time (§1.2 `timestamp`, §1.5 `time_expire`).
fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::time::beijing()).format(TIME_FORMAT).to_string()
}

/// Reads a Beijing `yyyy-MM-dd HH:mm:ss` (`gmt_payment`, `send_pay_date`).
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, TIME_FORMAT).ok()?;
    Some(naive.and_local_timezone(domain::time::beijing()).single()?.with_timezone(&Utc))
}
