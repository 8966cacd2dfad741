//! RSA key material as operators paste it, one parser for every gateway: private keys as
//! PKCS#1 (`RSA PRIVATE KEY`) or PKCS#8 (`PRIVATE KEY`) PEM, or the bare Base64 DER the Alipay
//! key tool prints; public keys as SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1 PEM, or the
//! bare Base64 SPKI the Alipay console shows (gateways.md §1.1). Every key must have at least
//! 2,048 bits. Errors name the form that failed, never the key.

use crate::GatewayError;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::fmt;

/// An RSA private key that signs SHA256withRSA (PKCS#1 v1.5); its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct RsaSigner(pub(crate) SigningKey<Sha256>);

impl RsaSigner {
    pub fn parse(text: &str) -> Result<Self, GatewayError> {
        Ok(Self(SigningKey::new(private_key(text)?)))
    }
    /// The matching public key (what the other side verifies with).
    pub fn public_key(&self) -> RsaPublicKey {
        RsaPublicKey::from(self.0.as_ref())
    }
}

impl fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RsaSigner(<redacted>)")
    }
}

/// A private key in any of the forms above.
pub fn private_key(text: &str) -> Result<RsaPrivateKey, GatewayError> {
    let text = text.trim();
    let key = if text.contains("-----BEGIN RSA PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs1_pem(text).map_err(|_| invalid("PKCS#1 private key PEM"))?
    } else if text.contains("-----BEGIN PRIVATE KEY-----") {
        RsaPrivateKey::from_pkcs8_pem(text).map_err(|_| invalid("PKCS#8 private key PEM"))?
    } else {
        let der = bare_base64(text)?;
        RsaPrivateKey::from_pkcs8_der(&der)
            .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
            .map_err(|_| invalid("private key (neither PKCS#8 nor PKCS#1)"))?
    };
    check_size(&RsaPublicKey::from(&key))?;
    Ok(key)
}

/// A public key in any of the forms above.
pub fn public_key(text: &str) -> Result<RsaPublicKey, GatewayError> {
    let text = text.trim();
    let key = if text.contains("-----BEGIN PUBLIC KEY-----") {
        RsaPublicKey::from_public_key_pem(text).map_err(|_| invalid("SPKI public key PEM"))?
    } else if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
        RsaPublicKey::from_pkcs1_pem(text).map_err(|_| invalid("PKCS#1 public key PEM"))?
    } else {
        RsaPublicKey::from_public_key_der(&bare_base64(text)?).map_err(|_| invalid("Base64 SPKI public key"))?
    };
    check_size(&key)?;
    Ok(key)
}

/// At least 2,048 bits (RSA2, WeChat Pay APIv3, UnionPay 5.1.0 alike).
pub fn check_size(key: &RsaPublicKey) -> Result<(), GatewayError> {
    if key.size() * 8 < 2048 {
        return Err(GatewayError::Key("RSA key shorter than 2048 bits".into()));
    }
    Ok(())
}

fn invalid(what: &str) -> GatewayError {
    GatewayError::Key(format!("invalid {what}"))
}

fn bare_base64(text: &str) -> Result<Vec<u8>, GatewayError> {
    let compact: String = text.split_ascii_whitespace().collect();
    B64.decode(compact).map_err(|_| GatewayError::Key("key is neither PEM nor Base64".into()))
}
