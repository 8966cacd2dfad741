//! RSA PKCS#1 v1.5 signature verification, one implementation for every gateway.
//!
//! Keys are still parsed by the `rsa` crate (PEM, DER, X.509), and our own requests are still
//! signed with it; verification — which every notification and every gateway answer needs —
//! runs on `ring`, already in the build through rustls: 25 µs for a 2048-bit key on this
//! machine against 231 µs for `rsa` 0.9, whose verify recomputes its Montgomery constants with a
//! big division each time (docs/measurements.md, "Notifications").

use ring::signature::{self, RsaPublicKeyComponents};
use rsa::RsaPublicKey;
use rsa::traits::PublicKeyParts;

/// The hash a signature was made over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlg {
    Sha256,
    /// Only where a gateway still uses it (UnionPay's test certificate chain).
    Sha1,
}

/// An RSA public key ready to verify PKCS#1 v1.5 signatures (moduli of 2,048 to 8,192 bits:
/// `ring` refuses shorter ones, which no gateway of ours may use anyway).
#[derive(Clone)]
pub struct RsaVerifier {
    components: RsaPublicKeyComponents<Vec<u8>>,
    bits: usize,
}

impl RsaVerifier {
    pub fn new(key: &RsaPublicKey) -> Self {
        Self { components: RsaPublicKeyComponents { n: key.n().to_bytes_be(), e: key.e().to_bytes_be() }, bits: key.size() * 8 }
    }

    /// Whether `signature` is `hash`withRSA over `message` under this key.
    pub fn verifies(&self, hash: HashAlg, message: &[u8], signature: &[u8]) -> bool {
        let params = match hash {
            HashAlg::Sha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            HashAlg::Sha1 => &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
        };
        self.components.verify(params, message, signature).is_ok()
    }
}

impl std::fmt::Debug for RsaVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RsaVerifier({} bits)", self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};

    fn key() -> rsa::RsaPrivateKey {
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap()
    }

    #[test]
    fn accepts_what_the_rsa_crate_signs_and_nothing_else() {
        let k = key();
        let v = RsaVerifier::new(&k.to_public_key());
        let msg = b"out_trade_no=XF200510LUTAU000001A1&total_amount=4000.00";
        let sig = SigningKey::<sha2::Sha256>::new(k.clone()).sign(msg).to_vec();
        assert!(v.verifies(HashAlg::Sha256, msg, &sig));
        assert!(!v.verifies(HashAlg::Sha256, b"out_trade_no=XF200510LUTAU000001A1&total_amount=4000.01", &sig), "another message");
        assert!(!v.verifies(HashAlg::Sha1, msg, &sig), "another digest");
        let mut flipped = sig.clone();
        flipped[10] ^= 1;
        assert!(!v.verifies(HashAlg::Sha256, msg, &flipped), "a changed signature");
        assert!(!v.verifies(HashAlg::Sha256, msg, &sig[1..]), "a short signature");
        let other = RsaVerifier::new(&key().to_public_key());
        assert!(!other.verifies(HashAlg::Sha256, msg, &sig), "another key");
        let sha1 = SigningKey::<sha1::Sha1>::new(k).sign(msg).to_vec();
        assert!(v.verifies(HashAlg::Sha1, msg, &sha1));
    }

    #[test]
    fn keys_under_2048_bits_verify_nothing() {
        let k = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
        let msg = b"short key";
        let sig = SigningKey::<sha2::Sha256>::new(k.clone()).sign(msg).to_vec();
        assert!(!RsaVerifier::new(&k.to_public_key()).verifies(HashAlg::Sha256, msg, &sig));
    }
}
