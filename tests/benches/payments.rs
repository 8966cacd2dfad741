//! Payment benchmarks (run by `scripts/bench`, written up in docs/measurements.md):
//! 1. sandbox 支付 click → our order reads PAID, over 100 payments (Alipay QR, notification
//!    delivered by the sandbox, verified, stored, applied by notify-alipay's handler);
//! 2. CPU time of the notification handler per notification (process CPU, this process only —
//!    moto runs in its own), over 100 fresh notifications handled one after another.
//!
//! Needs MOTO_ENDPOINT (scripts/bench starts moto).

use chrono::Utc;
use integration_tests::notifications::alipay_paid;
use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::*;
use shared::store::FeeStore;
use std::time::{Duration, Instant};

const N: usize = 100;

/// Process CPU time (user + system) from /proc/self/stat, in milliseconds.
fn cpu_ms() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    ticks * 1000.0 / 100.0 // USER_HZ is 100 on Linux
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// `count` extra payable fee items for 张三 in the current year, 1.00 元 … each.
async fn add_items(t: &TestApp, prefix: &str, count: usize) -> Vec<String> {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let today = shared::clock::beijing_date(Utc::now());
    let mut ids = Vec::new();
    for i in 0..count {
        let id = format!("{prefix}{i:03}");
        let item = FeeItem {
            academic_year: AcademicYear::parse(&format!("{y}-{}", y + 1)).unwrap(),
            item_id: ItemId::parse(&id).unwrap(),
            name: format!("测试项目{i}"),
            fee_type: FeeType::Other,
            due: Fen::new(100 + i as i64),
            paid: Fen::ZERO,
            window_start: today - chrono::Duration::days(1),
            window_end: today + chrono::Duration::days(30),
            status: ChargeStatus::Charging,
        };
        t.app.store.create_fee_item(&StudentNo::parse("2021010101").unwrap(), &item).await.unwrap();
        ids.push(id);
    }
    ids
}

#[tokio::main]
async fn main() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let year = format!("{y}-{}", y + 1);
    let plain = reqwest::Client::new();

    // 1. click → PAID
    let mut latencies = Vec::with_capacity(N);
    for id in add_items(&t, "BENCHA", N).await {
        let order: Value = t.post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": id}]})).await.json().await.unwrap();
        let no = order["order_no"].as_str().unwrap().to_owned();
        let pay: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await.json().await.unwrap();
        let otn = pay["out_trade_no"].as_str().unwrap();
        plain.get(pay["action"]["content"].as_str().unwrap()).send().await.unwrap(); // scan
        let click = Instant::now();
        plain.post(format!("{}/cashier/{otn}/pay", t.sandboxes.alipay_base)).send().await.unwrap();
        loop {
            let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
            if o["state"] == "paid" {
                break;
            }
            assert!(click.elapsed() < Duration::from_secs(10), "{no} not paid");
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        latencies.push(click.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("click → PAID over {N} Alipay payments: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", percentile(&latencies, 0.5), percentile(&latencies, 0.99), latencies[N - 1]);

    // 2. notification handler CPU: fresh attempts, notifications signed beforehand, handled in turn.
    t.sandboxes.alipay.set_deliver_notifications(false);
    let mut bodies = Vec::with_capacity(N);
    for id in add_items(&t, "BENCHB", N).await {
        let order: Value = t.post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": id}]})).await.json().await.unwrap();
        let no = order["order_no"].as_str().unwrap().to_owned();
        let pay: Value = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await.json().await.unwrap();
        let total = Fen::parse_yuan(order["total"].as_str().unwrap()).unwrap();
        bodies.push(alipay_paid(local::payments::ALIPAY_APP_ID, pay["out_trade_no"].as_str().unwrap(), total, Utc::now()));
    }
    let (cpu0, wall0) = (cpu_ms(), Instant::now());
    for body in &bodies {
        let outcome = t.app.alipay_notification(body.as_bytes()).await.expect("accepted");
        assert_eq!(outcome, Some(PaymentOutcome::OrderPaid));
    }
    let (cpu, wall) = (cpu_ms() - cpu0, wall0.elapsed().as_secs_f64() * 1000.0);
    println!(
        "notification handler over {N} notifications: {:.2} ms CPU each (RSA2 verify, checks, 3 reads + raw put + one transaction), {:.1} ms wall each against moto",
        cpu / N as f64,
        wall / N as f64
    );
}
