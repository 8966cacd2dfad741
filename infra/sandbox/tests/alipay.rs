//! The Alipay sandbox driven the way the platform drives Alipay: `shared::gateway::alipay::Merchant`
//! over HTTP, a notify endpoint that verifies before it acknowledges, and a "person" on the pages.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use common::{Answer, KeyPair, RETRY_SCALE, Receiver, bind, client, eventually, form, keypair, query_of, receiver};
use sandbox::{AlipayConfig, Control, try_alipay};
use shared::clock::{Clock, ShiftedClock};
use shared::domain::{Fen, OutTradeNo};
use shared::gateway::GatewayError;
use shared::gateway::alipay::{
    CloseOutcome, Delivery, Merchant, MerchantSettings, OrderRequest, PublicKey, SandboxSettings, SignedRequest, TradeState, verify_v1,
};
use std::sync::{Arc, LazyLock};
use std::time::Duration as StdDuration;

const APP_ID: &str = "2021000000000001";
const SELLER_ID: &str = "2088000000000001";
const RETURN_URL: &str = "http://127.0.0.1:9/pay/return";
const QUIT_URL: &str = "http://127.0.0.1:9/pay/quit";
const TUITION: Fen = Fen::new(500_000);

/// The platform's app key pair and the sandbox's "Alipay" key pair.
static KEYS: LazyLock<(KeyPair, KeyPair)> = LazyLock::new(|| (keypair(), keypair()));

struct Env {
    base: String,
    control: Control,
    merchant: Merchant,
    http: reqwest::Client,
    clock: Arc<ShiftedClock>,
    receiver: Receiver,
}

/// How the notify endpoint answers a notification that verified.
#[derive(Clone, Copy)]
enum Ack {
    Always,
    Never,
    /// Two wrong answers first (`500 success`, `200 "success\n"`), then `success`.
    Third,
}

impl Env {
    async fn new(ack: Ack) -> Env {
        let (app, ali) = &*KEYS;
        let (notify_listener, notify_base) = bind().await;
        let (listener, base) = bind().await;
        let merchant = Merchant::new(&MerchantSettings {
            gateway_url: format!("{base}/gateway.do"),
            app_id: APP_ID.into(),
            seller_id: SELLER_ID.into(),
            app_private_key: app.private_pem.clone(),
            alipay_public_key: ali.public_pem.clone(),
            notify_url: format!("{notify_base}/notify"),
            return_url: RETURN_URL.into(),
            bill_hosts: vec!["127.0.0.1".into()],
        })
        .expect("merchant settings");
        let verifier = merchant.clone();
        let answer: Answer = Arc::new(move |n, hit| {
            if verifier.verify_notification(&hit.body).is_err() {
                return (StatusCode::OK, "fail".into());
            }
            match (ack, n) {
                (Ack::Always, _) | (Ack::Third, 3..) => (StatusCode::OK, "success".into()),
                (Ack::Third, 1) => (StatusCode::INTERNAL_SERVER_ERROR, "success".into()),
                (Ack::Third, _) => (StatusCode::OK, "success\n".into()),
                (Ack::Never, _) => (StatusCode::OK, "fail".into()),
            }
        });
        let receiver = receiver(notify_listener, &notify_base, answer);
        let clock = Arc::new(ShiftedClock::default());
        let cfg = AlipayConfig {
            settings: SandboxSettings {
                app_id: APP_ID.into(),
                seller_id: SELLER_ID.into(),
                app_public_key: app.public_pem.clone(),
                alipay_private_key: ali.private_pem.clone(),
            },
            public_base: base.clone(),
            retry_scale: RETRY_SCALE,
        };
        let (router, control) = try_alipay(cfg, clock.clone()).expect("sandbox settings");
        common::serve(listener, router);
        Env { base, control, merchant, http: client(), clock, receiver }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An order for `no` (leaked: a test's few out-trade-nos live as long as it does).
    fn order(&self, no: &str) -> OrderRequest<'static> {
        let no: &'static OutTradeNo = Box::leak(Box::new(OutTradeNo::parse(no).expect("an out-trade-no")));
        OrderRequest { out_trade_no: no, amount: TUITION, subject: "2026学年学费", time_expire: self.now() + Duration::minutes(30) }
    }

    async fn post(&self, req: SignedRequest) -> String {
        let Delivery::Post { url, body } = req.delivery else { panic!("server calls are POSTs") };
        let resp = self
            .http
            .post(url)
            .header("content-type", shared::gateway::alipay::FORM_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .expect("gateway reachable");
        assert_eq!(resp.status(), StatusCode::OK);
        resp.text().await.unwrap()
    }

    async fn precreate(&self, order: &OrderRequest<'_>) -> Result<String, GatewayError> {
        let body = self.post(self.merchant.precreate(order, self.now()).unwrap()).await;
        self.merchant.parse_precreate(order.out_trade_no.as_str(), &body)
    }

    async fn query(&self, no: &str) -> TradeState {
        let body = self.post(self.merchant.query(no, self.now()).unwrap()).await;
        self.merchant.parse_query(no, &body).expect("verified query answer")
    }

    async fn close(&self, no: &str) -> CloseOutcome {
        let body = self.post(self.merchant.close(no, self.now()).unwrap()).await;
        self.merchant.parse_close(no, &body).expect("verified close answer")
    }

    /// Opens the QR page (the scan); returns status and HTML.
    async fn scan(&self, no: &str) -> (StatusCode, String) {
        let resp = self.http.get(format!("{}/qr/{no}", self.base)).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn press(&self, no: &str, button: &str, via: &str) -> reqwest::Response {
        self.http
            .post(format!("{}/cashier/{no}/{button}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("via", via)]))
            .send()
            .await
            .unwrap()
    }
}

fn refused_with(r: Result<String, GatewayError>, sub_code: &str) -> bool {
    matches!(r, Err(GatewayError::Refused { code, .. }) if code == sub_code)
}

fn html_result(html: &str) -> &str {
    const MARK: &str = r#"data-testid="sandbox-result">"#;
    let start = html.find(MARK).expect("a sandbox-result") + MARK.len();
    &html[start..start + html[start..].find('<').unwrap()]
}

#[tokio::test]
async fn qr_code_is_paid_notified_and_queried() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000QRPAID01";
    let qr = env.precreate(&env.order(no)).await.unwrap();
    assert_eq!(qr, format!("{}/qr/{no}", env.base));
    // Not an Alipay trade until scanned.
    assert_eq!(env.query(no).await, TradeState::NotFound);
    assert_eq!(env.control.trade_state(no).as_deref(), Some("NOT_SCANNED"));
    // The same order again gets the same code; another amount for the same number is refused.
    assert_eq!(env.precreate(&env.order(no)).await.unwrap(), qr);
    let other = OrderRequest { amount: Fen::new(1), ..env.order(no) };
    assert!(refused_with(env.precreate(&other).await, "ACQ.CONTEXT_INCONSISTENT"));

    let (status, html) = env.scan(no).await;
    assert_eq!(status, StatusCode::OK);
    for needle in [
        "甘肃省财政厅",
        "2026学年学费",
        "¥5,000.00",
        r#"data-testid="sandbox-pay""#,
        r#"data-testid="sandbox-cancel""#,
        &format!(r#"action="/cashier/{no}/pay""#),
        &format!(r#"action="/cashier/{no}/cancel""#),
        r#"name="viewport" content="width=device-width"#,
    ] {
        assert!(html.contains(needle), "cashier page lacks {needle}");
    }
    assert_eq!(env.query(no).await, TradeState::WaitBuyerPay);

    // 取消 leaves the trade waiting.
    let resp = env.press(no, "cancel", "qr").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(html_result(&resp.text().await.unwrap()), "已取消支付");
    assert_eq!(env.query(no).await, TradeState::WaitBuyerPay);

    let resp = env.press(no, "pay", "qr").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(html_result(&resp.text().await.unwrap()), "支付成功");
    eventually(StdDuration::from_secs(5), "the ACK", || env.control.notifications_acked(no) == 1).await;
    assert_eq!(env.control.notifications_sent(no), 1);

    let hits = env.receiver.hits();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].headers["content-type"], "application/x-www-form-urlencoded; charset=utf-8");
    let n = env.merchant.verify_notification(&hits[0].body).unwrap().check(no, TUITION).unwrap();
    assert!(n.is_paid());
    let date = env.now().with_timezone(&shared::clock::beijing()).format("%Y%m%d").to_string();
    assert!(n.trade_no.len() == 28 && n.trade_no.starts_with(&format!("{date}220014")), "{}", n.trade_no);
    assert!(!n.notify_id.is_empty());

    match env.query(no).await {
        TradeState::Paid { trade_no, total, paid_at } => {
            assert_eq!((trade_no, total), (n.trade_no.clone(), TUITION));
            assert!(paid_at.is_some_and(|t| (env.now() - t).num_seconds().abs() < 5));
        }
        other => panic!("expected paid, got {other:?}"),
    }
    assert_eq!(env.control.trade_state(no).as_deref(), Some("TRADE_SUCCESS"));

    // Paying twice is refused and notifies nothing more.
    assert_eq!(env.press(no, "pay", "qr").await.status(), StatusCode::CONFLICT);
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(env.control.notifications_sent(no), 1);
}

#[tokio::test]
async fn unacknowledged_notification_is_retried_eight_times_then_stops() {
    let env = Env::new(Ack::Never).await;
    let no = "T20261126120000RETRY001";
    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    env.press(no, "pay", "qr").await;
    eventually(StdDuration::from_secs(10), "8 sends", || env.control.notifications_sent(no) == 8).await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(env.control.notifications_sent(no), 8, "the schedule ends after 8 sends");
    assert_eq!(env.control.notifications_acked(no), 0);
    let hits = env.receiver.hits();
    assert_eq!(hits.len(), 8);
    let ids: Vec<String> =
        hits.iter().map(|h| env.merchant.verify_notification(&h.body).expect("every retry verifies").notify_id().to_owned()).collect();
    assert!(ids.iter().all(|id| *id == ids[0]), "notify_id is the same across retries");
}

#[tokio::test]
async fn only_exactly_success_with_200_acknowledges() {
    let env = Env::new(Ack::Third).await;
    let no = "T20261126120000RETRY002";
    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    env.press(no, "pay", "qr").await;
    eventually(StdDuration::from_secs(5), "the ACK", || env.control.notifications_acked(no) == 1).await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(env.control.notifications_sent(no), 3);
    assert_eq!(env.receiver.hits().len(), 3);
}

#[tokio::test]
async fn closed_before_the_scan_never_exists_and_cannot_be_paid() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000CLOSE01";
    env.precreate(&env.order(no)).await.unwrap();
    assert_eq!(env.close(no).await, CloseOutcome::NotExist);
    assert_eq!(env.control.trade_state(no).as_deref(), Some("TRADE_CLOSED"));
    let (_, html) = env.scan(no).await;
    assert_eq!(html_result(&html), "交易已关闭");
    assert!(!html.contains("sandbox-pay"));
    assert_eq!(env.query(no).await, TradeState::NotFound);
    assert_eq!(env.press(no, "pay", "qr").await.status(), StatusCode::CONFLICT);
    assert!(refused_with(env.precreate(&env.order(no)).await, "ACQ.TRADE_HAS_CLOSE"));
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(env.control.notifications_sent(no), 0);
    // An unknown number is simply not there.
    assert_eq!(env.close("T20261126120000NOSUCH1").await, CloseOutcome::NotExist);
}

#[tokio::test]
async fn closed_after_the_scan_is_closed_and_cannot_be_paid() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000CLOSE02";
    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    assert_eq!(env.close(no).await, CloseOutcome::Closed);
    assert_eq!(env.query(no).await, TradeState::Closed);
    let resp = env.press(no, "pay", "qr").await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(html_result(&resp.text().await.unwrap()), "交易已关闭，无法支付");
    assert!(matches!(env.close(no).await, CloseOutcome::NotClosable { .. }));
    assert_eq!(env.control.notifications_sent(no), 0);
}

#[tokio::test]
async fn close_after_payment_is_refused() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000CLOSE03";
    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    env.press(no, "pay", "qr").await;
    assert_eq!(env.close(no).await, CloseOutcome::NotClosable { sub_code: "ACQ.TRADE_STATUS_ERROR".into() });
    assert!(matches!(env.query(no).await, TradeState::Paid { total: TUITION, .. }));
    assert!(refused_with(env.precreate(&env.order(no)).await, "ACQ.TRADE_HAS_SUCCESS"));
}

#[tokio::test]
async fn expired_trade_closes_by_itself_and_cannot_be_paid() {
    let env = Env::new(Ack::Always).await;
    let (scanned, unscanned) = ("T20261126120000EXPIRE1", "T20261126120000EXPIRE2");
    for no in [scanned, unscanned] {
        let order = OrderRequest { time_expire: env.now() + Duration::minutes(5), ..env.order(no) };
        env.precreate(&order).await.unwrap();
    }
    env.scan(scanned).await;
    env.clock.advance(5 * 60 + 1);

    assert_eq!(env.query(scanned).await, TradeState::Closed);
    let resp = env.press(scanned, "pay", "qr").await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(env.control.trade_state(scanned).as_deref(), Some("TRADE_CLOSED"));

    let (_, html) = env.scan(unscanned).await;
    assert_eq!(html_result(&html), "交易已关闭");
    assert_eq!(env.query(unscanned).await, TradeState::NotFound);
    assert_eq!(env.press(unscanned, "pay", "qr").await.status(), StatusCode::CONFLICT);
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(env.control.notifications_sent(scanned) + env.control.notifications_sent(unscanned), 0);
}

#[tokio::test]
async fn tampered_or_foreign_requests_get_an_unsigned_error() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000TAMPER1";
    let req = env.merchant.precreate(&env.order(no), env.now()).unwrap();
    let Delivery::Post { url, body } = req.delivery.clone() else { unreachable!() };
    assert!(body.contains("5000.00"));
    let tampered = SignedRequest { delivery: Delivery::Post { url, body: body.replace("5000.00", "0.01") }, ..req };
    let text = env.post(tampered).await;
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["error_response"]["sub_code"], "isv.invalid-signature");
    assert!(v.get("sign").is_none(), "auth failures are not signed");
    assert!(matches!(env.merchant.parse_precreate(no, &text), Err(GatewayError::Signature(_))));
    assert_eq!(env.control.trade_state(no), None);

    // Signed with a key the sandbox does not know.
    let (_, ali) = &*KEYS;
    let stranger = Merchant::new(&MerchantSettings {
        gateway_url: format!("{}/gateway.do", env.base),
        app_id: APP_ID.into(),
        seller_id: SELLER_ID.into(),
        app_private_key: ali.private_pem.clone(),
        alipay_public_key: ali.public_pem.clone(),
        notify_url: env.receiver.url.clone(),
        return_url: RETURN_URL.into(),
        bill_hosts: Vec::new(),
    })
    .unwrap();
    let text = env.post(stranger.query(no, env.now()).unwrap()).await;
    assert!(text.contains("isv.invalid-signature") && !text.contains("\"sign\""));
}

#[tokio::test]
async fn everything_in_the_query_string_is_accepted_too() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000GETQRY1";
    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    // python-alipay-sdk style: one GET with every parameter, sign included, in the URL.
    let req = env.merchant.query(no, env.now()).unwrap();
    let q = shared::gateway::form::encode(req.params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let text = env.http.get(format!("{}/gateway.do?{q}", env.base)).send().await.unwrap().text().await.unwrap();
    assert_eq!(env.merchant.parse_query(no, &text).unwrap(), TradeState::WaitBuyerPay);
}

#[tokio::test]
async fn wap_cashier_redirects_to_signed_return_url_and_quit_url() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000WAP0001";
    let req = env.merchant.wap_pay(&env.order(no), QUIT_URL, env.now()).unwrap();
    let Delivery::Redirect { url } = req.delivery else { panic!("wap pay is a browser redirect") };
    assert!(url.starts_with(&format!("{}/gateway.do?", env.base)));
    let resp = env.http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let html = resp.text().await.unwrap();
    assert!(html.contains(r#"data-testid="sandbox-pay""#) && html.contains(r#"name="via" value="wap""#));
    assert_eq!(env.query(no).await, TradeState::WaitBuyerPay, "the cashier creates the trade");

    let resp = env.press(no, "cancel", "wap").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], QUIT_URL);
    assert_eq!(env.query(no).await, TradeState::WaitBuyerPay);

    let resp = env.press(no, "pay", "wap").await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.starts_with(&format!("{RETURN_URL}?")), "{location}");
    let params = query_of(&location);
    let (_, ali) = &*KEYS;
    verify_v1(&params, &PublicKey::parse(&ali.public_pem).unwrap()).expect("return URL signed under V1 rules");
    assert_eq!(params["method"], "alipay.trade.wap.pay.return");
    assert_eq!(params["out_trade_no"], no);
    assert_eq!(params["total_amount"], "5000.00");
    assert_eq!(params["seller_id"], SELLER_ID);

    eventually(StdDuration::from_secs(5), "the ACK", || env.control.notifications_acked(no) == 1).await;
    let n = env.merchant.verify_notification(&env.receiver.hits()[0].body).unwrap().check(no, TUITION).unwrap();
    assert_eq!(n.trade_no, params["trade_no"]);
}

#[tokio::test]
async fn lost_notifications_leave_the_query_to_find_the_payment() {
    let env = Env::new(Ack::Always).await;
    let no = "T20261126120000LOST001";
    // Over HTTP, as browser tests do.
    let resp = env.http.post(format!("{}/_control/deliver", env.base)).body(r#"{"deliver": false}"#).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!env.control.deliver_notifications());

    env.precreate(&env.order(no)).await.unwrap();
    env.scan(no).await;
    env.press(no, "pay", "qr").await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await; // the whole (scaled) schedule
    assert_eq!(env.control.notifications_sent(no), 0);
    assert!(env.receiver.hits().is_empty());
    assert!(matches!(env.query(no).await, TradeState::Paid { .. }));

    let v: serde_json::Value = env.http.get(format!("{}/_control/trades/{no}", env.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(v["state"], "TRADE_SUCCESS");
    assert_eq!(v["notifications_sent"], 0);
    let resp = env.http.get(format!("{}/_control/trades/T20261126120000NOSUCH1", env.base)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    env.control.set_deliver_notifications(true);
    assert!(env.control.deliver_notifications());
}
