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
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use std::fmt;

/// An RSA private key that signs SHA256withRSA (PKCS#1 v1.5); its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct RsaSigner(SigningKey<Sha256>);

impl RsaSigner {
    pub fn parse(text: &str) -> Result<Self, GatewayError> {
        Ok(Self(SigningKey::new(private_key(text)?)))
    }

    /// The signature of `message`, computed with RSA blinding (a fresh random factor from the
    /// OS each time), so that its timing says nothing about the key (the Marvin attack,
    /// RUSTSEC-2023-0071). PKCS#1 v1.5 signatures are deterministic: the result is the same
    /// bytes an unblinded signer gives.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, GatewayError> {
        self.sign_blinded(&mut rsa::rand_core::OsRng, message)
    }

    fn sign_blinded(&self, rng: &mut impl rsa::rand_core::CryptoRngCore, message: &[u8]) -> Result<Vec<u8>, GatewayError> {
        let sig = self.0.try_sign_with_rng(rng, message).map_err(|_| GatewayError::Key("RSA signing failed".into()))?;
        Ok(sig.to_vec())
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

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::rand_core::{CryptoRng, OsRng, RngCore};
    use rsa::signature::Signer;

    /// OS randomness, counted.
    struct Counted(usize);
    impl RngCore for Counted {
        fn next_u32(&mut self) -> u32 {
            self.0 += 4;
            OsRng.next_u32()
        }
        fn next_u64(&mut self) -> u64 {
            self.0 += 8;
            OsRng.next_u64()
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            self.0 += dest.len();
            OsRng.fill_bytes(dest)
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
            self.0 += dest.len();
            OsRng.try_fill_bytes(dest)
        }
    }
    impl CryptoRng for Counted {}

    /// Every merchant signature is blinded (RUSTSEC-2023-0071): signing draws a random blinding
    /// factor — an unblinded signer draws nothing — and still gives the deterministic PKCS#1
    /// v1.5 signature the gateways verify.
    #[test]
    fn signing_is_blinded_and_gives_the_same_signature() {
        let key = RsaPrivateKey::new(&mut OsRng, 2048).unwrap();
        let signer = RsaSigner(SigningKey::new(key.clone()));
        let message = b"app_id=2021000000000001&method=alipay.trade.query";
        let mut rng = Counted(0);
        let blinded = signer.sign_blinded(&mut rng, message).unwrap();
        assert!(rng.0 >= 256, "a blinding factor the size of the modulus was drawn ({} bytes)", rng.0);
        assert_eq!(blinded, SigningKey::<Sha256>::new(key).sign(message).to_vec());
    }
}
