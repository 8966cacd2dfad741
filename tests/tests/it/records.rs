//! 交易查询 over HTTP against moto: the bank-record status of each attempt (pay, close,
//! duplicate, past its window, refunded), 已缴费信息 by fee type with offline payments and 明细,
//! nobody else's records, announcements inside their window only, 报名信息, and offline payments
//! recorded once however often they are submitted.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::clock::{Clock, beijing, beijing_date};
use shared::domain::*;
use shared::service::orders::Pick;
use shared::service::records::{OfflineItem, OfflineRejected, OfflineSubmission};
use shared::store::{FeeStore, OfflinePaymentStore, OrderStore, PaymentStore};
use std::collections::HashMap;
use std::sync::Arc;

const ZHANG: &str = "2021010101";

fn year(t: &TestApp, back: u16) -> String {
    let y = local::seed::current_academic_year(beijing_date(t.clock.now())) - back;
    format!("{y}-{}", y + 1)
}

async fn zhang(t: &TestApp) -> Client {
    let c = browser();
    t.login_ready(&c, ZHANG, "03151235", "Campus2026a").await;
    c
}

async fn get_json(t: &TestApp, c: &Client, path: &str) -> Value {
    let r = t.get(c, path).await;
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    r.json().await.unwrap()
}

/// 张三's open order for the picked items of a year `back` years ago.
async fn order_for(t: &TestApp, back: u16, items: &[&str]) -> Order {
    let picks: Vec<Pick> = items.iter().map(|i| Pick { academic_year: year(t, back), item_id: (*i).into() }).collect();
    let (view, _) = t.app.create_or_reuse_order(&authed(ZHANG), &picks, None).await.unwrap();
    t.app.store.get_order(&OrderNo::parse(&view.order_no).unwrap()).await.unwrap().unwrap()
}

/// Starts an attempt on `channel` made at `created_at`, payable until `pay_by`.
async fn start(t: &TestApp, no: &OrderNo, channel: Channel, created_at: DateTime<Utc>, pay_by: DateTime<Utc>) -> Attempt {
    let order = t.app.store.get_order(no).await.unwrap().unwrap();
    let a = Attempt {
        out_trade_no: OutTradeNo::new(no, channel, order.attempts + 1),
        order_no: *no,
        student_no: order.student_no.clone(),
        channel,
        amount: order.total,
        state: AttemptState::Created,
        created_at: created_at.trunc_subsecs(0),
        pay_by: pay_by.trunc_subsecs(0),
        gateway_trade_no: None,
        paid_at: None,
    };
    t.app.store.create_attempt(&order, &a, &integration_tests::by_student(&order.student_no)).await.unwrap();
    a
}

async fn pay(t: &TestApp, a: &Attempt, trade: &str) -> PaymentOutcome {
    let p = ConfirmedPayment {
        out_trade_no: a.out_trade_no.clone(),
        channel: a.channel,
        gateway_trade_no: trade.into(),
        amount: a.amount,
        paid_at: t.clock.now().trunc_subsecs(0),
    };
    t.app.record_confirmed_payment(&p, &Actor::Gateway(p.channel)).await.unwrap()
}

fn by_otn(list: &Value) -> HashMap<String, Value> {
    list["transactions"].as_array().unwrap().iter().map(|x| (x["out_trade_no"].as_str().unwrap().to_owned(), x.clone())).collect()
}

#[tokio::test]
async fn every_attempt_shows_in_the_bank_record_with_its_status() {
    let t = spawn().await;
    let c = zhang(&t).await;
    assert_eq!(get_json(&t, &c, "/api/transactions").await["transactions"], json!([]), "nothing tried yet");

    let now = t.clock.now();
    let order = order_for(&t, 0, &["TUITION", "EXAM"]).await;
    // 支付宝 first, abandoned (closed); 微信支付 pays; then the 支付宝 page is paid too.
    let ali = start(&t, &order.order_no, Channel::Alipay, now - Duration::minutes(30), now + Duration::minutes(60)).await;
    t.app.store.close_attempt(&ali, &integration_tests::by_student(&ali.student_no)).await.unwrap();
    let wx = start(&t, &order.order_no, Channel::Wechat, now - Duration::minutes(20), now + Duration::minutes(60)).await;
    // A second 支付宝 page, opened before the 微信支付 payment arrived, is paid after it.
    let ali2 = start(&t, &order.order_no, Channel::Alipay, now - Duration::minutes(10), now + Duration::minutes(60)).await;
    assert_eq!(pay(&t, &wx, "4200000000202611260000000001").await, PaymentOutcome::OrderPaid);
    assert_eq!(pay(&t, &ali2, "2026112622001400000000000002").await, PaymentOutcome::DuplicatePaid);
    // Another order, still being paid: 处理中 until the gateway stops taking it.
    let books = order_for(&t, 1, &["BOOKS"]).await;
    let up = start(&t, &books.order_no, Channel::Unionpay, now - Duration::minutes(5), now + Duration::minutes(10)).await;

    let list = get_json(&t, &c, "/api/transactions").await;
    let otns: Vec<&str> = list["transactions"].as_array().unwrap().iter().map(|x| x["out_trade_no"].as_str().unwrap()).collect();
    let want = [&up, &ali2, &wx, &ali].map(|a| a.out_trade_no.as_str());
    assert_eq!(otns, want, "every attempt, newest first");
    let rows = by_otn(&list);
    let status = |a: &Attempt, rows: &HashMap<String, Value>| {
        let r = &rows[a.out_trade_no.as_str()];
        (r["status"].as_str().unwrap().to_owned(), r["status_label"].as_str().unwrap().to_owned())
    };
    assert_eq!(status(&ali, &rows), ("closed".into(), "已关闭".into()));
    assert_eq!(status(&wx, &rows), ("success".into(), "成功".into()));
    assert_eq!(status(&ali2, &rows), ("duplicate_pending_refund".into(), "重复支付待退款".into()));
    assert_eq!(status(&up, &rows), ("processing".into(), "处理中".into()));
    let w = &rows[wx.out_trade_no.as_str()];
    assert_eq!(
        (w["channel_label"].as_str(), w["amount"].as_str(), w["order_no"].as_str()),
        (Some("微信支付"), Some("3920.00"), Some(order.order_no.to_string().as_str()))
    );
    assert_eq!(w["gateway_trade_no"], "4200000000202611260000000001");
    assert!(w["paid_at"].is_string());
    assert!(rows[ali.out_trade_no.as_str()]["gateway_trade_no"].is_null() && rows[ali.out_trade_no.as_str()]["paid_at"].is_null());
    assert_eq!(rows[up.out_trade_no.as_str()]["amount"], "420.50");

    // The UnionPay window passes with no payment reported: 失败 (until the sweeper settles it).
    t.clock.advance(11 * 60);
    assert_eq!(status(&up, &by_otn(&get_json(&t, &c, "/api/transactions").await)), ("failed".into(), "失败".into()));
    // A refund (the state an operator refund will write) shows as 已退款.
    t.app
        .store
        .client()
        .update_item()
        .table_name(&t.table)
        .key("pk", AttributeValue::S(format!("ORDER#{}", order.order_no)))
        .key("sk", AttributeValue::S(format!("ATTEMPT#{}", ali2.out_trade_no)))
        .update_expression("SET #s = :r")
        .condition_expression("#s = :d")
        .expression_attribute_names("#s", "state")
        .expression_attribute_values(":r", AttributeValue::S("refunded".into()))
        .expression_attribute_values(":d", AttributeValue::S("duplicate_paid".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(status(&ali2, &by_otn(&get_json(&t, &c, "/api/transactions").await)), ("refunded".into(), "已退款".into()));

    // Somebody else's bank record has none of these.
    let li = browser();
    t.login_ready(&li, "2021010102", "0708456X", "Campus2026b").await;
    assert_eq!(get_json(&t, &li, "/api/transactions").await["transactions"], json!([]));
}

fn offline(reference: &str, items: &[(&str, &str, i64)], method: &str) -> OfflineSubmission {
    OfflineSubmission {
        reference: reference.into(),
        student_no: ZHANG.into(),
        items: items
            .iter()
            .map(|(y, id, fen)| OfflineItem { academic_year: (*y).into(), item_id: (*id).into(), amount: Fen::new(*fen) })
            .collect(),
        method: method.into(),
        paid_at: "2025-10-08T02:30:00Z".parse().unwrap(),
        receipt_no: Some("GS20250012345".into()),
        recorded_by: "fee-import-2025-10-09".into(),
    }
}

async fn paid_fen(t: &TestApp, back: u16, item: &str) -> Fen {
    let items = t.app.store.list_fee_items(&StudentNo::parse(ZHANG).unwrap()).await.unwrap();
    items.iter().find(|i| i.item_id.as_str() == item && i.academic_year.to_string() == year(t, back)).unwrap().paid
}

#[tokio::test]
async fn paid_records_by_fee_type_cover_offline_payments_and_open_to_their_items() {
    let t = spawn().await;
    let c = zhang(&t).await;
    assert_eq!(get_json(&t, &c, "/api/paid").await, json!({"fee_type": null, "records": [], "total": "0.00"}));

    // Paid here: this year's 学费 and 考试费 (其他) in one order, by 支付宝.
    let now = t.clock.now();
    let order = order_for(&t, 0, &["TUITION", "EXAM"]).await;
    let a = start(&t, &order.order_no, Channel::Alipay, now, now + Duration::minutes(60)).await;
    pay(&t, &a, "2026112622001400000000000009").await;
    // An unpaid order is no paid record.
    let open = order_for(&t, 2, &["TUITION"]).await;
    // Paid at the finance office: last year's 教材费 (其他), recorded by the import job.
    let last = year(&t, 1);
    let outcome = t
        .app
        .record_offline_payment(&offline("cw-2025-77", &[(last.as_str(), "BOOKS", 42_050)], "现金"), &integration_tests::by_operator())
        .await
        .unwrap();
    assert_eq!(outcome, OfflineOutcome::Recorded);

    let all = get_json(&t, &c, "/api/paid").await;
    let ids: Vec<&str> = all["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    let online_id = order.order_no.to_string();
    assert_eq!(ids, [online_id.as_str(), "offline-CW-2025-77"], "newest first: paid just now, then in October 2025");
    assert_eq!(all["total"], "4340.50");
    let online = &all["records"][0];
    assert_eq!(online["source_label"], "网上缴费");
    assert_eq!(online["method_label"], "支付宝");
    assert_eq!(online["fee_types"], json!(["学费", "其他"]));
    assert_eq!(
        (online["amount"].as_str(), online["total"].as_str(), online["items_count"].as_u64()),
        (Some("3920.00"), Some("3920.00"), Some(2))
    );
    assert_eq!(online["receipt_url"], format!("/receipts/{online_id}"));
    let off = &all["records"][1];
    assert_eq!(
        (off["source_label"].as_str(), off["method_label"].as_str(), off["reference"].as_str()),
        (Some("线下缴费"), Some("现金"), Some("CW-2025-77"))
    );
    assert_eq!(
        (off["receipt_url"].is_null(), off["receipt_no"].as_str(), off["paid_at"].as_str()),
        (true, Some("GS20250012345"), Some("2025-10-08T02:30:00Z"))
    );
    assert!(!all.to_string().contains(&open.order_no.to_string()));

    // 学费: the online order only, counting its 学费; 其他费用: both, counting their 其他 items.
    let tuition = get_json(&t, &c, "/api/paid?type=%E5%AD%A6%E8%B4%B9").await;
    assert_eq!(tuition["fee_type"], "学费");
    assert_eq!(tuition["records"].as_array().unwrap().len(), 1);
    assert_eq!((tuition["records"][0]["amount"].as_str(), tuition["total"].as_str()), (Some("3800.00"), Some("3800.00")));
    for other in ["其他", "其他费用"] {
        let r = get_json(&t, &c, &format!("/api/paid?type={other}")).await;
        assert_eq!(r["fee_type"], "其他");
        let amounts: Vec<&str> = r["records"].as_array().unwrap().iter().map(|x| x["amount"].as_str().unwrap()).collect();
        assert_eq!((amounts, r["total"].as_str()), (vec!["120.00", "420.50"], Some("540.50")));
    }
    let (status, code, body) = error_code(t.get(&c, "/api/paid?type=住宿费").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["type"].is_string());

    // 明细 of each.
    let d = get_json(&t, &c, &format!("/api/paid/{online_id}")).await;
    let lines: Vec<(&str, &str, &str)> = d["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["fee_type"].as_str().unwrap(), l["amount"].as_str().unwrap()))
        .collect();
    assert_eq!(lines, [("学费", "学费", "3800.00"), ("考试费", "其他", "120.00")]);
    assert_eq!(
        (d["out_trade_no"].as_str(), d["gateway_trade_no"].as_str()),
        (Some(a.out_trade_no.as_str()), Some("2026112622001400000000000009"))
    );
    assert_eq!(d["receipt_url"], format!("/receipts/{online_id}"));
    let d = get_json(&t, &c, "/api/paid/offline-cw-2025-77").await;
    assert_eq!(d["id"], "offline-CW-2025-77", "references are case-insensitive");
    assert_eq!(
        d["lines"],
        json!([{"academic_year": year(&t, 1), "item_id": "BOOKS", "name": "教材费", "fee_type": "其他", "amount": "420.50"}])
    );
    assert!(d["out_trade_no"].is_null() && d["gateway_trade_no"].is_null());

    // Nobody else's, and nothing that is not a paid record, exists for a student.
    let li = browser();
    t.login_ready(&li, "2021010102", "0708456X", "Campus2026b").await;
    for path in [format!("/api/paid/{online_id}"), "/api/paid/offline-CW-2025-77".into()] {
        let (status, code, _) = error_code(t.get(&li, &path).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{path} for 李四");
    }
    assert_eq!(get_json(&t, &li, "/api/paid").await["records"], json!([]));
    for path in [
        format!("/api/paid/{}", open.order_no),
        "/api/paid/XF200101LUTAU999999".into(),
        "/api/paid/offline-NOPE".into(),
        "/api/paid/not%20an%20id".into(),
    ] {
        let (status, code, _) = error_code(t.get(&c, &path).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{path}");
    }
    // The demo's offline payment is 周八's, and shows for her.
    let zhou = browser();
    t.login_ready(&zhou, "2021010105", "05054523", "Campus2026c").await;
    let p = get_json(&t, &zhou, "/api/paid").await;
    assert_eq!(p["records"].as_array().unwrap().len(), 1);
    assert_eq!((p["records"][0]["method_label"].as_str(), p["records"][0]["amount"].as_str()), (Some("银行转账"), Some("2600.00")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_payments_are_recorded_and_credited_once() {
    let t = spawn().await;
    let last = year(&t, 1);
    assert_eq!(paid_fen(&t, 1, "TUITION").await, Fen::ZERO);
    // Bad submissions write nothing: an unknown item, an unknown student, a bad reference.
    let unknown_item = offline("BANK-1", &[(last.as_str(), "TUITION", 100_000), (last.as_str(), "PARKING", 5_000)], "bank_transfer");
    assert!(matches!(
        t.app.record_offline_payment(&unknown_item, &integration_tests::by_operator()).await,
        Err(OfflineRejected::UnknownItem(_))
    ));
    assert!(matches!(
        t.app
            .record_offline_payment(
                &OfflineSubmission { student_no: "2099000000".into(), ..offline("BANK-1", &[(last.as_str(), "TUITION", 1)], "cash") },
                &integration_tests::by_operator()
            )
            .await,
        Err(OfflineRejected::UnknownStudent)
    ));
    assert!(matches!(
        t.app.record_offline_payment(&offline("BANK 1", &[(last.as_str(), "TUITION", 1)], "cash"), &integration_tests::by_operator()).await,
        Err(OfflineRejected::Reference)
    ));
    assert!(matches!(
        t.app.record_offline_payment(&offline("BANK-1", &[(last.as_str(), "TUITION", 0)], "cash"), &integration_tests::by_operator()).await,
        Err(OfflineRejected::Invalid(_))
    ));
    assert_eq!(paid_fen(&t, 1, "TUITION").await, Fen::ZERO);

    // The same payment submitted by 10 import runs at once, then again: recorded and credited once.
    let sub = offline("BANK-1", &[(last.as_str(), "TUITION", 100_000), (last.as_str(), "BOOKS", 42_050)], "bank_transfer");
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (app, mut sub) = (Arc::clone(&t.app), sub.clone());
            sub.recorded_by = format!("import-run-{i}");
            tokio::spawn(async move { app.record_offline_payment(&sub, &integration_tests::by_operator()).await.unwrap() })
        })
        .collect();
    let outcomes: Vec<OfflineOutcome> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == OfflineOutcome::Recorded).count(), 1, "{outcomes:?}");
    assert_eq!(t.app.record_offline_payment(&sub, &integration_tests::by_operator()).await.unwrap(), OfflineOutcome::AlreadyRecorded);
    assert_eq!(paid_fen(&t, 1, "TUITION").await, Fen::new(100_000));
    assert_eq!(paid_fen(&t, 1, "BOOKS").await, Fen::new(42_050));
    // The reference now names that payment: a different one under it is refused, nothing changes.
    let other = offline("bank-1", &[(last.as_str(), "TUITION", 250_000)], "bank_transfer");
    assert!(matches!(t.app.record_offline_payment(&other, &integration_tests::by_operator()).await, Err(OfflineRejected::ReferenceReused)));
    assert_eq!(paid_fen(&t, 1, "TUITION").await, Fen::new(100_000));
    let stored = t.app.store.get_offline_payment(&PaymentRef::parse("BANK-1").unwrap()).await.unwrap().unwrap();
    assert_eq!((stored.total, stored.lines.len(), stored.method), (Fen::new(142_050), 2, OfflineMethod::BankTransfer));
    // 当前费用 shows it: 3500.00 + 420.50 owed last year, 1000.00 + 420.50 paid.
    let c = zhang(&t).await;
    let fees = get_json(&t, &c, "/api/fees").await;
    let y = fees["years"].as_array().unwrap().iter().find(|y| y["academic_year"] == last.as_str()).unwrap();
    assert_eq!((y["paid"].as_str(), y["outstanding"].as_str()), (Some("1420.50"), Some("2500.00")));

    // The demo's offline payment (周八's last-year tuition) survives the seed running again.
    local::seed::seed(&t.app, beijing_date(t.clock.now())).await.unwrap();
    let zhou = t.app.store.list_fee_items(&StudentNo::parse("2021010105").unwrap()).await.unwrap();
    let tuition = zhou.iter().find(|i| i.item_id.as_str() == "TUITION" && i.academic_year.to_string() == last).unwrap();
    assert_eq!((tuition.paid, tuition.outstanding()), (Fen::new(260_000), Fen::ZERO));
}

/// Writes an announcement item as an operator does in the DynamoDB console.
async fn console_put(t: &TestApp, id: &str, attrs: &[(&str, AttributeValue)]) {
    let mut req = t
        .app
        .store
        .client()
        .put_item()
        .table_name(&t.table)
        .item("pk", AttributeValue::S("ANNOUNCEMENTS".into()))
        .item("sk", AttributeValue::S(format!("ANN#{id}")));
    for (k, v) in attrs {
        req = req.item(*k, v.clone());
    }
    req.send().await.unwrap();
}

fn text(s: &str) -> AttributeValue {
    AttributeValue::S(s.into())
}

#[tokio::test]
async fn announcements_show_inside_their_window_only() {
    let t = spawn().await;
    let anyone = Client::new();
    let ids = |v: &Value| v["announcements"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let cur = local::seed::current_academic_year(beijing_date(t.clock.now()));
    // The demo's: the important one first; the expired maintenance notice is not shown.
    let seeded = get_json(&t, &anyone, "/api/announcements").await;
    assert_eq!(ids(&seeded), ["payment-notes".to_owned(), format!("tuition-{cur}")]);
    assert_eq!(
        (seeded["announcements"][0]["important"].as_bool(), seeded["announcements"][1]["important"].as_bool()),
        (Some(true), Some(false))
    );
    assert!(seeded["announcements"][0]["body"].as_str().unwrap().contains("甘肃省财政厅"));

    // Operators' items, times typed in Beijing time: one from an hour on, one until an hour on.
    let at = |d: Duration| (t.clock.now() + d).with_timezone(&beijing()).format("%Y-%m-%d %H:%M").to_string();
    console_put(&t, "soon", &[("title", text("下周起开放缴费")), ("body", text("正文")), ("publish_at", text(&at(Duration::hours(1))))])
        .await;
    console_put(
        &t,
        "ending",
        &[
            ("title", text("今日截止")),
            ("body", text("正文")),
            ("publish_at", text(&at(-Duration::days(3)))),
            ("expire_at", text(&at(Duration::hours(1)))),
            ("important", AttributeValue::Bool(true)),
        ],
    )
    .await;
    // Mistyped items (no title; a time nobody can read) are left out, not fatal.
    console_put(&t, "broken", &[("body", text("正文")), ("publish_at", text(&at(-Duration::days(1))))]).await;
    console_put(&t, "bad-time", &[("title", text("t")), ("body", text("正文")), ("publish_at", text("next monday"))]).await;

    let now = get_json(&t, &anyone, "/api/announcements").await;
    assert_eq!(ids(&now), ["payment-notes".to_owned(), "ending".into(), format!("tuition-{cur}")], "important first, newest first");
    let ending = &now["announcements"][1];
    assert_eq!((ending["title"].as_str(), ending["important"].as_bool()), (Some("今日截止"), Some(true)));
    assert!(ending["expires_at"].as_str().unwrap().ends_with('Z'));

    // Two hours on: "soon" is published, "ending" has expired.
    t.clock.advance(2 * 3600);
    let later = get_json(&t, &anyone, "/api/announcements").await;
    assert_eq!(ids(&later), ["payment-notes".to_owned(), "soon".into(), format!("tuition-{cur}")]);
    // Public: a session is neither needed nor a problem.
    let c = zhang(&t).await;
    assert_eq!(ids(&get_json(&t, &c, "/api/announcements").await), ids(&later));
}

#[tokio::test]
async fn enrolment_is_the_students_own_and_read_only() {
    let t = spawn().await;
    let c = zhang(&t).await;
    let e = get_json(&t, &c, "/api/enrolment").await;
    assert_eq!(
        e,
        json!({"student_no": ZHANG, "admission_year": 2021, "level": "专升本", "major": "土木工程", "study_mode": "函授", "study_centre": "兰州理工大学继续教育学院（本部）"})
    );
    let r = c.put(t.url("/api/enrolment")).json(&json!({"major": "会计学"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "no way to change it");
    assert_eq!(get_json(&t, &c, "/api/enrolment").await["major"], "土木工程");
    // 赵六 (an "other" user) has no enrolment record.
    let z = browser();
    t.login_ready(&z, "U0001", "赵六", "Campus2026d").await;
    let (status, code, _) = error_code(t.get(&z, "/api/enrolment").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NOT_FOUND"));
    // No session, or the initial password still in use: nothing.
    let (status, code, _) = error_code(t.get(&Client::new(), "/api/enrolment").await).await;
    assert_eq!((status, code.as_str()), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"));
    let w = browser();
    assert_eq!(t.login(&w, "2021010103", "11227895").await.status(), StatusCode::OK);
    for path in ["/api/enrolment", "/api/transactions", "/api/paid", "/api/paid/XF261126LUTAU000001"] {
        let (status, code, _) = error_code(t.get(&w, path).await).await;
        assert_eq!((status, code.as_str()), (StatusCode::FORBIDDEN, "PASSWORD_CHANGE_REQUIRED"), "{path}");
    }
}
