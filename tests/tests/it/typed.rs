//! Forms that forgive what phones type: full-width digits and letters (１３９…, Ｘ) and the
//! ideographic space in 学号, phone numbers, postcodes, ID numbers and codes are read as their
//! half-width forms, surrounding spaces trimmed — where they used to be refused.

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `s` with its ASCII letters and digits in full width, and an ideographic space around it.
fn full(s: &str) -> String {
    let wide: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xFEE0).unwrap() } else { c }).collect();
    format!("\u{3000}{wide} ")
}

#[tokio::test]
async fn a_phone_keyboards_full_width_is_read_as_half_width() {
    let t = spawn().await;
    // 李四's first login: 学号 and the initial password (ID suffix, lower-case ｘ) in full width,
    // and the SMS code too.
    let c = browser();
    let r = t.login(&c, &full("2021010102"), &full("0708456x")).await;
    assert_eq!(r.status(), StatusCode::OK, "full-width 学号 and initial password");
    assert_eq!(r.json::<Value>().await.unwrap()["must_change_password"], true);
    let code = t.activation_code(&c).await;
    let r = t.post(&c, "/api/password", json!({"old_password": "0708456X", "new_password": "Campus2026t", "code": full(&code)})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT, "a full-width code");

    // A postcode in full width is saved in half width.
    let r = t.put(&c, "/api/profile", json!({"postcode": full("730050")})).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(t.get(&c, "/api/profile").await.json::<Value>().await.unwrap()["postcode"], "730050");

    // The phone that receives an order's e-receipt: refused before ("请输入11位中国大陆手机号码").
    let c3 = browser();
    t.login_ready(&c3, "2021010103", "11227895", "Campus2026a").await;
    let r = t
        .post(&c3, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": full("13912345678")}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "a full-width phone number");
    assert_eq!(r.json::<Value>().await.unwrap()["receipt_phone_masked"], "139****5678");

    // 忘记密码: 学号 and ID number in full width (a trailing Ｘ too) identify 李四.
    let r = t
        .post(
            &browser(),
            "/api/password/forgot",
            json!({"student_no": full("2021010102"), "id_card": full("62010220000708456X"), "name": "李四"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK, "full-width identity");

    // Not everything passes: letters where digits belong are still refused, with the message.
    let (status, code, v) = error_code(t.put(&c, "/api/profile", json!({"postcode": full("73005a")})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"), "{v}");
}
