//! Recovery abuse (issue #12, item 4), each attack sent through the real handlers: guessing SMS
//! codes across resends, SMS bombing a student or from one client, probing identities, and
//! taking an account over with only its security answer.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ZHANG: (&str, &str, &str) = ("2021010101", "620102199903151235", "张三");
const ZHANG_PHONE: &str = "+8618712346579";

async fn start(t: &TestApp, c: &Client, (no, id, name): (&str, &str, &str)) -> (StatusCode, Value) {
    let r = t.post(c, "/api/password/forgot", json!({"student_no": no, "id_card": id, "name": name})).await;
    (r.status(), r.json().await.unwrap())
}

async fn ticket(t: &TestApp, who: (&str, &str, &str)) -> String {
    let (status, body) = start(t, &browser(), who).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["ticket"].as_str().unwrap().to_owned()
}

/// The status and the error code (empty on success) of an answer.
async fn outcome(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

async fn send_code(t: &TestApp, ticket: &str) -> (StatusCode, String) {
    outcome(t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": ticket})).await).await
}

async fn reset(t: &TestApp, body: Value) -> (StatusCode, String) {
    outcome(t.post(&browser(), "/api/password/forgot/reset", body).await).await
}

/// A code that is not the one sent (the last SMS to `phone`).
async fn wrong_code(t: &TestApp, phone: &str) -> String {
    let sent: String = t.sms_sent_to(phone).await.last().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    if sent == "000000" { "111111".into() } else { "000000".into() }
}

/// Before: every resend (one a minute) brought five fresh tries — about 7,200 guesses a day.
/// Now wrong codes count per student across resends, and the tenth locks recovery for the day:
/// no more codes, and not even the right one works.
#[tokio::test]
async fn code_guesses_across_resends_lock_recovery_for_the_day() {
    let t = spawn().await;
    let ticket = ticket(&t, ZHANG).await;
    let mut guesses = 0;
    let locked = 'guessing: loop {
        assert_eq!(send_code(&t, &ticket).await.0, StatusCode::OK, "a fresh code after {guesses} guesses");
        let wrong = wrong_code(&t, ZHANG_PHONE).await;
        loop {
            let (status, code) = reset(&t, json!({"ticket": ticket, "method": "sms", "code": wrong, "new_password": "Taken2026x"})).await;
            guesses += 1;
            match code.as_str() {
                "CODE_INVALID" => continue,
                "CODE_EXPIRED" => break, // this code's tries are used up: resend
                "LOCKED" => break 'guessing status,
                other => panic!("{other} after {guesses} guesses"),
            }
        }
        assert!(guesses < 20, "still guessing after {guesses}");
        t.clock.advance(61);
    };
    assert_eq!(locked, StatusCode::TOO_MANY_REQUESTS);
    assert!(guesses <= 11, "locked after {guesses} guesses (10 wrong codes, plus the tries that found a code spent)");
    t.clock.advance(61);
    assert_eq!(send_code(&t, &ticket).await.1, "LOCKED", "no more codes once locked");
    assert!(t.login(&browser(), "2021010101", "Taken2026x").await.status() == StatusCode::UNAUTHORIZED);
}

/// SMS bombing: at most five recovery codes a day to one student, and twenty from one client
/// address (three here), however long the sender waits between them.
#[tokio::test]
async fn recovery_sms_are_capped_per_student_and_per_client() {
    let t = spawn_with(|app| app.settings.sms_per_client_per_day = 3).await;
    let zhang = ticket(&t, ZHANG).await;
    for _ in 0..3 {
        assert_eq!(send_code(&t, &zhang).await.0, StatusCode::OK);
        t.clock.advance(61);
    }
    // Another student, from the same client: the client's day is used up.
    let li = ticket(&t, ("2021010102", "62010220000708456X", "李四")).await;
    assert_eq!(send_code(&t, &li).await, (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS".into()));
    let any = json!({"ticket": li, "method": "sms", "code": "000000", "new_password": "Taken2026x"});
    assert_eq!(reset(&t, any).await.1, "CODE_EXPIRED", "no code was issued to 李四");

    let t = spawn().await;
    let zhang = ticket(&t, ZHANG).await;
    for i in 0..5 {
        assert_eq!(send_code(&t, &zhang).await.0, StatusCode::OK, "code {}", i + 1);
        t.clock.advance(61);
    }
    assert_eq!(send_code(&t, &zhang).await, (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS".into()), "the sixth of the day");
    t.clock.advance(24 * 3600);
    assert_eq!(send_code(&t, &ticket(&t, ZHANG).await).await.0, StatusCode::OK, "a new day");
}

/// Probing identities: a right one costs the client as much as a wrong one, so a client cannot
/// learn which student numbers, ID numbers and names belong together for free.
#[tokio::test]
async fn right_identities_count_toward_the_client_throttle_too() {
    let t = spawn_with(|app| app.settings.client_lock_after = 3).await;
    let c = browser();
    for _ in 0..3 {
        assert_eq!(start(&t, &c, ZHANG).await.0, StatusCode::OK);
    }
    let (status, body) = start(&t, &c, ZHANG).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("TOO_MANY_REQUESTS")));
}

/// Someone who knows (or guesses) the security answer cannot take over an account with a
/// phone on file: the answer must come with the code sent to that phone. Wrong answers count
/// under the same per-student lock as wrong codes. One-character answers cannot be set.
#[tokio::test]
async fn the_security_answer_alone_takes_over_no_account_with_a_phone() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let short = t.put(&c, "/api/security-question", json!({"password": "Campus2026a", "question": "我的小学名称？", "answer": "七"})).await;
    let (status, code, body) = error_code(short).await;
    assert_eq!(
        (status, code.as_str(), body["fields"]["answer"].as_str()),
        (StatusCode::BAD_REQUEST, "VALIDATION", Some("密保答案应为2-50个字"))
    );
    let set =
        t.put(&c, "/api/security-question", json!({"password": "Campus2026a", "question": "我的小学名称？", "answer": "七里河小学"})).await;
    assert_eq!(set.status(), StatusCode::NO_CONTENT);

    let ticket = ticket(&t, ZHANG).await;
    let by_answer = |answer: &str, code: Option<&str>| json!({"ticket": ticket, "method": "answer", "answer": answer, "code": code, "new_password": "Taken2026x"});
    let (status, code, body) = error_code(t.post(&browser(), "/api/password/forgot/reset", by_answer("七里河小学", None)).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["code"].is_string(), "{body}");
    assert_eq!(send_code(&t, &ticket).await.0, StatusCode::OK);
    let wrong = wrong_code(&t, ZHANG_PHONE).await;
    assert_eq!(reset(&t, by_answer("七里河小学", Some(&wrong))).await.1, "CODE_INVALID", "the right answer with a wrong code");
    // Wrong answers and wrong codes, one count: the tenth failure of the day locks.
    let mut failures = 1;
    while reset(&t, by_answer("兰州小学", Some(&wrong))).await.1 == "WRONG_ANSWER" {
        failures += 1;
        assert!(failures < 10, "not locked after {failures} failures");
    }
    assert_eq!(failures, 9, "the 10th failure locked it");
    assert_eq!(reset(&t, by_answer("七里河小学", Some(&wrong))).await.1, "LOCKED");
    assert_eq!(t.login(&browser(), "2021010101", "Campus2026a").await.status(), StatusCode::OK, "the password is unchanged");
}
