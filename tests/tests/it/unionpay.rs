//! Paying through the sandbox UnionPay end to end over HTTP: the order page gets the signed
//! front-consume form, the browser posts it to UnionPay's front endpoint and lands on the
//! cashier, 支付 there makes UnionPay notify our backUrl (verified through the signPubKeyCert
//! chain) and send the browser back through frontUrl. UnionPay cannot close a consume, so an
//! unpaid attempt blocks switching channel until its payTimeout; a lost notification is found
//! by queryTrans (which needs the attempt's original txnTime).

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{Fen, OutTradeNo};
use shared::gateway::unionpay;
use shared::store::PaymentStore;
use std::collections::BTreeMap;
use std::time::Duration;

async fn order(t: &TestApp, c: &Client, no: &str) -> Value {
    t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap()
}

fn form_fields(pay: &Value) -> BTreeMap<String, String> {
    assert_eq!(pay["action"]["type"], "form", "{pay}");
    pay["action"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kv| (kv[0].as_str().unwrap().to_owned(), kv[1].as_str().unwrap().to_owned()))
        .collect()
}

/// What the browser does with a `form` action: posts it where it says. Returns the cashier URL
/// UnionPay redirects to.
async fn submit_form(pay: &Value) -> String {
    let fields = form_fields(pay);
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let body = shared::gateway::form::encode(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let action = pay["action"]["action"].as_str().unwrap();
    let r = plain.post(action).header("content-type", unionpay::FORM_CONTENT_TYPE).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "the front endpoint accepts the signed form");
    let base = action.split("/gateway/").next().unwrap();
    format!("{base}{}", r.headers()["location"].to_str().unwrap())
}

/// Opens the cashier and presses 支付; returns the page UnionPay answers with.
async fn press_pay(cashier: &str) -> String {
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = plain.get(cashier).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("甘肃省财政厅"), "the cashier names the payee");
    let r = plain.post(format!("{cashier}/pay")).send().await.unwrap();
    r.text().await.unwrap()
}

#[tokio::test]
async fn a_pc_payment_is_paid_by_the_verified_notification_and_the_browser_comes_back_to_the_order() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    assert_eq!(order(&t, &c, &no).await["channels"], json!(["alipay", "wechat", "unionpay"]));
    let pay = pay_with(&t, &c, &no, "unionpay", "pc").await;
    let otn = pay["out_trade_no"].as_str().unwrap().to_owned();
    assert_eq!(otn, format!("{no}U01"));
    let f = form_fields(&pay);
    assert_eq!((f["channelType"].as_str(), f["txnAmt"].as_str(), f["orderId"].as_str()), ("07", "400000", otn.as_str()));
    // payTimeout: 15 minutes after txnTime, well inside the order's 2 hours.
    let sent = unionpay::parse_time(&f["txnTime"]).unwrap();
    assert_eq!(unionpay::parse_time(&f["payTimeout"]).unwrap() - sent, chrono::Duration::minutes(15));

    let cashier = submit_form(&pay).await;
    assert_eq!(t.sandboxes.unionpay.trade_state(&otn).as_deref(), Some("AWAITING_PAYER"));
    let page = press_pay(&cashier).await;
    let o = wait_paid(&t, &c, &no).await;
    assert_eq!((o["attempts"][0]["state"].as_str(), o["attempts"][0]["channel_label"].as_str()), (Some("paid"), Some("银联在线支付")));
    eventually(|| t.sandboxes.unionpay.notifications_acked(&otn) > 0).await;
    assert_eq!(t.sandboxes.unionpay.notifications_acked(&otn), 1);
    let fees: Value = t.get(&c, "/api/fees").await.json().await.unwrap();
    let item =
        fees["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).find(|i| i["item_id"] == "TUITION").unwrap();
    assert_eq!((item["outstanding"].as_str(), item["paid"].as_str()), (Some("0.00"), Some("4000.00")));

    // The cashier sends the browser back with a POST to frontUrl; we send it on to the order page.
    assert!(page.contains(&format!("{}/api/return/unionpay", t.base)), "the cashier posts back to frontUrl");
    let start = page.find("<form id=\"back\"").unwrap();
    let inputs = &page[start..page[start..].find("</form>").unwrap() + start];
    let mut back = Vec::new();
    for part in inputs.split("<input type=\"hidden\" ").skip(1) {
        let attr = |name: &str| {
            part.split(&format!("{name}=\""))
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
                .replace("&amp;", "&")
                .replace("&#39;", "'")
                .replace("&quot;", "\"")
                .replace("&lt;", "<")
                .replace("&gt;", ">")
        };
        back.push((attr("name"), attr("value")));
    }
    let body = shared::gateway::form::encode(back.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = plain.post(t.url("/api/return/unionpay")).header("content-type", unionpay::FORM_CONTENT_TYPE).body(body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/order.html?out_trade_no={otn}").as_str());
    // A return naming nothing of ours goes to 学费缴费, never elsewhere.
    let r = plain.post(t.url("/api/return/unionpay")).body("orderId=https%3A%2F%2Fevil.example").send().await.unwrap();
    assert_eq!(r.headers()["location"], "/tuition.html");
}

#[tokio::test]
async fn a_phone_gets_channel_type_08() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "unionpay", "phone").await;
    assert_eq!(form_fields(&pay)["channelType"], "08");
    press_pay(&submit_form(&pay).await).await;
    wait_paid(&t, &c, &no).await;
}

#[tokio::test]
async fn an_unpaid_attempt_blocks_switching_until_its_pay_timeout_then_is_proven_unpaid_by_query() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let up = pay_with(&t, &c, &no, "unionpay", "pc").await;
    let otn = up["out_trade_no"].as_str().unwrap().to_owned();
    let cashier = submit_form(&up).await;
    // UnionPay cannot close it: switching now or cancelling could charge the student twice.
    let (status, code, body) =
        error_code(t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "alipay", "device": "pc"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "PAYMENT_STILL_OPEN"));
    let until = (unionpay::parse_time(&form_fields(&up)["payTimeout"]).unwrap() + chrono::Duration::minutes(1))
        .with_timezone(&shared::clock::beijing())
        .format("%H:%M")
        .to_string();
    assert!(body["message"].as_str().unwrap().contains(&until), "{body}");
    let (status, code, _) = error_code(t.post(&c, &format!("/api/orders/{no}/cancel"), json!({})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "PAYMENT_STILL_OPEN"));
    assert_eq!(order(&t, &c, &no).await["attempts"][0]["state"], "created");

    // Past payTimeout (and the minute of allowed skew): the cashier refuses, the query is final,
    // and the switch goes ahead.
    t.clock.advance(17 * 60);
    assert_eq!(t.sandboxes.unionpay.trade_state(&otn).as_deref(), Some("TIMED_OUT"));
    let plain = Client::new();
    let r = plain.post(format!("{cashier}/pay")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert_eq!(t.login(&c, "2021010103", "Campus2026a").await.status(), StatusCode::OK);
    let ali = pay_with(&t, &c, &no, "alipay", "pc").await;
    assert_eq!(ali["out_trade_no"], format!("{no}A02"));
    let o = order(&t, &c, &no).await;
    let states: Vec<(&str, &str)> =
        o["attempts"].as_array().unwrap().iter().map(|a| (a["channel"].as_str().unwrap(), a["state"].as_str().unwrap())).collect();
    assert!(states.contains(&("unionpay", "closed")) && states.contains(&("alipay", "created")), "{states:?}");
}

#[tokio::test]
async fn a_lost_notification_is_found_by_i_have_paid_and_by_the_sweeper() {
    let t = spawn().await;
    t.sandboxes.unionpay.set_deliver_notifications(false);
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "unionpay", "pc").await;
    press_pay(&submit_form(&pay).await).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(order(&t, &c, &no).await["state"], "open", "no notification arrived");
    // 「我已支付」: queryTrans by orderId + the attempt's txnTime.
    let o: Value = t.post(&c, &format!("/api/orders/{no}/check"), json!({})).await.json().await.unwrap();
    assert_eq!((o["state"].as_str(), o["attempts"][0]["state"].as_str()), (Some("paid"), Some("paid")));

    // The same for the sweeper (张三's exam fee), once the attempt is a few minutes old.
    let z = browser();
    t.login_ready(&z, "2021010101", "03151235", "Campus2026a").await;
    let r = t.post(&z, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "EXAM"}]})).await;
    let no2 = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let pay = pay_with(&t, &z, &no2, "unionpay", "pc").await;
    press_pay(&submit_form(&pay).await).await;
    t.clock.advance(3 * 60);
    let report = t.app.sweep().await.unwrap();
    assert_eq!(report.found_paid, 1, "{report:?}");
    assert_eq!(order(&t, &z, &no2).await["state"], "paid");
}

/// The attempt's txnTime, as the front form carried it.
async fn txn_time(t: &TestApp, otn: &str) -> String {
    let a = t.app.store.get_attempt(&OutTradeNo::parse(otn).unwrap()).await.unwrap().unwrap();
    unionpay::format_time(a.created_at)
}

async fn post_notification(t: &TestApp, body: String) -> (StatusCode, String) {
    let r = Client::new()
        .post(t.url("/api/notify/unionpay"))
        .header("content-type", unionpay::FORM_CONTENT_TYPE)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn forged_tampered_and_foreign_notifications_change_nothing_and_twenty_copies_pay_once() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let pay = pay_with(&t, &c, &no, "unionpay", "pc").await;
    let otn = pay["out_trade_no"].as_str().unwrap().to_owned();
    let txn = txn_time(&t, &otn).await;
    let chain = &t.sandboxes.unionpay_chain;
    let mer = local::payments::UNIONPAY_MER_ID;
    let total = Fen::new(400_000);
    let now = t.clock.now();
    let rejected = [
        (
            "a chain we were not configured with",
            notifications::unionpay_paid(&unionpay::SandboxChain::issue(now).unwrap(), mer, &otn, &txn, total, now),
        ),
        ("another merchant", notifications::unionpay_paid(chain, "777290058100000", &otn, &txn, total, now)),
        ("another amount", notifications::unionpay_paid(chain, mer, &otn, &txn, Fen::new(1), now)),
        ("another txnTime", notifications::unionpay_paid(chain, mer, &otn, "20200101120000", total, now)),
        ("an attempt we never made", notifications::unionpay_paid(chain, mer, &format!("{no}U09"), &txn, total, now)),
        ("an altered amount", notifications::unionpay_paid(chain, mer, &otn, &txn, total, now).replace("txnAmt=400000", "txnAmt=400001")),
        ("no signature", "version=5.1.0&orderId=x".to_owned()),
    ];
    for (what, body) in rejected {
        let (status, text) = post_notification(&t, body).await;
        assert_eq!((status, text.as_str()), (StatusCode::BAD_REQUEST, "fail"), "{what}");
    }
    assert_eq!(order(&t, &c, &no).await["state"], "open", "nothing changed");

    // The genuine one, twenty times at once: all acknowledged, one payment.
    let genuine = notifications::unionpay_paid(chain, mer, &otn, &txn, total, now);
    let copies = (0..20).map(|_| post_notification(&t, genuine.clone()));
    for (status, text) in futures::future::join_all(copies).await {
        assert_eq!((status, text.as_str()), (StatusCode::OK, "ok"));
    }
    let o = order(&t, &c, &no).await;
    assert_eq!((o["state"].as_str(), o["attempts"][0]["state"].as_str()), (Some("paid"), Some("paid")));
    let fees: Value = t.get(&c, "/api/fees").await.json().await.unwrap();
    let item =
        fees["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).find(|i| i["item_id"] == "TUITION").unwrap();
    assert_eq!(item["paid"], "4000.00", "credited once");
}
