//! E-receipts and their SMS, over HTTP against moto: exactly one receipt and one SMS per paid
//! order however often (and however concurrently) the gateway notifies, even when SNS refuses
//! a send once; the SMS link works while valid, and forged, altered or expired links show a
//! page with no data; a duplicate payment gets no receipt; a receipt is its payer's only; an
//! SMS the provider keeps refusing, or whose sender vanished mid-send, is given up, never sent twice.
//!
//! Each test sends its SMS to a phone number of its own (moto keeps one SMS list for all tables).

use async_trait::async_trait;
use chrono::Utc;
use integration_tests::notifications::{alipay_paid, wechat_paid};
use integration_tests::*;
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use shared::clock::Clock;
use shared::domain::{Fen, LinkToken, Phone};
use shared::service::outbox::{OutboxReport, SMS_MAX_TRIES};
use shared::sms::{SmsError, SmsSender};
use shared::store::{OutboxStore, SmsState};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The real SMS sender (SNS at moto) behind a gate that refuses the first `refuse` sends, as SNS
/// does when throttled, and counts every send asked of it.
struct Refusing {
    inner: Arc<dyn SmsSender>,
    refuse: usize,
    asked: Arc<AtomicUsize>,
}

#[async_trait]
impl SmsSender for Refusing {
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError> {
        // Only receipt SMS (the first login's code and notice pass straight through).
        if !text.contains("电子票据") {
            return self.inner.send(to, text).await;
        }
        if self.asked.fetch_add(1, Ordering::SeqCst) < self.refuse {
            return Err(SmsError("Throttling".into()));
        }
        self.inner.send(to, text).await
    }
}

/// A platform whose SMS sender refuses the first `refuse` sends; and the count of sends asked.
async fn spawn_refusing(refuse: usize) -> (TestApp, Arc<AtomicUsize>) {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&asked);
    let t =
        spawn_with(move |app| app.sms = Some(Arc::new(Refusing { inner: app.sms.clone().expect("SMS"), refuse, asked: counter }))).await;
    (t, asked)
}

fn year(back: u16) -> String {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now())) - back;
    format!("{y}-{}", y + 1)
}

/// A mainland mobile number no other test uses.
fn own_phone() -> String {
    let n = u64::from_str_radix(&shared::auth::random_id()[..12], 16).unwrap() % 100_000_000;
    format!("139{n:08}")
}

/// 张三, logged in and past the forced password change.
async fn zhang(t: &TestApp) -> Client {
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    c
}

/// A new order of 张三's for one item (`back` academic years ago), its receipt SMS going to
/// `phone`: (order number, total).
async fn order(t: &TestApp, c: &Client, back: u16, item: &str, phone: &str) -> (String, Fen) {
    let r = t.post(c, "/api/orders", json!({"items": [{"academic_year": year(back), "item_id": item}], "phone": phone})).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let o: Value = r.json().await.unwrap();
    (o["order_no"].as_str().unwrap().to_owned(), Fen::parse_yuan(o["total"].as_str().unwrap()).unwrap())
}

/// Starts an attempt on `channel` (a PC QR code); its out-trade-no.
async fn start(t: &TestApp, c: &Client, no: &str, channel: &str) -> String {
    let pay: Value = t.post(c, &format!("/api/orders/{no}/pay"), json!({"channel": channel, "device": "pc"})).await.json().await.unwrap();
    pay["out_trade_no"].as_str().unwrap_or_else(|| panic!("no attempt: {pay}")).to_owned()
}

/// Posts Alipay's paid notification for the attempt, as the gateway does; its answer.
async fn notify_alipay(t: &TestApp, otn: &str, total: Fen) -> String {
    let body = alipay_paid(local::payments::ALIPAY_APP_ID, otn, total, Utc::now());
    let r = Client::new()
        .post(t.url("/api/notify/alipay"))
        .header("content-type", "application/x-www-form-urlencoded; charset=utf-8")
        .body(body)
        .send()
        .await
        .unwrap();
    r.text().await.unwrap()
}

/// The SMS moto recorded for `phone` (11 digits).
async fn sms(t: &TestApp, phone: &str) -> Vec<String> {
    t.sms_sent_to(&format!("+86{phone}")).await
}

/// The text of an SMS before its link, and the link's path on this platform.
fn split_link<'a>(t: &TestApp, msg: &'a str) -> (&'a str, &'a str) {
    let at = msg.find("http").unwrap_or_else(|| panic!("no link in {msg:?}"));
    let (text, link) = msg.split_at(at);
    (text, link.strip_prefix(t.base.as_str()).unwrap_or_else(|| panic!("{link} is not on this platform ({})", t.base)))
}

/// GET of a page: status, headers' Cache-Control, body.
async fn page(c: &Client, url: String) -> (StatusCode, Option<String>, String) {
    let r = c.get(url).send().await.unwrap();
    let status = r.status();
    let cache = r.headers().get("cache-control").map(|v| v.to_str().unwrap().to_owned());
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "an HTML page");
    (status, cache, r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicated_notifications_and_one_refused_send_make_exactly_one_sms_per_paid_order() {
    let (t, asked) = spawn_refusing(1).await;
    // The back-off below is measured on this clock: on a slow machine forty notifications may
    // take longer than its 30 s, so time moves only when the test says.
    t.clock.freeze();
    let c = zhang(&t).await;
    let phone = own_phone();
    let (a, a_total) = order(&t, &c, 0, "EXAM", &phone).await;
    let (b, b_total) = order(&t, &c, 1, "BOOKS", &phone).await;
    let (a_otn, b_otn) = (start(&t, &c, &a, "alipay").await, start(&t, &c, &b, "alipay").await);

    // Twenty copies of each order's notification, all at once: each acknowledged.
    let tasks: Vec<_> = (0..20)
        .flat_map(|_| [(a_otn.clone(), a_total), (b_otn.clone(), b_total)])
        .map(|(otn, total)| {
            let (url, body) = (t.url("/api/notify/alipay"), alipay_paid(local::payments::ALIPAY_APP_ID, &otn, total, Utc::now()));
            tokio::spawn(async move {
                Client::new()
                    .post(url)
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            })
        })
        .collect();
    for r in futures::future::join_all(tasks).await {
        assert_eq!(r.unwrap(), "success");
    }
    // Each paid order's SMS was tried once (by the outbox function, off the table's stream);
    // the first try SNS refused waits for the sweeper.
    t.stream.drained().await;
    assert_eq!(asked.load(Ordering::SeqCst), 2, "one send per paid order, whatever the copies");
    assert_eq!(sms(&t, &phone).await.len(), 1);
    // Later copies change nothing; the sweeper leaves the refused one alone until its back-off is over.
    assert_eq!(notify_alipay(&t, &a_otn, a_total).await, "success");
    assert_eq!(notify_alipay(&t, &b_otn, b_total).await, "success");
    assert_eq!(t.app.sweep().await.unwrap().outbox, OutboxReport::default());
    assert_eq!(sms(&t, &phone).await.len(), 1);

    t.clock.advance(60);
    let report = t.app.sweep().await.unwrap();
    assert_eq!(report.outbox, OutboxReport { sms_sent: 1, sms_retrying: 0, sms_failed: 0 }, "{report:?}");
    t.clock.advance(600);
    assert_eq!(t.app.sweep().await.unwrap().outbox, OutboxReport::default(), "nothing left to send");
    assert_eq!(asked.load(Ordering::SeqCst), 3);

    // Exactly one SMS per paid order, each a short text and a working link to its receipt.
    let messages = sms(&t, &phone).await;
    assert_eq!(messages.len(), 2, "{messages:?}");
    for (no, total) in [(&a, "120.00"), (&b, "420.50")] {
        let mine: Vec<&String> = messages.iter().filter(|m| m.contains(no.as_str())).collect();
        assert_eq!(mine.len(), 1, "one SMS for {no}: {messages:?}");
        let (text, link) = split_link(&t, mine[0]);
        assert!(text.chars().count() <= 70, "{text:?} fits one SMS segment before its link");
        assert!(text.contains(&format!("您已缴费{total}元")), "{text}");
        let (status, _, html) = page(&Client::new(), t.url(link)).await;
        assert_eq!(status, StatusCode::OK, "{link}");
        assert!(html.contains(no.as_str()) && html.contains("甘肃省财政厅"), "{html}");
    }
}

#[tokio::test]
async fn the_link_works_while_valid_and_forged_altered_or_expired_links_show_no_data() {
    let t = spawn().await;
    let c = zhang(&t).await;
    let phone = own_phone();
    let (no, total) = order(&t, &c, 0, "EXAM", &phone).await;
    let otn = start(&t, &c, &no, "alipay").await;
    assert_eq!(notify_alipay(&t, &otn, total).await, "success");
    let messages = sms(&t, &phone).await;
    assert_eq!(messages.len(), 1);
    let (_, link) = split_link(&t, &messages[0]);
    let token = link.strip_prefix("/r/").unwrap();
    let receipts: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    let check_code = receipts["receipts"][0]["check_code"].as_str().unwrap().to_owned();

    // Valid: the receipt, without logging in, never cached.
    let anyone = Client::new();
    let (status, cache, html) = page(&anyone, t.url(link)).await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("no-store")));
    for shown in
        [no.as_str(), "张三", "2021010101", "人民币壹佰贰拾元整", "¥120.00", "甘肃省财政厅", "考试费", "支付宝", check_code.as_str()]
    {
        assert!(html.contains(shown), "the receipt shows {shown}");
    }

    // Forged (well-formed, never issued), altered (one character changed), or not a token at all.
    let mut wrong = vec![LinkToken::generate().expose().to_owned(), "not-a-token".to_owned(), format!("{token}A"), token[1..].to_owned()];
    for i in [0, 10, 21] {
        let mut t2: Vec<char> = token.chars().collect();
        t2[i] = if t2[i] == 'A' { 'B' } else { 'A' };
        wrong.push(t2.into_iter().collect());
    }
    let nothing_of_it =
        |html: &str| [no.as_str(), "张三", "2021010101", "壹佰贰拾", "120.00", check_code.as_str()].iter().all(|d| !html.contains(d));
    for w in &wrong {
        let (status, cache, html) = page(&anyone, t.url(&format!("/r/{w}"))).await;
        assert_eq!((status, cache.as_deref()), (StatusCode::NOT_FOUND, Some("no-store")), "/r/{w}");
        assert!(html.contains("链接无效") && html.contains("票据查询"), "a clear page: {html}");
        assert!(nothing_of_it(&html), "no receipt data for /r/{w}");
    }

    // Valid to the end of its days, then expired.
    let days = t.app.settings.receipt_link_days;
    t.clock.advance(days * 86_400 - 60);
    assert_eq!(page(&anyone, t.url(link)).await.0, StatusCode::OK, "still valid a minute before expiry");
    t.clock.advance(120);
    let (status, _, html) = page(&anyone, t.url(link)).await;
    assert_eq!(status, StatusCode::GONE);
    assert!(html.contains("链接已过期") && html.contains("票据查询"), "a clear page: {html}");
    assert!(nothing_of_it(&html), "no receipt data once expired");
}

#[tokio::test]
async fn the_receipt_page_shows_capitals_and_payee_to_its_payer_only() {
    let t = spawn().await;
    let c = zhang(&t).await;
    let phone = own_phone();
    let (no, total) = order(&t, &c, 1, "BOOKS", &phone).await;
    assert_eq!(total, Fen::new(42_050));
    let (unpaid, _) = order(&t, &c, 0, "EXAM", &phone).await;
    let otn = start(&t, &c, &no, "alipay").await;
    assert_eq!(notify_alipay(&t, &otn, total).await, "success");

    // 票据查询 (JSON): the one receipt, every field.
    let list: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    let r = &list["receipts"].as_array().unwrap()[..];
    assert_eq!(r.len(), 1, "{list}");
    let r = &r[0];
    assert_eq!(r["receipt_no"], format!("PJ{no}"));
    assert_eq!(
        (r["order_no"].as_str(), r["student_no"].as_str(), r["payer_name"].as_str()),
        (Some(no.as_str()), Some("2021010101"), Some("张三"))
    );
    assert_eq!(
        (r["total"].as_str(), r["total_capitals"].as_str(), r["payee"].as_str()),
        (Some("420.50"), Some("肆佰贰拾元零伍角整"), Some("甘肃省财政厅"))
    );
    assert_eq!(
        (r["channel"].as_str(), r["channel_label"].as_str(), r["out_trade_no"].as_str()),
        (Some("alipay"), Some("支付宝"), Some(otn.as_str()))
    );
    assert_eq!(r["gateway_trade_no"], "2026112622001400000000000077", "the gateway's trade number");
    assert_eq!(
        r["lines"],
        json!([{"academic_year": year(1), "item_id": "BOOKS", "name": "教材费", "fee_type": "其他", "amount": "420.50"}])
    );
    assert_eq!(r["check_code"].as_str().unwrap().len(), 12);
    assert_eq!(r["url"], format!("/receipts/{no}"));

    // The printable page, for its payer.
    let (status, cache, html) = page(&c, t.url(&format!("/receipts/{no}"))).await;
    assert_eq!((status, cache.as_deref()), (StatusCode::OK, Some("no-store")));
    let paid_at = chrono::DateTime::parse_from_rfc3339(r["paid_at"].as_str().unwrap()).unwrap().with_timezone(&shared::clock::beijing());
    for shown in [
        format!("PJ{no}"),
        r["check_code"].as_str().unwrap().to_owned(),
        "人民币肆佰贰拾元零伍角整".into(),
        "¥420.50".into(),
        "甘肃省财政厅".into(),
        "张三".into(),
        "2021010101".into(),
        "教材费".into(),
        year(1),
        "支付宝".into(),
        "2026112622001400000000000077".into(),
        paid_at.format("%Y-%m-%d %H:%M:%S（北京时间）").to_string(),
        "@media print".into(),
    ] {
        assert!(html.contains(&shown), "the receipt page shows {shown}");
    }

    // Not an order of theirs, not paid, not logged in: a page saying so, with no receipt data.
    let li = browser();
    t.login_ready(&li, "2021010102", "0708456X", "Campus2026b").await;
    let (status, _, html) = page(&li, t.url(&format!("/receipts/{no}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("未找到电子票据") && !html.contains("张三") && !html.contains("420.50"), "{html}");
    assert_eq!(t.get(&li, "/api/receipts").await.json::<Value>().await.unwrap(), json!({"receipts": []}));
    assert_eq!(page(&c, t.url(&format!("/receipts/{unpaid}"))).await.0, StatusCode::NOT_FOUND);
    assert_eq!(page(&c, t.url("/receipts/NOT-AN-ORDER")).await.0, StatusCode::NOT_FOUND);
    let (status, _, html) = page(&Client::new(), t.url(&format!("/receipts/{no}"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("请先登录") && !html.contains("张三"), "{html}");
    assert_eq!(t.get(&Client::new(), "/api/receipts").await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_duplicate_payment_gets_no_receipt_and_no_sms() {
    let t = spawn().await;
    let c = zhang(&t).await;
    let phone = own_phone();
    let (no, total) = order(&t, &c, 0, "EXAM", &phone).await;
    // Alipay first, then WeChat Pay (the Alipay attempt is closed at its gateway), paid there …
    let ali = start(&t, &c, &no, "alipay").await;
    let wx = start(&t, &c, &no, "wechat").await;
    let n = wechat_paid(local::payments::WECHAT_MCHID, &wx, total, Utc::now());
    let mut req = Client::new().post(t.url("/api/notify/wechat")).body(n.body.clone());
    for (k, v) in n.headers.iter() {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), StatusCode::NO_CONTENT);
    // … and on Alipay too, before the close reached the student: kept as 重复支付待退款.
    assert_eq!(notify_alipay(&t, &ali, total).await, "success");
    let o: Value = t.get(&c, &format!("/api/orders/{no}")).await.json().await.unwrap();
    let states: Vec<&str> = o["attempts"].as_array().unwrap().iter().map(|a| a["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["duplicate_paid", "paid"], "{o}");

    // One receipt, for the payment that paid the order; one SMS.
    let list: Value = t.get(&c, "/api/receipts").await.json().await.unwrap();
    let receipts = list["receipts"].as_array().unwrap();
    assert_eq!(receipts.len(), 1, "{list}");
    assert_eq!((receipts[0]["out_trade_no"].as_str(), receipts[0]["channel"].as_str()), (Some(wx.as_str()), Some("wechat")));
    t.clock.advance(3600);
    t.app.sweep().await.unwrap();
    let messages = sms(&t, &phone).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(messages[0].contains(&no));
}

#[tokio::test]
async fn an_sms_refused_every_time_is_given_up_after_the_last_try() {
    let (t, asked) = spawn_refusing(usize::MAX).await;
    let c = zhang(&t).await;
    let phone = own_phone();
    let (no, total) = order(&t, &c, 0, "EXAM", &phone).await;
    let otn = start(&t, &c, &no, "alipay").await;
    assert_eq!(notify_alipay(&t, &otn, total).await, "success", "the payment stands whatever happens to its SMS");
    // The first try is the outbox function's, off the table's stream.
    t.stream.drained().await;
    assert_eq!(asked.load(Ordering::SeqCst), 1);
    let id = format!("PJ{no}");
    let mut sweeps = Vec::new();
    for _ in 0..8 {
        t.clock.advance(300);
        sweeps.push(t.app.sweep().await.unwrap().outbox);
    }
    let retried = OutboxReport { sms_retrying: 1, ..OutboxReport::default() };
    let failed = OutboxReport { sms_failed: 1, ..OutboxReport::default() };
    assert_eq!(sweeps[..4], [retried, retried, retried, failed], "tries 2-5 by the sweeper, then given up");
    assert!(sweeps[4..].iter().all(|r| *r == OutboxReport::default()), "{sweeps:?}");
    assert_eq!(asked.load(Ordering::SeqCst), SMS_MAX_TRIES as usize);
    let m = t.app.store.get_sms(&id).await.unwrap().unwrap();
    assert_eq!((m.state, m.tries, m.last_error.as_deref()), (SmsState::Failed, SMS_MAX_TRIES, Some("Throttling")));
    assert_eq!(m.text, None, "a given-up message keeps no text: it held the receipt's link");
    assert!(sms(&t, &phone).await.is_empty());
    // The receipt itself is there (logged in again: the sweeps took 40 minutes).
    assert_eq!(t.login(&c, "2021010101", "Campus2026a").await.status(), StatusCode::OK);
    assert_eq!(page(&c, t.url(&format!("/receipts/{no}"))).await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_send_whose_sender_vanished_is_given_up_not_repeated() {
    let (t, asked) = spawn_refusing(1).await;
    let c = zhang(&t).await;
    let phone = own_phone();
    let (no, total) = order(&t, &c, 0, "EXAM", &phone).await;
    let otn = start(&t, &c, &no, "alipay").await;
    assert_eq!(notify_alipay(&t, &otn, total).await, "success");
    t.stream.drained().await;
    let id = format!("PJ{no}");
    // Due again after its back-off; a sender claims it and is never heard of again.
    t.clock.advance(60);
    let now = t.clock.now();
    let claimed = t.app.store.claim_sms(&id, now, now + chrono::Duration::seconds(60)).await.unwrap().expect("claimable");
    assert_eq!((claimed.state, claimed.tries), (SmsState::Sending, 2));
    assert!(t.app.store.claim_sms(&id, now, now + chrono::Duration::seconds(60)).await.unwrap().is_none(), "one claimant only");
    // While the claim lasts the sweeper leaves it; after, it gives up rather than send it twice.
    assert_eq!(t.app.sweep().await.unwrap().outbox, OutboxReport::default());
    t.clock.advance(120);
    assert_eq!(t.app.sweep().await.unwrap().outbox, OutboxReport { sms_failed: 1, ..OutboxReport::default() });
    let m = t.app.store.get_sms(&id).await.unwrap().unwrap();
    assert_eq!((m.state, m.text), (SmsState::Failed, None), "given up, and its link gone with its text");
    t.clock.advance(600);
    assert_eq!(t.app.sweep().await.unwrap().outbox, OutboxReport::default());
    assert_eq!(asked.load(Ordering::SeqCst), 1, "only the refused first try reached the sender");
    assert!(sms(&t, &phone).await.is_empty());
}

/// The blocks between `open` and `close` in `html` (inline style sheets or scripts).
fn blocks<'a>(html: &'a str, open: &str, close: &str) -> Vec<&'a str> {
    html.split(open).skip(1).map(|rest| rest.split(close).next().unwrap()).collect()
}

/// Before: the receipt page's policy allowed `'unsafe-inline'` styles and scripts, so markup
/// that got into a page (a name, a fee item) could run. Now the policy names its one style
/// sheet and its one script by hash, the page has no inline handlers or style attributes, and
/// the print button still works (browser: receipts.test.mjs).
#[tokio::test]
async fn the_receipt_page_runs_only_its_own_style_and_script() {
    use base64::Engine as _;
    use sha2::Digest as _;
    let t = spawn().await;
    let c = zhang(&t).await;
    let (no, total) = order(&t, &c, 1, "BOOKS", &own_phone()).await;
    let otn = start(&t, &c, &no, "alipay").await;
    assert_eq!(notify_alipay(&t, &otn, total).await, "success");
    let r = c.get(t.url(&format!("/receipts/{no}"))).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let html = r.text().await.unwrap();
    assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-hashes"), "{csp}");
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    let hash = |b: &str| format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(b.as_bytes())));
    let (styles, scripts) = (blocks(&html, "<style>", "</style>"), blocks(&html, "<script>", "</script>"));
    assert_eq!((styles.len(), scripts.len()), (1, 1), "one style sheet and one script");
    for b in styles.iter().chain(&scripts) {
        assert!(csp.contains(&hash(b)), "an inline block the policy does not name: {csp}");
    }
    for attribute in [" style=", " onclick=", " onload=", "javascript:"] {
        assert!(!html.contains(attribute), "{attribute} would need 'unsafe-inline'");
    }
}
