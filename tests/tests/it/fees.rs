//! 当前费用 over HTTP: per-year items, totals, and what is not payable and why.

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::Value;

async fn fees_of(t: &TestApp, no: &str, initial: &str) -> Value {
    let c = browser();
    t.login_ready(&c, no, initial, "Campus2026a").await;
    let r = t.get(&c, "/api/fees").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

#[tokio::test]
async fn several_academic_years_owed_with_totals() {
    let t = spawn().await;
    let f = fees_of(&t, "2021010101", "03151235").await;
    let years: Vec<&str> = f["years"].as_array().unwrap().iter().map(|y| y["academic_year"].as_str().unwrap()).collect();
    assert_eq!(years.len(), 3);
    assert!(years.windows(2).all(|w| w[0] > w[1]), "newest first: {years:?}");
    // Seeded: 3500.00 (2000.00 paid), 3500.00 + 420.50, 3800.00 + 120.00.
    assert_eq!(f["total_due"], "11340.50");
    assert_eq!(f["total_paid"], "2000.00");
    assert_eq!(f["total_outstanding"], "9340.50");
    assert_eq!(f["payable_outstanding"], "9340.50");
    let oldest = &f["years"][2];
    assert_eq!(oldest["outstanding"], "1500.00");
    let item = &oldest["items"][0];
    assert_eq!((item["name"].as_str(), item["status"].as_str(), item["fee_type"].as_str()), (Some("学费"), Some("收费"), Some("学费")));
    assert_eq!(item["payable"], true);
    assert!(item["window_start"].as_str().unwrap().ends_with("-09-01"));
}

#[tokio::test]
async fn nothing_owed() {
    let t = spawn().await;
    let f = fees_of(&t, "2021010102", "0708456X").await;
    assert_eq!(f["total_outstanding"], "0.00");
    assert_eq!(f["total_paid"], "5600.00");
    assert!(f["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).all(|i| i["payable"] == false));
}

#[tokio::test]
async fn stopped_and_out_of_window_items_are_shown_but_not_payable() {
    let t = spawn().await;
    let f = fees_of(&t, "2021010103", "11227895").await;
    let items: Vec<&Value> = f["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap()).collect();
    let by_id = |id: &str| items.iter().find(|i| i["item_id"] == id).copied().unwrap();
    assert_eq!(by_id("BOOKS")["status"], "停止");
    assert_eq!(by_id("BOOKS")["not_payable_reason"], "暂停收费");
    assert_eq!(by_id("RESIT")["not_payable_reason"], "不在收费时间内");
    assert_eq!(by_id("TUITION")["payable"], true);
    assert_eq!(f["total_outstanding"], "4430.00");
    assert_eq!(f["payable_outstanding"], "4000.00");
}
