//! 票据查验 over HTTP: anyone holding a receipt checks it by 票据号 and 校验码 and sees its
//! essentials only; a wrong pair says one thing and reveals nothing; a refunded payment's
//! receipt says 已退款; one client cannot try pairs without end; the receipt page carries the
//! verification's address and a QR code leading to it.

use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

async fn check(t: &TestApp, c: &Client, no: &str, code: &str) -> reqwest::Response {
    t.post(c, "/api/receipts/check", json!({"receipt_no": no, "check_code": code})).await
}

/// 王五 pays 学费 by Alipay; the receipt's number and check code.
async fn paid_receipt(t: &TestApp) -> (Client, String, String, String) {
    let (c, no) = student_with_order(t).await;
    t.sandboxes.alipay.set_deliver_notifications(false);
    let pay = pay_with(t, &c, &no, "alipay", "pc").await;
    press_pay(pay["action"]["content"].as_str().unwrap()).await;
    let o: Value = t.post(&c, &format!("/api/orders/{no}/check"), json!({})).await.json().await.unwrap();
    assert_eq!(o["state"], "paid");
    let list: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    let r = &list["receipts"][0];
    (
        c,
        r["receipt_no"].as_str().unwrap().to_owned(),
        r["check_code"].as_str().unwrap().to_owned(),
        pay["out_trade_no"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn anyone_checks_a_receipt_by_its_number_and_code_and_sees_only_its_essentials() {
    let t = spawn().await;
    let (c, rno, code, otn) = paid_receipt(&t).await;
    let office = browser(); // no session: a reimbursement office
    let r = check(&t, &office, &rno, &code).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["payer_masked"], "王*");
    assert_eq!((v["total"].as_str(), v["total_capitals"].as_str()), (Some("4000.00"), Some("人民币肆仟元整")));
    assert_eq!(
        (v["payee"].as_str(), v["status"].as_str(), v["status_label"].as_str()),
        (Some("甘肃省财政厅"), Some("valid"), Some("有效"))
    );
    assert_eq!(v["lines"][0]["name"], "学费");
    let text = v.to_string();
    for secret in ["2021010103", "620", "138", &otn] {
        assert!(!text.contains(secret), "the check shows no student number, ID, phone or trade number: {text}");
    }
    // Typed on a phone: full width, lower case.
    let wide: String = rno.chars().map(|ch| char::from_u32(ch as u32 + 0xFEE0).unwrap()).collect();
    assert_eq!(check(&t, &office, &wide, &code.to_lowercase()).await.status(), StatusCode::OK);

    // A wrong code, a number never issued, another receipt's code: one answer, nothing else.
    let wrong = [(&rno[..], "AAAAAAAAAAAA"), ("PJXF200101LUTAU999999", &code[..]), ("nonsense", "x")];
    let mut messages = std::collections::BTreeSet::new();
    for (no, cd) in wrong {
        let (status, kind, v) = error_code(check(&t, &office, no, cd).await).await;
        assert_eq!((status, kind.as_str()), (StatusCode::NOT_FOUND, "RECEIPT_MISMATCH"), "{v}");
        messages.insert(v.to_string());
    }
    assert_eq!(messages.len(), 1, "the same words whatever was wrong: {messages:?}");

    // Refunded: the receipt still checks, 已退款.
    let r = Client::new()
        .post(t.url("/_local/invoke/refund"))
        .json(&json!({"out_trade_no": otn, "operator": "财务处-张敏", "reason": "学籍注销，全额退费"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = check(&t, &office, &rno, &code).await.json().await.unwrap();
    assert_eq!((v["status"].as_str(), v["status_label"].as_str()), (Some("refunded"), Some("已退款")));

    // The receipt page says where to check it and carries the QR code of that check.
    let page = t.get(&c, &format!("/receipts/{}", &rno[2..])).await.text().await.unwrap();
    assert!(page.contains(&format!("{}/verify.html", t.base)), "the address is in the text");
    assert!(page.contains("data-testid=\"receipt-verify-qr\"><svg") || page.contains("receipt-verify-qr\"><?xml"), "a QR code");
}

#[tokio::test]
async fn one_client_cannot_try_pairs_without_end() {
    let t = spawn().await;
    let (_c, rno, code, _) = paid_receipt(&t).await;
    let c = browser();
    for i in 0..shared::service::receipt_check::CHECKS_PER_CLIENT {
        let r = check(&t, &c, &rno, &format!("GUESS{i:07}")).await;
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    // Locked for this address now, even with the right pair.
    assert_eq!(error_code(check(&t, &c, &rno, &code).await).await.1, "TOO_MANY_REQUESTS");
}
