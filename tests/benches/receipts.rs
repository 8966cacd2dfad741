//! Receipt SMS benchmark (run by `scripts/bench`, written up in docs/measurements.md): time from
//! the sandbox 支付 click to the receipt SMS being in moto's sent-message list, over `N` payments
//! one after another (Alipay QR; the sandbox notifies, the notify function's handler verifies, records
//! the payment with its receipt and outbox item in one transaction and acknowledges; the table's
//! stream then brings the outbox item to the outbox function, which publishes the SMS through
//! SNS at moto — so the figure includes the local stream poll, every 50 ms here).
//!
//! "In moto" is the instant moto answers the `Publish` (it has stored the message by then),
//! taken by a pass-through wrapper around the real SNS sender. Polling moto's state dump instead
//! would measure the poll: `/moto-api/data.json` serialises the whole emulator (every table),
//! and moto here serves one request at a time, so polling it every few ms slows the payment
//! being measured. At the end every order's SMS is checked to be in that dump, once, each to a
//! phone number of its own.
//!
//! Needs MOTO_ENDPOINT (scripts/bench starts moto). `RECEIPT_BENCH_N` overrides N.

use async_trait::async_trait;
use chrono::Utc;
use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::*;
use shared::sms::{SmsError, SmsSender};
use shared::store::FeeStore;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The real sender; notes when SNS (moto) accepted a message, by phone.
struct Timed {
    inner: Arc<dyn SmsSender>,
    accepted: Arc<Mutex<HashMap<String, Instant>>>,
}

#[async_trait]
impl SmsSender for Timed {
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError> {
        let id = self.inner.send(to, text).await?;
        self.accepted.lock().unwrap().insert(to.e164(), Instant::now());
        Ok(id)
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("RECEIPT_BENCH_N").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let accepted: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let noted = Arc::clone(&accepted);
    let t = spawn_with(move |app| {
        app.sms = Some(Arc::new(Timed { inner: app.sms.clone().expect("SMS"), accepted: noted }));
        // One student makes every order here: lift the daily cap on new orders (10 as deployed).
        app.settings.orders_per_student_per_day = 1_000;
    })
    .await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let year = format!("{y}-{}", y + 1);
    let today = shared::clock::beijing_date(Utc::now());
    let student = StudentNo::parse("2021010101").unwrap();
    let plain = reqwest::Client::new();
    // Phones of this run: 139 + 4 digits of the run + 4 of the payment.
    let run = u32::from_str_radix(&shared::auth::random_id()[..6], 16).unwrap() % 10_000;

    let mut latencies = Vec::with_capacity(n);
    let mut phones = Vec::with_capacity(n);
    for i in 0..n {
        let id = format!("BENCHR{i:03}");
        let item = FeeItem {
            academic_year: AcademicYear::parse(&year).unwrap(),
            item_id: ItemId::parse(&id).unwrap(),
            name: format!("测试项目{i}"),
            fee_type: FeeType::Other,
            due: Fen::new(100 + i as i64),
            paid: Fen::ZERO,
            window_start: today - chrono::Duration::days(1),
            window_end: today + chrono::Duration::days(30),
            status: ChargeStatus::Charging,
        };
        t.app.store.create_fee_item(&student, &item).await.unwrap();
        let phone = format!("139{run:04}{i:04}");
        let order: Value = t
            .post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": id}], "phone": phone}))
            .await
            .json()
            .await
            .unwrap();
        let no = order["order_no"].as_str().unwrap().to_owned();
        let pay: Value =
            t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await.json().await.unwrap();
        let otn = pay["out_trade_no"].as_str().unwrap();
        plain.get(pay["action"]["content"].as_str().unwrap()).send().await.unwrap(); // scan
        let e164 = format!("+86{phone}");
        let click = Instant::now();
        plain.post(format!("{}/cashier/{otn}/pay", t.sandboxes.alipay_base)).send().await.unwrap();
        loop {
            if let Some(at) = accepted.lock().unwrap().get(&e164) {
                break latencies.push(at.duration_since(click).as_secs_f64() * 1000.0);
            }
            if click.elapsed() > Duration::from_secs(20) {
                let m = shared::store::OutboxStore::get_sms(&t.app.store, &format!("PJ{no}")).await.unwrap();
                panic!("{no}: no SMS after 20 s; outbox {m:?}");
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        phones.push((e164, no));
    }
    // Every order's SMS is in moto's sent-message list, once.
    for (e164, no) in &phones {
        let sent = t.sms_sent_to(e164).await;
        assert!(sent.len() == 1 && sent[0].contains(no.as_str()), "{no}: {sent:?}");
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "click → receipt SMS in moto over {n} Alipay payments: p50 {:.1} ms, p99 {:.1} ms, min {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies[0],
        latencies[n - 1]
    );
}
