//! 学费缴费 orders over HTTP against moto: one order per item set, reuse, item locks, expiry,
//! phone, cancel; and order numbers under 1,000 concurrent allocations across midnight.

use chrono::{DateTime, Utc};
use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::domain::OrderNo;
use std::collections::HashSet;
use std::sync::Arc;

/// The current academic year of the demo data (see infra/local/src/seed.rs).
fn cur_year() -> u16 {
    local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()))
}
fn ay(start: u16) -> String {
    format!("{start}-{}", start + 1)
}

async fn ready(t: &TestApp, no: &str, initial: &str) -> reqwest::Client {
    let c = browser();
    t.login_ready(&c, no, initial, "Campus2026a").await;
    c
}

#[tokio::test]
async fn an_order_for_the_same_items_is_reused_and_other_open_items_are_protected() {
    let t = spawn().await;
    let c = ready(&t, "2021010101", "03151235").await;
    let y = cur_year();
    let items = json!([{"academic_year": ay(y), "item_id": "TUITION"}, {"academic_year": ay(y), "item_id": "EXAM"}]);
    let r = t.post(&c, "/api/orders", json!({"items": items})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let order: Value = r.json().await.unwrap();
    let no = order["order_no"].as_str().unwrap().to_owned();
    let parsed = OrderNo::parse(&no).unwrap();
    assert_eq!(parsed.date(), shared::clock::beijing_date(Utc::now()));
    assert_eq!(&no[8..13], "LUTAU");
    assert_eq!(order["total"], "3920.00");
    assert_eq!(order["state"], "open");
    assert_eq!(order["payee"], "甘肃省财政厅");
    assert_eq!(order["receipt_phone_masked"], "187****6579");
    assert!((7190..=7200).contains(&order["seconds_left"].as_i64().unwrap()), "two hours");

    // The same items in another order of listing: the same order, not a new one.
    let again = t
        .post(
            &c,
            "/api/orders",
            json!({"items": [{"academic_year": ay(y), "item_id": "EXAM"}, {"academic_year": ay(y), "item_id": "TUITION"}]}),
        )
        .await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().await.unwrap()["order_no"], no.as_str());

    // An overlapping selection is refused, naming the open order.
    let (status, code, body) =
        error_code(t.post(&c, "/api/orders", json!({"items": [{"academic_year": ay(y), "item_id": "TUITION"}]})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "ORDER_IN_PROGRESS"));
    assert!(body["message"].as_str().unwrap().contains(&no));

    // Items not in the open order are free.
    let other = t.post(&c, "/api/orders", json!({"items": [{"academic_year": ay(y - 1), "item_id": "BOOKS"}]})).await;
    assert_eq!(other.status(), StatusCode::CREATED);
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["order_no"], no.as_str());
    assert_eq!(other["total"], "420.50");

    // Cancelling releases the items; the next order gets a new number.
    let r = t.post(&c, &format!("/api/orders/{no}/cancel"), json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["state"], "closed");
    assert_eq!(t.get(&c, &format!("/api/orders/{no}")).await.json::<Value>().await.unwrap()["state"], "closed");
    let r = t.post(&c, "/api/orders", json!({"items": [{"academic_year": ay(y), "item_id": "TUITION"}]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let fresh: Value = r.json().await.unwrap();
    assert_ne!(fresh["order_no"], no.as_str());
    assert_eq!(fresh["total"], "3800.00");
    assert_eq!(error_code(t.post(&c, &format!("/api/orders/{no}/cancel"), json!({})).await).await.1, "ORDER_NOT_OPEN");
}

#[tokio::test]
async fn only_payable_items_can_be_ordered() {
    let t = spawn().await;
    let c = ready(&t, "2021010103", "11227895").await;
    let y = cur_year();
    for (year, item, why) in [(ay(y), "BOOKS", "暂停收费"), (ay(y - 1), "RESIT", "不在收费时间内"), (ay(y), "NOPE", "不存在")]
    {
        let (status, code, body) = error_code(
            t.post(&c, "/api/orders", json!({"items": [{"academic_year": year, "item_id": item}], "phone": "13912345678"})).await,
        )
        .await;
        assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"), "{item}");
        assert!(body["fields"]["items"].as_str().unwrap().contains(why), "{item}: {body}");
    }
    let (_, _, body) = error_code(t.post(&c, "/api/orders", json!({"items": []})).await).await;
    assert!(body["fields"]["items"].is_string());
    let dup = json!([{"academic_year": ay(y), "item_id": "TUITION"}, {"academic_year": ay(y), "item_id": "TUITION"}]);
    let (_, _, body) = error_code(t.post(&c, "/api/orders", json!({"items": dup, "phone": "13912345678"})).await).await;
    assert!(body["fields"]["items"].as_str().unwrap().contains("重复"));
    // Without a phone given, the phone on file receives the e-receipt.
    let r = t.post(&c, "/api/orders", json!({"items": [{"academic_year": ay(y), "item_id": "TUITION"}]})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.json::<Value>().await.unwrap()["receipt_phone_masked"], "138****2345");

    // Nothing owed, nothing to order.
    let c2 = ready(&t, "2021010102", "0708456X").await;
    let (_, _, body) =
        error_code(t.post(&c2, "/api/orders", json!({"items": [{"academic_year": ay(y), "item_id": "TUITION"}]})).await).await;
    assert!(body["fields"]["items"].as_str().unwrap().contains("已缴清"));
}

#[tokio::test]
async fn the_receipt_phone_can_be_changed_while_open_and_orders_expire_after_two_hours() {
    let t = spawn().await;
    let c = ready(&t, "2021010101", "03151235").await;
    let y = cur_year();
    let items = json!([{"academic_year": ay(y - 2), "item_id": "TUITION"}]);
    let order: Value = t.post(&c, "/api/orders", json!({"items": items, "phone": "13800001111"})).await.json().await.unwrap();
    let no = order["order_no"].as_str().unwrap().to_owned();
    assert_eq!(order["receipt_phone_masked"], "138****1111");
    assert_eq!(order["total"], "1500.00", "what is still owed, not the full fee");
    let (_, _, body) = error_code(t.put(&c, &format!("/api/orders/{no}/phone"), json!({"phone": "123"})).await).await;
    assert!(body["fields"]["phone"].is_string());
    let r: Value = t.put(&c, &format!("/api/orders/{no}/phone"), json!({"phone": "13900002222"})).await.json().await.unwrap();
    assert_eq!(r["receipt_phone_masked"], "139****2222");

    t.clock.advance(2 * 3600 + 1);
    // Two idle hours also ended the session.
    assert_eq!(t.login(&c, "2021010101", "Campus2026a").await.status(), StatusCode::OK);
    let (status, code, _) = error_code(t.put(&c, &format!("/api/orders/{no}/phone"), json!({"phone": "13900003333"})).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::CONFLICT, "ORDER_NOT_OPEN"));
    // Never tried at a gateway, so the expired order is closed and the items ordered afresh.
    let r = t.post(&c, "/api/orders", json!({"items": items})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_ne!(r.json::<Value>().await.unwrap()["order_no"], no.as_str());
    assert_eq!(t.get(&c, &format!("/api/orders/{no}")).await.json::<Value>().await.unwrap()["state"], "closed");
}

#[tokio::test]
async fn another_students_order_does_not_exist_for_you() {
    let t = spawn().await;
    let c = ready(&t, "2021010101", "03151235").await;
    let y = cur_year();
    let order: Value =
        t.post(&c, "/api/orders", json!({"items": [{"academic_year": ay(y), "item_id": "EXAM"}]})).await.json().await.unwrap();
    let no = order["order_no"].as_str().unwrap();
    let other = ready(&t, "2021010103", "11227895").await;
    for (m, path) in
        [("GET", format!("/api/orders/{no}")), ("POST", format!("/api/orders/{no}/cancel")), ("GET", "/api/orders/NOT-AN-ORDER".into())]
    {
        let r = other.request(m.parse().unwrap(), t.url(&path)).json(&json!({})).send().await.unwrap();
        let (status, code, _) = error_code(r).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{m} {path}");
    }
    assert_eq!(
        error_code(reqwest::Client::new().get(t.url(&format!("/api/orders/{no}"))).send().await.unwrap()).await.1,
        "UNAUTHENTICATED"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_the_same_items_share_one_order() {
    let t = spawn().await;
    let c = ready(&t, "2021010101", "03151235").await;
    let y = cur_year();
    let body = json!({"items": [{"academic_year": ay(y - 1), "item_id": "TUITION"}]});
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (c, url, body) = (c.clone(), t.url("/api/orders"), body.clone());
            tokio::spawn(async move { c.post(url).json(&body).send().await.unwrap() })
        })
        .collect();
    let mut numbers = HashSet::new();
    let mut created = 0;
    for r in futures::future::join_all(tasks).await {
        let r = r.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        created += usize::from(r.status() == StatusCode::CREATED);
        numbers.insert(r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned());
    }
    assert_eq!((numbers.len(), created), (1, 1), "{numbers:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_order_numbers_across_midnight_are_unique_and_well_formed() {
    let t = spawn().await;
    // Half just before midnight Beijing time (16:00 UTC), half just after.
    let before: DateTime<Utc> = "2026-11-26T15:59:59.900Z".parse().unwrap();
    let after: DateTime<Utc> = "2026-11-26T16:00:00.000Z".parse().unwrap();
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let app = Arc::clone(&t.app);
            let at = if i % 2 == 0 { before } else { after };
            tokio::spawn(async move { (at, app.allocate_order_no(at).await.unwrap()) })
        })
        .collect();
    let mut seen = HashSet::new();
    let (mut on_26, mut on_27) = (0, 0);
    for r in futures::future::join_all(tasks).await {
        let (at, no) = r.unwrap();
        let text = no.to_string();
        assert_eq!(text.len(), 19);
        assert_eq!(OrderNo::parse(&text).unwrap(), no, "well-formed");
        assert!(seen.insert(text.clone()), "duplicate {text}");
        match &text[2..8] {
            "261126" => {
                assert_eq!(at, before);
                on_26 += 1
            }
            "261127" => {
                assert_eq!(at, after);
                on_27 += 1
            }
            other => panic!("unexpected date {other}"),
        }
    }
    assert_eq!((on_26, on_27), (500, 500));
    assert!(seen.contains("XF261126LUTAU000500") && seen.contains("XF261127LUTAU000500") && !seen.contains("XF261127LUTAU000501"));
}

/// Before: an order made and cancelled in a loop spent one of the day's 999,999 order serials
/// every two requests, and once they ran out nobody could order that day. Now a student makes
/// at most 10 new orders a day, and the loop stops there: the next student's order takes the
/// 11th serial of the day.
#[tokio::test]
async fn a_cancel_and_recreate_loop_stops_at_the_daily_order_cap() {
    let t = spawn().await;
    let c = ready(&t, "2021010101", "03151235").await;
    let items = json!({"items": [{"academic_year": ay(cur_year()), "item_id": "TUITION"}]});
    for i in 1..=10 {
        let r = t.post(&c, "/api/orders", items.clone()).await;
        assert_eq!(r.status(), StatusCode::CREATED, "order {i}");
        let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        assert!(t.post(&c, &format!("/api/orders/{no}/cancel"), json!({})).await.status().is_success());
    }
    let (status, code, _) = error_code(t.post(&c, "/api/orders", items.clone()).await).await;
    assert_eq!((status, code.as_str()), (StatusCode::TOO_MANY_REQUESTS, "ORDER_LIMIT"));
    let other = ready(&t, "2021010104", "04120030").await;
    let r = t.post(&other, "/api/orders", items.clone()).await;
    let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
    assert!(no.ends_with("000011"), "{no}: the loop spent ten serials, not more");
    // A day later the student may order again (in a new session: the old one ended meanwhile).
    t.clock.advance(24 * 3600 + 1);
    let c = browser();
    assert_eq!(t.login(&c, "2021010101", "Campus2026a").await.status(), StatusCode::OK);
    assert_eq!(t.post(&c, "/api/orders", items).await.status(), StatusCode::CREATED);
}
