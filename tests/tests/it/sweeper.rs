//! The sweeper (every minute in the cloud and locally): a payment whose notification was lost
//! is found by query; an expired order is closed at the gateway first, then here.

use chrono::Utc;
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::service::checkout::SweepReport;

async fn order_and_qr(t: &TestApp, channel: &str) -> (Client, String, Value) {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let c = browser();
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    let r = t
        .post(
            &c,
            "/api/orders",
            json!({"items": [{"academic_year": format!("{y}-{}", y + 1), "item_id": "TUITION"}], "phone": "13912345678"}),
        )
        .await;
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let pay: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await.json().await.unwrap();
    (c, no, pay)
}

async fn state(t: &TestApp, c: &Client, no: &str) -> Value {
    t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap()
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_the_sweeper() {
    let t = spawn().await;
    let (c, no, pay) = order_and_qr(&t, "wechat").await;
    t.sandboxes.wechat.set_deliver_notifications(false);
    let url = pay["action"]["content"].as_str().unwrap();
    Client::new().get(url).send().await.unwrap();
    let otn = pay["out_trade_no"].as_str().unwrap();
    let r = Client::new().post(format!("{}/cashier/{otn}/pay", t.sandboxes.wechat_base)).send().await.unwrap();
    assert!(r.status().is_success());
    // Too young to query: left to its notification.
    assert_eq!(t.app.sweep().await.unwrap().queried, 0);
    assert_eq!(state(&t, &c, &no).await["state"], "open");
    t.clock.advance(3 * 60);
    let report = t.app.sweep().await.unwrap();
    assert_eq!((report.queried, report.found_paid), (1, 1), "{report:?}");
    // Re-login: the session idled only 3 minutes, still valid.
    assert_eq!(state(&t, &c, &no).await["state"], "paid");
    // Settled attempts leave the work list.
    assert_eq!(t.app.sweep().await.unwrap(), SweepReport::default());
}

#[tokio::test]
async fn an_expired_order_is_closed_at_the_gateway_first_and_its_items_freed() {
    let t = spawn().await;
    let (c, no, pay) = order_and_qr(&t, "alipay").await;
    let otn = pay["out_trade_no"].as_str().unwrap().to_owned();
    // Scanned, never paid.
    Client::new().get(pay["action"]["content"].as_str().unwrap()).send().await.unwrap();
    assert_eq!(t.sandboxes.alipay.trade_state(&otn).as_deref(), Some("WAIT_BUYER_PAY"));
    t.clock.advance(2 * 3600 + 60);
    let report = t.app.sweep().await.unwrap();
    assert_eq!((report.attempts_closed, report.orders_closed, report.deferred), (1, 1, 0), "{report:?}");
    assert_eq!(t.sandboxes.alipay.trade_state(&otn).as_deref(), Some("TRADE_CLOSED"));
    assert_eq!(t.login(&c, "2021010103", "Campus2026a").await.status(), StatusCode::OK);
    let o = state(&t, &c, &no).await;
    assert_eq!(o["state"], "closed");
    assert_eq!(o["attempts"][0]["state"], "closed");
    // The items are free for a new order.
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let r = t
        .post(
            &c,
            "/api/orders",
            json!({"items": [{"academic_year": format!("{y}-{}", y + 1), "item_id": "TUITION"}], "phone": "13912345678"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
}
