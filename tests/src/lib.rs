//! Test harness: each test gets its own table in moto (created from the SAM template), the
//! demo data, and the local platform's router on a random loopback port.
//!
//! moto is started by `scripts/test`, which exports `MOTO_ENDPOINT`.

use local::template::Template;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use shared::App;
use shared::clock::{Clock, ShiftedClock, beijing_date};
use std::net::SocketAddr;
use std::sync::Arc;

pub struct TestApp {
    pub base: String,
    /// The sandbox gateways this platform pays through.
    pub sandboxes: local::payments::LocalPayments,
    pub app: Arc<App>,
    pub clock: Arc<ShiftedClock>,
    pub endpoint: String,
    pub table: String,
    /// The table's stream delivered to the outbox function, as deployed (`local::streams`).
    pub stream: local::streams::StreamDelivery,
    /// Every SMS this platform got through to SNS (moto), in order.
    pub sms: Arc<SmsTap>,
}

/// Sits between the platform and its SMS sender (SNS on moto, or whatever a test wrapped
/// around it) and notes every message the sender accepted: what this platform sent, apart
/// from what other tests running at the same time send to the same demo phones.
pub struct SmsTap {
    inner: Arc<dyn shared::sms::SmsSender>,
    sent: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl shared::sms::SmsSender for SmsTap {
    async fn send(&self, to: &shared::domain::Phone, text: &str) -> Result<String, shared::sms::SmsError> {
        let id = self.inner.send(to, text).await?;
        self.sent.lock().unwrap().push((to.e164(), text.to_owned()));
        Ok(id)
    }
}

impl SmsTap {
    /// The texts accepted for `phone_e164` so far, oldest first.
    pub fn to(&self, phone_e164: &str) -> Vec<String> {
        self.sent.lock().unwrap().iter().filter(|(p, _)| p == phone_e164).map(|(_, t)| t.clone()).collect()
    }
    /// Every text accepted so far, oldest first, whichever phone it went to.
    pub fn texts(&self) -> Vec<String> {
        self.sent.lock().unwrap().iter().map(|(_, t)| t.clone()).collect()
    }
    /// The code of the last verification SMS sent for `action` ("首次登录验证", "更换绑定手机",
    /// "找回密码") to a phone ending in `last4`.
    pub fn last_code(&self, action: &str, last4: &str) -> Option<String> {
        let sent = self.sent.lock().unwrap();
        let (_, text) = sent.iter().rev().find(|(p, t)| p.ends_with(last4) && t.contains(action) && t.contains("验证码"))?;
        let code = text.split("验证码").nth(1)?.chars().take_while(char::is_ascii_digit).collect::<String>();
        (code.len() == 6).then_some(code)
    }
}

/// CPU time (user + system) of `clock` in milliseconds, at nanosecond resolution:
/// `libc::CLOCK_THREAD_CPUTIME_ID` (this thread) or `libc::CLOCK_PROCESS_CPUTIME_ID` (every
/// thread). The benches measure our own cost with it.
pub fn cpu_ms(clock: libc::clockid_t) -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(clock, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime");
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

pub fn moto_endpoint() -> String {
    std::env::var("MOTO_ENDPOINT").expect("MOTO_ENDPOINT is not set: run ./scripts/test, which starts moto")
}

/// A fresh platform: new table, demo data, router on 127.0.0.1:random.
pub async fn spawn() -> TestApp {
    spawn_with(|_| {}).await
}

/// Like [`spawn`], with the application context adjusted by `configure` before it serves (for
/// example an SMS sender that wraps the real one).
pub async fn spawn_with(configure: impl FnOnce(&mut App)) -> TestApp {
    spawn_configured(configure, &local::payments::configured_in_env).await
}

/// Like [`spawn_with`], with gateway settings JSON by variable name (`ALIPAY_MERCHANT`, …) from
/// `gateways` instead of the environment: those channels use the gateways so configured.
pub async fn spawn_configured(configure: impl FnOnce(&mut App), gateways: &dyn Fn(&str) -> Option<String>) -> TestApp {
    let endpoint = moto_endpoint();
    let cfg = local::sdk_config(&endpoint).await;
    let table = format!("test-{}", &shared::auth::random_id()[..16]);
    let template = Template::load_default().expect("template");
    let clock = Arc::new(ShiftedClock::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}");
    // Notification retries 1000× faster than real: 15 s becomes 15 ms.
    let sandboxes = local::payments::start(&base, 0.001, clock.clone(), gateways).await;
    let mut app = local::build_app(&cfg, &table, b"integration-test-secret-0123456789abcdef", clock.clone(), sandboxes.payments.clone());
    // Receipt SMS links point at this platform.
    app.settings.public_base_url = base.clone();
    configure(&mut app);
    let sms = Arc::new(SmsTap { inner: app.sms.clone().expect("the local platform sends SMS"), sent: Default::default() });
    app.sms = Some(sms.clone());
    let app = Arc::new(app);
    template.create_table(app.store.client(), &table).await.expect("create table");
    let stream = local::streams::start(Arc::clone(&app), &cfg, &table, &template, std::time::Duration::from_millis(50))
        .await
        .expect("stream delivery");
    local::seed::seed(&app, beijing_date(clock.now())).await.expect("seed");
    local::ensure_ops_bucket(&app).await.expect("ops bucket");
    let router = local::router(Arc::clone(&app), &template, &local::default_static_dir());
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
    });
    TestApp { base, app, clock, endpoint, table, sandboxes, stream, sms }
}

/// Waits up to 5 s for `cond` to hold (checked every 20 ms); whether it did. For effects that
/// follow an answer the test already saw, such as a gateway recording our acknowledgement,
/// which comes after the payment's commit and its receipt SMS.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..250 {
        if cond() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    cond()
}

/// A browser-like client on one of our own pages: keeps cookies, and says its requests come
/// from our own site (`Sec-Fetch-Site: same-origin`, as a browser's fetch from our pages does;
/// the cross-site guard refuses state changes without it or an `Origin` of ours).
pub fn browser() -> Client {
    let mut own_site = reqwest::header::HeaderMap::new();
    own_site.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    Client::builder().cookie_store(true).default_headers(own_site).build().unwrap()
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A POST as our own pages send it: JSON, from our own origin (the cross-site guard).
    pub async fn post(&self, c: &Client, path: &str, body: Value) -> Response {
        c.post(self.url(path)).header("origin", &self.base).json(&body).send().await.unwrap()
    }
    /// A PUT as our own pages send it (see [`Self::post`]).
    pub async fn put(&self, c: &Client, path: &str, body: Value) -> Response {
        c.put(self.url(path)).header("origin", &self.base).json(&body).send().await.unwrap()
    }
    pub async fn get(&self, c: &Client, path: &str) -> Response {
        c.get(self.url(path)).send().await.unwrap()
    }

    pub async fn login(&self, c: &Client, username: &str, password: &str) -> Response {
        self.post(c, "/api/login", json!({"username": username, "password": password})).await
    }

    /// Logs in with the initial password and completes the first login: the SMS code to the
    /// phone on file, and the forced change to `new_password`.
    pub async fn login_ready(&self, c: &Client, username: &str, initial: &str, new_password: &str) {
        let r = self.login(c, username, initial).await;
        assert_eq!(r.status(), StatusCode::OK, "login {username}");
        let code = self.activation_code(c).await;
        let r = self.post(c, "/api/password", json!({"old_password": initial, "new_password": new_password, "code": code})).await;
        assert_eq!(r.status(), StatusCode::NO_CONTENT, "forced change for {username}");
    }

    /// Asks for the first login's SMS code (in the session of `c`) and reads it from the SMS.
    pub async fn activation_code(&self, c: &Client) -> String {
        let r = self.post(c, "/api/password/code", json!({})).await;
        assert_eq!(r.status(), StatusCode::OK, "first-login code");
        let sent: Value = r.json().await.unwrap();
        let masked = sent["phone_masked"].as_str().unwrap();
        self.sms.last_code("首次登录验证", &masked[masked.len() - 4..]).expect("the code SMS")
    }

    /// The bodies of the notifications kept for `subject` (an out-trade-no or refund number) on
    /// `channel`, one per copy received, read from the table itself.
    pub async fn notifications_kept(&self, channel: &str, subject: &str) -> Vec<String> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let client = aws_sdk_dynamodb::Client::new(&local::sdk_config(&self.endpoint).await);
        let out = client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("NOTIFY#{channel}#{subject}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        out.items().iter().map(|it| it["raw"].as_s().unwrap().clone()).collect()
    }

    /// SMS this platform got through to SNS for `phone_e164`, oldest first, once the table's
    /// stream has been delivered up to now (receipt SMS leave through the outbox function).
    pub async fn sms_sent_to(&self, phone_e164: &str) -> Vec<String> {
        self.stream.drained().await;
        self.sms_sent_to_now(phone_e164).await
    }

    /// SMS sent to `phone_e164` so far, without waiting for the stream.
    pub async fn sms_sent_to_now(&self, phone_e164: &str) -> Vec<String> {
        self.sms.to(phone_e164)
    }
}

/// Reads an error body and checks its shape: `{code, message}` with a Chinese message.
pub async fn error_code(r: Response) -> (StatusCode, String, Value) {
    let status = r.status();
    let body: Value = r.json().await.expect("error bodies are JSON");
    let code = body["code"].as_str().expect("code").to_owned();
    let msg = body["message"].as_str().expect("message");
    assert!(msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "message in Chinese: {msg}");
    (status, code, body)
}

/// Notifications as the sandbox gateways sign them (this process's sandbox keys), for tests
/// that deliver them by hand: duplicates, concurrency, tampering.
pub mod notifications {
    use chrono::{DateTime, Utc};
    use local::keys::local_keys;
    use local::payments::*;
    use shared::domain::Fen;
    use shared::gateway::{alipay, unionpay, wechat};

    /// An Alipay TRADE_SUCCESS notification form body, as the sandbox with `app_id` signs it.
    pub fn alipay_paid(app_id: &str, out_trade_no: &str, total: Fen, now: DateTime<Utc>) -> String {
        let keys = local_keys();
        let gateway = alipay::Sandbox::new(&alipay::SandboxSettings {
            app_id: app_id.into(),
            seller_id: ALIPAY_SELLER_ID.into(),
            app_public_key: keys.alipay_app.public_pem.clone(),
            alipay_private_key: keys.alipay_gateway.private_pem.clone(),
        })
        .expect("sandbox settings");
        gateway.paid_notification(&alipay::PaidTrade {
            out_trade_no,
            trade_no: "2026112622001400000000000077",
            notify_id: "2026112600222120009000000000077",
            subject: "甘肃省财政厅 学费缴费",
            total,
            created_at: now,
            paid_at: now,
            notified_at: now,
        })
    }

    /// A WeChat Pay TRANSACTION.SUCCESS notification (headers and body), signed at `signed_at`
    /// by the sandbox of merchant `mchid`.
    pub fn wechat_paid(mchid: &str, out_trade_no: &str, total: Fen, signed_at: DateTime<Utc>) -> wechat::SignedNotification {
        let gateway = wechat::Sandbox::new(&local::payments::wechat_sandbox_settings(mchid)).expect("sandbox settings");
        let tx = wechat::SandboxTransaction {
            out_trade_no: out_trade_no.into(),
            transaction_id: Some("4200000000202611260000000077".into()),
            trade_type: "NATIVE".into(),
            trade_state: wechat::TradeStatus::Success,
            total,
            success_time: Some(signed_at),
        };
        gateway.payment_notification(&tx, "EV-2026112600000077", signed_at).expect("notification")
    }

    /// A UnionPay paid-consume backUrl notification (URL-encoded form), signed with `chain` (the
    /// test app's sandbox chain, or another one to forge) for merchant `mer_id`.
    pub fn unionpay_paid(
        chain: &unionpay::SandboxChain,
        mer_id: &str,
        out_trade_no: &str,
        txn_time: &str,
        total: Fen,
        paid_at: DateTime<Utc>,
    ) -> String {
        let keys = local_keys();
        let gateway = unionpay::Sandbox::new(
            &unionpay::SandboxSettings {
                mer_id: mer_id.into(),
                merchant_cert_id: UNIONPAY_CERT_ID.into(),
                merchant_cert_pem: keys.unionpay_merchant.public_pem.clone(),
                chain: Some(chain.clone()),
            },
            paid_at,
        )
        .expect("sandbox settings");
        gateway
            .paid_notification(&unionpay::SandboxTrade {
                order_id: out_trade_no,
                txn_time,
                txn_amt: total,
                query_id: "782611261200000000077",
                progress: unionpay::TradeProgress::Paid { at: paid_at },
            })
            .expect("notification")
    }
}

/// A session of student `no` for a test that calls the services directly (made before sessions
/// kept the student's name, so its orders read the payer's name from the profile).
/// The metric lines this test binary emits (EMF documents), captured from the first call on.
pub mod metrics {
    use serde_json::Value;
    use std::sync::{Mutex, Once};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());
    static SINK: Once = Once::new();

    /// Starts capturing (once per binary; tests run in parallel, so filter what you read).
    pub fn capture() {
        SINK.call_once(|| {
            shared::metrics::set_sink(|line| LINES.lock().unwrap().push(line.to_owned()));
        });
    }

    /// The values of metric `name` emitted with dimension `Channel` = `channel`.
    pub fn values(name: &str, channel: &str) -> Vec<f64> {
        let lines = LINES.lock().unwrap().clone();
        lines
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["metric"] == name && v["Channel"] == channel)
            .filter_map(|v| v[name].as_f64())
            .collect()
    }
}

pub fn authed(no: &str) -> shared::service::Authed {
    shared::service::Authed {
        student_no: shared::domain::StudentNo::parse(no).expect("a student number"),
        name: None,
        session_id: "test".into(),
        must_change_password: false,
        renewed_cookie: None,
    }
}

/// The student as the actor of a change a test makes directly through the store.
pub fn by_student(no: &shared::domain::StudentNo) -> shared::domain::By {
    shared::domain::By::new(shared::domain::Actor::Student(no.clone()), chrono::Utc::now())
}

/// An operator as the actor of a change a test makes directly.
pub fn by_operator() -> shared::domain::By {
    shared::domain::By::new(
        shared::domain::Actor::Operator(shared::domain::OperatorName::parse("测试操作员").expect("valid")),
        chrono::Utc::now(),
    )
}

/// This academic year as the fee items name it (`2026-2027`).
pub fn current_year() -> String {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(chrono::Utc::now()));
    format!("{y}-{}", y + 1)
}

/// 王五 (no phone on file), signed in, with an open order for this year's tuition (4000.00)
/// and the receipt phone 13912345678.
pub async fn student_with_order(t: &TestApp) -> (Client, String) {
    let c = browser();
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    let r = t
        .post(&c, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": "13912345678"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    (c, no)
}

/// 选择缴费方式: starts an attempt on `channel` from `device` (`pc`/`phone`); the pay view.
pub async fn pay_with(t: &TestApp, c: &Client, no: &str, channel: &str, device: &str) -> Value {
    let r = t.post(c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": device})).await;
    assert_eq!(r.status(), StatusCode::OK, "pay {channel}");
    r.json().await.unwrap()
}

/// Polls the order page's status until the order is paid (up to 5 s).
pub async fn wait_paid(t: &TestApp, c: &Client, no: &str) -> Value {
    for _ in 0..100 {
        let o: Value = t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap();
        if o["state"] == "paid" {
            return o;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {no} never turned paid");
}

/// Invokes an event-driven function as the console does (`/_local/invoke/<function>`):
/// the status and the JSON answer.
pub async fn invoke(t: &TestApp, function: &str, event: Value) -> (StatusCode, Value) {
    let r = Client::new().post(t.url(&format!("/_local/invoke/{function}"))).json(&event).send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

/// Starts an attempt on `channel` and pays it on the sandbox's cashier, as a person would.
pub async fn pay_at_gateway(t: &TestApp, c: &Client, no: &str, channel: &str) -> String {
    let r = t.post(c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await;
    assert_eq!(r.status(), StatusCode::OK, "pay {channel}");
    let pay: Value = r.json().await.unwrap();
    let otn = pay["out_trade_no"].as_str().unwrap().to_owned();
    let plain = || Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cashier = if channel == "unionpay" {
        let fields: std::collections::BTreeMap<String, String> = pay["action"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_owned(), kv[1].as_str().unwrap().to_owned()))
            .collect();
        let action = pay["action"]["action"].as_str().unwrap();
        let body = shared::gateway::form::encode(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let r = plain().post(action).header("content-type", shared::gateway::unionpay::FORM_CONTENT_TYPE).body(body).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER);
        format!("{}{}", action.split("/gateway/").next().unwrap(), r.headers()["location"].to_str().unwrap())
    } else {
        // Opening the QR page is the scan; the cashier lives next to it.
        let url = pay["action"]["content"].as_str().unwrap();
        assert_eq!(plain().get(url).send().await.unwrap().status(), StatusCode::OK);
        let base = url.split("/qr/").next().unwrap().split("/scan/").next().unwrap();
        format!("{base}/cashier/{otn}")
    };
    if channel == "unionpay" {
        assert_eq!(plain().get(&cashier).send().await.unwrap().status(), StatusCode::OK);
    }
    let r = plain().post(format!("{cashier}/pay")).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    otn
}

/// What a person does on the Alipay or WeChat Pay sandbox: open the QR/H5 page (scan),
/// press 支付.
pub async fn press_pay(page_url: &str) {
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = plain.get(page_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("甘肃省财政厅"), "the cashier names the payee");
    let base = page_url.split("/qr/").next().unwrap().split("/scan/").next().unwrap().split("/h5/").next().unwrap();
    let no = page_url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let r = plain.post(format!("{base}/cashier/{no}/pay")).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
}
