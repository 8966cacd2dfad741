//! The phone change (issue #12, item 2): the phone receives the recovery codes, so whoever
//! can replace it can take the account. A session alone must not be enough.

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const LI: (&str, &str) = ("2021010102", "0708456X");
const LI_PHONE: &str = "+8613912345678";
const NEW_PHONE: &str = "+8613987650001";

async fn outcome(r: reqwest::Response) -> (StatusCode, String, Value) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned(), body)
}

/// Before: `PUT /api/profile` with a new phone needed only a session. Now it refuses a
/// different phone, and the phone on file stays.
#[tokio::test]
async fn a_session_alone_cannot_move_the_phone() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, LI.0, LI.1, "Campus2026a").await;
    let (status, code, body) = outcome(t.put(&c, "/api/profile", json!({"phone": "13987650001", "email": "li@lut.edu.cn"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["phone"].as_str().unwrap().contains("更换手机号码"), "{body}");
    let profile: Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    assert_eq!(profile["phone_masked"], "139****5678");
    assert_eq!(profile["email"], Value::Null, "nothing saved");
    // The same phone again is no change: the rest saves.
    let r = t.put(&c, "/api/profile", json!({"phone": "13912345678", "email": "li@lut.edu.cn"})).await;
    assert_eq!(r.status(), StatusCode::OK);
}

/// The change needs the login password (a stolen session does not have it) and the code sent
/// to the new number; a code sent for one number does not move the phone to another. The
/// replaced number is told, with both numbers masked, and recovery codes go to the new one.
#[tokio::test]
async fn the_phone_changes_only_with_the_password_and_a_code_to_the_new_number() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, LI.0, LI.1, "Campus2026a").await;
    let ask = |password: &str| json!({"phone": "13987650001", "password": password});
    let (status, _, body) = outcome(t.post(&c, "/api/profile/phone/code", ask("not-my-password")).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["fields"]["password"].is_string(), "{body}");
    assert!(t.sms_sent_to_now(NEW_PHONE).await.is_empty(), "no code without the password");
    // Without any code, or with a guess, the phone stays.
    let put = |phone: &str, code: &str| json!({"phone": phone, "code": code});
    assert_eq!(outcome(t.put(&c, "/api/profile/phone", put("13987650001", "123456")).await).await.1, "CODE_EXPIRED");
    let r = t.post(&c, "/api/profile/phone/code", ask("Campus2026a")).await;
    assert_eq!(r.json::<Value>().await.unwrap()["phone_masked"], "139****0001");
    let code = t.sms.last_code("更换绑定手机", "0001").unwrap();
    let guess = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(outcome(t.put(&c, "/api/profile/phone", put("13987650001", guess)).await).await.1, "CODE_INVALID");
    // The right code for another number than it was sent to.
    assert_eq!(outcome(t.put(&c, "/api/profile/phone", put("13987650002", &code)).await).await.1, "CODE_INVALID");
    let r = t.put(&c, "/api/profile/phone", put("13987650001", &code)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["phone_masked"], "139****0001");
    let told = t.sms_sent_to(LI_PHONE).await;
    let notice = told.last().unwrap();
    assert!(notice.contains("由139****5678更换为139****0001"), "{notice}");
    assert!(!notice.contains("13987650001") && !notice.contains("13912345678"), "numbers masked: {notice}");
    // Recovery now reaches the new number only.
    let start = json!({"student_no": LI.0, "id_card": "62010220000708456X", "name": "李四"});
    let ticket: Value = t.post(&browser(), "/api/password/forgot", start).await.json().await.unwrap();
    assert_eq!(ticket["phone_masked"], "139****0001");
}
