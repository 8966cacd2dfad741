//! The daily reconciliation end to end: real payments through each sandbox gateway, a
//! statement with one difference of every kind injected, the `reconcile` function invoked as the
//! schedule and as an operator would, and what an operator then finds: the repaired order paid
//! with its receipt, SMS and audit entries, the report and raw statement in the operators'
//! bucket, the summary item, the `reconcile_differences` metric — and a re-run changing nothing.

use chrono::{Duration, Utc};
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::clock::{Clock, beijing_date};
use shared::domain::{Actor, AuditAction, Channel, Fen, OrderNo};
use shared::store::{AuditStore, OrderStore, ReconcileStore};

fn capture_metrics() {
    integration_tests::metrics::capture();
}

fn differences_metric(channel: &str) -> Vec<f64> {
    integration_tests::metrics::values("reconcile_differences", channel)
}

fn year(offset: u16) -> String {
    let y = local::seed::current_academic_year(beijing_date(Utc::now())) - offset;
    format!("{y}-{}", y + 1)
}

struct Paid {
    order_no: String,
    out_trade_no: String,
}

/// 张三 orders one fee item (receipt SMS to `phone`) and pays it on `channel` at the sandbox's cashier.
async fn pay_item(t: &TestApp, c: &Client, phone: &str, year: &str, item: &str, channel: &str) -> Paid {
    let r = t.post(c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": item}], "phone": phone})).await;
    assert_eq!(r.status(), StatusCode::CREATED, "order {year} {item}");
    let order_no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    let r = t.post(c, &format!("/api/orders/{order_no}/pay"), json!({"channel": channel, "device": "pc"})).await;
    assert_eq!(r.status(), StatusCode::OK, "pay {channel}");
    let pay: Value = r.json().await.unwrap();
    let out_trade_no = pay["out_trade_no"].as_str().unwrap().to_owned();
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let cashier = match pay["action"]["type"].as_str() {
        // Alipay /qr/{no}, WeChat /scan/{no}: opening the page is the scan.
        Some("qr") => {
            let url = pay["action"]["content"].as_str().unwrap().to_owned();
            assert_eq!(plain.get(&url).send().await.unwrap().status(), StatusCode::OK);
            let base = url.split("/qr/").next().unwrap().split("/scan/").next().unwrap().to_owned();
            format!("{base}/cashier/{out_trade_no}")
        }
        // UnionPay: the browser posts the signed form, UnionPay redirects to its cashier.
        Some("form") => {
            let fields: Vec<(String, String)> = pay["action"]["fields"]
                .as_array()
                .unwrap()
                .iter()
                .map(|kv| (kv[0].as_str().unwrap().to_owned(), kv[1].as_str().unwrap().to_owned()))
                .collect();
            let action = pay["action"]["action"].as_str().unwrap();
            let body = shared::gateway::form::encode(fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let r =
                plain.post(action).header("content-type", shared::gateway::unionpay::FORM_CONTENT_TYPE).body(body).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::SEE_OTHER);
            format!("{}{}", action.split("/gateway/").next().unwrap(), r.headers()["location"].to_str().unwrap())
        }
        other => panic!("unexpected action {other:?}"),
    };
    let r = plain.post(format!("{cashier}/pay")).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    Paid { order_no, out_trade_no }
}

async fn order_state(t: &TestApp, c: &Client, no: &str) -> String {
    let o: Value = t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    o["state"].as_str().unwrap().to_owned()
}

async fn wait_paid(t: &TestApp, c: &Client, no: &str) {
    for _ in 0..100 {
        if order_state(t, c, no).await == "paid" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("order {no} never turned paid");
}

async fn invoke(t: &TestApp, event: Value) -> (StatusCode, Value) {
    let r = Client::new().post(t.url("/_local/invoke/reconcile")).json(&event).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn s3_object(t: &TestApp, key: &str) -> Vec<u8> {
    let bucket = t.app.settings.ops_bucket.clone().unwrap();
    let out = t.app.s3.as_ref().unwrap().get_object().bucket(bucket).key(key).send().await.unwrap_or_else(|e| panic!("{key}: {e:?}"));
    out.body.collect().await.unwrap().into_bytes().to_vec()
}

fn channel_of<'a>(answer: &'a Value, channel: &str) -> &'a Value {
    answer["channels"].as_array().unwrap().iter().find(|c| c["channel"] == channel).unwrap_or_else(|| panic!("{channel} in {answer}"))
}

fn counts(c: &Value) -> [u64; 6] {
    ["matched", "ours_only", "theirs_only", "amount_differs", "repaired", "open_differences"].map(|k| c[k].as_u64().unwrap())
}

async fn a_day_with_every_kind_of_difference(channel: Channel) {
    capture_metrics();
    let name = channel.as_str();
    let t = spawn().await;
    let control = match channel {
        Channel::Alipay => &t.sandboxes.alipay,
        Channel::Wechat => &t.sandboxes.wechat,
        Channel::Unionpay => &t.sandboxes.unionpay,
    };
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let day = beijing_date(t.clock.now());
    // moto keeps every SMS of the run: a phone of this test's own.
    let phone = format!(
        "139{}",
        &shared::auth::random_id().chars().filter(char::is_ascii_digit).chain(std::iter::repeat('7')).take(8).collect::<String>()
    );
    let sms_to = format!("+86{phone}");

    // Three payments notified as usual.
    let matched = pay_item(&t, &c, &phone, &year(0), "TUITION", name).await;
    let ours_only = pay_item(&t, &c, &phone, &year(0), "EXAM", name).await;
    let differs = pay_item(&t, &c, &phone, &year(1), "BOOKS", name).await;
    for p in [&matched, &ours_only, &differs] {
        wait_paid(&t, &c, &p.order_no).await;
    }
    // The statement leaves one out and gets one amount wrong (42050 paid, 42000 listed).
    control.omit_from_statement(&ours_only.out_trade_no);
    control.set_statement_amount(&differs.out_trade_no, Fen::new(42_000));
    // Paid at the gateway, the notification never arrives (and no one presses 我已支付).
    control.set_deliver_notifications(false);
    let theirs = pay_item(&t, &c, &phone, &year(1), "TUITION", name).await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(order_state(&t, &c, &theirs.order_no).await, "open");
    // And a payment the platform never made.
    let stranger = format!("XF{}LUTAU999999{}01", day.format("%y%m%d"), channel.letter());
    control.add_statement_row(&stranger, Fen::new(100), t.clock.now());
    let sms_before = t.sms_sent_to(&sms_to).await.len();
    assert_eq!(sms_before, 3, "one receipt SMS per paid order");

    // The next morning the schedule runs for yesterday.
    t.clock.advance(86_400);
    let (status, answer) =
        invoke(&t, json!({"version": "0", "id": "sched-1", "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
            "time": (t.clock.now()).to_rfc3339(), "region": "us-east-1", "resources": ["arn:aws:events:us-east-1:123456789012:rule/reconcile"],
            "detail": {}}))
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["date"], day.to_string());
    assert_eq!(answer["run_by"], "reconciliation");
    let mine = channel_of(&answer, name);
    // A day later the session is long gone: 张三 logs in again.
    let c = browser();
    assert_eq!(t.login(&c, "2021010101", "Campus2026a").await.status(), StatusCode::OK);
    assert_eq!(counts(mine), [1, 1, 2, 1, 1, 3], "matched, ours only, theirs only (1 repaired), amount differs: {mine}");
    // The other gateways had nothing that day: an empty day, not an error.
    for other in Channel::ALL.into_iter().filter(|o| *o != channel) {
        assert_eq!(counts(channel_of(&answer, other.as_str())), [0; 6]);
    }

    // The repaired order is paid through the normal path: receipt, SMS, audit.
    assert_eq!(order_state(&t, &c, &theirs.order_no).await, "paid");
    let receipts: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    assert!(receipts["receipts"].as_array().unwrap().iter().any(|r| r["order_no"] == theirs.order_no.as_str()), "{receipts}");
    let sms = t.sms_sent_to(&sms_to).await;
    assert_eq!(sms.len(), 4);
    assert!(sms.iter().any(|m| m.contains(&format!("缴费单{}", theirs.order_no))));
    let order_no = OrderNo::parse(&theirs.order_no).unwrap();
    let audit = t.app.store.audit_for_order(&order_no).await.unwrap();
    let paid = audit.iter().find(|e| e.action == AuditAction::AttemptPaid).expect("attempt paid entry");
    assert_eq!((paid.actor.clone(), paid.target.as_deref()), (Actor::Reconciliation, Some(theirs.out_trade_no.as_str())));
    let repaired = audit.iter().find(|e| e.action == AuditAction::ReconciliationRepaired).expect("repair entry");
    assert_eq!(
        (repaired.actor.clone(), repaired.target.as_deref(), repaired.after.as_deref()),
        (Actor::Reconciliation, Some(theirs.out_trade_no.as_str()), Some("paid"))
    );
    assert!(repaired.request_id.as_deref().is_some_and(|id| id.starts_with("local-")));
    // The other differences changed nothing: the amount-differs order stays as it was paid.
    let fees: Value = t.get(&c, "/api/fees").await.json().await.unwrap();
    let books =
        fees["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).find(|i| i["item_id"] == "BOOKS").unwrap();
    assert_eq!(books["paid"], "420.50");

    // The report and the raw statement are in the operators' bucket; the summary item says it.
    let report = String::from_utf8(s3_object(&t, &format!("reconcile/{day}/{name}.csv")).await).unwrap();
    assert!(report.starts_with("\u{feff}kind,out_trade_no,ours_fen,theirs_fen,action\n"), "{report}");
    let mut lines: Vec<&str> = report.lines().skip(1).collect();
    lines.sort();
    let mut expected = vec![
        format!("amount_differs,{},42050,42000,reported", differs.out_trade_no),
        format!("ours_only,{},12000,,reported", ours_only.out_trade_no),
        format!("theirs_only,{},350000,350000,repaired", theirs.out_trade_no),
        format!("theirs_only,{stranger},,100,reported"),
    ];
    expected.sort();
    assert_eq!(lines, expected);
    let raw = s3_object(&t, &format!("reconcile/{day}/{name}.raw")).await;
    match channel {
        Channel::Wechat => assert!(String::from_utf8(raw).unwrap().starts_with("交易时间,")),
        _ => assert!(raw.starts_with(b"PK"), "the zip as downloaded"),
    }
    let summary = t.app.store.get_recon_summary(day, channel).await.unwrap().expect("summary item");
    assert_eq!((summary.matched, summary.ours_only, summary.theirs_only, summary.amount_differs, summary.repaired), (1, 1, 2, 1, 1));
    assert_eq!((summary.open_differences(), summary.run_by.as_str()), (3, "reconciliation"));
    assert_eq!(summary.report_key, format!("reconcile/{day}/{name}.csv"));
    // The alarm's metric: the differences left after repair.
    assert!(differences_metric(name).contains(&3.0), "{:?}", differences_metric(name));

    // An operator runs the same day again from the console: nothing is repaired twice.
    let audit_before = t.app.store.audit_for_order(&order_no).await.unwrap().len();
    let (status, answer) = invoke(&t, json!({"date": day.to_string(), "operator": "财务处-张敏"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["run_by"], "operator:财务处-张敏");
    assert_eq!(counts(channel_of(&answer, name)), [2, 1, 1, 1, 0, 3], "the repaired payment now matches");
    assert_eq!(t.sms_sent_to(&sms_to).await.len(), 4, "no second SMS");
    assert_eq!(t.app.store.audit_for_order(&order_no).await.unwrap().len(), audit_before, "no new audit entry");
    let summary = t.app.store.get_recon_summary(day, channel).await.unwrap().unwrap();
    assert_eq!(
        (summary.matched, summary.repaired, summary.run_by.as_str()),
        (2, 0, "operator:财务处-张敏"),
        "the re-run replaced the summary"
    );
    let report = String::from_utf8(s3_object(&t, &format!("reconcile/{day}/{name}.csv")).await).unwrap();
    assert!(!report.contains(",repaired\n") && report.contains(&format!("theirs_only,{stranger},,100,reported")));
}

#[tokio::test]
async fn alipay_day_with_every_kind_of_difference() {
    a_day_with_every_kind_of_difference(Channel::Alipay).await;
}

#[tokio::test]
async fn wechat_day_with_every_kind_of_difference() {
    a_day_with_every_kind_of_difference(Channel::Wechat).await;
}

#[tokio::test]
async fn unionpay_day_with_every_kind_of_difference() {
    a_day_with_every_kind_of_difference(Channel::Unionpay).await;
}

/// A statement is not enough to credit money: a row naming one of our open attempts, with its
/// amount, which the gateway's signed query does not confirm as paid (an edited or forged file),
/// is reported and nothing is paid.
#[tokio::test]
async fn a_statement_row_the_gateway_does_not_confirm_is_reported_not_repaired() {
    for channel in Channel::ALL {
        let t = spawn().await;
        let control = match channel {
            Channel::Alipay => &t.sandboxes.alipay,
            Channel::Wechat => &t.sandboxes.wechat,
            Channel::Unionpay => &t.sandboxes.unionpay,
        };
        let (c, no) = student_with_order(&t).await;
        let r = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": channel.as_str(), "device": "pc"})).await;
        assert_eq!(r.status(), StatusCode::OK);
        let otn = r.json::<Value>().await.unwrap()["out_trade_no"].as_str().unwrap().to_owned();
        let day = beijing_date(t.clock.now());
        // Never paid at the gateway, but the file says it was, for the right amount.
        control.add_statement_row(&otn, Fen::new(400_000), t.clock.now());
        t.clock.advance(86_400);
        let (status, answer) = invoke(&t, json!({"date": day.to_string(), "operator": "财务处-张敏"})).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        let mine = channel_of(&answer, channel.as_str());
        assert_eq!(counts(mine), [0, 0, 1, 0, 0, 1], "theirs only, reported: {mine}");
        let order = t.app.store.get_order(&OrderNo::parse(&no).unwrap()).await.unwrap().unwrap();
        assert_eq!(order.state, shared::domain::OrderState::Open, "{channel:?}: nothing was credited");
        let report = String::from_utf8(s3_object(&t, &format!("reconcile/{day}/{}.csv", channel.as_str())).await).unwrap();
        assert!(report.contains(&format!("theirs_only,{otn},400000,400000,reported")), "{report}");
    }
}

#[tokio::test]
async fn a_console_event_must_name_the_operator_and_a_past_day() {
    let t = spawn().await;
    let (status, answer) = invoke(&t, json!({"date": "2026-11-29"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["errorMessage"].as_str().unwrap().contains("operator"), "{answer}");
    let today = beijing_date(t.clock.now());
    let (status, answer) = invoke(&t, json!({"date": today.to_string(), "operator": "张敏"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(answer["errorMessage"].as_str().unwrap().contains("not before today"), "{answer}");
    // A quiet day: every channel reconciled empty, nothing to report.
    let yesterday = today - Duration::days(1);
    let (status, answer) = invoke(&t, json!({"date": yesterday.to_string(), "operator": "张敏"})).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    for ch in Channel::ALL {
        assert_eq!(counts(channel_of(&answer, ch.as_str())), [0; 6]);
    }
    let report = String::from_utf8(s3_object(&t, &format!("reconcile/{yesterday}/alipay.csv")).await).unwrap();
    assert_eq!(report, "\u{feff}kind,out_trade_no,ours_fen,theirs_fen,action\n");
}
