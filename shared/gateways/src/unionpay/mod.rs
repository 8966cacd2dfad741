//! UnionPay online payment (银联全渠道), ACP 5.1.0 with RSA certificates (gateways.md §3).
//!
//! Pure protocol code: no HTTP I/O and no clock reads — everything that depends on time takes `now`.
//! * [`Merchant`] is the platform side: signs front-consume forms and queries (§3.2–§3.4), verifies
//!   query responses and backUrl notifications (§3.2, §3.5) and maps them to domain terms.
//! * `Sandbox` (cargo feature `sandbox`) is our local UnionPay: verifies the merchant's requests, signs responses and
//!   notifications with a test certificate chain that it issues itself or loads (§5).
//!
//! Shared primitives live here: the canonical string and double hash ([`canonical`],
//! [`digest_hex`]), the signing key ([`SignKey`]), certificates ([`Cert`]), the configured
//! middle + root chain that vouches for `signPubKeyCert` ([`TrustChain`]), and the parser of
//! synchronous responses ([`parse_response`]). Keys and ids come from configuration only.

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
    ConsumeRequest, Merchant, MerchantSettings, Mismatch, Notification, RefundNotification, SignedForm, UncheckedNotification,
};
#[cfg(feature = "sandbox")]
pub use sandbox::{FrontConsume, RefundAsked, Sandbox, SandboxChain, SandboxRefund, SandboxSettings, SandboxTrade, TradeProgress};

use super::GatewayError;
use crate::rsa_keys::RsaSigner;
use crate::rsa_verify::{HashAlg, RsaVerifier};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, NaiveDateTime, Utc};
use rsa::RsaPublicKey;
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use x509_cert::Certificate;
use x509_cert::der::asn1::{ObjectIdentifier, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Decode, Encode, Reader, SliceReader};
use x509_cert::ext::pkix::BasicConstraints;

pub const VERSION: &str = "5.1.0";
/// RSA certificate signatures (§3.1).
pub const SIGN_METHOD: &str = "01";
pub const ENCODING: &str = "UTF-8";
pub const CURRENCY_CNY: &str = "156";
/// Body of our HTTP 200 answer to a verified, stored notification; the status is what counts (§3.5).
pub const ACK: &str = "ok";
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded;charset=UTF-8";
/// Field [2] of the `@`-separated CN of UnionPay's production signing certificate
/// (`041@…@中国银联股份有限公司@…`): the only name the ACP SDK's `CertUtil` accepts with
/// `acpsdk.ifValidateCNName=true` (§3.2).
pub const UNIONPAY_ORG: &str = "中国银联股份有限公司";
/// The name the ACP SDK also accepts in field [2] with `ifValidateCNName=false` (UnionPay's
/// test environment): configure it only there ([`MerchantSettings::signer_names`]).
pub const TEST_ENVIRONMENT_SIGNER: &str = "00040000:SIGN";

const OID_CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_SHA1_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.5");
const OID_SHA256_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// The canonical string (§3.2 step 3): every field but `signature`, sorted by key, raw `k=v`
/// joined by `&`. Empty values given stay in (`k=`): the signer has already dropped its blanks,
/// a synchronous answer is verified exactly as it came (§3.6 pitfall 4), and a notification
/// drops its empty fields before (the official BackRcvResponse demo).
pub fn canonical(params: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = params.iter().filter(|(k, _)| k.as_str() != "signature").map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join("&")
}

/// Lowercase hex of SHA-256 over the canonical string: what SHA256withRSA signs (§3.6 pitfall 1).
pub fn digest_hex(canonical: &str) -> String {
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// `YYYYMMDDhhmmss` in Beijing time (`txnTime`, `payTimeout`; §3.6 pitfall 5: never `%G`).
pub fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&domain::time::beijing()).format("%Y%m%d%H%M%S").to_string()
}

/// Reads a Beijing `YYYYMMDDhhmmss`; anything else is `None`.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(s, "%Y%m%d%H%M%S").ok()?;
    Some(naive.and_local_timezone(domain::time::beijing()).single()?.with_timezone(&Utc))
}

/// An RSA private key (≥ 2048 bits), PKCS#8 or PKCS#1 PEM: the merchant's `acp_*_sign.pfx` key
/// converted once to PEM, or the sandbox's signing key.
#[derive(Debug, Clone)]
pub struct SignKey(RsaSigner);

impl SignKey {
    pub fn parse(pem: &str) -> Result<Self, GatewayError> {
        RsaSigner::parse(pem).map(Self)
    }

    /// The sandbox issues its certificate for this key.
    #[cfg(feature = "sandbox")]
    fn public_key(&self) -> RsaPublicKey {
        self.0.public_key()
    }

    /// Sets `signature` = Base64(SHA256withRSA(hex(SHA-256(canonical)))) over the fields as given.
    fn sign(&self, mut params: BTreeMap<String, String>) -> BTreeMap<String, String> {
        params.remove("signature");
        let digest = digest_hex(&canonical(&params));
        params.insert("signature".into(), B64.encode(self.0.sign(digest.as_bytes()).expect("an RSA key of ours signs")));
        params
    }
}

/// Checks `signature` against the double hash of the canonical string with `key` (§3.2).
pub fn verify_signature(params: &BTreeMap<String, String>, key: &RsaPublicKey) -> Result<(), GatewayError> {
    let sig = params.get("signature").filter(|s| !s.is_empty()).ok_or_else(|| GatewayError::Signature("signature missing".into()))?;
    let raw = B64.decode(sig.trim()).map_err(|_| GatewayError::Signature("signature is not Base64".into()))?;
    if !RsaVerifier::new(key).verifies(HashAlg::Sha256, digest_hex(&canonical(params)).as_bytes(), &raw) {
        return Err(GatewayError::Signature("signature does not verify".into()));
    }
    Ok(())
}

/// One X.509 certificate, kept with its DER so signatures are checked over the exact bytes.
#[derive(Clone)]
pub struct Cert {
    der: Vec<u8>,
    cert: Certificate,
}

impl Cert {
    /// One PEM certificate; `\r\n` or `\n` line ends, any line width.
    pub fn from_pem(pem: &str) -> Result<Self, GatewayError> {
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let bad = || GatewayError::Key("not one PEM certificate".into());
        let body = pem.trim().strip_prefix(BEGIN).and_then(|r| r.strip_suffix(END)).ok_or_else(bad)?;
        let compact: String = body.split_ascii_whitespace().collect();
        let der = B64.decode(compact).map_err(|_| bad())?;
        Self::from_der(der)
    }

    pub fn from_der(der: Vec<u8>) -> Result<Self, GatewayError> {
        let cert = Certificate::from_der(&der).map_err(|_| GatewayError::Key("certificate is not valid DER".into()))?;
        Ok(Self { der, cert })
    }

    /// PEM with 64-column lines joined by `eol` (UnionPay sends `\r\n`), no final line end.
    pub fn to_pem(&self, eol: &str) -> String {
        let b64 = B64.encode(&self.der);
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
        format!("-----BEGIN CERTIFICATE-----{eol}{}{eol}-----END CERTIFICATE-----", lines.join(eol))
    }

    /// The serial number in decimal: a signing certificate's `certId` (§3.1).
    pub fn serial_decimal(&self) -> String {
        rsa::BigUint::from_bytes_be(self.cert.tbs_certificate.serial_number.as_bytes()).to_string()
    }

    /// The subject's common name, when it is a UTF8String or PrintableString.
    pub fn common_name(&self) -> Option<String> {
        let rdns = &self.cert.tbs_certificate.subject.0;
        let atv = rdns.iter().flat_map(|rdn| rdn.0.iter()).find(|atv| atv.oid == OID_CN)?;
        Utf8StringRef::try_from(&atv.value)
            .map(|s| s.as_str().to_owned())
            .or_else(|_| PrintableStringRef::try_from(&atv.value).map(|s| s.as_str().to_owned()))
            .ok()
    }

    pub fn public_key(&self) -> Result<RsaPublicKey, GatewayError> {
        let spki = self.cert.tbs_certificate.subject_public_key_info.to_der();
        let key = spki
            .ok()
            .and_then(|der| RsaPublicKey::from_public_key_der(&der).ok())
            .ok_or_else(|| GatewayError::Key("certificate key is not RSA".into()))?;
        crate::rsa_keys::check_size(&key)?;
        Ok(key)
    }

    fn check_valid_at(&self, now: DateTime<Utc>, what: &str) -> Result<(), GatewayError> {
        let v = &self.cert.tbs_certificate.validity;
        let secs = |t: x509_cert::time::Time| i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX);
        if now.timestamp() < secs(v.not_before) || now.timestamp() > secs(v.not_after) {
            return Err(GatewayError::Signature(format!("{what} certificate is not valid now")));
        }
        Ok(())
    }

    /// `self` names `issuer` as its issuer and carries its signature (SHA-256, or SHA-1 when
    /// allowed: the UnionPay test chain is SHA-1).
    fn check_issued_by(&self, issuer: &Cert, allow_sha1: bool, what: &str) -> Result<(), GatewayError> {
        let fail = |why: &str| GatewayError::Signature(format!("{what} certificate {why}"));
        if self.cert.tbs_certificate.issuer != issuer.cert.tbs_certificate.subject {
            return Err(fail("is issued by another CA"));
        }
        let alg = &self.cert.signature_algorithm;
        if alg != &self.cert.tbs_certificate.signature {
            return Err(fail("has inconsistent signature algorithms"));
        }
        let sig = self.cert.signature.as_bytes().ok_or_else(|| fail("has a malformed signature"))?;
        let tbs = raw_tbs(&self.der).ok_or_else(|| fail("is malformed"))?;
        let key = RsaVerifier::new(&issuer.public_key()?);
        let verified = match alg.oid {
            OID_SHA256_RSA => key.verifies(HashAlg::Sha256, tbs, sig),
            OID_SHA1_RSA if allow_sha1 => key.verifies(HashAlg::Sha1, tbs, sig),
            _ => return Err(fail("uses a signature algorithm we do not accept")),
        };
        if !verified {
            return Err(fail("signature does not verify"));
        }
        Ok(())
    }
}

impl fmt::Debug for Cert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cert(serial {}, CN {:?})", self.serial_decimal(), self.common_name())
    }
}

/// The `tbsCertificate` bytes exactly as signed: the first element of the outer SEQUENCE.
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let mut reader = SliceReader::new(der).ok()?;
    x509_cert::der::Header::decode(&mut reader).ok()?;
    reader.tlv_bytes().ok()
}

/// The configured UnionPay middle and root certificates (`acp_*_middle.cer`, `acp_*_root.cer`),
/// which vouch for the `signPubKeyCert` of each message (§3.2 verification step 2).
#[derive(Debug, Clone)]
pub struct TrustChain {
    root: Cert,
    middle: Cert,
    allow_sha1: bool,
    /// Accepted in field [2] of the signing certificate's CN.
    signer_names: Vec<String>,
}

impl TrustChain {
    /// Checks at once that `middle` is a CA issued by `root`. `signer_names`: what field [2] of
    /// a signing certificate's CN may be (none given: [`UNIONPAY_ORG`] only).
    pub fn new(root_pem: &str, middle_pem: &str, allow_sha1: bool, signer_names: &[String]) -> Result<Self, GatewayError> {
        let signer_names = if signer_names.is_empty() { vec![UNIONPAY_ORG.to_owned()] } else { signer_names.to_vec() };
        if signer_names.iter().any(|n| n.trim().is_empty() || n.contains('@')) {
            return Err(GatewayError::Key("signer_names: each a non-empty name without '@'".into()));
        }
        let chain = Self { root: Cert::from_pem(root_pem)?, middle: Cert::from_pem(middle_pem)?, allow_sha1, signer_names };
        let ca = chain.middle.cert.tbs_certificate.get::<BasicConstraints>().ok().flatten().is_some_and(|(_, bc)| bc.ca);
        if !ca {
            return Err(GatewayError::Key("middle certificate is not a CA".into()));
        }
        chain.middle.check_issued_by(&chain.root, allow_sha1, "middle").map_err(|e| GatewayError::Key(e.to_string()))?;
        Ok(chain)
    }

    /// The key of a UnionPay signing certificate, once it is shown to be valid at `now` and
    /// chained to our middle and root, and field [2] of its `@`-separated CN is one of the
    /// configured signer names — what the ACP SDK's `CertUtil.verifyCertificate` checks (§3.2).
    pub fn signing_key(&self, leaf_pem: &str, now: DateTime<Utc>) -> Result<RsaPublicKey, GatewayError> {
        let leaf = Cert::from_pem(leaf_pem).map_err(|_| GatewayError::Signature("signPubKeyCert is not a PEM certificate".into()))?;
        self.root.check_valid_at(now, "root")?;
        self.middle.check_valid_at(now, "middle")?;
        leaf.check_valid_at(now, "signing")?;
        leaf.check_issued_by(&self.middle, self.allow_sha1, "signing")?;
        let cn = leaf.common_name().unwrap_or_default();
        let company = cn.split('@').nth(2).unwrap_or_default();
        if !self.signer_names.iter().any(|n| n == company) {
            return Err(GatewayError::Signature("signing certificate CN is not UnionPay's".into()));
        }
        leaf.public_key()
    }

    /// Verifies a received message: `version` 5.1.0, `signMethod` 01, the `signPubKeyCert` it
    /// carries (see [`Self::signing_key`]), and the signature over every other field (§3.2).
    pub fn verify(&self, params: &BTreeMap<String, String>, now: DateTime<Utc>) -> Result<(), GatewayError> {
        let get = |k: &str| params.get(k).map(String::as_str);
        if get("version") != Some(VERSION) || get("signMethod") != Some(SIGN_METHOD) {
            return Err(GatewayError::Signature("not a version 5.1.0, signMethod 01 message".into()));
        }
        if get("encoding").is_some_and(|e| !e.eq_ignore_ascii_case(ENCODING)) {
            return Err(GatewayError::Malformed("encoding is not UTF-8".into()));
        }
        let pem = get("signPubKeyCert").ok_or_else(|| GatewayError::Signature("signPubKeyCert missing".into()))?;
        verify_signature(params, &self.signing_key(pem, now)?)
    }
}

/// Parses a synchronous response body (§3.2 parsing rules): `k=v&…`, **not** URL-decoded, `&`
/// inside `{…}`/`[…]` belongs to the value, the first `=` splits. Repeated keys, a pair without
/// `=` and an unclosed bracket are refused: they would make the signed content ambiguous.
pub fn parse_response(body: &str) -> Result<BTreeMap<String, String>, GatewayError> {
    let bad = |what: &str| GatewayError::Malformed(format!("response: {what}"));
    let mut segments = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, b) in body.bytes().enumerate() {
        match b {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth = depth.saturating_sub(1), // a stray closer is text, as in the SDK
            b'&' if depth == 0 => {
                segments.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err(bad("unbalanced brackets"));
    }
    segments.push(&body[start..]);
    let mut out = BTreeMap::new();
    for segment in segments {
        let (k, v) = segment.split_once('=').filter(|(k, _)| !k.is_empty()).ok_or_else(|| bad("a pair lacks key="))?;
        if out.insert(k.to_owned(), v.to_owned()).is_some() {
            return Err(bad("repeated field"));
        }
    }
    Ok(out)
}

/// `txnAmt`: integer fen, digits only (§3.3).
fn parse_fen(raw: &str) -> Result<crate::domain::Fen, GatewayError> {
    let fen = (!raw.is_empty() && raw.len() <= 16 && raw.bytes().all(|b| b.is_ascii_digit()))
        .then(|| raw.parse::<i64>().ok())
        .flatten()
        .filter(|v| *v <= crate::domain::Fen::MAX.get())
        .ok_or_else(|| GatewayError::Malformed("txnAmt is not an amount in fen".into()))?;
    Ok(crate::domain::Fen::new(fen))
}
