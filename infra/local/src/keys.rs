//! Key material for the local platform and its sandbox gateways, made fresh per process.
//! Nothing here is ever configuration of a deployed function: those keys come from Secrets
//! Manager, and these exist only in memory on 127.0.0.1.

use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use std::sync::OnceLock;

/// An RSA-2048 key pair as PEM (PKCS#8 private, SPKI public).
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

/// A fresh RSA-2048 pair (also for a second, independent sandbox in the tests).
pub fn generate() -> KeyPair {
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation");
    KeyPair {
        private_pem: key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8").to_string(),
        public_pem: key.to_public_key().to_public_key_pem(LineEnding::LF).expect("SPKI"),
    }
}

/// Every key the local payment setup needs.
pub struct LocalKeys {
    /// The platform's Alipay app key pair (signs requests; the sandbox verifies with its half).
    pub alipay_app: KeyPair,
    /// The sandbox Alipay's key pair (signs answers and notifications).
    pub alipay_gateway: KeyPair,
    /// The platform's WeChat Pay merchant API key pair.
    pub wechat_merchant: KeyPair,
    /// The sandbox WeChat Pay's platform key pair.
    pub wechat_platform: KeyPair,
    /// The platform's UnionPay signing key pair (the key of `acp_*_sign.pfx`; the sandbox
    /// verifies with its public half).
    pub unionpay_merchant: KeyPair,
    /// The APIv3 key (32 characters) that encrypts WeChat notification resources.
    pub wechat_api_v3_key: String,
}

/// Generated once per process (RSA key generation takes a moment).
pub fn local_keys() -> &'static LocalKeys {
    static KEYS: OnceLock<LocalKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let alnum: String = (0..32)
            .map(|_| {
                const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
                CHARS[rand::random_range(0..CHARS.len())] as char
            })
            .collect();
        LocalKeys {
            alipay_app: generate(),
            alipay_gateway: generate(),
            wechat_merchant: generate(),
            wechat_platform: generate(),
            unionpay_merchant: generate(),
            wechat_api_v3_key: alnum,
        }
    })
}
