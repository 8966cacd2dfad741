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
    /// Recovery failures of one student (identity, answer or code) within `recovery_window`
    /// before recovery is locked for the rest of it; recovery SMS per student and per client
    /// address within the same window.
    pub recovery_window: Duration,
    pub recovery_lock_after: u32,
    pub sms_per_student_per_day: u32,
    pub sms_per_client_per_day: u32,
    /// New orders one student may make within a day. Each spends one of the day's 999,999
    /// order serials for good; 10 a day for 30,000 students is at most 600,000 in any Beijing
    /// day (a rolling day may straddle two), so no loop of cancels can stop everyone ordering.
    pub orders_per_student_per_day: u32,
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
    /// The largest fee-bill or offline-payment file imported (bytes), checked before it is read.
    pub import_max_bytes: u64,
    /// A new account's initial password works this long after its import; then only recovery
    /// (which proves the phone) opens the account.
    pub initial_password_ttl: Duration,
    /// Duplicate payments (重复支付待退款) are refunded by the sweeper without an operator
    /// (`AUTO_REFUND_DUPLICATES`, on unless `false`)…
    pub auto_refund_duplicates: bool,
    /// …up to this amount; above it an operator decides (`AUTO_REFUND_MAX_YUAN`).
    pub auto_refund_max: crate::domain::Fen,
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
            recovery_window: Duration::days(1),
            recovery_lock_after: 10,
            sms_per_student_per_day: 5,
            sms_per_client_per_day: 20,
            orders_per_student_per_day: 10,
            order_ttl: Duration::hours(2),
            unit_id: crate::domain::UnitId::parse("LUTAU").expect("valid unit id"),
            public_base_url: "https://pay.lut.edu.cn".into(),
            receipt_link_days: 30,
            ops_bucket: None,
            import_max_bytes: 20 * 1024 * 1024,
            initial_password_ttl: Duration::days(30),
            auto_refund_duplicates: true,
            auto_refund_max: crate::domain::Fen::new(5_000_000),
        }
    }
}

/// What a function uses besides its table: each client is built, and each secret read, only
/// when the function asks for it in its `main` (`lambda_adapter::http_main!(handle, Uses { … })`).
/// `infra/local` checks the template against these: `sessions` ⇔ `JWT_SECRET_ARN`, `gateways` ⇔
/// the merchant secrets, `sms` ⇔ `SmsPublishPolicy`, `ops_files` ⇔ `OPS_BUCKET`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uses {
    /// Serves student sessions: needs the session key (`JWT_SECRET`).
    pub sessions: bool,
    /// Talks to the payment gateways: reads every configured gateway's settings.
    pub gateways: bool,
    /// Sends SMS (SNS).
    pub sms: bool,
    /// Reads and writes the operators' files (S3, `OPS_BUCKET`).
    pub ops_files: bool,
}

impl Uses {
    /// Only the table (and the clock).
    pub const TABLE_ONLY: Uses = Uses { sessions: false, gateways: false, sms: false, ops_files: false };
    /// Everything: the local platform, which serves every function from one process.
    pub const ALL: Uses = Uses { sessions: true, gateways: true, sms: true, ops_files: true };
}

/// Everything a handler needs. Generic over the store so services can be exercised with any
/// implementation of the store traits; deployed functions use [`DynamoStore`]. Made by
/// [`App::builder`] — the functions (through [`App::from_env`]), the local platform and the
/// tests alike.
pub struct App<S = DynamoStore> {
    pub store: S,
    /// SNS; `None` in a function that sends no SMS ([`Uses::sms`]).
    pub sms: Option<Arc<dyn SmsSender>>,
    /// The session and reset-ticket key; `None` in a function that serves no sessions
    /// ([`Uses::sessions`]: notifications, the sweeper, the operators' functions).
    pub tokens: Option<TokenKeys>,
    pub hasher: Hasher,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Configured payment gateways (a channel without configuration is not offered; none in a
    /// function that talks to no gateway).
    pub payments: crate::gateway::Payments,
    /// S3, for the operators' files (see [`Settings::ops_bucket`]); `None` in a function that
    /// has none ([`Uses::ops_files`]).
    pub s3: Option<aws_sdk_s3::Client>,
}

/// Builds an [`App`]: the store, then the parts a function uses. Unset: the system clock,
/// default settings, and no sessions, gateways, SMS or S3.
pub struct AppBuilder<S> {
    app: App<S>,
}

impl<S> App<S> {
    pub fn builder(store: S) -> AppBuilder<S> {
        AppBuilder {
            app: App {
                store,
                sms: None,
                tokens: None,
                hasher: Hasher::new(),
                clock: Arc::new(SystemClock),
                settings: Settings::default(),
                payments: Default::default(),
                s3: None,
            },
        }
    }

    /// The SMS sender, or why there is none.
    pub fn sms(&self) -> Result<&dyn SmsSender, crate::sms::SmsError> {
        self.sms.as_deref().ok_or_else(|| crate::sms::SmsError("this function sends no SMS (Uses::sms)".into()))
    }
}

impl<S> AppBuilder<S> {
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.app.clock = clock;
        self
    }
    pub fn settings(mut self, settings: Settings) -> Self {
        self.app.settings = settings;
        self
    }
    pub fn sessions(mut self, keys: TokenKeys) -> Self {
        self.app.tokens = Some(keys);
        self
    }
    pub fn payments(mut self, payments: crate::gateway::Payments) -> Self {
        self.app.payments = payments;
        self
    }
    pub fn sms(mut self, sms: Arc<dyn SmsSender>) -> Self {
        self.app.sms = Some(sms);
        self
    }
    pub fn s3(mut self, s3: aws_sdk_s3::Client) -> Self {
        self.app.s3 = Some(s3);
        self
    }
    pub fn build(self) -> App<S> {
        self.app
    }
}

/// The AWS SDK configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` for the local platform).
pub async fn aws_config() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await
}

impl App<DynamoStore> {
    /// Reads the configuration once, at cold start, for a function that uses `uses`:
    /// `TABLE_NAME`; the secrets of [`crate::config`] — from Secrets Manager when their
    /// `*_SECRET_ARN` is set (the cloud), else from the plain variable (locally) — the session
    /// key only with [`Uses::sessions`] (then required), the gateways' settings only with
    /// [`Uses::gateways`]; `OPS_BUCKET` (required) only with [`Uses::ops_files`]; and
    /// `COOKIE_SECURE`, `ORDER_TTL_MINUTES`, `UNIT_ID`, `PUBLIC_BASE_URL` (where receipt links
    /// point), `RECEIPT_LINK_DAYS`, `ORDER_PAGE_URL`. Also returns the CDN's origin token
    /// (`ORIGIN_VERIFY`), which the HTTP adapter trusts.
    pub async fn from_env(uses: Uses) -> Result<(Self, Option<String>), ConfigError> {
        use crate::config::{self, Secrets};
        let cfg = aws_config().await;
        let table = std::env::var("TABLE_NAME").map_err(|_| ConfigError::Missing("TABLE_NAME"))?;
        let secrets = Secrets::new(&cfg);
        let merchant = |r| secrets.read(config::gateway_setting(r));
        let gateways = futures::future::try_join_all(crate::gateway::REGISTRY.iter().filter(|_| uses.gateways).map(merchant));
        let jwt = async { if uses.sessions { secrets.read(config::JWT_SECRET).await } else { Ok(None) } };
        let (jwt, origin, gateway_settings) = tokio::try_join!(jwt, secrets.read(config::ORIGIN_VERIFY), gateways)?;
        let mut app = App::builder(DynamoStore::new(aws_sdk_dynamodb::Client::new(&cfg), table)).settings(settings_from_env(uses)?);
        if uses.sessions {
            let secret = jwt.ok_or(ConfigError::Missing("JWT_SECRET (or JWT_SECRET_ARN)"))?;
            app = app.sessions(TokenKeys::from_secret(secret.as_bytes()).map_err(|m| ConfigError::Invalid("JWT_SECRET", m))?);
        }
        if uses.gateways {
            app = app.payments(payments_from(gateway_settings)?);
        }
        if uses.sms {
            app = app.sms(Arc::new(SnsSms::new(aws_sdk_sns::Client::new(&cfg))));
        }
        if uses.ops_files {
            app = app.s3(aws_sdk_s3::Client::new(&cfg));
        }
        Ok((app.build(), origin))
    }
}

/// `SMS_PER_CLIENT_PER_DAY`: verification SMS one client address may ask for in a day. A
/// campus whose computer rooms share one public address raises it for the first days of term.
pub fn sms_per_client_per_day(v: &str) -> Result<u32, ConfigError> {
    let n: u32 = v.parse().map_err(|_| ConfigError::Invalid("SMS_PER_CLIENT_PER_DAY", "not a number"))?;
    if !(1..=1_000_000).contains(&n) {
        return Err(ConfigError::Invalid("SMS_PER_CLIENT_PER_DAY", "must be 1 to 1000000"));
    }
    Ok(n)
}

/// The plain settings from the environment (see [`App::from_env`]).
fn settings_from_env(uses: Uses) -> Result<Settings, ConfigError> {
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
    if let Ok(v) = std::env::var("SMS_PER_CLIENT_PER_DAY") {
        settings.sms_per_client_per_day = sms_per_client_per_day(&v)?;
    }
    if let Ok(v) = std::env::var("INITIAL_PASSWORD_DAYS") {
        let days: i64 = v.parse().map_err(|_| ConfigError::Invalid("INITIAL_PASSWORD_DAYS", "not a number"))?;
        if !(1..=365).contains(&days) {
            return Err(ConfigError::Invalid("INITIAL_PASSWORD_DAYS", "must be 1 to 365"));
        }
        settings.initial_password_ttl = Duration::days(days);
    }
    if let Ok(v) = std::env::var("AUTO_REFUND_DUPLICATES") {
        settings.auto_refund_duplicates = match v.trim() {
            "true" => true,
            "false" => false,
            _ => return Err(ConfigError::Invalid("AUTO_REFUND_DUPLICATES", "true or false")),
        };
    }
    if let Ok(v) = std::env::var("AUTO_REFUND_MAX_YUAN") {
        settings.auto_refund_max = crate::domain::Fen::parse_yuan(&v)
            .ok()
            .filter(|f| f.get() >= 0)
            .ok_or(ConfigError::Invalid("AUTO_REFUND_MAX_YUAN", "a yuan amount such as 50000.00"))?;
    }
    if uses.ops_files {
        let bucket = std::env::var("OPS_BUCKET").ok().filter(|b| !b.is_empty());
        settings.ops_bucket = Some(bucket.ok_or(ConfigError::Missing("OPS_BUCKET"))?);
    }
    Ok(settings)
}

/// The registered gateways ([`crate::gateway::REGISTRY`]) built from their settings JSON, read
/// in registry order (`None`: that channel is not offered), and `ORDER_PAGE_URL` (where a
/// cashier sends the browser back). Keys never live in code.
fn payments_from(settings: Vec<Option<String>>) -> Result<crate::gateway::Payments, ConfigError> {
    use crate::gateway::{Payments, REGISTRY, Wiring, net};
    let by_setting: std::collections::HashMap<&str, String> =
        REGISTRY.iter().zip(settings).filter_map(|(r, json)| Some((r.setting, json?))).collect();
    let wiring = Wiring { http: net::http_client(), order_page: std::env::var("ORDER_PAGE_URL").ok().filter(|u| !u.is_empty()) };
    Payments::configure(|r| by_setting.get(r.setting).cloned(), &wiring)
        .map_err(|(setting, e)| ConfigError::Gateway(setting, e.to_string()))
}
