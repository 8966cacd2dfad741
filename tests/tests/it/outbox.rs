//! The receipt SMS off the payment's path: the gateway is acknowledged while SNS has not
//! answered (a stuck SNS no longer holds the notification), the SMS then leaves through the
//! table's stream and the `outbox` function, and a stream batch delivered twice, or a record
//! that is not a new outbox item, sends nothing more.

use async_trait::async_trait;
use chrono::Utc;
use integration_tests::notifications::alipay_paid;
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::domain::{Fen, Phone};
use shared::sms::{SmsError, SmsSender};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::Semaphore;

/// The real sender (SNS at moto) behind a gate: each receipt SMS waits for a permit; counts
/// receipt sends begun (the first login's code passes straight through).
struct Gated {
    inner: Arc<dyn SmsSender>,
    gate: Arc<Semaphore>,
    begun: Arc<AtomicUsize>,
}

#[async_trait]
impl SmsSender for Gated {
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError> {
        if !text.contains("电子票据") {
            return self.inner.send(to, text).await;
        }
        self.begun.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.expect("gate open").forget();
        self.inner.send(to, text).await
    }
}

fn own_phone() -> String {
    let n = u64::from_str_radix(&shared::auth::random_id()[..12], 16).unwrap() % 100_000_000;
    format!("139{n:08}")
}

/// 张三's new order for this year's EXAM item with its receipt SMS to `phone`, and an Alipay
/// attempt on it: (order number, out-trade-no, total).
async fn paying(t: &TestApp, phone: &str) -> (String, String, Fen) {
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let r = t.post(&c, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "EXAM"}], "phone": phone})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o: Value = r.json().await.unwrap();
    let no = o["order_no"].as_str().unwrap().to_owned();
    let pay = pay_with(t, &c, &no, "alipay", "pc").await;
    (no, pay["out_trade_no"].as_str().unwrap().to_owned(), Fen::parse_yuan(o["total"].as_str().unwrap()).unwrap())
}

async fn notify(t: &TestApp, otn: &str, total: Fen) -> String {
    let body = alipay_paid(local::payments::ALIPAY_APP_ID, otn, total, Utc::now());
    let r = Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_is_acknowledged_while_sns_has_not_answered() {
    let gate = Arc::new(Semaphore::new(0));
    let begun = Arc::new(AtomicUsize::new(0));
    let (g, b) = (Arc::clone(&gate), Arc::clone(&begun));
    let t = spawn_with(move |app| app.sms = Some(Arc::new(Gated { inner: app.sms.clone().expect("SMS"), gate: g, begun: b }))).await;
    let phone = own_phone();
    let (no, otn, total) = paying(&t, &phone).await;

    // SNS holds every send until the gate opens; the notification is answered all the same
    // (a minute is only a guard against hanging: the old path never answered here).
    let answer = tokio::time::timeout(std::time::Duration::from_secs(60), notify(&t, &otn, total)).await;
    assert_eq!(answer.expect("the notification was answered while SNS held the SMS"), "success");
    assert!(begun.load(Ordering::SeqCst) <= 1);
    assert!(t.sms_sent_to_now(&format!("+86{phone}")).await.is_empty(), "nothing published yet");

    gate.add_permits(1);
    let messages = t.sms_sent_to(&format!("+86{phone}")).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains(&no));
    assert_eq!(begun.load(Ordering::SeqCst), 1, "one send for one paid order");
}

#[tokio::test]
async fn a_stream_batch_delivered_again_or_about_other_items_sends_nothing_more() {
    let t = spawn().await;
    let phone = own_phone();
    let (no, otn, total) = paying(&t, &phone).await;
    assert_eq!(notify(&t, &otn, total).await, "success");
    assert_eq!(t.sms_sent_to(&format!("+86{phone}")).await.len(), 1);

    // The same record again (Lambda delivers at least once), a claim's MODIFY, and another
    // item's INSERT, as the outbox function would receive them.
    let record = |name: &str, pk: &str, sk: &str, seq: &str| {
        json!({"eventID": seq, "eventName": name, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
               "dynamodb": {"ApproximateCreationDateTime": 1_765_000_000, "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                            "SequenceNumber": seq, "SizeBytes": 40, "StreamViewType": "KEYS_ONLY"}})
    };
    let outbox_pk = format!("OUTBOX#PJ{no}");
    let event = json!({"Records": [
        record("INSERT", &outbox_pk, "SMS", "101"),
        record("MODIFY", &outbox_pk, "SMS", "102"),
        record("INSERT", &format!("ORDER#{no}"), "ORDER", "103"),
    ]});
    for _ in 0..2 {
        let (status, answer) = invoke(&t, "outbox", event.clone()).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(answer["batchItemFailures"], json!([]), "nothing to retry: {answer}");
    }
    assert_eq!(t.sms_sent_to(&format!("+86{phone}")).await.len(), 1, "still one SMS");

    // Not a stream batch at all: refused, nothing sent.
    let (status, _) = invoke(&t, "outbox", json!({"Records": "nope"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(t.sms_sent_to(&format!("+86{phone}")).await.len(), 1);
}
