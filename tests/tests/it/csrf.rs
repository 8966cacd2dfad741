//! Cross-site request forgery and cookie tossing, performed against the real handlers (issue
//! #12, item 5). Each attack is sent as another site's page would send it; each would succeed
//! without the control it names.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

const EVIL: &str = "https://evil.example";

/// 张三's session cookie (`name=value`) once past the forced password change, for requests
/// sent by hand, with exactly the headers each attack has.
async fn ready_cookie(t: &TestApp) -> String {
    let pair = session_pair(t, "2021010101", "03151235").await;
    let own = |path: &str| Client::new().post(t.url(path)).header("cookie", &pair).header("origin", &t.base);
    assert_eq!(own("/api/password/code").json(&json!({})).send().await.unwrap().status(), StatusCode::OK);
    let code = t.sms.last_code("首次登录验证", "6579").unwrap();
    let change = json!({"old_password": "03151235", "new_password": "Campus2026a", "code": code});
    let r = own("/api/password").json(&change).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    match r.headers().get("set-cookie") {
        Some(renewed) => renewed.to_str().unwrap().split(';').next().unwrap().to_owned(),
        None => pair,
    }
}

async fn email(t: &TestApp, cookie: &str) -> Value {
    let p: Value = Client::new().get(t.url("/api/profile")).header("cookie", cookie).send().await.unwrap().json().await.unwrap();
    p["email"].clone()
}

async fn code(r: reqwest::Response) -> (StatusCode, String) {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// The request of the issue, reproduced before the fix (200, saved): another site's page posts
/// a "simple" request (`text/plain`, no preflight) with the student's cookie attached.
#[tokio::test]
async fn another_sites_page_cannot_change_the_profile_or_end_the_session() {
    let t = spawn().await;
    let cookie = ready_cookie(&t).await;
    let c = Client::new();
    let put = || c.put(t.url("/api/profile")).header("cookie", &cookie);
    let before = email(&t, &cookie).await;
    let forged = r#"{"email": "attacker@evil.example"}"#;

    // A cross-site page: text/plain, its own Origin, and the browser's Sec-Fetch-Site.
    let r = put()
        .header("content-type", "text/plain")
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "CROSS_SITE".into()));
    // A sibling subdomain (same site, other origin): SameSite=Strict lets its cookies through.
    let r = put()
        .header("content-type", "application/json")
        .header("origin", "https://news.lut.edu.cn")
        .header("sec-fetch-site", "same-site")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "CROSS_SITE".into()));
    // A browser without Sec-Fetch-Site: the Origin decides.
    let r = put().header("origin", EVIL).json(&json!({"email": "attacker@evil.example"})).send().await.unwrap();
    assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "CROSS_SITE".into()));
    // Neither header (a script or an old client): not known to be ours.
    let r = put().json(&json!({"email": "attacker@evil.example"})).send().await.unwrap();
    assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "CROSS_SITE".into()));
    // Our own origin but a form's media type: no JSON, no change.
    let r = put()
        .header("origin", &t.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=attacker%40evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE".into()));
    assert_eq!(email(&t, &cookie).await, before, "nothing forged was saved");

    // Logging the student out from another site is refused too: the session still works.
    let r = c.post(t.url("/api/logout")).header("cookie", &cookie).header("sec-fetch-site", "cross-site").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(c.get(t.url("/api/me")).header("cookie", &cookie).send().await.unwrap().status(), StatusCode::OK);

    // Our own page (same-origin fetch, JSON): saved.
    let r = put().header("sec-fetch-site", "same-origin").json(&json!({"email": "zhangsan@lut.edu.cn"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(email(&t, &cookie).await, "zhangsan@lut.edu.cn");
}

/// A login posted by another site (login CSRF: the victim would work in the attacker's account)
/// is refused before any password is checked.
#[tokio::test]
async fn another_sites_page_cannot_log_anyone_in() {
    let t = spawn().await;
    let c = Client::builder().cookie_store(true).build().unwrap();
    let r = c
        .post(t.url("/api/login"))
        .header("content-type", "text/plain")
        .header("sec-fetch-site", "cross-site")
        .body(r#"{"username": "2021010101", "password": "03151235"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(code(r).await, (StatusCode::FORBIDDEN, "CROSS_SITE".into()));
    assert_eq!(t.get(&c, "/api/me").await.status(), StatusCode::UNAUTHORIZED, "no session was opened");
}

/// The session cookie of a logged-in client, as sent back (`name=value`).
async fn session_pair(t: &TestApp, username: &str, initial: &str) -> String {
    let r = t.login(&Client::new(), username, initial).await;
    assert_eq!(r.status(), StatusCode::OK);
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    set.split(';').next().unwrap().to_owned()
}

/// Cookie tossing: a sibling subdomain plants its own `cp_session` for the whole site, so the
/// request carries two. Whichever the browser puts first, the request is refused.
#[tokio::test]
async fn a_request_with_two_session_cookies_is_refused() {
    let t = spawn().await;
    let mine = session_pair(&t, "2021010102", "0708456X").await;
    let planted = session_pair(&t, "2021010101", "03151235").await;
    let me = |cookie: String| Client::new().get(t.url("/api/me")).header("cookie", cookie).send();
    assert_eq!(me(mine.clone()).await.unwrap().status(), StatusCode::OK, "one session cookie works");
    for both in [format!("{planted}; {mine}"), format!("{mine}; {planted}")] {
        assert_eq!(me(both).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
}

/// Where cookies are Secure (the cloud), the session cookie is `__Host-` prefixed, which a
/// browser accepts only from our own host (Secure, Path=/, no Domain); the unprefixed name,
/// which a sibling could set, is not read at all.
#[tokio::test]
async fn in_the_cloud_only_the_host_prefixed_session_cookie_counts() {
    let t = spawn_with(|app| app.settings.cookie_secure = true).await;
    let r = t.login(&Client::new(), "2021010102", "0708456X").await;
    let set = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.starts_with("__Host-cp_session=") && set.contains("; Secure") && set.contains("Path=/"), "{set}");
    assert!(!set.to_ascii_lowercase().contains("domain="), "{set}");
    let token = set.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    let me = |cookie: String| Client::new().get(t.url("/api/me")).header("cookie", cookie).send();
    assert_eq!(me(format!("__Host-cp_session={token}")).await.unwrap().status(), StatusCode::OK);
    assert_eq!(me(format!("cp_session={token}")).await.unwrap().status(), StatusCode::UNAUTHORIZED);
}
