//! The metrics the template's alarms watch are emitted where their events happen, as CloudWatch
//! EMF documents: a rejected notification counts `notify_rejected` for its channel, and every
//! sweep — idle ones too, so silence means a stalled sweeper — reports its backlog.

use chrono::Utc;
use integration_tests::notifications::alipay_paid;
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::domain::Fen;
use std::sync::{Arc, Mutex};

/// The values of `name` emitted so far, with the document they came in.
fn emitted(lines: &Mutex<Vec<String>>, name: &str) -> Vec<Value> {
    lines.lock().unwrap().iter().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|v| v["metric"] == name).collect()
}

#[tokio::test]
async fn alarms_get_their_metrics_where_the_events_happen() {
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = Arc::clone(&lines);
    assert!(shared::metrics::set_sink(move |l| sink.lock().unwrap().push(l.to_owned())));
    let t = spawn().await;

    // An idle sweep still reports: 0 due.
    t.app.sweep().await.unwrap();
    let backlog = emitted(&lines, "sweep_backlog");
    assert_eq!(backlog.last().unwrap()["sweep_backlog"], 0.0);
    assert_eq!(backlog.last().unwrap()["_aws"]["CloudWatchMetrics"][0]["Namespace"], "CampusPay");

    // A student starts an Alipay payment; a notification signed for another app is rejected.
    let c = browser();
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let r = t
        .post(
            &c,
            "/api/orders",
            json!({"items": [{"academic_year": format!("{y}-{}", y + 1), "item_id": "TUITION"}], "phone": "13912345678"}),
        )
        .await;
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let pay: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await.json().await.unwrap();
    let otn = pay["out_trade_no"].as_str().unwrap();
    assert!(emitted(&lines, "notify_rejected").is_empty());
    let forged = alipay_paid("2021000000009999", otn, Fen::new(400_000), Utc::now());
    let r = Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let rejected = emitted(&lines, "notify_rejected");
    assert_eq!(rejected.len(), 1);
    assert_eq!((rejected[0]["notify_rejected"].as_f64(), rejected[0]["Channel"].as_str()), (Some(1.0), Some("alipay")));
    assert_eq!(rejected[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["Stage"], ["Stage", "Channel"]]));

    // Three minutes on, the unsettled attempt is due: the backlog shows it.
    t.clock.advance(3 * 60);
    assert_eq!(t.app.sweep().await.unwrap().due, 1);
    assert_eq!(emitted(&lines, "sweep_backlog").last().unwrap()["sweep_backlog"], 1.0);
}
