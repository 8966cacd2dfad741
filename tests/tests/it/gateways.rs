//! Paying through the sandbox gateways end to end over HTTP: choose a channel, "scan" the QR,
//! press 支付 on the sandbox cashier, and the order turns paid from the signed notification —
//! or, when the notification is lost, from 「我已支付」's query. Switching channel closes the
//! previous attempt at its gateway first, and never asks a charged student to pay again.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::clock::SystemClock;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test]
async fn alipay_qr_payment_is_marked_paid_by_the_notification() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "alipay", "pc").await;
    assert_eq!(pay["action"]["type"], "qr");
    assert!(pay["qr_svg"].as_str().unwrap().starts_with("<?xml") || pay["qr_svg"].as_str().unwrap().contains("<svg"));
    let otn = pay["out_trade_no"].as_str().unwrap();
    assert_eq!(otn, format!("{no}A01"));
    let before: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    assert_eq!(before["attempts"][0]["state"], "created");
    assert_eq!(before["channels"], json!(["alipay", "wechat", "unionpay"]));

    press_pay(pay["action"]["content"].as_str().unwrap()).await;
    let o = wait_paid(&t, &c, &no).await;
    assert_eq!(o["attempts"][0]["state"], "paid");
    assert_eq!(o["attempts"][0]["state_label"], "成功");
    eventually(|| t.sandboxes.alipay.notifications_acked(otn) > 0).await;
    assert_eq!(t.sandboxes.alipay.notifications_acked(otn), 1);
    // The fee item is settled: nothing owed for it any more.
    let fees: Value = t.get(&c, "/api/fees").await.json().await.unwrap();
    let item =
        fees["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).find(|i| i["item_id"] == "TUITION").unwrap();
    assert_eq!((item["outstanding"].as_str(), item["paid"].as_str()), (Some("0.00"), Some("4000.00")));
}

#[tokio::test]
async fn wechat_native_payment_is_marked_paid_by_the_notification() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "wechat", "pc").await;
    assert_eq!(pay["action"]["type"], "qr");
    let otn = pay["out_trade_no"].as_str().unwrap().to_owned();
    press_pay(pay["action"]["content"].as_str().unwrap()).await;
    let o = wait_paid(&t, &c, &no).await;
    assert_eq!(o["attempts"][0]["channel"], "wechat");
    eventually(|| t.sandboxes.wechat.notifications_acked(&otn) > 0).await;
    assert_eq!(t.sandboxes.wechat.notifications_acked(&otn), 1);
}

/// WeChat Pay answers a close it did not carry out with 202 USER_PAYING (the payer is entering a
/// password), 429 or a 5xx SYSTEM_ERROR. The attempt must stay open: WeChat would still take the
/// payment, and a second channel would charge the student twice.
#[tokio::test]
async fn a_wechat_close_that_did_not_close_keeps_the_attempt_open() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let wx = pay_with(&t, &c, &no, "wechat", "pc").await;
    let otn = wx["out_trade_no"].as_str().unwrap().to_owned();
    for (status, code) in [(500, "SYSTEM_ERROR"), (202, "USER_PAYING"), (429, "FREQUENCY_LIMITED")] {
        t.sandboxes.wechat.fail_next_close(status, code);
        let (s, err, _) =
            error_code(t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await).await;
        assert_eq!((s, err.as_str()), (StatusCode::SERVICE_UNAVAILABLE, "GATEWAY_UNAVAILABLE"), "{status} {code}");
        assert_eq!(t.sandboxes.wechat.trade_state(&otn).as_deref(), Some("NOTPAY"), "{code}: still payable at WeChat");
        let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
        let states: Vec<(&str, &str)> =
            o["attempts"].as_array().unwrap().iter().map(|a| (a["channel"].as_str().unwrap(), a["state"].as_str().unwrap())).collect();
        assert_eq!(states, [("wechat", "created")], "{code}: no second channel, the attempt open");
    }
    // The student pays the attempt WeChat kept open: paid once, nothing to refund.
    press_pay(wx["action"]["content"].as_str().unwrap()).await;
    let o = wait_paid(&t, &c, &no).await;
    assert_eq!(o["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(o["attempts"][0]["state"], "paid");
}

#[tokio::test]
async fn phones_get_the_h5_cashier() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let ali = pay_with(&t, &c, &no, "alipay", "phone").await;
    assert_eq!(ali["action"]["type"], "redirect");
    assert!(ali["action"]["url"].as_str().unwrap().contains("/gateway.do?"));
    let wx = pay_with(&t, &c, &no, "wechat", "phone").await;
    assert_eq!(wx["action"]["type"], "redirect");
    let url = wx["action"]["url"].as_str().unwrap();
    assert!(url.contains("/h5/"));
    press_pay(url).await;
    wait_paid(&t, &c, &no).await;
}

/// WeChat Pay H5 must name the payer's own IP address: when the platform cannot tell it, the
/// student is told to choose another way and nothing is started (never a made-up 127.0.0.1).
#[tokio::test]
async fn wechat_on_a_phone_is_refused_when_the_payers_address_is_unknown() {
    use shared::domain::{Channel, OrderNo};
    use shared::gateway::Device;
    use shared::store::PaymentStore;
    let t = spawn().await;
    let (_c, no) = student_with_order(&t).await;
    let who = authed("2021010103");
    let r = t.app.start_payment(&who, &no, Channel::Wechat, Device::Phone, "unknown", None).await;
    assert!(matches!(r, Err(shared::AppError::ClientAddressUnknown)), "{r:?}");
    assert!(t.app.store.list_attempts(&OrderNo::parse(&no).unwrap()).await.unwrap().is_empty(), "nothing started");
    // A QR code on a computer, or another channel on the phone, does not need it.
    assert!(t.app.start_payment(&who, &no, Channel::Wechat, Device::Pc, "unknown", None).await.is_ok());
    assert!(t.app.start_payment(&who, &no, Channel::Alipay, Device::Phone, "unknown", None).await.is_ok());
}

/// Bring your own gateway: a channel whose settings JSON is given (`ALIPAY_MERCHANT`, as the
/// deployed functions read it) is served by that gateway — here an independent Alipay with keys
/// and ids of its own — and every other channel by its sandbox.
#[tokio::test]
async fn a_configured_gateway_replaces_its_sandbox_and_only_its() {
    use shared::domain::Channel;
    let (app_keys, gateway_keys) = (local::keys::generate(), local::keys::generate());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let settings = shared::gateway::alipay::SandboxSettings {
        app_id: "2021000000000777".into(),
        seller_id: "2088000000000777".into(),
        app_public_key: app_keys.public_pem.clone(),
        alipay_private_key: gateway_keys.private_pem.clone(),
    };
    let (router, theirs) =
        sandbox::try_alipay(sandbox::AlipayConfig { settings, public_base: base.clone(), retry_scale: 0.001 }, Arc::new(SystemClock))
            .unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    // Its notify_url names no platform of this test: the payment is found by 「我已支付」's query.
    theirs.set_deliver_notifications(false);
    let json = json!({
        "gateway_url": format!("{base}/gateway.do"), "app_id": "2021000000000777", "seller_id": "2088000000000777",
        "app_private_key": app_keys.private_pem, "alipay_public_key": gateway_keys.public_pem,
        "notify_url": "http://127.0.0.1:9/api/notify/alipay", "return_url": "http://127.0.0.1:9/order.html",
    })
    .to_string();
    let t = spawn_configured(|_| {}, &move |name| (name == "ALIPAY_MERCHANT").then(|| json.clone())).await;
    assert_eq!(t.sandboxes.configured, vec![Channel::Alipay]);

    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "alipay", "pc").await;
    let (qr, otn) = (pay["action"]["content"].as_str().unwrap(), pay["out_trade_no"].as_str().unwrap());
    assert!(qr.starts_with(&base), "the QR code is the configured gateway's: {qr}");
    assert_eq!(t.sandboxes.alipay.trade_state(otn), None, "the built-in sandbox never heard of it");
    press_pay(qr).await;
    assert_eq!(theirs.trade_state(otn).as_deref(), Some("TRADE_SUCCESS"));
    let o: Value = t.post(&c, &format!("/api/orders/{no}/check"), json!({})).await.json().await.unwrap();
    assert_eq!(o["state"], "paid", "the configured gateway's signed answer: {o}");

    // WeChat Pay, not configured, is still the sandbox.
    let (c2, no2) = {
        let c = browser();
        t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
        let r = t
            .post(&c, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": "13912345678"}))
            .await;
        let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        (c, no)
    };
    let wx = pay_with(&t, &c2, &no2, "wechat", "pc").await;
    assert!(wx["action"]["content"].as_str().unwrap().starts_with(&t.sandboxes.wechat_base));
}

#[tokio::test]
async fn a_lost_notification_is_recovered_by_i_have_paid() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    t.sandboxes.alipay.set_deliver_notifications(false);
    let pay = pay_with(&t, &c, &no, "alipay", "pc").await;
    press_pay(pay["action"]["content"].as_str().unwrap()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    assert_eq!(o["state"], "open", "no notification arrived");
    // 「我已支付」: the platform asks Alipay at once.
    let o: Value = t.post(&c, &format!("/api/orders/{no}/check"), json!({})).await.json().await.unwrap();
    assert_eq!(o["state"], "paid");
    assert_eq!(o["attempts"][0]["state"], "paid");
}

#[tokio::test]
async fn switching_channel_closes_the_previous_attempt_and_a_charged_student_is_never_asked_again() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    // QR shown and scanned, not paid; the student switches to WeChat Pay.
    let ali = pay_with(&t, &c, &no, "alipay", "pc").await;
    let ali_otn = ali["out_trade_no"].as_str().unwrap().to_owned();
    Client::new().get(ali["action"]["content"].as_str().unwrap()).send().await.unwrap();
    let wx = pay_with(&t, &c, &no, "wechat", "pc").await;
    assert_eq!(t.sandboxes.alipay.trade_state(&ali_otn).as_deref(), Some("TRADE_CLOSED"));
    let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    assert_eq!(o["attempts"].as_array().unwrap().iter().find(|a| a["out_trade_no"] == ali_otn.as_str()).unwrap()["state"], "closed");
    // The closed Alipay trade cannot be paid any more.
    let plain = Client::new();
    let r = plain.post(format!("{}/cashier/{ali_otn}/pay", t.sandboxes.alipay_base)).send().await.unwrap();
    assert_eq!(t.sandboxes.alipay.trade_state(&ali_otn).as_deref(), Some("TRADE_CLOSED"), "{}", r.status());

    // Paid on WeChat, but that notification is lost; the student tries Alipay again.
    t.sandboxes.wechat.set_deliver_notifications(false);
    press_pay(wx["action"]["content"].as_str().unwrap()).await;
    let (status, code, _) =
        error_code(t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "ORDER_NOT_OPEN"), "found paid by querying WeChat Pay first");
    let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    assert_eq!(o["state"], "paid");
    assert_eq!(o["attempts"].as_array().unwrap().len(), 2, "no third attempt");
}

#[tokio::test]
async fn forged_or_tampered_notifications_are_not_acknowledged() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "alipay", "pc").await;
    let otn = pay["out_trade_no"].as_str().unwrap();
    let forged =
        format!("out_trade_no={otn}&trade_status=TRADE_SUCCESS&total_amount=4000.00&app_id=2021000000000001&sign_type=RSA2&sign=AAAA");
    let r = Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(forged)
        .send()
        .await
        .unwrap();
    assert_ne!(r.text().await.unwrap(), "success");
    let r = Client::new().post(t.url("/api/notify/wechat")).header("content-type", "application/json").body("{}").send().await.unwrap();
    assert!(r.status().is_client_error());
    let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    assert_eq!(o["state"], "open");
}
