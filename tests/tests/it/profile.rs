//! 个人信息, 信息修改, 密保修改 and 忘记密码 over HTTP against moto (SMS through SNS in moto).

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::store::StudentStore;

#[tokio::test]
async fn profile_shows_masked_personal_data_and_saves_valid_edits() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let p: Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    assert_eq!(p["phone_masked"], "187****6579");
    assert_eq!(p["id_card_masked"], "620102********1235");
    assert_eq!(p["gender"], "男");
    assert!(!p.to_string().contains("620102199903151235") && !p.to_string().contains("18712346579"));

    let r = t
        .put(
            &c,
            "/api/profile",
            json!({"email": "zhangsan@lut.edu.cn", "postcode": "730050", "address": "甘肃省兰州市七里河区兰工坪路287号"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    assert_eq!(p["email"], "zhangsan@lut.edu.cn");
    assert_eq!(p["postcode"], "730050");
    assert_eq!(p["phone_masked"], "187****6579", "an omitted phone is kept");

    // The phone on file again is no change (a new one goes through phone_change.rs).
    let r = t.put(&c, "/api/profile", json!({"phone": "18712346579", "email": ""})).await;
    let p: Value = r.json().await.unwrap();
    assert_eq!(p["phone_masked"], "187****6579");
    assert_eq!(p["email"], Value::Null, "an empty field is cleared");
    assert_eq!(p["postcode"], "730050");
}

#[tokio::test]
async fn invalid_fields_are_all_reported_and_nothing_is_saved() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let before: Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    let r = t
        .put(&c, "/api/profile", json!({"phone": "12345", "email": "not-an-email", "postcode": "12ab", "address": "兰".repeat(101)}))
        .await;
    let (status, code, body) = error_code(r).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    let f = &body["fields"];
    assert!(f["phone"].as_str().unwrap().contains("11位"));
    assert!(f["email"].as_str().unwrap().contains("邮箱"));
    assert!(f["postcode"].as_str().unwrap().contains("6位数字"));
    assert!(f["address"].as_str().unwrap().contains("100"));
    // One bad field among good ones: still nothing written.
    let r = t.put(&c, "/api/profile", json!({"email": "ok@lut.edu.cn", "postcode": "73005"})).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let after: Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    assert_eq!(before, after);
    let (_, _, body) = error_code(t.put(&c, "/api/profile", json!({"phone": ""})).await).await;
    assert!(body["fields"]["phone"].as_str().unwrap().contains("不能为空"));
}

#[tokio::test]
async fn changing_the_password_needs_the_old_one_and_the_rule() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let (_, _, body) =
        error_code(t.post(&c, "/api/password", json!({"old_password": "nope12345", "new_password": "Better2027b"})).await).await;
    assert_eq!(body["fields"]["old_password"], "原密码不正确");
    let (_, _, body) =
        error_code(t.post(&c, "/api/password", json!({"old_password": "Campus2026a", "new_password": "abcdefgh"})).await).await;
    assert!(body["fields"]["new_password"].as_str().unwrap().contains("字母和数字"));
    let r = t.post(&c, "/api/password", json!({"old_password": "Campus2026a", "new_password": "Better2027b"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.login(&browser(), "2021010101", "Better2027b").await.status(), StatusCode::OK);
}

async fn set_question(t: &TestApp, c: &reqwest::Client, password: &str) {
    let (_, _, body) = error_code(t.post(c, "/api/security-question/verify", json!({"password": "wrong-one1"})).await).await;
    assert_eq!(body["fields"]["password"], "密码不正确");
    assert_eq!(t.post(c, "/api/security-question/verify", json!({"password": password})).await.status(), StatusCode::NO_CONTENT);
    let r = t.put(c, "/api/security-question", json!({"password": password, "question": "我的小学名称？", "answer": "七里河 小学"})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let q: Value = t.get(c, "/api/security-question").await.json().await.unwrap();
    assert_eq!(q["question"], "我的小学名称？");
}

async fn start_forgot(t: &TestApp, no: &str, id: &str, name: &str) -> Value {
    let r = t.post(&browser(), "/api/password/forgot", json!({"student_no": no, "id_card": id, "name": name})).await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn forgotten_password_by_security_answer() {
    let t = spawn().await;
    let c = browser();
    // For an account with no phone on file the answer alone is the way (with a phone, the
    // answer comes with the SMS code: recovery.rs). Every first login now proves a phone, so
    // such an account is one activated before that: 王五's, with his phone taken off.
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    set_question(&t, &c, "Campus2026a").await;
    let wang = shared::domain::StudentNo::parse("2021010103").unwrap();
    let before = t.app.store.get_student(&wang).await.unwrap().unwrap().contact;
    let legacy = shared::domain::Contact { phone: None, ..before };
    let audit = by_operator().entry(shared::domain::AuditAction::ContactChanged, shared::domain::AuditSubject::Student, &wang);
    t.app.store.update_contact(&wang, &legacy, &audit, None).await.unwrap();

    // Identity must match exactly; a near miss says nothing about which part was wrong.
    let (status, code, _) = error_code(
        t.post(&browser(), "/api/password/forgot", json!({"student_no": "2021010103", "id_card": "620105199811227895", "name": "王六"}))
            .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "IDENTITY_MISMATCH"));

    let step1 = start_forgot(&t, "2021010103", "620105199811227895", "王五").await;
    assert_eq!(step1["question"], "我的小学名称？");
    assert_eq!(step1["phone_masked"], serde_json::Value::Null);
    let ticket = step1["ticket"].as_str().unwrap();

    let (_, code, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "answer", "answer": "兰州小学", "new_password": "Found2026c"}),
        )
        .await,
    )
    .await;
    assert_eq!(code, "WRONG_ANSWER");
    // Answers compare without case or spaces.
    let r = t
        .post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "answer", "answer": "七里河小学", "new_password": "Found2026c"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.login(&browser(), "2021010103", "Found2026c").await.status(), StatusCode::OK);
    // The ticket is spent once the password changed.
    let (status, code, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "answer", "answer": "七里河小学", "new_password": "Again2026d"}),
        )
        .await,
    )
    .await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "TICKET_EXPIRED"));
}

#[tokio::test]
async fn forgotten_password_by_sms_code() {
    let t = spawn().await;
    let step1 = start_forgot(&t, "2021010102", "62010220000708456x", "李四").await;
    assert_eq!(step1["question"], Value::Null);
    let ticket = step1["ticket"].as_str().unwrap().to_owned();
    let (_, code, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "answer", "answer": "x", "new_password": "Found2026c"}),
        )
        .await,
    )
    .await;
    assert_eq!(code, "NO_SECURITY_QUESTION");

    // moto keeps every SMS sent by any test on this server: count what this test adds.
    let before = t.sms_sent_to("+8613912345678").await.len();
    let r = t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": ticket})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let sent: Value = r.json().await.unwrap();
    assert_eq!(sent["phone_masked"], "139****5678");
    let sms = t.sms_sent_to("+8613912345678").await;
    assert_eq!(sms.len(), before + 1, "{sms:?}");
    let text = sms.last().unwrap();
    let code: String = text.chars().filter(char::is_ascii_digit).take(6).collect();
    assert!(text.chars().count() <= 70, "one SMS segment");

    // Asking again at once is refused; nothing more is sent.
    let (_, c, _) = error_code(t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": ticket})).await).await;
    assert_eq!(c, "TOO_MANY_REQUESTS");
    assert_eq!(t.sms_sent_to("+8613912345678").await.len(), before + 1);

    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (_, c, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "sms", "code": wrong, "new_password": "Found2026c"}),
        )
        .await,
    )
    .await;
    assert_eq!(c, "CODE_INVALID");
    let r = t
        .post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "sms", "code": code, "new_password": "Found2026c"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let r = t.login(&browser(), "2021010102", "Found2026c").await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["must_change_password"], false);
}

#[tokio::test]
async fn sms_codes_expire_and_allow_five_tries() {
    let t = spawn().await;
    // 赵六's phone: the other SMS test in this file runs at the same time with 李四's.
    let step1 = start_forgot(&t, "U0001", "620502198501010023", "赵六").await;
    let ticket = step1["ticket"].as_str().unwrap().to_owned();
    assert_eq!(t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": ticket})).await.status(), StatusCode::OK);
    let sms = t.sms_sent_to("+8613609311234").await;
    let code: String = sms.last().unwrap().chars().filter(char::is_ascii_digit).take(6).collect();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..5 {
        let (_, c, _) = error_code(
            t.post(
                &browser(),
                "/api/password/forgot/reset",
                json!({"ticket": ticket, "method": "sms", "code": wrong, "new_password": "Found2026c"}),
            )
            .await,
        )
        .await;
        assert_eq!(c, "CODE_INVALID");
    }
    // The sixth try is refused even with the right code.
    let (_, c, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "sms", "code": code, "new_password": "Found2026c"}),
        )
        .await,
    )
    .await;
    assert_eq!(c, "CODE_EXPIRED");

    // A new code after the cooldown works until it expires after 10 minutes.
    t.clock.advance(61);
    assert_eq!(t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": ticket})).await.status(), StatusCode::OK);
    t.clock.advance(9 * 60);
    let (_, c, _) = error_code(
        t.post(
            &browser(),
            "/api/password/forgot/reset",
            json!({"ticket": ticket, "method": "sms", "code": code, "new_password": "Found2026c"}),
        )
        .await,
    )
    .await;
    assert_eq!(c, "TICKET_EXPIRED", "the 10-minute identity ticket ran out first");
}

#[tokio::test]
async fn accounts_without_phone_cannot_use_sms() {
    let t = spawn().await;
    // 郑十 has no phone on file (and, never having logged in, no question either).
    let step1 = start_forgot(&t, "2021010107", "620102199602182716", "郑十").await;
    assert_eq!(step1["phone_masked"], Value::Null);
    let (status, c, _) = error_code(t.post(&browser(), "/api/password/forgot/sms", json!({"ticket": step1["ticket"]})).await).await;
    assert_eq!((status, c.as_str()), (StatusCode::CONFLICT, "NO_PHONE"));
}
