//! Peak hour: the opening of a charging window, as a load test of the running local platform
//! (run by `scripts/bench`, written up in docs/measurements.md).
//!
//! Every virtual student makes one journey: log in, 我的信息 (`GET /api/me`), 当前费用, an order
//! of every payable item, 支付 (Alipay or WeChat Pay QR on a PC, in turn), the sandbox cashier's
//! 支付 click, then polling the order until it reads paid. `CONCURRENCY` journeys run at once.
//! Afterwards it checks what a finance office would: no order number twice, every clicked
//! payment recorded as paid, one receipt SMS per paid order (moto's count), and it reports
//! journeys per second, p50/p99 per step, errors, and the platform's CPU against moto's for the
//! same work (the platform process also hosts the sandbox gateways).
//!
//! Environment: `CAMPUS_BASE_URL` (the platform), `MOTO_ENDPOINT`, `PLATFORM_PID`, `SCHOOL_DIR`
//! (a `scripts/gen_school.py` output already imported), `JOURNEYS` (default 200),
//! `CONCURRENCY` (default 16), `SKIP` (students to skip, default 500: the endpoint bench's). `TABLE` names the
//! record of activated students (default campus-pay-local).
//! The students are activated first (initial password, forced change), untimed.

use reqwest::Client;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PASSWORD: &str = "Peak2026pw";
const STEPS: [&str; 7] = ["login", "me", "fees", "order", "pay", "click→paid", "journey"];

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("platform pid");
    let fields: Vec<&str> = stat.rsplit_once(')').expect("stat").1.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / tick
}

async fn moto_stats(moto: &str) -> Value {
    reqwest::get(format!("{moto}/_campus/stats")).await.unwrap().json().await.unwrap()
}

/// (student number, ID-card number, phone) of students with an item being charged today (收费,
/// inside its window) and not paid offline (`offline-payments.csv`), in file order.
fn students(dir: &str, skip: usize, n: usize) -> Vec<(String, String, String)> {
    let today = shared::clock::beijing_date(chrono::Utc::now()).to_string();
    // (student, year, item) of every offline payment: such an item may be paid in full already.
    let offline: HashSet<(String, String, String)> = std::fs::read_to_string(format!("{dir}/offline-payments.csv"))
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            (c.len() > 2).then(|| (c[0].to_owned(), c[1].to_owned(), c[2].to_owned()))
        })
        .collect();
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.retain(|p| p.file_name().is_some_and(|f| f.to_string_lossy().starts_with("fee-bill-")));
    files.sort();
    let (mut seen, mut out) = (HashSet::new(), Vec::new());
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split(',').collect();
            let open = cols[8] <= today.as_str() && today.as_str() <= cols[9];
            let paid_offline = offline.contains(&(cols[0].to_owned(), cols[3].to_owned(), cols[4].to_owned()));
            if cols[10] == "收费" && open && !paid_offline && seen.insert(cols[0].to_owned()) {
                out.push((cols[0].to_owned(), cols[2].to_owned(), cols[12].to_owned()));
            }
        }
    }
    out.into_iter().skip(skip).take(n).collect()
}

/// A student's browser on our pages: cookies kept, requests same-origin (the cross-site guard).
fn client() -> Client {
    let mut own_site = reqwest::header::HeaderMap::new();
    own_site.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    Client::builder().cookie_store(true).default_headers(own_site).timeout(Duration::from_secs(60)).build().unwrap()
}

async fn call(c: &Client, method: reqwest::Method, url: String, body: Option<Value>) -> Result<Value, String> {
    let mut r = c.request(method, &url);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.map_err(|e| format!("{url}: {e}"))?;
    let status = resp.status();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("{url}: {status} {text}"));
    }
    Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).map_err(|e| e.to_string())? })
}

/// Activates one student (first login: the SMS code, read from moto, and the forced change), untimed. Never a wrong password (50
/// failures throttle the address): students activated by an earlier run are on record in
/// `SCHOOL_DIR/activated-peak-<TABLE>.txt` and skipped (a school imported into another table
/// starts from its initial passwords again).
async fn activate(base: &str, moto: &str, (no, id_card, phone): (&str, &str, &str)) -> Result<(), String> {
    let c = client();
    let initial = &id_card[id_card.len() - 8..];
    if call(&c, reqwest::Method::POST, format!("{base}/api/login"), Some(json!({"username": no, "password": initial}))).await.is_err() {
        // Activated by an interrupted run that kept no record: its password is ours.
        return call(&c, reqwest::Method::POST, format!("{base}/api/login"), Some(json!({"username": no, "password": PASSWORD})))
            .await
            .map(|_| ());
    }
    call(&c, reqwest::Method::POST, format!("{base}/api/password/code"), Some(json!({}))).await?;
    let code = first_login_code(moto, phone).await?;
    let change = json!({"old_password": initial, "new_password": PASSWORD, "code": code});
    call(&c, reqwest::Method::POST, format!("{base}/api/password"), Some(change)).await?;
    Ok(())
}

/// The code of the newest first-login SMS to `phone` (11 digits), as moto recorded it.
async fn first_login_code(moto: &str, phone: &str) -> Result<String, String> {
    for _ in 0..50 {
        let texts: Vec<String> = reqwest::get(format!("{moto}/_campus/sms?phone=%2B86{phone}"))
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let code =
            texts.iter().rev().find(|t| t.contains("首次登录验证")).and_then(|t| t.split("验证码").nth(1)).map(|c| c[..6].to_owned());
        if let Some(code) = code {
            return Ok(code);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("no first-login code sent to {phone}"))
}

struct Journey {
    order_no: Option<String>,
    times: BTreeMap<&'static str, f64>,
    error: Option<String>,
}

async fn journey(base: Arc<String>, no: String, channel: &'static str) -> Journey {
    let mut j = Journey { order_no: None, times: BTreeMap::new(), error: None };
    let started = Instant::now();
    if let Err(e) = steps(&base, &no, channel, &mut j).await {
        j.error = Some(e);
    }
    j.times.insert("journey", started.elapsed().as_secs_f64() * 1000.0);
    j
}

async fn steps(base: &str, no: &str, channel: &'static str, j: &mut Journey) -> Result<(), String> {
    use reqwest::Method;
    let c = client();
    let mut t = Instant::now();
    let lap = |j: &mut Journey, step: &'static str, t: &mut Instant| {
        j.times.insert(step, t.elapsed().as_secs_f64() * 1000.0);
        *t = Instant::now();
    };
    call(&c, Method::POST, format!("{base}/api/login"), Some(json!({"username": no, "password": PASSWORD}))).await?;
    lap(j, "login", &mut t);
    call(&c, Method::GET, format!("{base}/api/me"), None).await?;
    lap(j, "me", &mut t);
    let fees = call(&c, Method::GET, format!("{base}/api/fees"), None).await?;
    lap(j, "fees", &mut t);
    let items: Vec<Value> = fees["years"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|y| {
            y["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|i| i["payable"] == true)
                .map(move |i| json!({"academic_year": y["academic_year"], "item_id": i["item_id"]}))
        })
        .collect();
    if items.is_empty() {
        return Err(format!("{no}: nothing payable"));
    }
    let order = call(&c, Method::POST, format!("{base}/api/orders"), Some(json!({"items": items}))).await?;
    let order_no = order["order_no"].as_str().ok_or("no order number")?.to_owned();
    j.order_no = Some(order_no.clone());
    lap(j, "order", &mut t);
    let pay =
        call(&c, Method::POST, format!("{base}/api/orders/{order_no}/pay"), Some(json!({"channel": channel, "device": "pc"}))).await?;
    lap(j, "pay", &mut t);
    // The QR code's page at the sandbox, as the payer's phone opens it; then 支付.
    let page = pay["action"]["content"].as_str().ok_or("no QR page")?.to_owned();
    let plain = Client::new();
    plain.get(&page).send().await.map_err(|e| e.to_string())?;
    let origin: String = page.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
    let sandbox_no = page.rsplit('/').next().unwrap_or_default().split('?').next().unwrap_or_default();
    let click = Instant::now();
    let r = plain.post(format!("{origin}/cashier/{sandbox_no}/pay")).send().await.map_err(|e| e.to_string())?;
    if !(r.status().is_success() || r.status().is_redirection()) {
        return Err(format!("sandbox 支付: {}", r.status()));
    }
    loop {
        let o = call(&c, Method::GET, format!("{base}/api/orders/{order_no}"), None).await?;
        if o["state"] == "paid" {
            break;
        }
        if click.elapsed() > Duration::from_secs(60) {
            return Err(format!("{order_no} not paid a minute after 支付"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    j.times.insert("click→paid", click.elapsed().as_secs_f64() * 1000.0);
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::main]
async fn main() {
    let base = Arc::new(env("CAMPUS_BASE_URL", "http://127.0.0.1:3000"));
    let moto = env("MOTO_ENDPOINT", "http://127.0.0.1:4566");
    let pid: u32 = env("PLATFORM_PID", "").parse().expect("PLATFORM_PID: the platform's process id");
    let dir = env("SCHOOL_DIR", ".local/school-30000");
    let n: usize = env("JOURNEYS", "200").parse().unwrap();
    let concurrency: usize = env("CONCURRENCY", "16").parse().unwrap();
    let skip: usize = env("SKIP", "500").parse().unwrap();
    let who = students(&dir, skip, n);
    assert_eq!(who.len(), n, "the school has fewer than {} students with an item being charged today", skip + n);

    let setup = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(concurrency));
    let mut activations = Vec::new();
    let record = format!("{dir}/activated-peak-{}.txt", env("TABLE", "campus-pay-local"));
    let mut activated: HashSet<String> = std::fs::read_to_string(&record).unwrap_or_default().lines().map(str::to_owned).collect();
    for (no, idc, tel) in who.clone().into_iter().filter(|(no, ..)| !activated.contains(no)) {
        let (base, gate, moto) = (Arc::clone(&base), Arc::clone(&gate), moto.clone());
        activations.push(tokio::spawn(async move {
            let _slot = gate.acquire().await.unwrap();
            activate(&base, &moto, (&no, &idc, &tel)).await.map(|()| no)
        }));
    }
    let mut failed = None;
    for a in activations {
        match a.await.unwrap() {
            Ok(no) => {
                activated.insert(no);
            }
            Err(e) => failed = Some(e),
        }
    }
    std::fs::write(&record, activated.iter().cloned().collect::<Vec<_>>().join("\n")).unwrap();
    if let Some(e) = failed {
        panic!("activation: {e}");
    }
    println!("{n} students activated in {:.1} s (untimed setup)", setup.elapsed().as_secs_f64());

    let (cpu0, moto0) = (cpu_seconds(pid), moto_stats(&moto).await);
    let start = Instant::now();
    let mut runs = Vec::new();
    for (i, (no, ..)) in who.into_iter().enumerate() {
        let (base, gate) = (Arc::clone(&base), Arc::clone(&gate));
        let channel = if i % 2 == 0 { "alipay" } else { "wechat" };
        runs.push(tokio::spawn(async move {
            let _slot = gate.acquire().await.unwrap();
            journey(base, no, channel).await
        }));
    }
    let mut done = Vec::new();
    for r in runs {
        done.push(r.await.unwrap());
    }
    let wall = start.elapsed().as_secs_f64();
    let ok: Vec<&Journey> = done.iter().filter(|j| j.error.is_none()).collect();
    // The receipt SMS leaves through the table's stream (the outbox function), after the
    // payment was acknowledged: wait for the last ones (up to 10 s).
    let published = |v: &Value| v["sms_published"].as_u64().unwrap();
    let mut moto1 = moto_stats(&moto).await;
    for _ in 0..100 {
        if published(&moto1) - published(&moto0) >= ok.len() as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        moto1 = moto_stats(&moto).await;
    }
    let sms_wait = start.elapsed().as_secs_f64() - wall;
    let cpu1 = cpu_seconds(pid);

    let errors: Vec<&String> = done.iter().filter_map(|j| j.error.as_ref()).collect();
    let orders: Vec<&String> = done.iter().filter_map(|j| j.order_no.as_ref()).collect();
    let distinct: HashSet<&&String> = orders.iter().collect();
    let sms = published(&moto1) - published(&moto0);
    let calls = |v: &Value| {
        v["requests"].as_object().unwrap().iter().filter(|(k, _)| k.starts_with("dynamodb.")).map(|(_, v)| v.as_u64().unwrap()).sum::<u64>()
    };
    let store_calls = calls(&moto1) - calls(&moto0);
    let moto_cpu = moto1["cpu_seconds"].as_f64().unwrap() - moto0["cpu_seconds"].as_f64().unwrap();
    let our_cpu = cpu1 - cpu0;

    println!("\npeak hour: {n} journeys, {concurrency} at a time, in {wall:.1} s (the last receipt SMS {sms_wait:.2} s later)");
    println!(
        "| journeys/s | completed | errors | order numbers | distinct | paid orders' SMS | store calls per journey | our CPU per journey | moto CPU per journey |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {:.2} | {} | {} | {} | {} | {} | {:.1} | {:.1} ms | {:.1} ms |",
        ok.len() as f64 / wall,
        ok.len(),
        errors.len(),
        orders.len(),
        distinct.len(),
        sms,
        store_calls as f64 / n as f64,
        our_cpu * 1000.0 / n as f64,
        moto_cpu * 1000.0 / n as f64
    );
    println!("\n| step | p50 | p99 | max |");
    println!("|---|---|---|---|");
    for step in STEPS {
        let mut xs: Vec<f64> = ok.iter().filter_map(|j| j.times.get(step).copied()).collect();
        xs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "| {step} | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(&xs, 0.5),
            percentile(&xs, 0.99),
            xs.last().copied().unwrap_or(f64::NAN)
        );
    }
    for e in errors.iter().take(5) {
        println!("error: {e}");
    }
    assert_eq!(orders.len(), distinct.len(), "an order number was handed out twice");
    assert!(errors.is_empty(), "{} journeys failed", errors.len());
    assert_eq!(sms, ok.len() as u64, "one receipt SMS per paid order");
}
