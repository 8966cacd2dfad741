//! The audit log: every change to an order and its attempts, and every operator action, is an
//! append-only entry naming who did it, written in the same transaction as the change.
//! Operators read it per order or per student through the `audit` function (console).

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::{AuditAction, OrderNo};
use shared::store::AuditStore;

fn actions(log: &Value) -> Vec<(String, String, String)> {
    log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
                e["target"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn every_change_of_an_order_is_logged_with_who_made_it() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let student = "student:2021010103".to_owned();
    let ali = pay_with(&t, &c, &no, "alipay", "pc").await;
    // The student switches to WeChat Pay: the Alipay attempt is closed first.
    let wx = pay_with(&t, &c, &no, "wechat", "pc").await;
    press_pay(wx["action"]["content"].as_str().unwrap()).await;
    wait_paid(&t, &c, &no).await;
    let (a, w) = (ali["out_trade_no"].as_str().unwrap().to_owned(), wx["out_trade_no"].as_str().unwrap().to_owned());

    let (status, log) = invoke(&t, "audit", json!({"order_no": no})).await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let got = actions(&log);
    assert_eq!(log["count"], 6, "{log}");
    assert_eq!(
        got[..4],
        [
            ("order.created".to_owned(), student.clone(), String::new()),
            ("attempt.created".to_owned(), student.clone(), a.clone()),
            ("attempt.closed".to_owned(), student.clone(), a.clone()),
            ("attempt.created".to_owned(), student.clone(), w.clone()),
        ]
    );
    // The payment: attempt and order paid together, in one transaction, on WeChat Pay's word.
    let mut paid = got[4..].to_vec();
    paid.sort();
    assert_eq!(
        paid,
        [
            ("attempt.paid".to_owned(), "gateway:wechat".to_owned(), w.clone()),
            ("order.paid".to_owned(), "gateway:wechat".to_owned(), w.clone())
        ]
    );
    let entries = log["entries"].as_array().unwrap();
    let closed = entries.iter().find(|e| e["action"] == "attempt.closed").unwrap();
    assert_eq!((closed["before"].as_str(), closed["after"].as_str()), (Some("created"), Some("closed")));
    let order_paid = entries.iter().find(|e| e["action"] == "order.paid").unwrap();
    assert_eq!((order_paid["before"].as_str(), order_paid["after"].as_str()), (Some("open"), Some("paid")));
    assert!(entries.iter().all(|e| e["order_no"] == no.as_str() && e["student_no"] == "2021010103"));
    assert!(entries.iter().all(|e| e["at"].as_str().unwrap().ends_with("+08:00")), "Beijing time");

    // The same entries listed under the student, after their first-login password change.
    let (_, by_student) = invoke(&t, "audit", json!({"student_no": "2021010103"})).await;
    let listed = actions(&by_student);
    assert_eq!(listed[0].0, "account.password_changed", "{by_student}");
    let mut of_order = listed[1..].to_vec();
    let mut expected = got.clone();
    of_order.sort();
    expected.sort();
    assert_eq!(of_order, expected, "oldest first, each once");

    // A duplicate copy of the notification changes nothing, so it logs nothing.
    let order_no = OrderNo::parse(&no).unwrap();
    let before = t.app.store.audit_for_order(&order_no).await.unwrap().len();
    t.app.sweep().await.unwrap();
    assert_eq!(t.app.store.audit_for_order(&order_no).await.unwrap().len(), before);
}

#[tokio::test]
async fn the_receipt_phone_change_is_logged_masked_and_the_sweeper_and_seed_are_named() {
    let t = spawn().await;
    let (c, no) = student_with_order(&t).await;
    let r = t.put(&c, &format!("/api/orders/{no}/phone"), json!({"phone": "13800001111"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    // The notification is lost; the sweeper finds the payment a few minutes later.
    t.sandboxes.alipay.set_deliver_notifications(false);
    let pay = pay_with(&t, &c, &no, "alipay", "pc").await;
    press_pay(pay["action"]["content"].as_str().unwrap()).await;
    t.clock.advance(3 * 60);
    assert_eq!(t.app.sweep().await.unwrap().found_paid, 1);

    let (_, log) = invoke(&t, "audit", json!({"order_no": no})).await;
    let entries = log["entries"].as_array().unwrap();
    let phone = entries.iter().find(|e| e["action"] == "order.receipt_phone_changed").expect("phone change logged");
    assert_eq!((phone["before"].as_str(), phone["after"].as_str()), (Some("139****5678"), Some("138****1111")), "phones only masked");
    assert!(!log.to_string().contains("13800001111") && !log.to_string().contains("13912345678"));
    let paid = entries.iter().find(|e| e["action"] == "order.paid").unwrap();
    assert_eq!(paid["actor"], "sweeper");

    // 周八's demo offline payment was recorded by the seed, under the student.
    let (_, zhou) = invoke(&t, "audit", json!({"student_no": "2021010105"})).await;
    let offline = zhou["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == AuditAction::OfflinePaymentRecorded.as_str())
        .expect("offline payment logged");
    assert_eq!(offline["actor"], "seed");
    assert!(offline.get("order_no").is_none());
}

#[tokio::test]
async fn a_query_must_name_one_order_or_one_student() {
    let t = spawn().await;
    for bad in [json!({}), json!({"order_no": "XF1"}), json!({"student_no": "2021010101", "order_no": "XF200510LUTAU000001"})] {
        let (status, answer) = invoke(&t, "audit", bad.clone()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{bad}");
        assert!(answer["errorMessage"].as_str().unwrap().contains("缴费单号"), "{answer}");
    }
    // Nothing happened to an unknown order: an empty log, not an error.
    let (status, answer) = invoke(&t, "audit", json!({"order_no": "XF200510LUTAU000001"})).await;
    assert_eq!((status, answer["count"].as_u64()), (StatusCode::OK, Some(0)));
}

#[tokio::test]
async fn account_changes_are_logged_without_the_details_themselves() {
    let t = spawn().await;
    let c = browser();
    // The first login forces a new password: that change is logged.
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let r = t.put(&c, "/api/profile", json!({"email": "zhangsan@lut.edu.cn"})).await;
    assert_eq!(r.status(), StatusCode::OK);
    let (_, log) = invoke(&t, "audit", json!({"student_no": "2021010101"})).await;
    let entries = log["entries"].as_array().unwrap();
    let pw = entries.iter().find(|e| e["action"] == "account.password_changed").expect("password change logged");
    assert_eq!((pw["actor"].as_str(), pw["reason"].as_str()), (Some("student:2021010101"), Some("首次登录：验证预留手机并修改初始密码")));
    let contact = entries.iter().find(|e| e["action"] == "profile.contact_changed").expect("contact change logged");
    assert_eq!(contact["after"], "phone=187****6579 email=已填写 postcode=未填写 address=未填写");
    let text = log.to_string();
    assert!(!text.contains("zhangsan@") && !text.contains("Campus2026a") && !text.contains("$argon2"), "no secrets or personal data");
}
