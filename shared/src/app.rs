//! The application context: every client and setting, built once per cold start.

use crate::auth::{Hasher, TokenKeys};
use crate::clock::{Clock, SystemClock};
pub use crate::config::ConfigError;
use crate::sms::{SmsSender, SnsSms};
use crate::store::DynamoStore;
use chrono::Duration;
use std::sync::Arc;

/// Tunables, with the values the platform runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Mark the session cookie `Secure` (off only on the plain-http local platform).
    pub cookie_secure: bool,
    /// A session token lives this long and is renewed while used (sliding expiry).
    pub session_idle: Duration,
    /// A session ends this long after login however active it is.
    pub session_max: Duration,
    /// Failed attempts per account name within `failure_window` before a lock …
    pub account_lock_after: u32,
    /// … of this length.
    pub lock_for: Duration,
    pub failure_window: Duration,
    /// Failed attempts per client address within `failure_window` before it is throttled.
    pub client_lock_after: u32,
    /// Forgot-password: identity ticket lifetime, SMS code lifetime, tries and resend cooldown.
    pub reset_ticket_ttl: Duration,
    pub reset_code_ttl: Duration,
    pub reset_code_tries: u32,
    pub sms_cooldown: Duration,
    /// An unpaid order expires this long after it was made.
    pub order_ttl: Duration,
    /// The 5-character unit id in order numbers (`LUTAU`).
    pub unit_id: crate::domain::UnitId,
    /// Where students reach the site, without a trailing slash: the receipt SMS links to
    /// `<public_base_url>/r/<token>`.
    pub public_base_url: String,
    /// A receipt's public link works this many days after the receipt is issued.
    pub receipt_link_days: i64,
    /// The operators' bucket (`OPS_BUCKET`): fee-bill imports and their reports under
    /// `imports/`, reconciliation reports under `reconcile/`. Only the operators' functions have it.
    pub ops_bucket: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            cookie_secure: true,
            session_idle: Duration::minutes(30),
            session_max: Duration::hours(12),
            account_lock_after: 5,
            lock_for: Duration::minutes(15),
            failure_window: Duration::minutes(15),
            client_lock_after: 50,
            reset_ticket_ttl: Duration::minutes(10),
            reset_code_ttl: Duration::minutes(10),
            reset_code_tries: 5,
            sms_cooldown: Duration::seconds(60),
            order_ttl: Duration::hours(2),
            unit_id: crate::domain::UnitId::parse("LUTAU").expect("valid unit id"),
            public_base_url: "https://pay.lut.edu.cn".into(),
            receipt_link_days: 30,
            ops_bucket: None,
        }
    }
}

/// Everything a handler needs. Generic over the store so services can be exercised with any
/// implementation of the store traits; deployed functions use [`DynamoStore`].
pub struct App<S = DynamoStore> {
    pub store: S,
    pub sms: Arc<dyn SmsSender>,
    /// The session and reset-ticket key; `None` in a function that serves no sessions
    /// (`SESSIONS=none`: notifications, the sweeper, the operators' functions).
    pub tokens: Option<TokenKeys>,
    pub hasher: Hasher,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Configured payment gateways (a channel without configuration is not offered).
    pub payments: crate::gateway::Payments,
    /// S3, for the operators' files (see [`Settings::ops_bucket`]).
    pub s3: aws_sdk_s3::Client,
}

/// The AWS SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local platform).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

impl App<DynamoStore> {
    /// Reads the configuration once, at cold start: `TABLE_NAME`; the secrets of
    /// [`crate::config`] — from Secrets Manager when their `*_SECRET_ARN` is set (the cloud),
    /// else from the plain variable (locally); `COOKIE_SECURE`, `ORDER_TTL_MINUTES`, `UNIT_ID`.
    /// A function that serves no sessions (notifications, the sweeper) runs with
    /// `SESSIONS=none` and no session key: it has none (`tokens: None`).
    /// Order and receipt settings: `ORDER_TTL_MINUTES`, `UNIT_ID`, `PUBLIC_BASE_URL` (where
    /// receipt links point), `RECEIPT_LINK_DAYS`; and the gateways'.
    pub async fn from_env() -> Result<Self, ConfigError> {
        use crate::config::{self, Secrets};
        let cfg = aws_config().await;
        let table = std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))?;
        let secrets = Secrets::new(&cfg);
        let gateways = futures::future::try_join_all(crate::gateway::REGISTRY.iter().map(|r| secrets.read(config::gateway_setting(r))));
        let (jwt, origin, gateway_settings) =
            tokio::try_join!(secrets.read(config::JWT_SECRET), secrets.read(config::ORIGIN_VERIFY), gateways)?;
        let tokens = match jwt {
            Some(secret) => Some(TokenKeys::from_secret(secret.as_bytes()).map_err(|m| ConfigError::Invalid("JWT_SECRET", m))?),
            None if std::env::var("SESSIONS").as_deref() == Ok("none") => None,
            None => return Err(ConfigError::Missing("JWT_SECRET (or JWT_SECRET_ARN)")),
        };
        if let Some(token) = origin {
            crate::http::trust_cdn_token(token).map_err(|m| ConfigError::Invalid("ORIGIN_VERIFY", m))?;
        }
        let mut settings = Settings::default();
        if let Ok(v) = std::env::var("COOKIE_SECURE") {
            settings.cookie_secure = !matches!(v.as_str(), "false" | "0" | "no");
        }
        if let Ok(v) = std::env::var("ORDER_TTL_MINUTES") {
            let minutes: i64 = v.parse().map_err(|_| ConfigError::Invalid("ORDER_TTL_MINUTES", "not a number"))?;
            if !(10..=24 * 60).contains(&minutes) {
                return Err(ConfigError::Invalid("ORDER_TTL_MINUTES", "must be 10 to 1440"));
            }
            settings.order_ttl = Duration::minutes(minutes);
        }
        if let Ok(v) = std::env::var("UNIT_ID") {
            settings.unit_id =
                crate::domain::UnitId::parse(&v).map_err(|_| ConfigError::Invalid("UNIT_ID", "5 upper-case letters or digits"))?;
        }
        if let Ok(v) = std::env::var("PUBLIC_BASE_URL") {
            let v = v.trim_end_matches('/');
            if !(v.starts_with("https://") || v.starts_with("http://")) || v.contains(char::is_whitespace) {
                return Err(ConfigError::Invalid("PUBLIC_BASE_URL", "an http(s) URL"));
            }
            settings.public_base_url = v.to_owned();
        }
        if let Ok(v) = std::env::var("RECEIPT_LINK_DAYS") {
            let days: i64 = v.parse().map_err(|_| ConfigError::Invalid("RECEIPT_LINK_DAYS", "not a number"))?;
            if !(1..=3650).contains(&days) {
                return Err(ConfigError::Invalid("RECEIPT_LINK_DAYS", "must be 1 to 3650"));
            }
            settings.receipt_link_days = days;
        }
        settings.ops_bucket = std::env::var("OPS_BUCKET").ok().filter(|b| !b.is_empty());
        Ok(Self {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(&cfg), table),
            sms: Arc::new(SnsSms::new(aws_sdk_sns::Client::new(&cfg))),
            tokens,
            hasher: Hasher::new(),
            clock: Arc::new(SystemClock),
            settings,
            payments: payments_from(gateway_settings)?,
            s3: aws_sdk_s3::Client::new(&cfg),
        })
    }
}

/// The registered gateways ([`crate::gateway::REGISTRY`]) built from their settings JSON, read
/// in registry order (`None`: that channel is not offered), and `ORDER_PAGE_URL` (where a
/// cashier sends the browser back). Keys never live in code.
fn payments_from(settings: Vec<Option<String>>) -> Result<crate::gateway::Payments, ConfigError> {
    use crate::gateway::{Payments, REGISTRY, Wiring, net};
    let by_channel = |r: &crate::gateway::Registration| {
        REGISTRY.iter().position(|x| x.channel == r.channel).and_then(|i| settings.get(i).cloned().flatten())
    };
    let wiring = Wiring { http: net::http_client(), order_page: std::env::var("ORDER_PAGE_URL").ok().filter(|u| !u.is_empty()) };
    Payments::configure(by_channel, &wiring).map_err(|(setting, e)| ConfigError::Gateway(setting, e.to_string()))
}

/// Crates that log request and response bodies (ID numbers, phones) below `info`: capped at
/// `info` whatever `RUST_LOG` says.
const BODY_LOGGING_CRATES: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sdk_dynamodb",
    "aws_sdk_sns",
    "aws_sdk_secretsmanager",
    "aws_sdk_s3",
    "aws_runtime",
    "aws_config",
    "hyper",
    "hyper_util",
    "h2",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
];

/// The log filter for `base` directives (e.g. `RUST_LOG`), with the body-logging crates capped.
pub fn log_filter(base: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(base).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for krate in BODY_LOGGING_CRATES {
        filter = filter.add_directive(format!("{krate}=info").parse().expect("valid directive"));
    }
    filter
}

/// Keeps glibc's mmap threshold at its default (128 KiB) instead of letting it climb. glibc
/// raises the threshold to the size of the largest mmapped block freed (up to 32 MiB), so after
/// the first argon2id run (19 MiB of blocks) later runs take their blocks from a thread's heap
/// and keep them there, one heap per blocking thread: `profile` grew from 39 MiB to 153 MiB over
/// five password changes (docs/measurements.md, "Cold start, size and memory"). With the
/// threshold fixed, argon2's blocks are mapped for the run and unmapped after it. Called first
/// in every function's `main`.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, under glibc's own arena lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Logs as JSON lines (CloudWatch-friendly), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(log_filter(&base)).with_current_span(false).without_time().try_init();
}
