//! Personal data and secrets never reach the logs: run the flows that handle them with every
//! log line captured, then search the capture.

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn id_numbers_phones_passwords_and_codes_stay_out_of_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    tracing_subscriber::fmt()
        .json()
        // As verbose as anyone could configure a function: RUST_LOG=trace.
        .with_env_filter(lambda_adapter::logging::log_filter("trace"))
        .with_writer(move || writer.clone())
        .init();

    let t = spawn().await;
    let c = browser();
    // Failed and successful logins, by user number and by ID-card number.
    t.login(&browser(), "620502198501010023", "wrong-pass").await;
    t.login(&browser(), "U0001", "赵六").await;
    t.login(&c, "2021010101", "0315123x").await;
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let r = t.put(&c, "/api/profile", json!({"email": "zs@lut.edu.cn", "address": "兰工坪路287号"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    t.put(&c, "/api/profile", json!({"phone": "1391234567"})).await;
    // A phone change: a code to the new number, the notice to the old one.
    let r = t.post(&c, "/api/profile/phone/code", json!({"phone": "13987650021", "password": "Campus2026a"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let phone_code = t.sms.last_code("更换绑定手机", "0021").unwrap();
    let r = t.put(&c, "/api/profile/phone", json!({"phone": "13987650021", "code": phone_code})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // Forgotten password by SMS, with the code.
    let step1: serde_json::Value = t
        .post(&browser(), "/api/password/forgot", json!({"student_no": "2021010102", "id_card": "62010220000708456X", "name": "李四"}))
        .await
        .json()
        .await
        .unwrap();
    t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": step1["ticket"]})).await;
    let code = t.sms.last_code("找回密码", "5678").unwrap();
    let r = t
        .post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": step1["ticket"], "method": "sms", "code": code, "new_password": "Secret2026z"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);

    // A payment: its receipt SMS (phone, link), the receipt page by the link, a forged link.
    let y = local::seed::current_academic_year(shared::clock::beijing_date(chrono::Utc::now()));
    let order: serde_json::Value = t
        .post(&c, "/api/orders", json!({"items": [{"academic_year": format!("{y}-{}", y + 1), "item_id": "EXAM"}], "phone": "13987654321"}))
        .await
        .json()
        .await
        .unwrap();
    let no = order["order_no"].as_str().unwrap();
    let pay: serde_json::Value =
        t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await.json().await.unwrap();
    let paid = notifications::alipay_paid(
        local::payments::ALIPAY_APP_ID,
        pay["out_trade_no"].as_str().unwrap(),
        shared::domain::Fen::new(12_000),
        chrono::Utc::now(),
    );
    let r = reqwest::Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(paid)
        .send()
        .await
        .unwrap();
    assert_eq!(r.text().await.unwrap(), "success");
    let receipt_sms = t.sms_sent_to("+8613987654321").await;
    // moto keeps every SMS of its lifetime: this platform's is the one linking to it.
    let link = &receipt_sms.iter().find(|m| m.contains(no) && m.contains(&t.base)).expect("the receipt SMS")[..];
    let token = link.rsplit("/r/").next().unwrap().to_owned();
    assert_eq!(t.get(&browser(), &format!("/r/{token}")).await.status(), StatusCode::OK);
    assert_eq!(t.get(&browser(), &format!("/r/{}", shared::domain::LinkToken::generate().expose())).await.status(), StatusCode::NOT_FOUND);

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("\"path\":\"/api/login\""), "the capture works: {} bytes", logs.len());
    assert!(logs.contains("login succeeded"));
    // Authentication events name the account and the client (ASVS 16.3.1): the failed login typed
    // 赵六's ID-card number, and the log names his user number instead.
    let events: Vec<serde_json::Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let event = |name: &str, no: &str| {
        events.iter().any(|e| e["fields"]["event"] == name && e["fields"]["student_no"] == no && e["fields"]["client"].is_string())
    };
    assert!(event("login_failed", "U0001"), "a failed login with the account's number and the client");
    assert!(event("login_succeeded", "2021010101"), "a successful login with the student's number and the client");
    assert!(logs.contains("outbox message handled") && logs.contains("\"path\":\"/r/{token}\""), "the receipt flow ran");
    for secret in [
        "620502198501010023",
        "620102199903151235",
        "62010220000708456X",
        "0315123",
        "0708456X",
        "13912345678",
        "18712346579",
        "1391234567",
        "13987650021",
        "Campus2026a",
        "Secret2026z",
        "赵六",
        "张三",
        "李四",
        "zs@lut.edu.cn",
        "兰工坪路",
        step1["ticket"].as_str().unwrap(),
        &format!("\"{code}\""),
        &format!("\"{phone_code}\""),
        "cp_session=",
        "13987654321",
        &token,
    ] {
        assert!(!logs.contains(secret), "logs contain {secret:?}");
    }
}
