//! The payment transition against moto: exactly-once under concurrent duplicates, fee items
//! credited, locks released, a second channel's payment kept as a duplicate awaiting refund,
//! and mismatches refused with nothing changed.

use chrono::Utc;
use integration_tests::*;
use shared::domain::*;
use shared::service::Authed;
use shared::service::orders::Pick;
use shared::service::payments::PaymentRejected;
use shared::store::{FeeStore, OrderStore, PaymentStore, ReceiptStore};
use std::sync::Arc;

/// An open order for 张三's current tuition and exam fee, and one Created attempt per channel given.
async fn order_with_attempts(t: &TestApp, channels: &[Channel]) -> (Order, Vec<Attempt>) {
    order_with_attempts_by(t, &authed("2021010101"), channels).await
}

/// The same, made in the session `who`.
async fn order_with_attempts_by(t: &TestApp, who: &Authed, channels: &[Channel]) -> (Order, Vec<Attempt>) {
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let year = format!("{y}-{}", y + 1);
    let picks = [Pick { academic_year: year.clone(), item_id: "TUITION".into() }, Pick { academic_year: year, item_id: "EXAM".into() }];
    let (view, _) = t.app.create_or_reuse_order(who, &picks, None).await.unwrap();
    let no = OrderNo::parse(&view.order_no).unwrap();
    let mut attempts = Vec::new();
    for (i, ch) in channels.iter().enumerate() {
        let order = t.app.store.get_order(&no).await.unwrap().unwrap();
        let a = Attempt {
            out_trade_no: OutTradeNo::new(&no, *ch, i as u8 + 1),
            order_no: no,
            student_no: who.student_no.clone(),
            channel: *ch,
            amount: order.total,
            state: AttemptState::Created,
            created_at: Utc::now(),
            pay_by: order.expires_at - chrono::Duration::minutes(5),
            gateway_trade_no: None,
            paid_at: None,
        };
        t.app.store.create_attempt(&order, &a, &integration_tests::by_student(&order.student_no)).await.unwrap();
        attempts.push(a);
    }
    (t.app.store.get_order(&no).await.unwrap().unwrap(), attempts)
}

fn confirmed(a: &Attempt, trade: &str) -> ConfirmedPayment {
    ConfirmedPayment {
        out_trade_no: a.out_trade_no.clone(),
        channel: a.channel,
        gateway_trade_no: trade.into(),
        amount: a.amount,
        paid_at: Utc::now(),
    }
}

async fn paid_of(t: &TestApp, item: &str) -> Fen {
    let items = t.app.store.list_fee_items(&StudentNo::parse("2021010101").unwrap()).await.unwrap();
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    items.iter().find(|i| i.item_id.as_str() == item && i.academic_year.start_year() == y).unwrap().paid
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_copies_of_one_payment_make_one_transition() {
    let t = spawn().await;
    let (order, attempts) = order_with_attempts(&t, &[Channel::Alipay]).await;
    assert_eq!(order.total, Fen::new(392_000));
    let p = confirmed(&attempts[0], "2026112622001400000000000001");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (app, p) = (Arc::clone(&t.app), p.clone());
            tokio::spawn(async move { app.record_confirmed_payment(&p, &Actor::Gateway(p.channel)).await.unwrap() })
        })
        .collect();
    let outcomes: Vec<PaymentOutcome> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes.iter().filter(|o| **o == PaymentOutcome::OrderPaid).count(), 1, "{outcomes:?}");
    assert!(outcomes.iter().all(|o| matches!(o, PaymentOutcome::OrderPaid | PaymentOutcome::AlreadyRecorded)));

    let order = t.app.store.get_order(&order.order_no).await.unwrap().unwrap();
    assert_eq!(order.state, OrderState::Paid);
    let a = t.app.store.get_attempt(&attempts[0].out_trade_no).await.unwrap().unwrap();
    assert_eq!((a.state, a.gateway_trade_no.as_deref()), (AttemptState::Paid, Some("2026112622001400000000000001")));
    // Credited once: 3800.00 tuition and 120.00 exam fee were owed in full.
    assert_eq!(paid_of(&t, "TUITION").await, Fen::new(380_000));
    assert_eq!(paid_of(&t, "EXAM").await, Fen::new(12_000));
    // Locks released: the (now paid) items are not held by any open order.
    let y = local::seed::current_academic_year(shared::clock::beijing_date(Utc::now()));
    let key = format!("{y}-{}#TUITION", y + 1);
    assert_eq!(t.app.store.open_order_for_item(&order.student_no, &key).await.unwrap(), None);
    // One bank-transaction record.
    let txns = t
        .app
        .store
        .client()
        .query()
        .table_name(&t.table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :t)")
        .expression_attribute_values(":pk", aws_sdk_dynamodb::types::AttributeValue::S("STU#2021010101".into()))
        .expression_attribute_values(":t", aws_sdk_dynamodb::types::AttributeValue::S("TXN#".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(txns.items().len(), 1);
}

#[tokio::test]
async fn paying_again_on_another_channel_is_kept_as_a_duplicate_awaiting_refund() {
    let t = spawn().await;
    let (order, attempts) = order_with_attempts(&t, &[Channel::Alipay, Channel::Wechat]).await;
    assert_eq!(order.attempts, 2);
    assert_eq!(
        t.app.record_confirmed_payment(&confirmed(&attempts[1], "4200000001"), &Actor::Sweeper).await.unwrap(),
        PaymentOutcome::OrderPaid
    );
    assert_eq!(
        t.app.record_confirmed_payment(&confirmed(&attempts[0], "2026112622001"), &Actor::Sweeper).await.unwrap(),
        PaymentOutcome::DuplicatePaid
    );
    assert_eq!(
        t.app.record_confirmed_payment(&confirmed(&attempts[0], "2026112622001"), &Actor::Sweeper).await.unwrap(),
        PaymentOutcome::AlreadyRecorded
    );
    let dup = t.app.store.get_attempt(&attempts[0].out_trade_no).await.unwrap().unwrap();
    assert_eq!(dup.state, AttemptState::DuplicatePaid);
    assert_eq!(dup.state.label(), "重复支付待退款");
    // The fee items were credited once, by the first payment only.
    assert_eq!(paid_of(&t, "TUITION").await, Fen::new(380_000));
    let order = t.app.store.get_order(&order.order_no).await.unwrap().unwrap();
    assert_eq!(order.state, OrderState::Paid, "terminal");
}

#[tokio::test]
async fn mismatched_payments_change_nothing() {
    let t = spawn().await;
    let (order, attempts) = order_with_attempts(&t, &[Channel::Alipay]).await;
    let mut wrong_amount = confirmed(&attempts[0], "T1");
    wrong_amount.amount = Fen::new(1);
    assert!(matches!(t.app.record_confirmed_payment(&wrong_amount, &Actor::Sweeper).await, Err(PaymentRejected::AmountMismatch { .. })));
    let mut wrong_channel = confirmed(&attempts[0], "T1");
    wrong_channel.channel = Channel::Unionpay;
    assert!(matches!(t.app.record_confirmed_payment(&wrong_channel, &Actor::Sweeper).await, Err(PaymentRejected::ChannelMismatch)));
    let mut unknown = confirmed(&attempts[0], "T1");
    unknown.out_trade_no = OutTradeNo::new(&order.order_no, Channel::Alipay, 9);
    assert!(matches!(t.app.record_confirmed_payment(&unknown, &Actor::Sweeper).await, Err(PaymentRejected::UnknownAttempt)));
    assert_eq!(t.app.store.get_order(&order.order_no).await.unwrap().unwrap().state, OrderState::Open);
    assert_eq!(paid_of(&t, "TUITION").await, Fen::ZERO);
}

/// The receipt names the payer as the order does — the name of the session it was made in —
/// without reading the profile; an order made before orders kept the name still gets the
/// profile's.
#[tokio::test]
async fn the_receipt_names_the_payer_the_order_was_made_by() {
    let t = spawn().await;
    let zhang = StudentNo::parse("2021010101").unwrap();
    // A session that knows its student as 张三丰 (the profile says 张三).
    let named = Authed { name: Some(PersonName::parse("张三丰").unwrap()), ..authed("2021010101") };
    let (order, attempts) = order_with_attempts_by(&t, &named, &[Channel::Alipay]).await;
    assert_eq!(order.payer_name.as_ref().map(PersonName::as_str), Some("张三丰"));
    t.app.record_confirmed_payment(&confirmed(&attempts[0], "T-NAMED"), &Actor::Sweeper).await.unwrap();
    let receipt = t.app.store.get_receipt(&zhang, &order.order_no).await.unwrap().expect("issued");
    assert_eq!(receipt.payer_name.as_str(), "张三丰");

    // No name on the order: the profile's.
    let t = spawn().await;
    let (order, attempts) = order_with_attempts(&t, &[Channel::Wechat]).await;
    assert_eq!(order.payer_name, None);
    t.app.record_confirmed_payment(&confirmed(&attempts[0], "T-PROFILE"), &Actor::Sweeper).await.unwrap();
    let receipt = t.app.store.get_receipt(&zhang, &order.order_no).await.unwrap().expect("issued");
    assert_eq!(receipt.payer_name.as_str(), "张三");
}
