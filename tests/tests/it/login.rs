//! Login over HTTP against moto: success, forced change, wrong/unknown users, lockout,
//! client throttling, other users, sessions (logout, forged, expired, sliding renewal).

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn first_login_forces_a_password_change_before_anything_else() {
    let t = spawn().await;
    let c = browser();
    let r = t.login(&c, "2021010101", "03151235").await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap().to_owned();
    assert!(cookie.starts_with("cp_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["must_change_password"], true);
    assert_eq!(body["user"]["name"], "张三");
    assert_eq!(body["user"]["id_card_masked"], "620102********1235");

    let (status, code, _) = error_code(t.get(&c, "/api/fees").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "PASSWORD_CHANGE_REQUIRED"));
    let (status, code, _) = error_code(t.get(&c, "/api/profile").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "PASSWORD_CHANGE_REQUIRED"));
    assert_eq!(t.get(&c, "/api/me").await.status(), StatusCode::OK, "the user bar still loads");

    // The initial password is not acceptable as the new one; the message states the rule.
    let (status, code, body) =
        error_code(t.post(&c, "/api/password", json!({"old_password": "03151235", "new_password": "03151235"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["new_password"].as_str().unwrap().contains("8-32"));

    // With the SMS code sent to the phone on file (issue #12: the first login proves it).
    let code = t.activation_code(&c).await;
    let r = t.post(&c, "/api/password", json!({"old_password": "03151235", "new_password": "Campus2026a", "code": code})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(t.get(&c, "/api/fees").await.status(), StatusCode::OK);

    // The old password no longer works; the new one does, without a forced change.
    assert_eq!(t.login(&browser(), "2021010101", "03151235").await.status(), StatusCode::UNAUTHORIZED);
    let r = t.login(&browser(), "2021010101", "Campus2026a").await;
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["must_change_password"], false);
}

#[tokio::test]
async fn a_trailing_lower_case_x_in_the_initial_password_is_taken_as_upper_case() {
    let t = spawn().await;
    assert_eq!(t.login(&browser(), "2021010102", "0708456x").await.status(), StatusCode::OK);
    assert_eq!(t.login(&browser(), "2021010102", "0708456X").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let t = spawn().await;
    let wrong = t.login(&browser(), "2021010101", "00000000").await;
    assert!(wrong.headers().get("set-cookie").is_none());
    let (s1, c1, b1) = error_code(wrong).await;
    let (s2, c2, b2) = error_code(t.login(&browser(), "2099999999", "00000000").await).await;
    assert_eq!((s1, c1.as_str()), (StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS"));
    assert_eq!((s1, c1, b1), (s2, c2, b2));
}

#[tokio::test]
async fn five_failures_lock_the_account_for_fifteen_minutes() {
    let t = spawn().await;
    for i in 1..=4 {
        let (_, code, _) = error_code(t.login(&browser(), "2021010101", "wrong-pass").await).await;
        assert_eq!(code, "INVALID_CREDENTIALS", "attempt {i}");
    }
    let (status, code, body) = error_code(t.login(&browser(), "2021010101", "wrong-pass").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "LOCKED"));
    assert!(body["message"].as_str().unwrap().contains("15分钟"));
    // Locked means locked, even with the right password.
    let (_, code, _) = error_code(t.login(&browser(), "2021010101", "03151235").await).await;
    assert_eq!(code, "LOCKED");
    // Another account is unaffected.
    assert_eq!(t.login(&browser(), "2021010102", "0708456X").await.status(), StatusCode::OK);

    t.clock.advance(14 * 60);
    assert_eq!(error_code(t.login(&browser(), "2021010101", "03151235").await).await.1, "LOCKED");
    t.clock.advance(2 * 60);
    assert_eq!(t.login(&browser(), "2021010101", "03151235").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn unknown_user_names_lock_exactly_like_real_ones() {
    let t = spawn().await;
    for _ in 0..5 {
        t.login(&browser(), "2099999999", "wrong-pass").await;
    }
    assert_eq!(error_code(t.login(&browser(), "2099999999", "wrong-pass").await).await.1, "LOCKED");
}

#[tokio::test]
async fn alternating_user_number_and_id_card_number_buys_no_extra_tries() {
    let t = spawn().await;
    for name in ["U0001", "620502198501010023", "U0001", "620502198501010023"] {
        assert_eq!(error_code(t.login(&browser(), name, "wrong-pass").await).await.1, "INVALID_CREDENTIALS");
    }
    assert_eq!(error_code(t.login(&browser(), "620502198501010023", "wrong-pass").await).await.1, "LOCKED");
    // The account is locked under both of its names.
    assert_eq!(error_code(t.login(&browser(), "U0001", "赵六").await).await.1, "LOCKED");
}

#[tokio::test]
async fn one_client_guessing_across_many_accounts_is_throttled() {
    let t = spawn().await;
    let limit = t.app.settings.client_lock_after;
    for i in 0..limit - 1 {
        let (_, code, _) = error_code(t.login(&browser(), &format!("20990000{i:02}"), "wrong-pass").await).await;
        assert_eq!(code, "INVALID_CREDENTIALS", "attempt {i}");
    }
    let (status, code, _) = error_code(t.login(&browser(), "2099000099", "wrong-pass").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS"));
    // Even a correct login from that client waits out the window.
    assert_eq!(error_code(t.login(&browser(), "2021010102", "0708456X").await).await.1, "TOO_MANY_REQUESTS");
}

#[tokio::test]
async fn other_users_log_in_with_user_number_or_id_card_and_their_name() {
    let t = spawn().await;
    let r = t.login(&browser(), "U0001", "赵六").await;
    assert_eq!(r.status(), StatusCode::OK);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["user"]["kind"], "other");
    assert_eq!(body["must_change_password"], true);
    assert_eq!(t.login(&browser(), "620502198501010023", "赵六").await.status(), StatusCode::OK);
    // Students do not log in by ID-card number.
    assert_eq!(t.login(&browser(), "620102199903151235", "03151235").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session_even_for_a_replayed_cookie() {
    let t = spawn().await;
    let c = browser();
    let r = t.login(&c, "2021010102", "0708456X").await;
    let raw = r.headers().get("set-cookie").unwrap().to_str().unwrap().split(';').next().unwrap().to_owned();
    assert_eq!(t.get(&c, "/api/me").await.status(), StatusCode::OK);
    let r = t.post(&c, "/api/logout", json!({})).await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert!(r.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(t.get(&c, "/api/me").await.status(), StatusCode::UNAUTHORIZED);
    let replay = reqwest::Client::new().get(t.url("/api/me")).header("cookie", raw).send().await.unwrap();
    let (status, code, _) = error_code(replay).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"));
}

#[tokio::test]
async fn forged_and_missing_cookies_are_unauthenticated() {
    let t = spawn().await;
    let plain = reqwest::Client::new();
    assert_eq!(error_code(plain.get(t.url("/api/fees")).send().await.unwrap()).await.1, "UNAUTHENTICATED");
    // A token signed with another key.
    let other = shared::auth::TokenKeys::from_secret(&[9u8; 32]).unwrap();
    let now = chrono::Utc::now().timestamp();
    let forged = other.issue(&shared::auth::Claims {
        sub: "2021010101".into(),
        sid: "x".into(),
        purpose: shared::auth::Purpose::Session,
        pwc: false,
        iat: now,
        exp: now + 600,
        data: None,
    });
    for cookie in [format!("cp_session={forged}"), "cp_session=garbage".into(), "cp_session=".into()] {
        let r = plain.get(t.url("/api/profile")).header("cookie", cookie).send().await.unwrap();
        assert_eq!(error_code(r).await.1, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn sessions_slide_while_used_and_expire_when_idle() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010102", "0708456X", "Campus2026b").await;
    // Past half the 30-minute life: the answer carries a renewed cookie.
    t.clock.advance(20 * 60);
    let r = t.get(&c, "/api/fees").await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("set-cookie").is_some(), "renewed");
    // 40 minutes after login, but only 20 after the renewal: still in.
    t.clock.advance(20 * 60);
    assert_eq!(t.get(&c, "/api/fees").await.status(), StatusCode::OK);
    // Idle for 31 minutes: out.
    t.clock.advance(31 * 60);
    assert_eq!(error_code(t.get(&c, "/api/fees").await).await.1, "UNAUTHENTICATED");
}

/// An IPv6 client holds a whole /64: rotating through its addresses must not buy fresh tries.
/// Five failures (the limit here) from five addresses of one /64 throttle every address of it;
/// the next /64 is another client.
#[tokio::test]
async fn rotating_addresses_within_one_ipv6_slash_64_count_as_one_client() {
    let t = spawn_with(|app| app.settings.client_lock_after = 5).await;
    for i in 1..=5 {
        let wrong = t.app.login(&format!("20999999{i:02}"), "wrong-pass", &format!("2001:db8:7:9::{i:x}")).await;
        assert!(matches!(wrong, Err(shared::AppError::InvalidCredentials | shared::AppError::TooManyRequests)), "{i}");
    }
    let same_64 = t.app.login("2021010101", "03151235", "2001:db8:7:9:ffff:eeee:dddd:1").await;
    assert!(matches!(same_64, Err(shared::AppError::TooManyRequests)), "the right password, from the same /64");
    assert!(t.app.login("2021010101", "03151235", "2001:db8:7:a::1").await.is_ok(), "another /64");
}
