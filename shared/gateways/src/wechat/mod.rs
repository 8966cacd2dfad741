//! WeChat Pay APIv3, direct merchant, public-key mode (gateways.md §2).
//!
//! Pure protocol code: no HTTP I/O and no clock reads — every freshness check takes `now`.
//! * [`Merchant`] is the platform side: signs requests (§2.2), verifies responses and
//!   notifications (§2.3), decrypts and checks payment notifications (§2.6), parses query
//!   results into the gateway-neutral [`TradeState`](crate::TradeState) (§2.5).
//! * `Sandbox` (cargo feature `sandbox`) is our local WeChat Pay: verifies the merchant's `Authorization`, signs
//!   responses and builds signed, encrypted notifications (§5).
//!
//! Keys come from configuration ([`MerchantSettings`], `SandboxSettings`), never from code.

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
    CloseAnswer, JsapiParams, JsapiSettings, Merchant, MerchantSettings, Mismatch, Notification, NotifyAnswer, OrderRequest,
    PublicKeySetting, RefundNotification, SignedRequest, UncheckedNotification,
};
#[cfg(feature = "sandbox")]
pub use sandbox::{AuthorizedRequest, Sandbox, SandboxRefund, SandboxSettings, SandboxTransaction, SignedNotification};

use super::GatewayError;
use crate::rsa_keys::{self, RsaSigner};
use crate::rsa_verify::{HashAlg, RsaVerifier};
use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, KeyInit, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, Utc};
use rand::Rng as _;

use std::fmt;

/// The only signature type of APIv3 (§2.2, §2.3).
pub const SIGNATURE_TYPE: &str = "WECHATPAY2-SHA256-RSA2048";
/// Freshness window for signed messages: `|now − timestamp| < 300 s`, as the Go SDK (§2.3).
pub const MAX_SKEW_SECS: i64 = 300;
/// Prefix of WeChat Pay's deliberate signature probes, which must fail verification (§2.3, §2.7.3).
pub const PROBE_PREFIX: &str = "WECHATPAY/SIGNTEST/";

/// `trade_state` as WeChat Pay spells it (§2.5): `SUCCESS`, `NOTPAY`, `USERPAYING`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TradeStatus {
    Success,
    Refund,
    NotPay,
    Closed,
    Revoked,
    UserPaying,
    PayError,
}

/// HTTP headers with case-insensitive lookup (API Gateway lower-cases names, §2.7.1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets `name`, replacing any value under the same name in any letter case.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.0.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
        self.0.push((name, value.into()));
    }
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
    /// From an `http` header map; values that are not visible ASCII are skipped.
    /// As an HTTP header map (names and values that are not valid HTTP are left out).
    pub fn to_http(&self) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (k, v) in self.iter() {
            if let (Ok(name), Ok(value)) = (http::HeaderName::try_from(k), http::HeaderValue::try_from(v)) {
                map.append(name, value);
            }
        }
        map
    }
    pub fn from_http(map: &http::HeaderMap) -> Self {
        map.iter().filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))).collect()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut h = Headers::new();
        for (k, v) in iter {
            h.insert(k, v);
        }
        h
    }
}

/// Timestamp (Unix seconds) and nonce of one signed message (§2.2, §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    pub timestamp: i64,
    pub nonce: String,
}

impl Stamp {
    /// `now` with a fresh 32-character `[0-9A-Za-z]` nonce, as the SDKs make them (§2.2).
    pub fn fresh(now: DateTime<Utc>) -> Self {
        Stamp { timestamp: now.timestamp(), nonce: random_alphanumeric(32) }
    }
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(len).map(char::from).collect()
}

/// An RSA private key (merchant API key, or the sandbox's WeChat Pay key), PKCS#8 or PKCS#1 PEM
/// (`crate::rsa_keys`).
#[derive(Debug, Clone)]
pub struct PrivateKey(RsaSigner);

impl PrivateKey {
    pub fn from_pem(pem: &str) -> Result<Self, GatewayError> {
        RsaSigner::parse(pem).map(Self)
    }

    /// Base64(SHA256withRSA(message)) (§2.2).
    pub fn sign(&self, message: &[u8]) -> Result<String, GatewayError> {
        Ok(B64.encode(self.0.sign(message)?))
    }
}

/// An RSA public key, SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`) PEM.
#[derive(Debug, Clone)]
pub struct PublicKey(RsaVerifier);

impl PublicKey {
    pub fn from_pem(pem: &str) -> Result<Self, GatewayError> {
        Ok(Self(RsaVerifier::new(&rsa_keys::public_key(pem)?)))
    }

    /// Checks a Base64 SHA256withRSA signature over `message`. Probes are refused (§2.3).
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> Result<(), GatewayError> {
        if signature_b64.starts_with(PROBE_PREFIX) {
            return Err(GatewayError::Signature("signature probe (WECHATPAY/SIGNTEST/)".into()));
        }
        let raw = B64.decode(signature_b64.trim()).map_err(|_| GatewayError::Signature("signature is not Base64".into()))?;
        if !self.0.verifies(HashAlg::Sha256, message, &raw) {
            return Err(GatewayError::Signature("signature does not verify".into()));
        }
        Ok(())
    }
}

/// WeChat Pay public keys by id (`PUB_KEY_ID_…`, or a platform certificate serial), several live
/// at once for rotation. The key is picked by `Wechatpay-Serial` (§2.3, §2.7.2).
#[derive(Debug, Clone)]
pub struct WechatPayKeys(Vec<(String, PublicKey)>);

impl WechatPayKeys {
    /// The first key is the preferred one, named in our requests' `Wechatpay-Serial`.
    pub fn new<'a>(keys: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, GatewayError> {
        let mut out: Vec<(String, PublicKey)> = Vec::new();
        for (id, pem) in keys {
            let id = id.trim();
            if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(GatewayError::Key("WeChat Pay key id must be [A-Za-z0-9_]+".into()));
            }
            if out.iter().any(|(known, _)| known == id) {
                return Err(GatewayError::Key(format!("WeChat Pay key id {id} listed twice")));
            }
            out.push((id.to_owned(), PublicKey::from_pem(pem)?));
        }
        if out.is_empty() {
            return Err(GatewayError::Key("no WeChat Pay public key configured".into()));
        }
        Ok(Self(out))
    }

    pub fn preferred_id(&self) -> &str {
        &self.0[0].0
    }

    /// Verifies a response or notification: `Wechatpay-Timestamp\nWechatpay-Nonce\nbody\n` over
    /// the exact body bytes, key chosen by `Wechatpay-Serial`, timestamp within 5 minutes of `now`,
    /// probes refused (§2.3).
    pub fn verify(&self, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<(), GatewayError> {
        let serial = required(headers, "Wechatpay-Serial")?;
        let signature = required(headers, "Wechatpay-Signature")?;
        let nonce = required(headers, "Wechatpay-Nonce")?;
        let timestamp = required(headers, "Wechatpay-Timestamp")?;
        if let Some(kind) = headers.get("Wechatpay-Signature-Type")
            && kind != SIGNATURE_TYPE
        {
            return Err(GatewayError::Signature(format!("unsupported signature type {kind}")));
        }
        let key = self
            .0
            .iter()
            .find(|(id, _)| id == serial)
            .map(|(_, key)| key)
            .ok_or_else(|| GatewayError::Signature(format!("unknown Wechatpay-Serial {serial}")))?;
        check_fresh(timestamp, now)?;
        let mut message = format!("{timestamp}\n{nonce}\n").into_bytes();
        message.extend_from_slice(body);
        message.push(b'\n');
        key.verify(&message, signature)
    }
}

fn required<'h>(headers: &'h Headers, name: &str) -> Result<&'h str, GatewayError> {
    headers.get(name).ok_or_else(|| GatewayError::Signature(format!("missing header {name}")))
}

/// Parses a Unix-seconds timestamp and refuses it unless `|now − ts| < 5 min` (§2.3).
fn check_fresh(timestamp: &str, now: DateTime<Utc>) -> Result<i64, GatewayError> {
    let ts: i64 = (!timestamp.is_empty() && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .then(|| timestamp.parse().ok())
        .flatten()
        .ok_or_else(|| GatewayError::Signature("timestamp is not Unix seconds".into()))?;
    if now.timestamp().abs_diff(ts) >= MAX_SKEW_SECS as u64 {
        return Err(GatewayError::Signature("timestamp outside the 5-minute window".into()));
    }
    Ok(ts)
}

/// `METHOD\nURL\nts\nnonce\nbody\n`: what the `Authorization` signature covers (§2.2).
fn request_message(method: &str, url: &str, timestamp: impl fmt::Display, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut message = format!("{method}\n{url}\n{timestamp}\n{nonce}\n").into_bytes();
    message.extend_from_slice(body);
    message.push(b'\n');
    message
}

/// The APIv3 key: 32 bytes, the AES-256-GCM key of notification resources (§2.1, §2.6).
#[derive(Clone)]
pub struct ApiV3Key([u8; 32]);

impl ApiV3Key {
    pub fn new(key: &str) -> Result<Self, GatewayError> {
        key.as_bytes().try_into().map(Self).map_err(|_| GatewayError::Key("APIv3 key must be exactly 32 bytes".into()))
    }
    fn open(&self, nonce: &str, aad: &str, ciphertext_b64: &str) -> Result<Vec<u8>, GatewayError> {
        aead_open(&self.0, nonce, aad, ciphertext_b64)
    }
    /// Encrypts a notification's resource: what WeChat Pay does, so the sandbox's.
    #[cfg(feature = "sandbox")]
    fn seal(&self, nonce: &str, aad: &str, plaintext: &[u8]) -> Result<String, GatewayError> {
        let nonce = nonce_of(nonce)?;
        let cipher = Aes256Gcm::new_from_slice(&self.0).map_err(|_| GatewayError::Key("AES key".into()))?;
        let ct = cipher
            .encrypt(nonce, Payload { msg: plaintext, aad: aad.as_bytes() })
            .map_err(|_| GatewayError::Key("AES-GCM encryption failed".into()))?;
        Ok(B64.encode(ct))
    }
}

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

fn nonce_of(nonce: &str) -> Result<&Nonce<aes_gcm::aead::consts::U12>, GatewayError> {
    let bytes: &[u8; 12] = nonce.as_bytes().try_into().map_err(|_| GatewayError::Malformed("AEAD nonce must be 12 bytes".into()))?;
    Ok(bytes.into())
}

/// AES-GCM open of `Base64(ciphertext ‖ tag)` (§2.6 step 3). The key length picks AES-256 (the
/// APIv3 key) or AES-128 (only the wechatpay-go test vectors use 16-byte keys, §2.7.7).
fn aead_open(key: &[u8], nonce: &str, aad: &str, ciphertext_b64: &str) -> Result<Vec<u8>, GatewayError> {
    let nonce = nonce_of(nonce)?;
    let ct = B64.decode(ciphertext_b64).map_err(|_| GatewayError::Malformed("ciphertext is not Base64".into()))?;
    let payload = Payload { msg: &ct, aad: aad.as_bytes() };
    let opened = match key.len() {
        32 => Aes256Gcm::new_from_slice(key).ok().map(|c| c.decrypt(nonce, payload)),
        16 => Aes128Gcm::new_from_slice(key).ok().map(|c| c.decrypt(nonce, payload)),
        _ => None,
    };
    match opened {
        Some(Ok(plain)) => Ok(plain),
        Some(Err(_)) => Err(GatewayError::Signature("resource failed AEAD authentication".into())),
        None => Err(GatewayError::Key("AES key must be 16 or 32 bytes".into())),
    }
}

/// `{"code":"…","message":"…"}`: WeChat Pay's error body (§2.3) and the merchant's failure
/// answer to a notification (§2.6 step 6).
pub fn error_body(code: &str, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}
