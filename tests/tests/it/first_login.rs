//! The first login (issue #12, item 1), each attack sent through the real handlers: whoever
//! knows a student's ID number knows the initial password, so the initial password alone must
//! not take an account over.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const ZHANG_PHONE: &str = "+8618712346579";

async fn outcome(r: reqwest::Response) -> (StatusCode, String, Value) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned(), body)
}

/// Logs in with 张三's initial password: the first-login session.
async fn first_login(t: &TestApp) -> Client {
    let c = browser();
    let r = t.login(&c, "2021010101", "03151235").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["must_change_password"], true);
    c
}

/// Before: the initial password (the ID-card suffix) was enough to set a new password, then
/// the phone and the security question, and the real student could no longer recover the
/// account. Now the change needs the code sent to the phone on file, which a stranger does
/// not hold; without it nothing changes and the initial password keeps working for its owner.
#[tokio::test]
async fn the_initial_password_alone_does_not_take_an_account_over() {
    let t = spawn().await;
    let stranger = first_login(&t).await;
    let change = |code: Option<&str>| json!({"old_password": "03151235", "new_password": "Taken2026x", "code": code});
    let (status, code, body) = outcome(t.post(&stranger, "/api/password", change(None)).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["code"].is_string(), "{body}");
    // Guessing: a code is sent to the student's phone, the stranger does not see it.
    assert_eq!(t.post(&stranger, "/api/password/code", json!({})).await.status(), StatusCode::OK);
    let sent = t.sms.last_code("首次登录验证", "6579").unwrap();
    let guess = if sent == "000000" { "111111" } else { "000000" };
    assert_eq!(outcome(t.post(&stranger, "/api/password", change(Some(guess))).await).await.1, "CODE_INVALID");
    // Nothing else opens before the first login is complete.
    for (method, path, body) in [
        ("PUT", "/api/profile", json!({"email": "x@evil.example"})),
        ("POST", "/api/profile/phone/code", json!({"phone": "13800000000", "password": "03151235"})),
        ("PUT", "/api/security-question", json!({"password": "03151235", "question": "我的宠物？", "answer": "旺财"})),
    ] {
        let r = if method == "PUT" { t.put(&stranger, path, body).await } else { t.post(&stranger, path, body).await };
        assert_eq!(outcome(r).await.1, "PASSWORD_CHANGE_REQUIRED", "{method} {path}");
    }
    // The real student, with the phone, completes the first login with the code sent to it
    // (a minute later: codes go out at most once a minute).
    t.clock.advance(61);
    let owner = first_login(&t).await;
    let code = t.activation_code(&owner).await;
    let mine = json!({"old_password": "03151235", "new_password": "Mine2026ok", "code": code});
    assert_eq!(t.post(&owner, "/api/password", mine).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.login(&browser(), "2021010101", "Mine2026ok").await.status(), StatusCode::OK);
    assert_eq!(t.login(&browser(), "2021010101", "Taken2026x").await.status(), StatusCode::UNAUTHORIZED);
    // And the phone is told the account was activated.
    let sms = t.sms_sent_to(ZHANG_PHONE).await;
    assert!(sms.last().unwrap().contains("完成首次登录验证并设置了新密码"), "{sms:?}");
}

/// A code asked for in one session does not complete the first login of another: a stranger
/// who logs in at the same time cannot use the code the student asked for.
#[tokio::test]
async fn a_first_login_code_works_only_in_the_session_that_asked_for_it() {
    let t = spawn().await;
    let owner = first_login(&t).await;
    let stranger = first_login(&t).await;
    let code = t.activation_code(&owner).await;
    let body = json!({"old_password": "03151235", "new_password": "Taken2026x", "code": code});
    assert_eq!(outcome(t.post(&stranger, "/api/password", body).await).await.1, "CODE_INVALID");
}

/// A student without a phone on file cannot prove one: the first login is refused with the
/// college's numbers, and no session starts. Once the college's file gives the phone, the
/// first login works.
#[tokio::test]
async fn without_a_phone_on_file_the_first_login_sends_the_student_to_the_college() {
    let t = spawn().await;
    let c = browser();
    let r = t.login(&c, "2021010107", "02182716").await;
    assert!(r.headers().get("set-cookie").is_none(), "no session");
    let (status, code, body) = outcome(r).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "NO_PHONE_FOR_FIRST_LOGIN"));
    assert!(body["message"].as_str().unwrap().contains("2755282"), "{body}");
    assert_eq!(t.get(&c, "/api/me").await.status(), StatusCode::UNAUTHORIZED);
    // A wrong password still gets the answer every wrong password gets.
    assert_eq!(outcome(t.login(&browser(), "2021010107", "02182717").await).await.1, "INVALID_CREDENTIALS");
}

/// Initial passwords stop working 30 days after the import: the right one then sends the
/// student to recovery, which proves the phone; a first-login session opened before the
/// expiry cannot finish after it.
#[tokio::test]
async fn initial_passwords_expire_and_recovery_takes_over() {
    let t = spawn().await;
    // A minute before the initial password expires (30 days after the import).
    t.clock.advance(30 * 24 * 3600 - 60);
    let early = first_login(&t).await;
    let code = t.activation_code(&early).await;
    t.clock.advance(120);
    let body = json!({"old_password": "03151235", "new_password": "Late2026ok", "code": code});
    assert_eq!(outcome(t.post(&early, "/api/password", body).await).await.1, "INITIAL_PASSWORD_EXPIRED");
    let (status, code, body) = outcome(t.login(&browser(), "2021010101", "03151235").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "INITIAL_PASSWORD_EXPIRED"));
    assert!(body["message"].as_str().unwrap().contains("忘记密码"), "{body}");
    // Recovery by SMS opens the account.
    let c = browser();
    let start = json!({"student_no": "2021010101", "id_card": "620102199903151235", "name": "张三"});
    let ticket: Value = t.post(&c, "/api/password/forgot", start).await.json().await.unwrap();
    let ticket = ticket["ticket"].as_str().unwrap();
    assert_eq!(t.post(&c, "/api/password/forgot/sms", json!({"ticket": ticket})).await.status(), StatusCode::OK);
    let code = t.sms.last_code("找回密码", "6579").unwrap();
    let reset = json!({"ticket": ticket, "method": "sms", "code": code, "new_password": "Found2026ok"});
    assert_eq!(t.post(&c, "/api/password/forgot/reset", reset).await.status(), StatusCode::NO_CONTENT);
    let r = t.login(&browser(), "2021010101", "Found2026ok").await;
    assert_eq!(r.json::<Value>().await.unwrap()["must_change_password"], false);
    assert!(t.sms_sent_to(ZHANG_PHONE).await.last().unwrap().contains("通过“忘记密码”重置"));
}

/// The login error does not explain how passwords are made (the login page does).
#[tokio::test]
async fn the_login_error_does_not_explain_the_password_scheme() {
    let t = spawn().await;
    let (status, code, body) = outcome(t.login(&browser(), "2021010101", "wrong-pass").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"));
    let message = body["message"].as_str().unwrap();
    for hint in ["身份证", "后8位", "初始密码", "X"] {
        assert!(!message.contains(hint), "{message}");
    }
}
