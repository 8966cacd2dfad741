//! Our local UnionPay (§5): verifies the merchant's signed forms, answers queries with unencoded
//! `k=v&…` bodies and sends URL-encoded notifications, all signed with a test chain (root →
//! middle → signing certificate, CN `041@…@中国银联股份有限公司@…`) that it issues or loads, so
//! the platform's chain and CN checks run unmodified.

use super::{
    CURRENCY_CNY, Cert, ENCODING, SIGN_METHOD, SignKey, UNIONPAY_ORG, VERSION, format_time, parse_fen, parse_time, verify_signature,
};
use crate::domain::Fen;
use crate::{GatewayError, form};
use chrono::{DateTime, Duration, Utc};
use rand::Rng as _;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::Encode;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::SubjectPublicKeyInfoOwned;
use x509_cert::time::{Time, Validity};

/// Sandbox configuration: the one merchant it serves, and optionally its own chain.
#[derive(Clone, Deserialize)]
pub struct SandboxSettings {
    pub mer_id: String,
    /// The `certId` the merchant signs with.
    pub merchant_cert_id: String,
    /// The merchant's signing certificate, or its public key (SPKI PEM).
    pub merchant_cert_pem: String,
    /// The sandbox's chain, as [`SandboxChain::issue`] made it once; absent: issued at start-up
    /// (then configure the platform from [`Sandbox::chain`]).
    #[serde(default)]
    pub chain: Option<SandboxChain>,
}

impl fmt::Debug for SandboxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SandboxSettings {{ mer_id: {:?}, <keys redacted> }}", self.mer_id)
    }
}

/// The sandbox's certificates (PEM) and signing key (PKCS#8 PEM). Root and middle are what the
/// platform is configured with; both private CA keys are discarded after issuing.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct SandboxChain {
    pub root_cert_pem: String,
    pub middle_cert_pem: String,
    pub sign_cert_pem: String,
    pub sign_key_pem: String,
}

impl fmt::Debug for SandboxChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SandboxChain(<redacted>)")
    }
}

/// A test certificate authority: a key and its certificate.
pub(super) struct Ca {
    key: SigningKey<Sha256>,
    pub(super) cert: Cert,
}

fn key_error(e: impl fmt::Display) -> GatewayError {
    GatewayError::Key(format!("issuing test certificate: {e}"))
}

pub(super) fn new_key() -> Result<RsaPrivateKey, GatewayError> {
    RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).map_err(key_error)
}

fn issue(
    profile: Profile,
    subject: &str,
    subject_key: &RsaPublicKey,
    signer: &SigningKey<Sha256>,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Cert, GatewayError> {
    let time = |t: DateTime<Utc>| {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.timestamp().max(0) as u64);
        Time::try_from(at).map_err(key_error)
    };
    let validity = Validity { not_before: time(from)?, not_after: time(until)? };
    let serial = SerialNumber::from(rand::rng().random_range(10_000_000_000u64..100_000_000_000));
    let spki = SubjectPublicKeyInfoOwned::from_key(subject_key.clone()).map_err(key_error)?;
    let subject = Name::from_str(subject).map_err(key_error)?;
    let cert = CertificateBuilder::new(profile, serial, validity, subject, spki, signer)
        .map_err(key_error)?
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(key_error)?;
    Cert::from_der(cert.to_der().map_err(key_error)?)
}

impl Ca {
    /// A self-signed root, valid from an hour before `now` for 20 years.
    pub(super) fn root(key: RsaPrivateKey, name: &str, now: DateTime<Utc>) -> Result<Self, GatewayError> {
        let key = SigningKey::<Sha256>::new(key);
        let public = RsaPublicKey::from(key.as_ref());
        let cert = issue(Profile::Root, name, &public, &key, now - Duration::hours(1), now + Duration::days(7300))?;
        Ok(Self { key, cert })
    }

    fn issuer_name(&self) -> Name {
        self.cert.cert.tbs_certificate.subject.clone()
    }

    /// A middle CA under `self`, valid for 10 years.
    pub(super) fn sub_ca(&self, key: RsaPrivateKey, name: &str, now: DateTime<Utc>) -> Result<Self, GatewayError> {
        let profile = Profile::SubCA { issuer: self.issuer_name(), path_len_constraint: Some(0) };
        let public = RsaPublicKey::from(&key);
        let cert = issue(profile, name, &public, &self.key, now - Duration::hours(1), now + Duration::days(3650))?;
        Ok(Self { key: SigningKey::new(key), cert })
    }

    /// A signing certificate under `self` for `key`, valid in `[from, until]`.
    pub(super) fn leaf(&self, key: &RsaPublicKey, cn: &str, from: DateTime<Utc>, until: DateTime<Utc>) -> Result<Cert, GatewayError> {
        let profile = Profile::Leaf { issuer: self.issuer_name(), enable_key_agreement: false, enable_key_encipherment: false };
        let subject = format!("CN={cn},OU=Enterprises,O=campus-pay sandbox,C=CN");
        issue(profile, &subject, key, &self.key, from, until)
    }
}

impl SandboxChain {
    /// Issues a fresh RSA-2048 root → middle → signing certificate chain; the signing
    /// certificate is valid for 5 years from `now` (less an hour of clock skew).
    pub fn issue(now: DateTime<Utc>) -> Result<Self, GatewayError> {
        let root = Ca::root(new_key()?, "CN=campus-pay sandbox UnionPay root,O=campus-pay sandbox,C=CN", now)?;
        let middle = root.sub_ca(new_key()?, "CN=campus-pay sandbox UnionPay OCA,O=campus-pay sandbox,C=CN", now)?;
        let key = new_key()?;
        let cn = format!("041@8310{:012}@{UNIONPAY_ORG}@00000001", rand::rng().random_range(0..1_000_000_000_000u64));
        let leaf = middle.leaf(&RsaPublicKey::from(&key), &cn, now - Duration::hours(1), now + Duration::days(1825))?;
        Ok(Self {
            root_cert_pem: root.cert.to_pem("\n") + "\n",
            middle_cert_pem: middle.cert.to_pem("\n") + "\n",
            sign_cert_pem: leaf.to_pem("\n") + "\n",
            sign_key_pem: key.to_pkcs8_pem(LineEnding::LF).map_err(key_error)?.to_string(),
        })
    }
}

#[derive(Debug, Clone)]
pub struct Sandbox {
    mer_id: String,
    merchant_cert_id: String,
    merchant_key: RsaPublicKey,
    chain: SandboxChain,
    key: SignKey,
    /// `signPubKeyCert` as UnionPay sends it: `\r\n` line ends (§3.6 pitfall 2).
    sign_cert_wire: String,
}

/// A verified front-consume form (§3.3): what the cashier page needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontConsume {
    pub order_id: String,
    pub txn_time: String,
    pub txn_amt: Fen,
    /// `07` PC, `08` phone.
    pub channel_type: String,
    pub front_url: Option<String>,
    pub back_url: String,
    /// Enforce at payment time as well: no payment after it (§3.3).
    pub pay_timeout: Option<DateTime<Utc>>,
    pub fields: BTreeMap<String, String>,
}

/// A consume as the sandbox knows it, for query answers and notifications.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxTrade<'a> {
    pub order_id: &'a str,
    pub txn_time: &'a str,
    pub txn_amt: Fen,
    /// UnionPay's trade number (21 digits in the wild).
    pub query_id: &'a str,
    pub progress: TradeProgress,
}

/// How far a consume got: `origRespCode` 05, 00, or a failure code (§3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TradeProgress {
    Processing,
    Paid { at: DateTime<Utc> },
    Failed,
}

impl Sandbox {
    /// Loads the configured chain or issues one (RSA key generation: a second or so). The
    /// signing key must match the signing certificate.
    pub fn new(s: &SandboxSettings, now: DateTime<Utc>) -> Result<Self, GatewayError> {
        let chain = match &s.chain {
            Some(chain) => chain.clone(),
            None => SandboxChain::issue(now)?,
        };
        let key = SignKey::parse(&chain.sign_key_pem)?;
        let cert = Cert::from_pem(&chain.sign_cert_pem)?;
        if cert.public_key()? != key.public_key() {
            return Err(GatewayError::Key("sandbox signing key does not match its certificate".into()));
        }
        let merchant_key = if s.merchant_cert_pem.contains("CERTIFICATE") {
            let cert = Cert::from_pem(&s.merchant_cert_pem)?;
            if cert.serial_decimal() != s.merchant_cert_id {
                return Err(GatewayError::Key("merchant_cert_id is not the certificate's serial".into()));
            }
            cert.public_key()?
        } else {
            RsaPublicKey::from_public_key_pem(s.merchant_cert_pem.trim())
                .map_err(|_| GatewayError::Key("merchant key is neither a certificate nor SPKI PEM".into()))?
        };
        Ok(Self {
            mer_id: s.mer_id.clone(),
            merchant_cert_id: s.merchant_cert_id.clone(),
            merchant_key,
            sign_cert_wire: cert.to_pem("\r\n"),
            key,
            chain,
        })
    }

    /// The chain in use: configure the platform with its root and middle.
    pub fn chain(&self) -> &SandboxChain {
        &self.chain
    }
    pub fn root_cert_pem(&self) -> &str {
        &self.chain.root_cert_pem
    }
    pub fn middle_cert_pem(&self) -> &str {
        &self.chain.middle_cert_pem
    }

    /// Verifies a merchant's form (front, back or query endpoint): version, signMethod, our
    /// merchant's merId and certId, and the signature with the merchant's key (§3.2).
    pub fn verify_request(&self, body: &[u8]) -> Result<BTreeMap<String, String>, GatewayError> {
        let p = form::parse(body).map_err(|e| GatewayError::Malformed(format!("request: {e}")))?;
        let get = |k: &str| p.get(k).map(String::as_str);
        if get("version") != Some(VERSION) || get("signMethod") != Some(SIGN_METHOD) {
            return Err(GatewayError::Signature("not a version 5.1.0, signMethod 01 request".into()));
        }
        if get("certId") != Some(self.merchant_cert_id.as_str()) {
            return Err(GatewayError::Signature("unknown certId".into()));
        }
        verify_signature(&p, &self.merchant_key)?;
        if get("merId") != Some(self.mer_id.as_str()) {
            return Err(GatewayError::Malformed("unknown merId".into()));
        }
        Ok(p)
    }

    /// `frontTransReq.do`: a verified consume form, refused once its `payTimeout` has passed.
    pub fn verify_front_consume(&self, body: &[u8], now: DateTime<Utc>) -> Result<FrontConsume, GatewayError> {
        let p = self.verify_request(body)?;
        let fixed = [("txnType", "01"), ("txnSubType", "01"), ("bizType", "000201"), ("accessType", "0")];
        expect(&p, &fixed)?;
        expect(&p, &[("currencyCode", CURRENCY_CNY)])?;
        let get = |k: &str| p.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let required = |k: &str| get(k).map(str::to_owned).ok_or_else(|| bad(&format!("missing {k}")));
        let channel_type = required("channelType")?;
        if channel_type != "07" && channel_type != "08" {
            return Err(bad("channelType must be 07 or 08"));
        }
        let txn_time = required("txnTime")?;
        parse_time(&txn_time).ok_or_else(|| bad("txnTime is not YYYYMMDDhhmmss"))?;
        let pay_timeout = get("payTimeout").map(|t| parse_time(t).ok_or_else(|| bad("payTimeout"))).transpose()?;
        if pay_timeout.is_some_and(|t| t <= now) {
            return Err(GatewayError::Refused { code: "payTimeout".into(), message: "payTimeout has passed".into() });
        }
        let order_id = required("orderId")?;
        if !(8..=40).contains(&order_id.len()) || !order_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad("orderId must be 8-40 letters/digits"));
        }
        Ok(FrontConsume {
            order_id,
            txn_time,
            txn_amt: parse_fen(&required("txnAmt")?)?,
            channel_type,
            front_url: get("frontUrl").map(str::to_owned),
            back_url: required("backUrl")?,
            pay_timeout,
            fields: p,
        })
    }

    /// `queryTrans.do`: the verified `(orderId, txnTime)` asked about.
    pub fn verify_query(&self, body: &[u8]) -> Result<(String, String), GatewayError> {
        let p = self.verify_request(body)?;
        expect(&p, &[("txnType", "00"), ("txnSubType", "00")])?;
        match (p.get("orderId"), p.get("txnTime")) {
            (Some(o), Some(t)) if parse_time(t).is_some() => Ok((o.clone(), t.clone())),
            _ => Err(bad("query needs orderId and txnTime")),
        }
    }

    /// Adds version, encoding, signMethod and `signPubKeyCert`, then signs every field as given
    /// (empty ones included, as UnionPay's messages may carry them, §3.6 pitfall 4).
    pub fn sign(&self, mut fields: BTreeMap<String, String>) -> BTreeMap<String, String> {
        for (k, v) in [("version", VERSION), ("encoding", ENCODING), ("signMethod", SIGN_METHOD)] {
            fields.insert(k.into(), v.into());
        }
        fields.insert("signPubKeyCert".into(), self.sign_cert_wire.clone());
        self.key.sign(fields)
    }

    /// A signed synchronous answer to a query (§3.4, §3.5a): unencoded `k=v&…`. No trade:
    /// `respCode=34`.
    pub fn query_response(&self, order_id: &str, txn_time: &str, trade: Option<&SandboxTrade<'_>>) -> String {
        let mut f = self.base(order_id, txn_time);
        f.insert("bizType".into(), "000000".into());
        let Some(t) = trade else {
            f.extend(owned(&[("respCode", "34"), ("respMsg", "交易不存在"), ("txnType", "00"), ("txnSubType", "00")]));
            return body(&self.sign(f));
        };
        f.extend(self.trade_fields(t));
        let (code, msg) = match t.progress {
            TradeProgress::Paid { .. } => ("00", "成功[0000000]"),
            TradeProgress::Processing => ("05", "交易处理中"),
            TradeProgress::Failed => ("01", "交易失败"),
        };
        f.extend(owned(&[("respCode", "00"), ("respMsg", "成功[0000000]"), ("origRespCode", code), ("origRespMsg", msg)]));
        body(&self.sign(f))
    }

    /// The URL-encoded form body of a signed backUrl notification for a paid consume (§3.5);
    /// the same fields serve the browser's frontUrl POST. Answer ≠ HTTP 200: send again.
    pub fn paid_notification(&self, trade: &SandboxTrade<'_>) -> Result<String, GatewayError> {
        if !matches!(trade.progress, TradeProgress::Paid { .. }) {
            return Err(bad("only paid consumes are notified (§3.5)"));
        }
        let mut f = self.base(trade.order_id, trade.txn_time);
        f.extend(self.trade_fields(trade));
        f.extend(owned(&[("respCode", "00"), ("respMsg", "success"), ("bizType", "000201")]));
        Ok(self.notification_body(f))
    }

    /// A notification's URL-encoded body: the fields signed, plus an empty `reqReserved=` sent
    /// outside the signature — the merchant must drop empty fields before verifying, as the
    /// official BackRcvResponse demo does.
    fn notification_body(&self, fields: BTreeMap<String, String>) -> String {
        let mut sent = self.sign(fields);
        sent.insert("reqReserved".into(), String::new());
        form::encode(sent.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }

    /// A fresh 21-digit `queryId`: Beijing `yyMMddHHmmss` of `now` and 9 random digits.
    pub fn new_query_id(now: DateTime<Utc>) -> String {
        format!("{}{:09}", &format_time(now)[2..], rand::rng().random_range(0..1_000_000_000u32))
    }

    fn base(&self, order_id: &str, txn_time: &str) -> BTreeMap<String, String> {
        owned(&[("accessType", "0"), ("merId", &self.mer_id), ("orderId", order_id), ("txnTime", txn_time)])
    }

    fn trade_fields(&self, t: &SandboxTrade<'_>) -> BTreeMap<String, String> {
        let amount = t.txn_amt.get().to_string();
        let mut f =
            owned(&[("txnType", "01"), ("txnSubType", "01"), ("txnAmt", &amount), ("currencyCode", CURRENCY_CNY), ("queryId", t.query_id)]);
        if let TradeProgress::Paid { at } = t.progress {
            let at = format_time(at);
            let trace_no = t.query_id.get(t.query_id.len().saturating_sub(6)..).unwrap_or("000000");
            let settle = [("settleAmt", amount.as_str()), ("settleCurrencyCode", CURRENCY_CNY), ("traceNo", trace_no)];
            f.extend(owned(&settle));
            f.extend(owned(&[("settleDate", &at[4..8]), ("traceTime", &at[4..14])]));
        }
        f
    }
}

/// An unencoded `k=v&…` body, as UnionPay answers synchronously (§3.2 parsing rules).
fn body(fields: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn expect(p: &BTreeMap<String, String>, fixed: &[(&str, &str)]) -> Result<(), GatewayError> {
    match fixed.iter().find(|(k, v)| p.get(*k).map(String::as_str) != Some(*v)) {
        Some((k, v)) => Err(bad(&format!("{k} must be {v}"))),
        None => Ok(()),
    }
}

fn bad(what: &str) -> GatewayError {
    GatewayError::Malformed(what.into())
}

/// The sandbox's refunds (§3.4, §3.5).
mod refund;
pub use refund::{RefundAsked, SandboxRefund};
