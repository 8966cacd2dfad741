//! Payment benchmarks (run by `scripts/bench`, written up in docs/measurements.md):
//! 1. sandbox 支付 click → our order reads PAID, over 100 payments per gateway (Alipay QR,
//!    WeChat Native QR, UnionPay front consume; the notification delivered by the sandbox,
//!    verified, stored and applied by our handler; the order polled every 2 ms);
//! 2. CPU time of each gateway's notification handler per notification, over 100 fresh
//!    notifications handled in turn (moto runs in its own process), and then of the outbox
//!    function sending their 100 receipt SMS off the table's stream.
//!
//! The bench runs on one thread (a current-thread runtime): our handler, the AWS SDK and its
//! connections, and the in-process sandboxes all run there, so the thread's CPU clock around a
//! call is that call's cost. The process clock is reported beside it: on a multi-threaded
//! runtime it also counted whatever other threads did meanwhile.
//!
//! Needs MOTO_ENDPOINT (scripts/bench starts moto). CHANNELS="alipay,wechat,unionpay" picks.

use chrono::Utc;
use integration_tests::notifications::{alipay_paid, unionpay_paid, wechat_paid};
use integration_tests::*;
use serde_json::{Value, json};
use shared::domain::*;
use shared::store::FeeStore;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const N: usize = 100;

/// DynamoDB requests moto has served so far (our wrapper's `/_campus/stats`).
async fn store_calls(endpoint: &str) -> f64 {
    let stats: Value = reqwest::get(format!("{endpoint}/_campus/stats")).await.unwrap().json().await.unwrap();
    stats["requests"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("dynamodb.")).map(|(_, v)| v.as_f64().unwrap()).sum()
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

/// Presses 支付 the way a payer would: opens the scan page or, for UnionPay, posts the signed
/// form to the gateway and follows it to the cashier. Returns (cashier pay URL, form fields).
async fn open_cashier(t: &TestApp, channel: &str, pay: &Value) -> (String, BTreeMap<String, String>) {
    let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    if channel == "unionpay" {
        let fields: BTreeMap<String, String> = pay["action"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .map(|kv| (kv[0].as_str().unwrap().to_owned(), kv[1].as_str().unwrap().to_owned()))
            .collect();
        let body = shared::gateway::form::encode(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let r = plain
            .post(pay["action"]["action"].as_str().unwrap())
            .header("content-type", shared::gateway::unionpay::FORM_CONTENT_TYPE)
            .body(body)
            .send()
            .await
            .unwrap();
        let cashier = format!("{}{}", t.sandboxes.unionpay_base, r.headers()["location"].to_str().unwrap());
        plain.get(&cashier).send().await.unwrap();
        return (format!("{cashier}/pay"), fields);
    }
    let page = pay["action"]["content"].as_str().unwrap();
    plain.get(page).send().await.unwrap();
    let base = if channel == "alipay" { &t.sandboxes.alipay_base } else { &t.sandboxes.wechat_base };
    let no = page.rsplit('/').next().unwrap().split('?').next().unwrap();
    (format!("{base}/cashier/{no}/pay"), BTreeMap::new())
}

struct Started {
    out_trade_no: String,
    total: Fen,
    fields: BTreeMap<String, String>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let channels = std::env::var("CHANNELS").unwrap_or_else(|_| "alipay,wechat,unionpay".into());
    // One student makes every order here: lift the daily cap on new orders (10 as deployed).
    let t = spawn_with(|app| app.settings.orders_per_student_per_day = 1_000).await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let year = format!("{y}-{}", y + 1);
    let plain = reqwest::Client::new();

    for (channel, letter) in [("alipay", 'A'), ("wechat", 'W'), ("unionpay", 'U')] {
        if !channels.split(',').any(|c| c.trim() == channel) {
            continue;
        }
        // 1. click → PAID
        let mut latencies = Vec::with_capacity(N);
        for id in add_items(&t, &format!("BENCH{letter}"), N).await {
            let order: Value =
                t.post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": id}]})).await.json().await.unwrap();
            let no = order["order_no"].as_str().unwrap().to_owned();
            let pay: Value =
                t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await.json().await.unwrap();
            let (press, _) = open_cashier(&t, channel, &pay).await;
            let click = Instant::now();
            let r = plain.post(&press).send().await.unwrap();
            assert!(r.status().is_success() || r.status().is_redirection(), "{channel} 支付: {}", r.status());
            loop {
                let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
                if o["state"] == "paid" {
                    break;
                }
                assert!(click.elapsed() < Duration::from_secs(60), "{no} not paid within a minute");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            latencies.push(click.elapsed().as_secs_f64() * 1000.0);
        }
        latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{channel}: click → PAID over {N} payments: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[N - 1]
        );

        // 2. notification handler CPU: fresh attempts, notifications signed beforehand, handled in turn.
        let control = match channel {
            "alipay" => &t.sandboxes.alipay,
            "wechat" => &t.sandboxes.wechat,
            _ => &t.sandboxes.unionpay,
        };
        control.set_deliver_notifications(false);
        let mut started = Vec::with_capacity(N);
        for id in add_items(&t, &format!("CPU{letter}"), N).await {
            let order: Value =
                t.post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": id}]})).await.json().await.unwrap();
            let no = order["order_no"].as_str().unwrap().to_owned();
            let pay: Value =
                t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await.json().await.unwrap();
            let fields = if channel == "unionpay" { open_cashier(&t, channel, &pay).await.1 } else { BTreeMap::new() };
            started.push(Started {
                out_trade_no: pay["out_trade_no"].as_str().unwrap().to_owned(),
                total: Fen::parse_yuan(order["total"].as_str().unwrap()).unwrap(),
                fields,
            });
        }
        // The receipt SMS leaves through the table's stream (the outbox function) on this same
        // thread: held back while the handler is measured, then measured on its own.
        t.stream.drained().await;
        t.stream.pause(true);
        let (mut cpu, mut process_cpu, mut wall) = (Vec::with_capacity(N), 0.0, 0.0);
        let calls_before = store_calls(&t.endpoint).await;
        for s in &started {
            // Signing is the gateway's work, not ours: done outside the measured span.
            let (ch, headers, body) = match channel {
                "alipay" => {
                    let body = alipay_paid(local::payments::ALIPAY_APP_ID, &s.out_trade_no, s.total, Utc::now());
                    (Channel::Alipay, http::HeaderMap::new(), body)
                }
                "wechat" => {
                    let n = wechat_paid(local::payments::WECHAT_MCHID, &s.out_trade_no, s.total, Utc::now());
                    (Channel::Wechat, n.headers.to_http(), n.body)
                }
                _ => {
                    let body = unionpay_paid(
                        &t.sandboxes.unionpay_chain,
                        local::payments::UNIONPAY_MER_ID,
                        &s.out_trade_no,
                        &s.fields["txnTime"],
                        s.total,
                        Utc::now(),
                    );
                    (Channel::Unionpay, http::HeaderMap::new(), body)
                }
            };
            let (cpu0, process0, wall0) = (cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID), cpu_ms(libc::CLOCK_PROCESS_CPUTIME_ID), Instant::now());
            let outcome = t.app.notification(ch, &headers, body.as_bytes()).await;
            cpu.push(cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID) - cpu0);
            process_cpu += cpu_ms(libc::CLOCK_PROCESS_CPUTIME_ID) - process0;
            wall += wall0.elapsed().as_secs_f64() * 1000.0;
            assert_eq!(outcome.expect("accepted"), Some(PaymentOutcome::OrderPaid), "{channel}");
        }
        let calls = store_calls(&t.endpoint).await - calls_before;
        // The outbox function's share: N receipt SMS (claim, publish, sent) read off the
        // stream and sent, on this thread.
        let (sms_cpu0, sms_calls0) = (cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID), store_calls(&t.endpoint).await);
        t.stream.pause(false);
        t.stream.drained().await;
        let sms_cpu = cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID) - sms_cpu0;
        let sms_calls = store_calls(&t.endpoint).await - sms_calls0;
        let mean = cpu.iter().sum::<f64>() / N as f64;
        cpu.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{channel}: outbox function (stream read, claim, SNS publish, sent) for the {N} receipt SMS: {:.2} ms CPU each (mean, the thread's clock), {:.2} store calls each besides the stream read and the publish",
            sms_cpu / N as f64,
            sms_calls / N as f64
        );
        println!(
            "{channel}: notification handler over {N} notifications (verify; attempt and order in one read, the payer; one transaction that also keeps the notification and queues the receipt SMS): {:.2} ms CPU median, {:.2} ms mean, p90 {:.2} ms (the thread's clock); process clock {:.2} ms mean; {:.1} ms wall each against moto; {:.2} store calls each",
            percentile(&cpu, 0.5),
            mean,
            percentile(&cpu, 0.9),
            process_cpu / N as f64,
            wall / N as f64,
            calls as f64 / N as f64
        );
    }
}
