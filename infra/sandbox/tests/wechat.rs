//! The WeChat Pay sandbox driven the way the platform drives WeChat Pay:
//! `shared::gateway::wechat::Merchant` over HTTP, a notify endpoint that verifies and decrypts
//! before it acknowledges, and a "person" on the cashier pages.

mod common;

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use common::{Answer, KeyPair, RETRY_SCALE, Receiver, bind, client, eventually, form, keypair, receiver};
use sandbox::{Control, WechatConfig, try_wechat};
use shared::clock::{Clock, ShiftedClock};
use shared::domain::{Fen, OutTradeNo};
use shared::gateway::wechat::{
    CloseAnswer, Headers, Merchant, MerchantSettings, OrderRequest, PublicKeySetting, SandboxSettings, SignedRequest, Stamp,
};
use shared::gateway::{GatewayError, TradeState};
use std::net::IpAddr;
use std::sync::{Arc, LazyLock};
use std::time::Duration as StdDuration;

const MCHID: &str = "1900000001";
const APPID: &str = "wxd678efh567hg6787";
const SERIAL: &str = "5F1C72E2A9D1C0B3E8F4A6B2C9D7E1F0A3B57115";
const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const API_V3_KEY: &str = "campusPayTestOnlyApiV3Key0123456";
const TUITION: Fen = Fen::new(500_000);

/// The merchant's API key pair and the sandbox's "WeChat Pay" key pair.
static KEYS: LazyLock<(KeyPair, KeyPair)> = LazyLock::new(|| (keypair(), keypair()));

struct Env {
    base: String,
    control: Control,
    merchant: Merchant,
    http: reqwest::Client,
    clock: Arc<ShiftedClock>,
    receiver: Receiver,
}

struct Answered {
    status: u16,
    headers: Headers,
    body: Vec<u8>,
}

impl Env {
    /// `ack`: whether the notify endpoint acknowledges (204) a notification that verified.
    async fn new(ack: bool) -> Env {
        let (merchant_keys, wechat_keys) = &*KEYS;
        let clock = Arc::new(ShiftedClock::default());
        let (notify_listener, notify_base) = bind().await;
        let merchant = Merchant::new(&MerchantSettings {
            mchid: MCHID.into(),
            appid: APPID.into(),
            serial_no: SERIAL.into(),
            private_key_pem: merchant_keys.private_pem.clone(),
            api_v3_key: API_V3_KEY.into(),
            notify_url: format!("{notify_base}/notify"),
            wechatpay_public_keys: vec![PublicKeySetting { id: KEY_ID.into(), pem: wechat_keys.public_pem.clone() }],
            jsapi: None,
        })
        .expect("merchant settings");
        let (verifier, verifier_clock) = (merchant.clone(), clock.clone());
        let answer: Answer = Arc::new(move |_, hit| {
            let verified = verifier.parse_notification(&Headers::from_http(&hit.headers), &hit.body, verifier_clock.now());
            match verified {
                Ok(_) if ack => (StatusCode::NO_CONTENT, String::new()),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, r#"{"code":"FAIL","message":"失败"}"#.into()),
            }
        });
        let receiver = receiver(notify_listener, &notify_base, answer);
        let (listener, base) = bind().await;
        let cfg = WechatConfig {
            settings: SandboxSettings {
                mchid: MCHID.into(),
                appid: APPID.into(),
                merchant_serial_no: SERIAL.into(),
                merchant_public_key_pem: merchant_keys.public_pem.clone(),
                key_id: KEY_ID.into(),
                private_key_pem: wechat_keys.private_pem.clone(),
                api_v3_key: API_V3_KEY.into(),
            },
            public_base: base.clone(),
            retry_scale: RETRY_SCALE,
            official_account: None,
        };
        let (router, control) = try_wechat(cfg, clock.clone()).expect("sandbox settings");
        common::serve(listener, router);
        Env { base, control, merchant, http: client(), clock, receiver }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn stamp(&self) -> Stamp {
        Stamp::fresh(self.now())
    }

    async fn send(&self, req: SignedRequest) -> Answered {
        let url = format!("{}{}", self.base, req.path);
        let mut builder = match req.method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).body(req.body),
        };
        for (k, v) in req.headers.iter() {
            builder = builder.header(k, v);
        }
        let resp = builder.send().await.expect("sandbox reachable");
        Answered { status: resp.status().as_u16(), headers: Headers::from_http(resp.headers()), body: resp.bytes().await.unwrap().to_vec() }
    }

    async fn native(&self, order: &OrderRequest<'_>) -> Result<String, GatewayError> {
        let a = self.send(self.merchant.native_order(order, &self.stamp()).unwrap()).await;
        self.merchant.parse_order_response(a.status, &a.headers, &a.body, self.now())
    }

    async fn query(&self, no: &OutTradeNo) -> TradeState {
        let a = self.send(self.merchant.query_order(no, &self.stamp()).unwrap()).await;
        self.merchant.parse_query_response(no, a.status, &a.headers, &a.body, self.now()).expect("verified query answer")
    }

    async fn close(&self, no: &OutTradeNo) -> Result<CloseAnswer, GatewayError> {
        let a = self.send(self.merchant.close_order(no, &self.stamp()).unwrap()).await;
        // Refusals are signed too.
        self.merchant.verify(&a.headers, &a.body, self.now()).expect("close answers are signed");
        self.merchant.parse_close_response(a.status, &a.headers, &a.body, self.now())
    }

    async fn get(&self, url: &str) -> (StatusCode, String) {
        let resp = self.http.get(url).send().await.unwrap();
        (resp.status(), resp.text().await.unwrap())
    }

    async fn press(&self, no: &OutTradeNo, button: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}/cashier/{no}/{button}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await
            .unwrap()
    }
}

fn otn(s: &str) -> OutTradeNo {
    OutTradeNo::parse(s).unwrap()
}

fn order<'a>(env: &Env, no: &'a OutTradeNo) -> OrderRequest<'a> {
    OrderRequest { out_trade_no: no, amount: TUITION, subject: "2026学年学费", time_expire: env.now() + Duration::minutes(30) }
}

fn refused_with<T: std::fmt::Debug>(r: Result<T, GatewayError>, code: &str) -> bool {
    matches!(&r, Err(GatewayError::Refused { code: c, .. }) if c == code)
}

fn html_result(html: &str) -> &str {
    const MARK: &str = r#"data-testid="sandbox-result">"#;
    let start = html.find(MARK).expect("a sandbox-result") + MARK.len();
    &html[start..start + html[start..].find('<').unwrap()]
}

#[tokio::test]
async fn native_order_is_paid_notified_queried_and_no_longer_closable() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000NATIVE01");
    // One request, sent twice below: `order` stamps the expiry from the clock, and a second
    // built later may fall in the next second — other parameters.
    let request = order(&env, &no);
    let code_url = env.native(&request).await.unwrap();
    assert_eq!(code_url, format!("{}/scan/{no}", env.base));
    assert_eq!(env.query(&no).await, TradeState::Pending);
    assert_eq!(env.control.trade_state(no.as_str()).as_deref(), Some("NOTPAY"));
    // Same order again: same code_url. Other parameters under the same number: refused.
    assert_eq!(env.native(&request).await.unwrap(), code_url);
    let other = OrderRequest { amount: Fen::new(1), ..order(&env, &no) };
    assert!(refused_with(env.native(&other).await, "INVALID_REQUEST"));

    let (status, html) = env.get(&code_url).await;
    assert_eq!(status, StatusCode::OK);
    for needle in ["甘肃省财政厅", "2026学年学费", "¥5,000.00", r#"data-testid="sandbox-pay""#, r#"data-testid="sandbox-cancel""#]
    {
        assert!(html.contains(needle), "cashier page lacks {needle}");
    }
    let resp = env.press(&no, "cancel", &[("via", "scan")]).await;
    assert_eq!(html_result(&resp.text().await.unwrap()), "已取消支付");
    assert_eq!(env.query(&no).await, TradeState::Pending);

    let resp = env.press(&no, "pay", &[("via", "scan")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(html_result(&resp.text().await.unwrap()), "支付成功");
    eventually(StdDuration::from_secs(5), "the ACK", || env.control.notifications_acked(no.as_str()) == 1).await;
    assert_eq!(env.control.notifications_sent(no.as_str()), 1);

    let hits = env.receiver.hits();
    assert_eq!(hits.len(), 1);
    let headers = Headers::from_http(&hits[0].headers);
    assert_eq!(headers.get("Wechatpay-Serial"), Some(KEY_ID));
    let n = env.merchant.parse_notification(&headers, &hits[0].body, env.now()).unwrap().check(&no, TUITION).unwrap();
    assert!(n.is_paid());
    assert_eq!(n.event_type, "TRANSACTION.SUCCESS");
    assert!(n.transaction_id.len() == 28 && n.transaction_id.starts_with("4200000000"), "{}", n.transaction_id);

    match env.query(&no).await {
        TradeState::Paid { gateway_trade_no, amount, paid_at } => {
            assert_eq!((gateway_trade_no, amount), (n.transaction_id.clone(), TUITION));
            assert!((env.now() - paid_at).num_seconds().abs() < 5);
        }
        other => panic!("expected paid, got {other:?}"),
    }
    assert_eq!(env.close(&no).await, Ok(CloseAnswer::NothingToClose("ORDERPAID".into())));
    assert!(matches!(env.query(&no).await, TradeState::Paid { .. }));
    assert_eq!(env.press(&no, "pay", &[("via", "scan")]).await.status(), StatusCode::CONFLICT);
    assert!(refused_with(env.native(&order(&env, &no)).await, "ORDERPAID"));
}

#[tokio::test]
async fn closed_order_cannot_be_paid_or_reopened() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000WXCLOSE1");
    let code_url = env.native(&order(&env, &no)).await.unwrap();
    assert_eq!(env.close(&no).await, Ok(CloseAnswer::Closed), "204, signed");
    assert_eq!(env.close(&no).await, Ok(CloseAnswer::Closed), "closing again is 204 too");
    assert_eq!(env.query(&no).await, TradeState::Closed);
    assert_eq!(env.control.trade_state(no.as_str()).as_deref(), Some("CLOSED"));
    let (_, html) = env.get(&code_url).await;
    assert_eq!(html_result(&html), "订单已关闭");
    assert_eq!(env.press(&no, "pay", &[("via", "scan")]).await.status(), StatusCode::CONFLICT);
    assert!(refused_with(env.native(&order(&env, &no)).await, "ORDER_CLOSED"));
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(env.control.notifications_sent(no.as_str()), 0);
    // An unknown number: query 404 ORDER_NOT_EXIST (signed), close 204.
    let unknown = otn("T20261126120000WXNOSUCH");
    assert_eq!(env.query(&unknown).await, TradeState::NotFound);
    assert_eq!(env.close(&unknown).await, Ok(CloseAnswer::Closed), "204 for an unknown number");
}

#[tokio::test]
async fn stale_tampered_or_foreign_authorization_is_refused() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000WXAUTH01");
    let ord = order(&env, &no);
    let stale = Stamp { timestamp: (env.now() - Duration::minutes(6)).timestamp(), nonce: "A1B2C3D4E5F6G7H8".into() };
    let mut requests = vec![env.merchant.native_order(&ord, &stale).unwrap()];
    let mut tampered = env.merchant.native_order(&ord, &env.stamp()).unwrap();
    tampered.body = tampered.body.replace("500000", "1");
    requests.push(tampered);
    let mut wrong_path = env.merchant.query_order(&no, &env.stamp()).unwrap();
    wrong_path.path = wrong_path.path.replace("mchid=", "mchid=1&x=");
    requests.push(wrong_path);
    let (merchant_keys, wechat_keys) = &*KEYS;
    let stranger = Merchant::new(&MerchantSettings {
        mchid: MCHID.into(),
        appid: APPID.into(),
        serial_no: SERIAL.into(),
        private_key_pem: wechat_keys.private_pem.clone(), // not the key the sandbox knows
        api_v3_key: API_V3_KEY.into(),
        notify_url: env.receiver.url.clone(),
        wechatpay_public_keys: vec![PublicKeySetting { id: KEY_ID.into(), pem: merchant_keys.public_pem.clone() }],
        jsapi: None,
    })
    .unwrap();
    requests.push(stranger.native_order(&ord, &env.stamp()).unwrap());
    for req in requests {
        let a = env.send(req).await;
        assert_eq!(a.status, 401);
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["code"], "SIGN_ERROR");
        assert!(a.headers.get("Wechatpay-Signature").is_none(), "401s are not signed");
    }
    assert_eq!(env.control.trade_state(no.as_str()), None);
}

#[tokio::test]
async fn h5_order_returns_to_redirect_url() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000WXH5PAY1");
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    let a = env.send(env.merchant.h5_order(&order(&env, &no), ip, &env.stamp()).unwrap()).await;
    let h5_url = env.merchant.parse_order_response(a.status, &a.headers, &a.body, env.now()).unwrap();
    assert!(h5_url.starts_with(&format!("{}/h5/{no}?prepay_id=wx", env.base)), "{h5_url}");

    let back = "http://127.0.0.1:9/pay/result?order=1";
    let url = format!("{h5_url}&{}", form(&[("redirect_url", back)]));
    let (status, html) = env.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="redirect_url" value="http://127.0.0.1:9/pay/result?order=1""#));

    let fields = [("via", "h5"), ("redirect_url", back)];
    let resp = env.press(&no, "cancel", &fields).await;
    assert_eq!((resp.status(), resp.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, back));
    assert_eq!(env.query(&no).await, TradeState::Pending);

    let resp = env.press(&no, "pay", &fields).await;
    assert_eq!((resp.status(), resp.headers()["location"].to_str().unwrap()), (StatusCode::SEE_OTHER, back));
    eventually(StdDuration::from_secs(5), "the ACK", || env.control.notifications_acked(no.as_str()) == 1).await;
    let hit = &env.receiver.hits()[0];
    let n = env.merchant.parse_notification(&Headers::from_http(&hit.headers), &hit.body, env.now()).unwrap();
    assert!(n.check(&no, TUITION).unwrap().is_paid());

    // Without redirect_url the page says so itself.
    let other = otn("T20261126120000WXH5PAY2");
    let a = env.send(env.merchant.h5_order(&order(&env, &other), ip, &env.stamp()).unwrap()).await;
    assert_eq!(a.status, 200);
    let resp = env.press(&other, "pay", &[("via", "h5")]).await;
    assert_eq!(html_result(&resp.text().await.unwrap()), "支付成功");
}

#[tokio::test]
async fn expired_order_cannot_be_paid() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000WXEXPIR1");
    let ord = OrderRequest { time_expire: env.now() + Duration::minutes(2), ..order(&env, &no) };
    let code_url = env.native(&ord).await.unwrap();
    env.clock.advance(2 * 60 + 1);
    let (_, html) = env.get(&code_url).await;
    assert_eq!(html_result(&html), "订单已过期");
    assert_eq!(env.press(&no, "pay", &[("via", "scan")]).await.status(), StatusCode::CONFLICT);
    // As at WeChat Pay, time_expire does not close the order: the query still says NOTPAY.
    assert_eq!(env.query(&no).await, TradeState::Pending);
    env.close(&no).await.unwrap();
    assert_eq!(env.query(&no).await, TradeState::Closed);
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(env.control.notifications_sent(no.as_str()), 0);
}

#[tokio::test]
async fn unacknowledged_notification_is_retried_sixteen_times_then_stops() {
    let env = Env::new(false).await;
    let no = otn("T20261126120000WXRETRY1");
    env.native(&order(&env, &no)).await.unwrap();
    env.press(&no, "pay", &[("via", "scan")]).await;
    eventually(StdDuration::from_secs(10), "16 sends", || env.control.notifications_sent(no.as_str()) == 16).await;
    tokio::time::sleep(StdDuration::from_millis(1500)).await;
    assert_eq!(env.control.notifications_sent(no.as_str()), 16, "the schedule ends after 16 sends");
    assert_eq!(env.control.notifications_acked(no.as_str()), 0);
    let hits = env.receiver.hits();
    assert_eq!(hits.len(), 16);
    let mut ids = Vec::new();
    for hit in &hits {
        let n = env.merchant.parse_notification(&Headers::from_http(&hit.headers), &hit.body, env.now());
        ids.push(n.expect("every retry is freshly signed and verifies").id().to_owned());
    }
    assert!(ids.iter().all(|id| *id == ids[0]), "one notification id across retries");
}

#[tokio::test]
async fn lost_notifications_and_control_over_http() {
    let env = Env::new(true).await;
    let no = otn("T20261126120000WXLOST01");
    env.control.set_deliver_notifications(false);
    env.native(&order(&env, &no)).await.unwrap();
    env.press(&no, "pay", &[("via", "scan")]).await;
    tokio::time::sleep(StdDuration::from_millis(2500)).await; // the whole (scaled) schedule
    assert_eq!(env.control.notifications_sent(no.as_str()), 0);
    assert!(env.receiver.hits().is_empty());
    assert!(matches!(env.query(&no).await, TradeState::Paid { .. }));

    let v: serde_json::Value = env.http.get(format!("{}/_control/trades/{no}", env.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!((v["state"].as_str(), v["notifications_acked"].as_u64()), (Some("SUCCESS"), Some(0)));
    let resp = env.http.post(format!("{}/_control/deliver", env.base)).body(r#"{"deliver": true}"#).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(env.control.deliver_notifications());
    let resp = env.http.post(format!("{}/_control/deliver", env.base)).body("yes").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
}
