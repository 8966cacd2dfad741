//! 微信内支付 (JSAPI) over HTTP: inside WeChat the order page asks to pay, is told WeChat must
//! name the payer, goes through the official account's silent OAuth (the sandbox WeChat) and
//! back, and pays with the signed bridge parameters; the notification marks the order paid.
//! And the attacks on that round trip: a forged state, a replayed code, a payer cookie carried
//! into another student's session, bridge parameters signed by anyone but the merchant.

use integration_tests::*;
use reqwest::{Client, StatusCode, redirect};
use serde_json::{Value, json};

const WECHAT_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x1800302f) NetType/WIFI Language/zh_CN";

/// A client in WeChat's browser that follows no redirects (each hop is looked at).
fn in_wechat() -> Client {
    let mut own_site = reqwest::header::HeaderMap::new();
    own_site.insert("sec-fetch-site", reqwest::header::HeaderValue::from_static("same-origin"));
    Client::builder().cookie_store(true).default_headers(own_site).user_agent(WECHAT_UA).redirect(redirect::Policy::none()).build().unwrap()
}

async fn wechat_student(t: &TestApp) -> (Client, String) {
    let c = in_wechat();
    t.login_ready(&c, "2021010103", "11227895", "Campus2026a").await;
    let r = t
        .post(&c, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": "13912345678"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    (c, no)
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get("location").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
}

async fn pay_in_wechat(t: &TestApp, c: &Client, no: &str) -> reqwest::Response {
    t.post(c, &format!("/api/orders/{no}/pay"), json!({"channel": "wechat", "device": "wechat"})).await
}

/// Where our page is told to go for WeChat's authorization (the state cookie set meanwhile).
async fn authorize_url(t: &TestApp, c: &Client, no: &str) -> String {
    let r = t.post(c, &format!("/api/orders/{no}/payer"), json!({"channel": "wechat"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(
        cookies.iter().any(|c| c.starts_with("cp_payer_state=") && c.contains("SameSite=Lax") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    r.json::<Value>().await.unwrap()["authorize_url"].as_str().unwrap().to_owned()
}

/// Our authorize step, then WeChat's redirect: the platform's return URL with `code` and `state`.
async fn through_oauth(t: &TestApp, c: &Client, no: &str) -> String {
    let authorize = authorize_url(t, c, no).await;
    assert!(authorize.starts_with(&format!("{}/connect/oauth2/authorize?appid=", t.sandboxes.wechat_base)), "{authorize}");
    assert!(authorize.contains("scope=snsapi_base") && authorize.ends_with("#wechat_redirect"), "{authorize}");
    let r = c.get(&authorize).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND, "WeChat answers snsapi_base silently");
    let back = location(&r);
    assert!(back.starts_with(&t.url("/api/wechat/payer?code=")), "{back}");
    back
}

#[tokio::test]
async fn inside_wechat_the_payer_is_named_by_oauth_and_pays_by_the_bridge() {
    let t = spawn().await;
    let (c, no) = wechat_student(&t).await;
    let (status, code, _) = error_code(pay_in_wechat(&t, &c, &no).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "PAYER_REQUIRED"));

    let back = through_oauth(&t, &c, &no).await;
    let r = c.get(&back).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), format!("/order.html?order_no={no}&pay=wechat"));
    let cookies: Vec<String> = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    assert!(cookies.iter().any(|c| c.starts_with("cp_payer=") && c.contains("HttpOnly") && c.contains("SameSite=Strict")), "{cookies:?}");
    assert!(cookies.iter().any(|c| c.starts_with("cp_payer_state=;") && c.contains("Max-Age=0")), "the state is spent: {cookies:?}");

    let r = pay_in_wechat(&t, &c, &no).await;
    assert_eq!(r.status(), StatusCode::OK);
    let pay: Value = r.json().await.unwrap();
    assert_eq!(pay["action"]["type"], "jsapi", "{pay}");
    let params = pay["action"]["params"].clone();
    assert_eq!(params["appId"], local::payments::WECHAT_APPID);
    assert!(params["package"].as_str().unwrap().starts_with("prepay_id=wx"));
    assert_eq!(params["signType"], "RSA");

    // The bridge (WeChat's payment sheet): a page outside the registered site, or parameters
    // signed by anyone but the merchant, are refused; the real ones pay.
    let bridge = format!("{}/jsbridge/getBrandWCPayRequest", t.sandboxes.wechat_base);
    let confirm = |params: Value, page: String| {
        let bridge = bridge.clone();
        async move {
            let r = Client::new().post(bridge).json(&json!({"params": params, "page_url": page, "action": "pay"})).send().await.unwrap();
            r.json::<Value>().await.unwrap()["err_msg"].as_str().unwrap().to_owned()
        }
    };
    let page = t.url(&format!("/order.html?order_no={no}"));
    assert_eq!(confirm(params.clone(), "https://evil.example/order.html".into()).await, "get_brand_wcpay_request:fail");
    let mut forged = params.clone();
    forged["timeStamp"] = json!("1");
    assert_eq!(confirm(forged, page.clone()).await, "get_brand_wcpay_request:fail");
    assert_eq!(confirm(params, page).await, "get_brand_wcpay_request:ok");
    let o = wait_paid(&t, &c, &no).await;
    assert_eq!(o["attempts"][0]["state"], "paid");
    assert_eq!(t.sandboxes.wechat.trade_state(o["attempts"][0]["out_trade_no"].as_str().unwrap()).as_deref(), Some("SUCCESS"));
}

#[tokio::test]
async fn a_forged_state_a_replayed_code_and_a_carried_cookie_name_no_payer() {
    let t = spawn().await;
    let (c, no) = wechat_student(&t).await;
    let back = through_oauth(&t, &c, &no).await;

    // Another state than the one this browser was sent with: nothing set, back to 学费缴费.
    let forged = back.replace("state=", "state=0");
    let r = c.get(&forged).send().await.unwrap();
    assert_eq!((r.status(), location(&r)), (StatusCode::FOUND, "/tuition.html".to_owned()));
    assert!(!r.headers().get_all("set-cookie").iter().any(|v| v.to_str().unwrap().starts_with("cp_payer=")));
    // No state cookie at all (an attacker's link opened by the student): the same.
    let r = in_wechat().get(&back).send().await.unwrap();
    assert_eq!(location(&r), "/tuition.html");

    // The forged attempt spent the state cookie; a fresh round trip, used once, then replayed.
    let back = through_oauth(&t, &c, &no).await;
    assert_eq!(location(&c.get(&back).send().await.unwrap()), format!("/order.html?order_no={no}&pay=wechat"));
    let replay = through_oauth(&t, &c, &no).await;
    let code_again = format!("{}&state={}", back.split("&state=").next().unwrap(), replay.split("&state=").nth(1).unwrap());
    let r = c.get(&code_again).send().await.unwrap();
    assert_eq!(location(&r), format!("/order.html?order_no={no}&payer=failed"), "WeChat refuses a used code (40163)");

    // The payer cookie works for its own session only: carried into another student's session
    // (or a later session of the same student) it names nobody.
    let payer_cookie = {
        let back = through_oauth(&t, &c, &no).await;
        let r = c.get(&back).send().await.unwrap();
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).find(|c| c.starts_with("cp_payer=")).unwrap()
    };
    let token = payer_cookie.trim_start_matches("cp_payer=").split(';').next().unwrap().to_owned();
    let other = in_wechat();
    t.login_ready(&other, "2021010104", "04120030", "Campus2026b").await;
    let r = other
        .post(t.url("/api/orders"))
        .header("origin", &t.base)
        .json(&json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": "13912345679"}))
        .send()
        .await
        .unwrap();
    let other_no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let session = other_session_cookie(&t, &other).await;
    let r = Client::new()
        .post(t.url(&format!("/api/orders/{other_no}/pay")))
        .header("origin", &t.base)
        .header("cookie", format!("{session}; cp_payer={token}"))
        .json(&json!({"channel": "wechat", "device": "wechat"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await.1, "PAYER_REQUIRED");
}

/// The session cookie the client holds (`cp_session=…`), read back by logging in again.
async fn other_session_cookie(t: &TestApp, c: &Client) -> String {
    let r = t.login(c, "2021010104", "Campus2026b").await;
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .find(|c| c.starts_with("cp_session="))
        .expect("a session cookie")
}

#[tokio::test]
async fn outside_wechat_the_oauth_page_says_so_and_a_student_cannot_authorize_anothers_order() {
    let t = spawn().await;
    let (c, no) = wechat_student(&t).await;
    let authorize = authorize_url(&t, &c, &no).await;
    let page = Client::new().get(&authorize).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("请在微信客户端打开链接"));
    // Another student's order, a channel that names no payer, no session: refused.
    let stranger = in_wechat();
    t.login_ready(&stranger, "2021010104", "04120030", "Campus2026b").await;
    let payer = |c: Client, channel: &str| {
        let (path, body) = (format!("/api/orders/{no}/payer"), json!({"channel": channel}));
        let t = &t;
        async move { error_code(t.post(&c, &path, body).await).await }
    };
    assert_eq!(payer(stranger, "wechat").await.1, "NOT_FOUND");
    assert_eq!(payer(c.clone(), "alipay").await.1, "CHANNEL_UNAVAILABLE");
    assert_eq!(payer(in_wechat(), "wechat").await.1, "UNAUTHENTICATED");
}
