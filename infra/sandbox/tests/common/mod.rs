//! Test plumbing: keys generated per run, servers on 127.0.0.1:0, a notification receiver.
#![allow(dead_code)] // each test binary uses a part

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;

/// Notification retries 50 000× faster than real: Alipay's whole schedule (24 h 24 min) takes
/// 1.8 s, WeChat Pay's (24 h 4 min) 1.7 s.
pub const RETRY_SCALE: f64 = 0.00002;

/// An RSA-2048 pair as PEM (PKCS#8 private, SPKI public), made for this test run only.
pub struct KeyPair {
    pub private_pem: String,
    pub public_pem: String,
}

pub fn keypair() -> KeyPair {
    let key = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("RSA key generation");
    KeyPair {
        private_pem: key.to_pkcs8_pem(LineEnding::LF).expect("PKCS#8 PEM").to_string(),
        public_pem: key.to_public_key().to_public_key_pem(LineEnding::LF).expect("SPKI PEM"),
    }
}

/// A listener on a free port and its `http://127.0.0.1:port` base.
pub async fn bind() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("local address"));
    (listener, base)
}

pub fn serve(listener: TcpListener, router: Router) {
    tokio::spawn(async move {
        axum::serve(listener, router).await.expect("serve");
    });
}

/// A browser-like client that does not follow redirects (so tests see them) and ignores proxies.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

/// One notification as received.
#[derive(Clone)]
pub struct Hit {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// The merchant's notify endpoint: records every request and answers with `answer(n, hit)`,
/// `n` counting requests from 1.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Receiver {
    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

pub type Answer = Arc<dyn Fn(usize, &Hit) -> (StatusCode, String) + Send + Sync>;

pub fn receiver(listener: TcpListener, base: &str, answer: Answer) -> Receiver {
    let hits: Arc<Mutex<Vec<Hit>>> = Arc::default();
    let count = Arc::new(AtomicUsize::new(0));
    let recorded = Arc::clone(&hits);
    let router = Router::new().route(
        "/notify",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let (hits, count, answer) = (Arc::clone(&recorded), Arc::clone(&count), Arc::clone(&answer));
            async move {
                let hit = Hit { headers, body: body.to_vec() };
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let reply = answer(n, &hit);
                hits.lock().unwrap().push(hit);
                reply.into_response()
            }
        }),
    );
    serve(listener, router);
    Receiver { url: format!("{base}/notify"), hits }
}

/// Waits until `check` holds, up to `within`.
pub async fn eventually(within: Duration, what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The query parameters of a URL, form-decoded.
pub fn query_of(url: &str) -> std::collections::BTreeMap<String, String> {
    let q = url.split_once('?').map_or("", |(_, q)| q);
    shared::gateway::form::parse(q.as_bytes()).expect("query string")
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    shared::gateway::form::encode(pairs.iter().copied())
}
