//! Notifications over HTTP, delivered by hand: 20 concurrent copies make one transition;
//! tampered ones (app id, merchant, amount, signature, stale timestamp) change nothing; a
//! payment on a second channel is kept as a duplicate awaiting refund.

use chrono::{Duration, Utc};
use integration_tests::notifications::{alipay_paid, wechat_paid};
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::domain::Fen;
use shared::gateway::wechat::SignedNotification;

/// 王五's order for this year's tuition (4000.00) and the out-trade-no of a started attempt.
async fn attempt(t: &TestApp, c: &Client, channel: &str) -> (String, String) {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let r = t
        .post(
            c,
            "/api/orders",
            json!({"items": [{"academic_year": format!("{y}-{}", y + 1), "item_id": "TUITION"}], "phone": "13912345678"}),
        )
        .await;
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let pay: Value = t.post(c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await.json().await.unwrap();
    (no, pay["out_trade_no"].as_str().unwrap().to_owned())
}

async fn student(t: &TestApp) -> Client {
    let c = browser();
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    c
}

async fn post_alipay(t: &TestApp, body: String) -> (StatusCode, String) {
    let r = Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post_wechat(t: &TestApp, n: &SignedNotification) -> StatusCode {
    let mut req = Client::new().post(t.url("/api/notify/wechat")).body(n.body.clone());
    for (k, v) in n.headers.iter() {
        req = req.header(k, v);
    }
    req.send().await.unwrap().status()
}

async fn order(t: &TestApp, c: &Client, no: &str) -> Value {
    t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap()
}

async fn tuition_paid(t: &TestApp, c: &Client) -> String {
    let fees: Value = t.get(c, "/api/fees").await.json().await.unwrap();
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let year = format!("{y}-{}", y + 1);
    fees["years"].as_array().unwrap().iter().find(|v| v["academic_year"] == year.as_str()).unwrap()["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["item_id"] == "TUITION")
        .unwrap()["paid"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_alipay_copies_are_all_acked_with_one_effect() {
    let t = spawn().await;
    let c = student(&t).await;
    let (no, otn) = attempt(&t, &c, "alipay").await;
    let body = alipay_paid(local::payments::ALIPAY_APP_ID, &otn, Fen::new(400_000), Utc::now());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (url, body) = (t.url("/api/notify/alipay"), body.clone());
            tokio::spawn(async move {
                let r =
                    Client::new().post(url).header("content-type", "application/x-www-form-urlencoded").body(body).send().await.unwrap();
                r.text().await.unwrap()
            })
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        assert_eq!(r.unwrap(), "success", "every copy is acknowledged");
    }
    let o = order(&t, &c, &no).await;
    assert_eq!((o["state"].as_str(), o["attempts"][0]["state"].as_str()), (Some("paid"), Some("paid")));
    assert_eq!(tuition_paid(&t, &c).await, "4000.00", "credited once");
    // Persist, then ack: every acknowledged copy is kept as received — the one that paid (kept
    // in the payment's transaction) and each duplicate.
    let kept = t.notifications_kept("alipay", &otn).await;
    assert_eq!(kept.len(), 20, "one kept copy per acknowledged notification");
    assert!(kept.iter().all(|raw| raw == &body), "kept exactly as received");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_wechat_copies_are_all_acked_with_one_effect() {
    let t = spawn().await;
    let c = student(&t).await;
    let (no, otn) = attempt(&t, &c, "wechat").await;
    let n = wechat_paid(local::payments::WECHAT_MCHID, &otn, Fen::new(400_000), Utc::now());
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (url, n) = (t.url("/api/notify/wechat"), n.clone());
            tokio::spawn(async move {
                let mut req = Client::new().post(url).body(n.body.clone());
                for (k, v) in n.headers.iter() {
                    req = req.header(k, v);
                }
                req.send().await.unwrap().status()
            })
        })
        .collect();
    for s in futures::future::join_all(tasks).await {
        assert_eq!(s.unwrap(), StatusCode::NO_CONTENT);
    }
    assert_eq!(order(&t, &c, &no).await["state"], "paid");
    assert_eq!(tuition_paid(&t, &c).await, "4000.00", "credited once");
}

#[tokio::test]
async fn tampered_notifications_change_nothing() {
    let t = spawn().await;
    let c = student(&t).await;
    let (no, ali) = attempt(&t, &c, "alipay").await;
    let now = Utc::now();
    // Signed correctly, but for another app; for a different amount; with a broken signature.
    let (status, text) = post_alipay(&t, alipay_paid("2021000000009999", &ali, Fen::new(400_000), now)).await;
    assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, "fail"));
    assert_eq!(post_alipay(&t, alipay_paid(local::payments::ALIPAY_APP_ID, &ali, Fen::new(1), now)).await.1, "fail");
    let good = alipay_paid(local::payments::ALIPAY_APP_ID, &ali, Fen::new(400_000), now);
    assert_eq!(post_alipay(&t, good.replace("total_amount=4000.00", "total_amount=4000.01")).await.1, "fail");
    assert_eq!(order(&t, &c, &no).await["state"], "open");

    // WeChat Pay: another merchant, a wrong amount, a stale timestamp, a forged signature.
    let wx: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "wechat", "device": "pc"})).await.json().await.unwrap();
    let wx = wx["out_trade_no"].as_str().unwrap().to_owned();
    assert_eq!(post_wechat(&t, &wechat_paid("1900009999", &wx, Fen::new(400_000), now)).await, StatusCode::BAD_REQUEST);
    assert_eq!(post_wechat(&t, &wechat_paid(local::payments::WECHAT_MCHID, &wx, Fen::new(399_999), now)).await, StatusCode::BAD_REQUEST);
    let stale = wechat_paid(local::payments::WECHAT_MCHID, &wx, Fen::new(400_000), now - Duration::minutes(6));
    assert_eq!(post_wechat(&t, &stale).await, StatusCode::BAD_REQUEST);
    let mut forged = wechat_paid(local::payments::WECHAT_MCHID, &wx, Fen::new(400_000), now);
    forged.body = forged.body.replace("\"id\"", "\"id \"");
    assert_eq!(post_wechat(&t, &forged).await, StatusCode::BAD_REQUEST);
    let o = order(&t, &c, &no).await;
    assert_eq!(o["state"], "open");
    assert_eq!(tuition_paid(&t, &c).await, "0.00");
}

#[tokio::test]
async fn a_second_channels_payment_is_kept_as_a_duplicate_awaiting_refund() {
    let t = spawn().await;
    let c = student(&t).await;
    let (no, ali) = attempt(&t, &c, "alipay").await;
    // The student switches to WeChat Pay (Alipay's attempt is closed at the gateway) ...
    let wx: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "wechat", "device": "pc"})).await.json().await.unwrap();
    let wx = wx["out_trade_no"].as_str().unwrap().to_owned();
    // ... yet both gateways report a payment (a race at the gateways): the first pays the
    // order, the second is kept, visible, awaiting refund — never dropped.
    assert_eq!(
        post_wechat(&t, &wechat_paid(local::payments::WECHAT_MCHID, &wx, Fen::new(400_000), Utc::now())).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(post_alipay(&t, alipay_paid(local::payments::ALIPAY_APP_ID, &ali, Fen::new(400_000), Utc::now())).await.1, "success");
    let o = order(&t, &c, &no).await;
    assert_eq!(o["state"], "paid");
    let state = |otn: &str| {
        o["attempts"].as_array().unwrap().iter().find(|a| a["out_trade_no"] == otn).unwrap()["state_label"].as_str().unwrap().to_owned()
    };
    assert_eq!(state(&wx), "成功");
    assert_eq!(state(&ali), "重复支付待退款");
    assert_eq!(tuition_paid(&t, &c).await, "4000.00", "the fee was credited once");
}
