//! Credentials and sessions: argon2id password hashes, JWT session tokens, the session cookie.

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm as JwtAlg, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, OnceLock};

/// Argon2id with the OWASP minimum: m = 19 MiB, t = 2, p = 1.
#[derive(Clone)]
pub struct Hasher {
    argon: Arc<Argon2<'static>>,
    dummy: Arc<OnceLock<String>>,
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

impl Hasher {
    pub fn new() -> Self {
        let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params");
        Self { argon: Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)), dummy: Arc::default() }
    }

    /// PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) with a random salt.
    pub fn hash_blocking(&self, secret: &str) -> String {
        self.argon.hash_password(secret.as_bytes()).expect("argon2 hashing with valid params").to_string()
    }

    /// True when `secret` matches `phc`. A malformed stored hash never matches.
    pub fn verify_blocking(&self, secret: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self.argon.verify_password(secret.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    }

    /// A real hash of a random secret, so an unknown user costs the same time as a known one.
    pub fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            let random: [u8; 16] = rand::random();
            self.hash_blocking(&hex::encode(random))
        })
    }

    /// Hashing is CPU-bound: keep it off the async workers.
    pub async fn hash(&self, secret: String) -> String {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.hash_blocking(&secret)).await.expect("hash task")
    }

    /// Compares `typed` with a password that is not stored as a hash (an initial password,
    /// derived from the profile) in constant time, after the same argon2id work as `verify`:
    /// the answer's timing tells nothing about which kind of password an account has.
    pub async fn verify_derived(&self, typed: String, expected: String) -> bool {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            let _ = me.verify_blocking(&typed, me.dummy_hash());
            constant_time_eq(typed.as_bytes(), expected.as_bytes())
        })
        .await
        .expect("verify task")
    }

    /// Verifies against `phc`, or against the dummy hash when there is none (and then fails).
    pub async fn verify(&self, secret: String, phc: Option<String>) -> bool {
        let me = self.clone();
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => me.verify_blocking(&secret, &phc),
            None => {
                let _ = me.verify_blocking(&secret, me.dummy_hash());
                false
            }
        })
        .await
        .expect("verify task")
    }
}

/// Equal-length byte strings compared without an early exit.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a token is for; a token for one purpose is refused for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Purpose {
    Session,
    Reset,
    /// The OAuth round trip that names a payer (WeChat JSAPI): `data` = `state order channel`.
    PayerState,
    /// A payer named by its gateway for one session: `data` = the payer id (openid).
    Payer,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// Student (user) number.
    pub sub: String,
    /// Session id (session tokens) or reset-ticket id (reset tokens).
    pub sid: String,
    pub purpose: Purpose,
    /// Password change required before anything else.
    #[serde(default)]
    pub pwc: bool,
    pub iat: i64,
    pub exp: i64,
    /// What a token of another purpose than a session carries (see [`Purpose`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

#[derive(Clone)]
pub struct TokenKeys {
    enc: EncodingKey,
    dec: DecodingKey,
}

impl TokenKeys {
    /// HS256 keys from a secret of at least 32 bytes.
    pub fn from_secret(secret: &[u8]) -> Result<Self, &'static str> {
        if secret.len() < 32 {
            return Err("JWT secret must be at least 32 bytes");
        }
        Ok(Self { enc: EncodingKey::from_secret(secret), dec: DecodingKey::from_secret(secret) })
    }

    pub fn issue(&self, claims: &Claims) -> String {
        jsonwebtoken::encode(&Header::new(JwtAlg::HS256), claims, &self.enc).expect("HS256 signing")
    }

    /// Checks signature, algorithm, expiry (no leeway) and purpose.
    pub fn verify(&self, token: &str, purpose: Purpose, now: DateTime<Utc>) -> Option<Claims> {
        let mut v = Validation::new(JwtAlg::HS256);
        v.leeway = 0;
        v.validate_exp = false; // checked below against our clock
        v.set_required_spec_claims(&["exp", "sub"]);
        let claims = jsonwebtoken::decode::<Claims>(token, &self.dec, &v).ok()?.claims;
        (claims.purpose == purpose && claims.exp > now.timestamp()).then_some(claims)
    }
}

/// A random identifier with 128 bits of entropy, URL-safe.
pub fn random_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// The session cookie's name: `__Host-cp_session` wherever cookies are `Secure` (the cloud) —
/// the prefix makes browsers refuse it unless it is Secure, for `/` and without `Domain`, so a
/// sibling `*.edu.cn` site cannot plant one for us (cookie tossing) — and `cp_session` on the
/// plain-http local platform, where a `__Host-` cookie would be refused.
pub fn session_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-cp_session" } else { "cp_session" }
}

/// `Set-Cookie` value for a session token.
pub fn session_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(session_cookie_name(secure), token, max_age_secs, "Strict", secure)
}

/// An HttpOnly cookie for `/` (so a `__Host-` name is accepted where `secure`).
fn cookie(name: &str, value: &str, max_age_secs: i64, same_site: &str, secure: bool) -> String {
    format!("{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite={same_site}{}", if secure { "; Secure" } else { "" })
}

/// The payer-authorization state cookie's name (`__Host-` where Secure, as the session's).
pub fn payer_state_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-cp_payer_state" } else { "cp_payer_state" }
}

/// `Set-Cookie` for the payer-authorization state token: `SameSite=Lax`, because it must come
/// back with the gateway's cross-site redirect to us (a top-level GET).
pub fn payer_state_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(payer_state_cookie_name(secure), token, max_age_secs, "Lax", secure)
}

/// The named-payer cookie's name.
pub fn payer_cookie_name(secure: bool) -> &'static str {
    if secure { "__Host-cp_payer" } else { "cp_payer" }
}

/// `Set-Cookie` for the named-payer token (read by our own pages' requests only: `Strict`).
pub fn payer_cookie(token: &str, max_age_secs: i64, secure: bool) -> String {
    cookie(payer_cookie_name(secure), token, max_age_secs, "Strict", secure)
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_session_cookie(secure: bool) -> String {
    session_cookie("", 0, secure)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip_and_params() {
        let h = Hasher::new();
        let phc = h.hash_blocking("Campus2026a");
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(h.verify_blocking("Campus2026a", &phc));
        assert!(!h.verify_blocking("campus2026a", &phc));
        assert!(!h.verify_blocking("Campus2026a", "not a hash"));
        assert_ne!(phc, h.hash_blocking("Campus2026a"), "salted");
    }

    #[tokio::test]
    async fn a_derived_password_is_compared_exactly_after_the_same_argon2id_work() {
        let h = Hasher::new();
        assert!(h.dummy.get().is_none());
        assert!(h.verify_derived("0708456X".into(), "0708456X".into()).await);
        // The dummy hash was made and verified against: the same work as a stored hash.
        assert!(h.dummy.get().is_some());
        assert!(!h.verify_derived("0708456x".into(), "0708456X".into()).await, "exact, case included");
        assert!(!h.verify_derived("0708456".into(), "0708456X".into()).await);
        assert!(!h.verify_derived(String::new(), "0708456X".into()).await);
    }

    #[test]
    fn tokens() {
        let keys = TokenKeys::from_secret(&[7u8; 32]).unwrap();
        let now = Utc::now();
        let c = Claims {
            sub: "2021010101".into(),
            sid: "s1".into(),
            purpose: Purpose::Session,
            pwc: false,
            iat: now.timestamp(),
            exp: now.timestamp() + 60,
            data: None,
        };
        let t = keys.issue(&c);
        assert_eq!(keys.verify(&t, Purpose::Session, now).unwrap().sub, "2021010101");
        assert!(keys.verify(&t, Purpose::Reset, now).is_none(), "wrong purpose");
        assert!(keys.verify(&t, Purpose::Session, now + chrono::Duration::seconds(60)).is_none(), "expired");
        let other = TokenKeys::from_secret(&[8u8; 32]).unwrap();
        assert!(other.verify(&t, Purpose::Session, now).is_none(), "forged");
        let mut tampered = t.clone();
        tampered.insert(t.len() - 3, 'A');
        assert!(keys.verify(&tampered, Purpose::Session, now).is_none());
        assert!(TokenKeys::from_secret(b"short").is_err());
    }
}
