//! What both sandboxes share: the clock, notification delivery with its retry schedule, and the
//! per-trade notification counters behind [`crate::Control`].

use crate::sync::lock;
use chrono::{DateTime, Utc};
use rand::Rng as _;
use shared::clock::Clock;
use shared::gateway::GatewayError;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the sandbox waits for a merchant's answer to one notification (WeChat Pay asks for
/// an answer within 5 s, §2.6; Alipay's limit is not published, the same is used).
const NOTIFY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub sent: usize,
    pub acked: usize,
}

pub(crate) struct Core {
    pub gateway: &'static str,
    pub clock: Arc<dyn Clock>,
    retry_scale: f64,
    deliver: AtomicBool,
    counts: Mutex<HashMap<String, Counts>>,
    http: reqwest::Client,
    /// Daily statements: test edits and download links.
    pub statements: crate::statements::Statements,
    /// The answer the next close gets instead of closing (HTTP status, error code), once.
    close_fault: Mutex<Option<(u16, String)>>,
    /// The next refund is taken but cannot reach the payer's account (WeChat Pay `ABNORMAL`).
    refund_to_card_fails: AtomicBool,
    /// The next refund request is lost on its way: never received, answered by a gateway
    /// timeout.
    lose_next_refund: AtomicBool,
}

impl Core {
    pub fn new(gateway: &'static str, clock: Arc<dyn Clock>, retry_scale: f64) -> Result<Self, GatewayError> {
        if !(retry_scale.is_finite() && retry_scale > 0.0) {
            return Err(GatewayError::Key("retry_scale must be a positive number".into()));
        }
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(NOTIFY_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|_| GatewayError::Key("notification HTTP client".into()))?;
        Ok(Self {
            gateway,
            clock,
            retry_scale,
            deliver: AtomicBool::new(true),
            close_fault: Mutex::new(None),
            refund_to_card_fails: AtomicBool::new(false),
            lose_next_refund: AtomicBool::new(false),
            counts: Mutex::new(HashMap::new()),
            http,
            statements: Default::default(),
        })
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub fn deliver(&self) -> bool {
        self.deliver.load(Ordering::SeqCst)
    }
    pub fn fail_next_close(&self, status: u16, code: &str) {
        *lock(&self.close_fault) = Some((status, code.to_owned()));
    }

    /// The fault set for the next close, taken (it applies once).
    pub fn take_close_fault(&self) -> Option<(u16, String)> {
        lock(&self.close_fault).take()
    }

    pub fn fail_next_refund_to_card(&self) {
        self.refund_to_card_fails.store(true, Ordering::SeqCst);
    }

    /// Whether this refund is the one set to fail on its way to the card (it applies once).
    pub fn take_refund_to_card_fault(&self) -> bool {
        self.refund_to_card_fails.swap(false, Ordering::SeqCst)
    }

    pub fn lose_next_refund(&self) {
        self.lose_next_refund.store(true, Ordering::SeqCst);
    }

    /// Whether this refund request is the one set to be lost (it applies once).
    pub fn take_lost_refund(&self) -> bool {
        self.lose_next_refund.swap(false, Ordering::SeqCst)
    }

    pub fn set_deliver(&self, deliver: bool) {
        self.deliver.store(deliver, Ordering::SeqCst);
    }
    pub fn counts(&self, out_trade_no: &str) -> Counts {
        lock(&self.counts).get(out_trade_no).copied().unwrap_or_default()
    }
    fn count(&self, out_trade_no: &str, f: impl FnOnce(&mut Counts)) {
        f(lock(&self.counts).entry(out_trade_no.to_owned()).or_default());
    }
    fn scaled(&self, secs: u64) -> Duration {
        Duration::try_from_secs_f64(secs as f64 * self.retry_scale).unwrap_or(Duration::MAX)
    }
}

/// One notification request: headers and body.
pub(crate) struct Outgoing {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Sends a payment notification to `url` on a tokio task: once now, then after each of
/// `retry_after` (seconds × retry_scale) until the merchant acknowledges, at most
/// `retry_after.len() + 1` sends. `build` makes the (freshly signed) request at each send's
/// time; `is_ack` judges the answer (status, body). Logs each send with its status, never bodies.
pub(crate) fn spawn_notifications<B, A>(
    core: Arc<Core>,
    out_trade_no: String,
    url: String,
    retry_after: &'static [u64],
    build: B,
    is_ack: A,
) where
    B: Fn(DateTime<Utc>) -> Result<Outgoing, GatewayError> + Send + 'static,
    A: Fn(u16, &[u8]) -> bool + Send + 'static,
{
    let gateway = core.gateway;
    let sends = retry_after.len() + 1;
    tokio::spawn(async move {
        for attempt in 1..=sends {
            if let Some(secs) = attempt.checked_sub(2).and_then(|i| retry_after.get(i)) {
                tokio::time::sleep(core.scaled(*secs)).await;
            }
            if !core.deliver() {
                tracing::info!(gateway, out_trade_no, attempt, of = sends, "notification lost (delivery disabled)");
                continue;
            }
            let msg = match build(core.now()) {
                Ok(msg) => msg,
                Err(e) => {
                    tracing::error!(gateway, out_trade_no, error = %e, "notification could not be built");
                    return;
                }
            };
            let mut req = core.http.post(&url);
            for (name, value) in &msg.headers {
                req = req.header(name, value);
            }
            core.count(&out_trade_no, |c| c.sent += 1);
            match req.body(msg.body).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp.bytes().await.unwrap_or_default();
                    let acked = is_ack(status, &body);
                    tracing::info!(gateway, out_trade_no, attempt, of = sends, status, acked, "notification sent");
                    if acked {
                        core.count(&out_trade_no, |c| c.acked += 1);
                        return;
                    }
                }
                Err(e) => {
                    let kind = shared::gateway::net::failure_kind(&e);
                    tracing::warn!(gateway, out_trade_no, attempt, of = sends, error = kind, "notification not delivered");
                }
            }
        }
        tracing::info!(gateway, out_trade_no, sends, "notification schedule ended without acknowledgement");
    });
}

/// `n` random decimal digits.
pub(crate) fn random_digits(n: usize) -> String {
    let mut rng = rand::rng();
    (0..n).map(|_| char::from(b'0' + rng.random_range(0..10u8))).collect()
}

/// A random version-4 UUID in its usual text form.
pub(crate) fn random_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// `url` with `query` appended (`?` or `&`).
pub(crate) fn with_query(url: &str, query: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{query}")
}

/// Only absolute http(s) URLs are followed as browser redirects.
pub(crate) fn is_http_url(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}
