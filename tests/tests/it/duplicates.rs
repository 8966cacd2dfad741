//! Duplicate payments refunded by themselves: a student pays one order on two channels; within
//! a sweep the second payment goes back — one refund at the gateway, one SMS, audit entries by
//! the actor `policy` — also when the refund call is lost once and when two sweepers run at
//! once; never above the school's amount or when the policy is off.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::domain::{Actor, AttemptState, AuditAction, OrderNo, OutTradeNo};
use shared::store::{AuditStore, PaymentStore};

const RECEIPT_PHONE: &str = "+8613912345678";

/// `channel` first, its notification lost and the attempt closed here before the gateway's
/// word arrived; then Alipay pays the order: the first is a duplicate, found by the sweeper.
async fn duplicate(t: &TestApp, c: &Client, no: &str, channel: &str) -> String {
    let gw = match channel {
        "wechat" => &t.sandboxes.wechat,
        _ => &t.sandboxes.unionpay,
    };
    gw.set_deliver_notifications(false);
    let dup = pay_at_gateway(t, c, no, channel).await;
    let first = t.app.store.get_attempt(&OutTradeNo::parse(&dup).unwrap()).await.unwrap().unwrap();
    t.app.store.close_attempt(&first, &by_student(&first.student_no)).await.unwrap();
    pay_at_gateway(t, c, no, "alipay").await;
    wait_paid(t, c, no).await;
    let closed = t.app.store.get_attempt(&first.out_trade_no).await.unwrap().unwrap();
    assert_eq!(t.app.reconcile_attempt(&closed, &Actor::Sweeper).await.unwrap(), AttemptState::DuplicatePaid);
    gw.set_deliver_notifications(true);
    dup
}

async fn status(t: &TestApp, c: &Client, otn: &str) -> String {
    let list: Value = t.get(c, "/api/transactions").await.json().await.unwrap();
    let row = list["transactions"].as_array().unwrap().iter().find(|r| r["out_trade_no"] == otn).cloned().unwrap_or(Value::Null);
    row["status"].as_str().unwrap_or("-").to_owned()
}

async fn refunded_sms(t: &TestApp) -> Vec<String> {
    t.sms_sent_to(RECEIPT_PHONE).await.into_iter().filter(|m| m.contains("您重复缴纳的")).collect()
}

#[tokio::test]
async fn a_duplicate_goes_back_within_a_sweep_once_with_one_sms_and_the_policy_named() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate(&t, &c, &no, "wechat").await;
    assert_eq!(status(&t, &c, &dup).await, "duplicate_pending_refund");
    // Not in its first minute.
    assert_eq!(t.app.sweep().await.unwrap().duplicates.duplicates_refunded, 0);
    t.clock.advance(61);
    let report = t.app.sweep().await.unwrap();
    assert_eq!(report.duplicates.duplicates_refunded, 1, "{report:?}");
    // WeChat answers PROCESSING, then notifies SUCCESS.
    for _ in 0..200 {
        if status(&t, &c, &dup).await == "refunded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status(&t, &c, &dup).await, "refunded");
    assert_eq!(t.sandboxes.wechat.refunds_made(&dup), 1);
    // The order stays paid by its Alipay payment.
    assert_eq!(t.get(&c, &format!("/api/orders/{no}")).await.json::<Value>().await.unwrap()["state"], "paid");
    let sms = refunded_sms(&t).await;
    assert_eq!(sms.len(), 1, "{sms:?}");
    assert!(sms[0].contains("您重复缴纳的4,000.00元已原路退回") && sms[0].contains(&no), "{}", sms[0]);
    let entries = t.app.store.audit_for_order(&OrderNo::parse(&no).unwrap()).await.unwrap();
    let by_policy: Vec<_> =
        entries.iter().filter(|e| matches!(e.action, AuditAction::RefundRequested | AuditAction::RefundSucceeded)).collect();
    assert_eq!(
        by_policy.iter().filter(|e| e.action == AuditAction::RefundRequested).map(|e| e.actor.clone()).collect::<Vec<_>>(),
        [Actor::Policy]
    );
    assert!(by_policy.iter().all(|e| e.reason.as_deref().is_some_and(|r| r.contains("自动原路退回"))), "{by_policy:?}");
    // Later sweeps refund nothing twice.
    t.clock.advance(120);
    t.app.sweep().await.unwrap();
    assert_eq!((t.sandboxes.wechat.refunds_made(&dup), refunded_sms(&t).await.len()), (1, 1));
}

#[tokio::test]
async fn a_lost_refund_call_and_two_sweepers_at_once_still_refund_once() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate(&t, &c, &no, "unionpay").await;
    t.sandboxes.unionpay.lose_next_refund();
    t.clock.advance(61);
    let (a, b) = tokio::join!(t.app.sweep(), t.app.sweep());
    let begun = a.unwrap().duplicates.duplicates_refunded + b.unwrap().duplicates.duplicates_refunded;
    assert!(begun >= 1, "one of them began it");
    assert_eq!(t.sandboxes.unionpay.refunds_made(&dup), 0, "the first call was lost");
    assert_eq!(status(&t, &c, &dup).await, "refunding");
    // The refund sweep sends it again (fresh txnTime); the notification settles it.
    t.clock.advance(61);
    t.app.sweep().await.unwrap();
    for _ in 0..200 {
        if status(&t, &c, &dup).await == "refunded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status(&t, &c, &dup).await, "refunded");
    assert_eq!(t.sandboxes.unionpay.refunds_made(&dup), 1);
    assert_eq!(refunded_sms(&t).await.len(), 1);
}

#[tokio::test]
async fn above_the_schools_amount_or_with_the_policy_off_an_operator_decides() {
    for configure in [
        |app: &mut shared::App| app.settings.auto_refund_max = shared::domain::Fen::new(399_999),
        |app: &mut shared::App| app.settings.auto_refund_duplicates = false,
    ] {
        let t = spawn_with(configure).await;
        let (c, no) = student_with_order(&t).await;
        let dup = duplicate(&t, &c, &no, "wechat").await;
        t.clock.advance(61);
        let report = t.app.sweep().await.unwrap();
        assert_eq!(report.duplicates.duplicates_refunded, 0);
        assert_eq!(status(&t, &c, &dup).await, "duplicate_pending_refund");
        assert_eq!(t.sandboxes.wechat.refunds_made(&dup), 0);
        // The operator's refund works as before.
        let r = Client::new()
            .post(t.url("/_local/invoke/refund"))
            .json(&json!({"out_trade_no": dup, "operator": "张敏"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
}

/// A duplicate still unrefunded a day after it was recorded (here: the policy off) is in the
/// reconciliation's report as a difference for a person, and counts toward its alarm.
#[tokio::test]
async fn reconciliation_reports_a_duplicate_unrefunded_after_a_day() {
    let t = spawn_with(|app| app.settings.auto_refund_duplicates = false).await;
    let (c, no) = student_with_order(&t).await;
    let dup = duplicate(&t, &c, &no, "wechat").await;
    let day = shared::clock::beijing_date(shared::clock::Clock::now(t.clock.as_ref()));
    t.clock.advance(86_400 + 60);
    let r = Client::new()
        .post(t.url("/_local/invoke/reconcile"))
        .json(&json!({"date": day.to_string(), "operator": "财务处-张敏"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let answer: Value = r.json().await.unwrap();
    let wechat = answer["channels"].as_array().unwrap().iter().find(|c| c["channel"] == "wechat").unwrap().clone();
    assert_eq!(wechat["duplicates_unrefunded"], 1, "{wechat}");
    assert!(wechat["open_differences"].as_u64().unwrap() >= 1);
    let bucket = t.app.settings.ops_bucket.clone().unwrap();
    let key = format!("reconcile/{day}/wechat.csv");
    let out = t.app.s3.as_ref().unwrap().get_object().bucket(bucket).key(key).send().await.unwrap();
    let report = String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap();
    assert!(report.contains(&format!("duplicate_unrefunded,{dup},400000,,reported")), "{report}");
}
