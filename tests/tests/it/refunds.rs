//! Refunds through each sandbox gateway, end to end: a duplicate payment is made at the
//! gateway, an operator refunds it with the `refund` function (console-style invocation), the
//! gateway gets the refund, its asynchronous result lands (Alipay: synchronous answer;
//! WeChat Pay and UnionPay: refund notification; a lost one: the sweeper's query), and
//! 银行交易记录 shows 已退款 with the audit entries in place. A payment that paid its order is
//! refunded only with a reason, and its fee item is owed again; refusals change nothing;
//! invoking twice refunds once.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::domain::{Actor, AttemptState, AuditAction, AuditEntry, OrderNo, OutTradeNo};
use shared::store::{AuditStore, PaymentStore, RefundStore};
use std::time::Duration;

async fn order(t: &TestApp, c: &Client, no: &str) -> Value {
    t.get(c, &format!("/api/orders/{no}")).await.json().await.unwrap()
}

async fn wait_order_paid(t: &TestApp, c: &Client, no: &str) {
    for _ in 0..200 {
        if order(t, c, no).await["state"] == "paid" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("order {no} never turned paid");
}

fn control<'a>(t: &'a TestApp, channel: &str) -> &'a sandbox::Control {
    match channel {
        "alipay" => &t.sandboxes.alipay,
        "wechat" => &t.sandboxes.wechat,
        _ => &t.sandboxes.unionpay,
    }
}

/// A duplicate payment on `channel`, made at its sandbox: the student pays there, its
/// notification is lost, and our close of the attempt (with the query that found it unpaid) won
/// the race against the gateway taking the money — so the student pays again on another
/// channel. The gateway's word about the first payment then comes by query: 重复支付待退款.
async fn duplicate_on(t: &TestApp, c: &Client, no: &str, channel: &str) -> String {
    control(t, channel).set_deliver_notifications(false);
    let dup = pay_at_gateway(t, c, no, channel).await;
    let otn = OutTradeNo::parse(&dup).unwrap();
    let first = t.app.store.get_attempt(&otn).await.unwrap().unwrap();
    assert_eq!(first.state, AttemptState::Created, "its notification was lost");
    t.app.store.close_attempt(&first, &by_student(&first.student_no)).await.unwrap();
    let other = if channel == "alipay" { "wechat" } else { "alipay" };
    pay_at_gateway(t, c, no, other).await;
    wait_order_paid(t, c, no).await;
    let closed = t.app.store.get_attempt(&otn).await.unwrap().unwrap();
    assert_eq!(t.app.reconcile_attempt(&closed, &Actor::Sweeper).await.unwrap(), AttemptState::DuplicatePaid);
    control(t, channel).set_deliver_notifications(true);
    dup
}

/// The console invocation of the `refund` function: (HTTP status, answer).
async fn invoke_refund(t: &TestApp, event: Value) -> (StatusCode, Value) {
    let r = Client::new().post(t.url("/_local/invoke/refund")).json(&event).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

async fn transaction(t: &TestApp, c: &Client, otn: &str) -> (String, String) {
    let list: Value = t.get(c, "/api/transactions").await.json().await.unwrap();
    let row = list["transactions"].as_array().unwrap().iter().find(|r| r["out_trade_no"] == otn).cloned().unwrap_or(Value::Null);
    (row["status"].as_str().unwrap_or("-").to_owned(), row["status_label"].as_str().unwrap_or("-").to_owned())
}

async fn wait_refunded(t: &TestApp, c: &Client, otn: &str) {
    for _ in 0..200 {
        if transaction(t, c, otn).await.0 == "refunded" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{otn} never showed refunded: {:?}", transaction(t, c, otn).await);
}

async fn refund_entries(t: &TestApp, no: &str) -> Vec<AuditEntry> {
    let order = OrderNo::parse(no).unwrap();
    let all = t.app.store.audit_for_order(&order).await.unwrap();
    all.into_iter()
        .filter(|e| matches!(e.action, AuditAction::RefundRequested | AuditAction::RefundSucceeded | AuditAction::RefundFailed))
        .collect()
}

async fn tuition(t: &TestApp, c: &Client) -> (String, String) {
    let fees: Value = t.get(c, "/api/fees").await.json().await.unwrap();
    let item = fees["years"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|y| y["items"].as_array().unwrap())
        .find(|i| i["item_id"] == "TUITION")
        .unwrap()
        .clone();
    (item["paid"].as_str().unwrap().to_owned(), item["outstanding"].as_str().unwrap().to_owned())
}

async fn refund_of_a_duplicate_through(channel: &str, gateway_state: &str) {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, channel).await;
    assert_eq!(transaction(&t, &c, &dup).await, ("duplicate_pending_refund".into(), "重复支付待退款".into()));

    let event = json!({"out_trade_no": dup, "reason": "重复支付", "operator": "财务处-张敏", "amount": "4000.00"});
    let (status, answer) = invoke_refund(&t, event.clone()).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["refund_no"], format!("R{dup}"));
    assert_eq!(answer["requested_now"], true);
    wait_refunded(&t, &c, &dup).await;
    assert_eq!(transaction(&t, &c, &dup).await.1, "已退款");
    // The gateway made exactly one refund, in full.
    let gw = control(&t, channel);
    assert_eq!(gw.refunds_made(&dup), 1);
    assert_eq!(gw.trade_state(&dup).as_deref(), Some(gateway_state));
    // The order stays paid by its other payment; the fee stays paid once.
    assert_eq!(order(&t, &c, &no).await["state"], "paid");
    assert_eq!(tuition(&t, &c).await, ("4000.00".into(), "0.00".into()));

    // Invoking again refunds nothing twice.
    let (status, again) = invoke_refund(&t, event).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!((again["state"].as_str(), again["requested_now"].as_bool()), (Some("refunded"), Some(false)));
    assert_eq!(gw.refunds_made(&dup), 1);

    let entries = refund_entries(&t, &no).await;
    let requested: Vec<_> = entries.iter().filter(|e| e.action == AuditAction::RefundRequested).collect();
    let succeeded: Vec<_> = entries.iter().filter(|e| e.action == AuditAction::RefundSucceeded).collect();
    assert_eq!((requested.len(), succeeded.len()), (1, 1), "{entries:?}");
    assert_eq!(requested[0].actor.label(), "operator:财务处-张敏");
    assert_eq!((requested[0].target.as_deref(), requested[0].before.as_deref()), (Some(dup.as_str()), Some("duplicate_paid")));
    assert!(requested[0].request_id.as_deref().is_some_and(|id| id.starts_with("local-")), "{:?}", requested[0]);
    for e in [requested[0], succeeded[0]] {
        assert_eq!(e.reason.as_deref(), Some("重复支付"));
    }
    assert_eq!((succeeded[0].before.as_deref(), succeeded[0].request_id.clone()), (Some("refunding"), requested[0].request_id.clone()));
    assert!(succeeded[0].after.as_deref().is_some_and(|a| a.starts_with("refunded")));
}

#[tokio::test]
async fn an_alipay_duplicate_is_refunded_by_the_synchronous_answer() {
    refund_of_a_duplicate_through("alipay", "TRADE_CLOSED").await;
}

#[tokio::test]
async fn a_wechat_duplicate_is_refunded_by_the_refund_notification() {
    refund_of_a_duplicate_through("wechat", "REFUND").await;
}

#[tokio::test]
async fn a_unionpay_duplicate_is_refunded_by_the_backurl_notification() {
    refund_of_a_duplicate_through("unionpay", "REFUNDED").await;
}

#[tokio::test]
async fn a_lost_refund_notification_is_settled_by_the_sweepers_query() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "wechat").await;
    t.sandboxes.wechat.set_deliver_notifications(false);
    let (status, answer) = invoke_refund(&t, json!({"out_trade_no": dup, "operator": "张敏"})).await;
    assert_eq!((status, answer["state"].as_str()), (StatusCode::OK, Some("refunding")), "{answer}");
    assert_eq!(transaction(&t, &c, &dup).await, ("refunding".into(), "退款中".into()));
    // Not yet a minute old: left to its notification.
    assert_eq!(t.app.sweep().await.unwrap().refunds.refunds_queried, 0);
    t.clock.advance(61);
    let report = t.app.sweep().await.unwrap();
    assert_eq!((report.refunds.refunds_queried, report.refunds.refunds_settled), (1, 1));
    assert_eq!(transaction(&t, &c, &dup).await.1, "已退款");
    assert_eq!(t.sandboxes.wechat.refunds_made(&dup), 1);
    let succeeded: Vec<_> = refund_entries(&t, &no).await.into_iter().filter(|e| e.action == AuditAction::RefundSucceeded).collect();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].actor, Actor::Sweeper);
}

/// A UnionPay refund request lost on its way is sent again by the sweeper with a fresh
/// `txnTime` (UnionPay refuses a stale one), and each send is asked about by its own
/// (orderId, txnTime); the notification of the second send settles the refund.
#[tokio::test]
async fn a_lost_unionpay_refund_is_sent_again_with_the_current_time() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "unionpay").await;
    t.sandboxes.unionpay.lose_next_refund();
    let (status, answer) = invoke_refund(&t, json!({"out_trade_no": dup, "operator": "张敏"})).await;
    assert_eq!((status, answer["state"].as_str()), (StatusCode::OK, Some("refunding")), "{answer}");
    assert_eq!(t.sandboxes.unionpay.refunds_made(&dup), 0, "the request never arrived");
    // Eleven minutes on, the first txnTime is no longer "now" for UnionPay.
    t.clock.advance(11 * 60);
    let report = t.app.sweep().await.unwrap();
    assert_eq!(report.refunds.refunds_queried, 1);
    wait_refunded(&t, &c, &dup).await;
    assert_eq!(t.sandboxes.unionpay.refunds_made(&dup), 1);
    let refund_no = shared::domain::RefundNo::parse(&format!("R{dup}")).unwrap();
    let refund = t.app.store.get_refund(&OrderNo::parse(&no).unwrap(), &refund_no).await.unwrap().unwrap();
    assert_eq!(refund.sends().len(), 2, "both sends are kept, each with its own txnTime");
    let failed = refund_entries(&t, &no).await.into_iter().filter(|e| e.action == AuditAction::RefundFailed).count();
    assert_eq!(failed, 0);
}

/// Two sweepers that both find a refund never received record one resend between them: the
/// write is conditional on the sends as read, so only one of them sends.
#[tokio::test]
async fn two_sweepers_record_one_resend() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "unionpay").await;
    t.sandboxes.unionpay.lose_next_refund();
    invoke_refund(&t, json!({"out_trade_no": dup, "operator": "张敏"})).await;
    let (order_no, refund_no) = (OrderNo::parse(&no).unwrap(), shared::domain::RefundNo::parse(&format!("R{dup}")).unwrap());
    let read = t.app.store.get_refund(&order_no, &refund_no).await.unwrap().unwrap();
    let at = shared::clock::Clock::now(t.clock.as_ref()) + chrono::Duration::seconds(61);
    let (a, b) = tokio::join!(t.app.store.refund_resent(&read, at), t.app.store.refund_resent(&read, at));
    assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|ok| **ok).count(), 1, "{a:?} {b:?}");
    assert!(matches!(a.err().or(b.err()), Some(shared::store::StoreError::Conflict)));
    assert_eq!(t.app.store.get_refund(&order_no, &refund_no).await.unwrap().unwrap().sends().len(), 2);
}

/// WeChat Pay `ABNORMAL` (the payer's account refused the refund) is not a refusal: the
/// refund stays 退款中 with an operator alarm, and the merchant's later handling (SUCCESS)
/// settles it.
#[tokio::test]
async fn a_wechat_refund_the_card_refused_waits_for_the_merchant_and_then_succeeds() {
    metrics::capture();
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "wechat").await;
    let alarms = || metrics::values("refund_needs_operator", "wechat").len();
    let before = alarms();
    t.sandboxes.wechat.fail_next_refund_to_card();
    let (status, answer) = invoke_refund(&t, json!({"out_trade_no": dup, "operator": "张敏"})).await;
    assert_eq!((status, answer["state"].as_str()), (StatusCode::OK, Some("refunding")), "{answer}");
    let refund_no = format!("R{dup}");
    // REFUND.ABNORMAL is acknowledged and changes nothing but the alarm.
    assert!(eventually(|| t.sandboxes.wechat.notifications_acked(&refund_no) == 1).await, "REFUND.ABNORMAL acknowledged");
    assert!(alarms() > before, "an operator is alarmed");
    assert_eq!(transaction(&t, &c, &dup).await, ("refunding".into(), "退款中".into()));
    // The sweeper's query hears ABNORMAL again: still not a failure, the alarm stays raised.
    t.clock.advance(61);
    let raised = alarms();
    let report = t.app.sweep().await.unwrap();
    assert_eq!((report.refunds.refunds_queried, report.refunds.refunds_settled), (1, 0));
    assert!(alarms() > raised);
    assert_eq!(transaction(&t, &c, &dup).await.0, "refunding");
    assert!(refund_entries(&t, &no).await.iter().all(|e| e.action != AuditAction::RefundFailed));

    // The merchant handles it on the merchant platform: REFUND.SUCCESS settles our refund.
    assert!(t.sandboxes.wechat.settle_abnormal_refund(&refund_no));
    wait_refunded(&t, &c, &dup).await;
    assert_eq!(t.sandboxes.wechat.refunds_made(&dup), 1);
    let succeeded: Vec<_> = refund_entries(&t, &no).await.into_iter().filter(|e| e.action == AuditAction::RefundSucceeded).collect();
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].actor, Actor::Gateway(shared::domain::Channel::Wechat));
}

#[tokio::test]
async fn a_payment_that_paid_its_order_is_refunded_only_with_a_reason_and_the_fee_is_owed_again() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let otn = pay_at_gateway(&t, &c, &no, "alipay").await;
    wait_order_paid(&t, &c, &no).await;
    assert_eq!(tuition(&t, &c).await, ("4000.00".into(), "0.00".into()));

    // No reason, or the wrong amount: refused, nothing changed.
    let (status, e) = invoke_refund(&t, json!({"out_trade_no": otn, "operator": "张敏"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(e["errorMessage"].as_str().unwrap().contains("needs a reason"), "{e}");
    let (_, e) = invoke_refund(&t, json!({"out_trade_no": otn, "operator": "张敏", "reason": "学籍注销", "amount": "400.00"})).await;
    assert!(e["errorMessage"].as_str().unwrap().contains("not the paid amount"), "{e}");
    assert_eq!(transaction(&t, &c, &otn).await.0, "success");
    assert_eq!(t.sandboxes.alipay.refunds_made(&otn), 0);
    assert!(refund_entries(&t, &no).await.is_empty());

    let (status, answer) = invoke_refund(&t, json!({"out_trade_no": otn, "operator": "张敏", "reason": "学籍注销，全额退费"})).await;
    assert_eq!((status, answer["state"].as_str()), (StatusCode::OK, Some("refunded")), "{answer}");
    assert_eq!(transaction(&t, &c, &otn).await, ("refunded".into(), "已退款".into()));
    // The fee item is owed again, and can be paid again.
    assert_eq!(tuition(&t, &c).await, ("0.00".into(), "4000.00".into()));
    let paid: Value = t.get(&c, "/api/paid").await.json().await.unwrap();
    let record = paid["records"].as_array().unwrap().iter().find(|r| r["order_no"] == no.as_str()).unwrap().clone();
    assert_eq!((record["refunded"].as_bool(), record["status_label"].as_str()), (Some(true), Some("已退款")), "{record}");
    let receipts: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    let receipt = receipts
        .as_array()
        .or_else(|| receipts["receipts"].as_array())
        .unwrap()
        .iter()
        .find(|r| r["order_no"] == no.as_str())
        .unwrap()
        .clone();
    assert_eq!(receipt["refunded"], true, "{receipt}");
    let page = t.get(&c, &format!("/receipts/{no}")).await.text().await.unwrap();
    assert!(page.contains("本笔缴费已退款"), "the receipt page says so");
    let r = t
        .post(&c, "/api/orders", json!({"items": [{"academic_year": current_year(), "item_id": "TUITION"}], "phone": "13912345678"}))
        .await;
    assert_eq!(r.status(), StatusCode::CREATED, "the refunded fee can be ordered again");

    let entries = refund_entries(&t, &no).await;
    assert_eq!(entries.iter().map(|e| e.action).collect::<Vec<_>>(), [AuditAction::RefundRequested, AuditAction::RefundSucceeded]);
    assert_eq!(entries[0].before.as_deref(), Some("paid"));
    assert_eq!(entries[1].reason.as_deref(), Some("学籍注销，全额退费"));
}

#[tokio::test]
async fn refusals_change_nothing() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let r = t.post(&c, &format!("/api/orders/{no}/pay"), json!({"channel": "wechat", "device": "pc"})).await;
    let created = r.json::<Value>().await.unwrap()["out_trade_no"].as_str().unwrap().to_owned();
    let cases = [
        (json!({"out_trade_no": created, "operator": "张敏", "reason": "x"}), "is created"),
        (json!({"out_trade_no": "XF200101LUTAU999999A01", "operator": "张敏", "reason": "x"}), "no payment attempt"),
        (json!({"out_trade_no": created, "reason": "x"}), "operator is missing"),
        (json!({"out_trade_no": "not-a-number", "operator": "张敏"}), "out_trade_no"),
    ];
    for (event, says) in cases {
        let (status, e) = invoke_refund(&t, event.clone()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{event}");
        assert!(e["errorMessage"].as_str().unwrap().contains(says), "{event}: {e}");
    }
    assert_eq!(transaction(&t, &c, &created).await.0, "processing");
    assert!(refund_entries(&t, &no).await.is_empty());
}

#[tokio::test]
async fn a_refund_the_gateway_refuses_returns_the_attempt_to_its_state_with_the_gateways_words() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "unionpay").await;
    // The stored trade number no longer names a UnionPay payment: UnionPay refuses the refund.
    t.app
        .store
        .client()
        .update_item()
        .table_name(&t.table)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ORDER#{no}")))
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S(format!("ATTEMPT#{dup}")))
        .update_expression("SET gateway_trade_no = :g")
        .expression_attribute_values(":g", aws_sdk_dynamodb::types::AttributeValue::S("999999999999999999999".into()))
        .send()
        .await
        .unwrap();
    let (status, e) = invoke_refund(&t, json!({"out_trade_no": dup, "operator": "张敏"})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(e["errorMessage"].as_str().unwrap().contains("refused the refund: 35"), "{e}");
    assert_eq!(transaction(&t, &c, &dup).await.0, "duplicate_pending_refund", "back where it was");
    let entries = refund_entries(&t, &no).await;
    assert_eq!(entries.iter().map(|e| e.action).collect::<Vec<_>>(), [AuditAction::RefundRequested, AuditAction::RefundFailed]);
    assert_eq!(entries[1].after.as_deref(), Some("duplicate_paid"));
    assert!(entries[1].reason.as_deref().is_some_and(|r| r.contains("原交易不存在")), "{:?}", entries[1]);
    // The school's policy does not try it again (refused before: an operator's) …
    t.clock.advance(61);
    assert_eq!(t.app.sweep().await.unwrap().duplicates.duplicates_refunded, 0);
    // … and a day on, reconciliation reports it as a duplicate still unrefunded.
    let day = shared::clock::beijing_date(shared::clock::Clock::now(t.clock.as_ref()));
    t.clock.advance(86_400);
    let r = Client::new()
        .post(t.url("/_local/invoke/reconcile"))
        .json(&json!({"date": day.to_string(), "operator": "财务处-张敏"}))
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    let up = answer["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "unionpay").cloned().unwrap_or_default();
    assert_eq!(up["duplicates_unrefunded"], 1, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_concurrent_invocations_make_one_refund() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate_on(&t, &c, &no, "alipay").await;
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (url, otn) = (t.url("/_local/invoke/refund"), dup.clone());
            tokio::spawn(async move {
                let r = Client::new().post(url).json(&json!({"out_trade_no": otn, "operator": "张敏"})).send().await.unwrap();
                r.status()
            })
        })
        .collect();
    let statuses: Vec<StatusCode> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    wait_refunded(&t, &c, &dup).await;
    assert_eq!(t.sandboxes.alipay.refunds_made(&dup), 1);
    let entries = refund_entries(&t, &no).await;
    let count = |a: AuditAction| entries.iter().filter(|e| e.action == a).count();
    assert_eq!((count(AuditAction::RefundRequested), count(AuditAction::RefundSucceeded), count(AuditAction::RefundFailed)), (1, 1, 0));
}
