//! Property tests of the order, payment, refund and expiry state machine: the services and the
//! domain's decisions on the in-memory store (no moto: a few hundred random histories in
//! seconds). Each history is a random run of orders, attempts, payment notifications — several
//! copies of one at once, two channels paying one order at once —, expiries racing payments and
//! refunds that succeed or fail; after every step, what a student and the finance office would
//! check must hold. The DynamoDB conditions themselves are covered by the moto integration tests.

mod common;

use common::{ITEMS, YEAR, app_and_clock, student_no};
use proptest::prelude::*;
use shared::App;
use shared::clock::ShiftedClock;
use shared::domain::*;
use shared::service::Authed;
use shared::service::orders::Pick;
use shared::store::memory::MemStore;
use shared::store::{OrderStore, OutboxStore, PaymentStore, ReceiptStore, RefundStore, StoreError};
use std::collections::HashMap;

fn who() -> Authed {
    Authed {
        student_no: student_no(),
        name: Some(PersonName::parse("李四").unwrap()),
        session_id: "prop".into(),
        must_change_password: false,
        renewed_cookie: None,
    }
}

#[derive(Debug, Clone)]
enum Step {
    /// Pick a non-empty subset of the items (bit mask) and make or reuse its order.
    Order(u8),
    /// Start an attempt on the n-th order on a channel.
    Attempt(usize, usize),
    /// `copies` copies of the n-th attempt's notification, delivered at once.
    Pay { attempt: usize, copies: usize },
    /// Two attempts' notifications at once (two channels paying one order).
    PayTwo(usize, usize),
    /// The n-th order expires: its unpaid attempts are closed at the gateway, then the order.
    Expire(usize),
    /// An expiry and a payment of the n-th attempt, at once.
    ExpireWhilePaid(usize),
    /// An operator refunds the n-th attempt; the gateway agrees or refuses.
    Refund { attempt: usize, agrees: bool },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (1u8..8).prop_map(Step::Order),
        3 => (0usize..6, 0usize..3).prop_map(|(o, c)| Step::Attempt(o, c)),
        3 => (0usize..8, 1usize..4).prop_map(|(attempt, copies)| Step::Pay { attempt, copies }),
        2 => (0usize..8, 0usize..8).prop_map(|(a, b)| Step::PayTwo(a, b)),
        1 => (0usize..6).prop_map(Step::Expire),
        1 => (0usize..8).prop_map(Step::ExpireWhilePaid),
        2 => (0usize..8, any::<bool>()).prop_map(|(attempt, agrees)| Step::Refund { attempt, agrees }),
    ]
}

/// What the run has made so far, by index.
#[derive(Default)]
struct Made {
    orders: Vec<OrderNo>,
    attempts: Vec<OutTradeNo>,
}

fn payment_of(a: &Attempt, at: chrono::DateTime<chrono::Utc>) -> ConfirmedPayment {
    ConfirmedPayment {
        out_trade_no: a.out_trade_no.clone(),
        channel: a.channel,
        gateway_trade_no: format!("T{}", a.out_trade_no),
        amount: a.amount,
        paid_at: at,
    }
}

async fn pay(app: &App<MemStore>, otn: &OutTradeNo) -> Option<PaymentOutcome> {
    let a = app.store.get_attempt(otn).await.unwrap()?;
    let p = payment_of(&a, app.clock.now());
    Some(app.record_confirmed_payment(&p, &Actor::Gateway(a.channel)).await.expect("a matching payment is recorded"))
}

/// The sweeper's expiry of one order, as the domain decides it: each live attempt closed (its
/// gateway proved it unpaid), then the order — each write conditional; a race lost is left for
/// the next sweep.
async fn expire(app: &App<MemStore>, no: &OrderNo) {
    let by = By::new(Actor::Sweeper, app.clock.now());
    let Some((o, attempts)) = app.store.order_with_attempts(no).await.unwrap() else { return };
    if let Expiry::CloseAttemptsFirst(live) = Expiry::decide(&o, &attempts, app.clock.now()) {
        for a in attempts.iter().filter(|a| live.contains(&a.out_trade_no)) {
            match app.store.close_attempt(a, &by).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => panic!("{e}"),
            }
        }
    }
    let Some((o, attempts)) = app.store.order_with_attempts(no).await.unwrap() else { return };
    if Expiry::decide(&o, &attempts, app.clock.now()) == Expiry::Close {
        match app.store.close_order(&o, &by).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => panic!("{e}"),
        }
    }
}

async fn refund(app: &App<MemStore>, otn: &OutTradeNo, agrees: bool) {
    let a = app.store.get_attempt(otn).await.unwrap().expect("made");
    let now = app.clock.now();
    let cmd = RefundCommand {
        out_trade_no: otn.clone(),
        operator: OperatorName::parse("财务处-张敏").unwrap(),
        reason: Some("重复缴费".into()),
        amount: None,
    };
    // The domain decides, as the refund function's service does; only a new refund goes on.
    let Ok(RefundStart::Request(r)) = RefundStart::decide(&a, &cmd, now, "prop") else { return };
    let by = By::new(Actor::Operator(r.operator.clone()), now);
    app.store.begin_refund(&a, &r, &by).await.expect("nothing else moves the attempt here");
    let outcome = if agrees {
        RefundOutcome::Succeeded { gateway_refund_no: Some("RF1".into()), at: None }
    } else {
        RefundOutcome::Refused { code: "ACQ.TRADE_HAS_CLOSE".into(), message: "交易已关闭".into() }
    };
    match RefundSettlement::decide(&r, &outcome) {
        RefundSettlement::Succeeded { gateway_refund_no, gives_items_back } => {
            let order = if gives_items_back { Some(app.store.get_order(&a.order_no).await.unwrap().unwrap()) } else { None };
            app.store.refund_succeeded(&r, order.as_ref(), gateway_refund_no.as_deref(), &by, None).await.expect("settles once");
        }
        RefundSettlement::Failed { message } => app.store.refund_failed(&r, &message, &by).await.expect("settles once"),
        RefundSettlement::StillRequested | RefundSettlement::NeedsOperator { .. } => {
            unreachable!("a refund just requested is settled by a final outcome")
        }
    }
}

/// How far `Expire` moves the clock: past every order made so far.
const PAST_EXPIRY_SECS: i64 = 2 * 3600 + 1;

async fn run(app: &App<MemStore>, clock: &ShiftedClock, made: &mut Made, s: &Step) {
    let nth = |v: &[OutTradeNo], i: usize| v.get(i % v.len().max(1)).cloned();
    match *s {
        Step::Order(mask) => {
            let picks: Vec<Pick> = ITEMS
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, (id, _))| Pick { academic_year: YEAR.into(), item_id: (*id).into() })
                .collect();
            // Refused (an item paid, or held by another open order) is a fine outcome here.
            if let Ok((view, _)) = app.create_or_reuse_order(&who(), &picks, None).await {
                let no = OrderNo::parse(&view.order_no).unwrap();
                if !made.orders.contains(&no) {
                    made.orders.push(no);
                }
            }
        }
        Step::Attempt(i, channel) => {
            let Some(no) = made.orders.get(i % made.orders.len().max(1)) else { return };
            let o = app.store.get_order(no).await.unwrap().unwrap();
            if o.state != OrderState::Open || o.attempts >= 99 {
                return;
            }
            let now = app.clock.now();
            let a = Attempt {
                out_trade_no: OutTradeNo::new(&o.order_no, Channel::ALL[channel], o.attempts + 1),
                order_no: o.order_no,
                student_no: o.student_no.clone(),
                channel: Channel::ALL[channel],
                amount: o.total,
                state: AttemptState::Created,
                created_at: now,
                pay_by: o.expires_at,
                gateway_trade_no: None,
                paid_at: None,
            };
            app.store.create_attempt(&o, &a, &By::new(Actor::Student(student_no()), now)).await.unwrap();
            made.attempts.push(a.out_trade_no);
        }
        Step::Pay { attempt, copies } => {
            let Some(otn) = nth(&made.attempts, attempt) else { return };
            let outcomes = futures::future::join_all((0..copies).map(|_| pay(app, &otn))).await;
            let acted = outcomes.iter().filter(|o| **o != Some(PaymentOutcome::AlreadyRecorded)).count();
            assert!(acted <= 1, "{copies} copies of one notification acted {acted} times: {outcomes:?}");
        }
        Step::PayTwo(x, y) => {
            let (Some(a), Some(b)) = (nth(&made.attempts, x), nth(&made.attempts, y)) else { return };
            let (ra, rb) = futures::join!(pay(app, &a), pay(app, &b));
            let paid = [ra, rb].iter().filter(|o| **o == Some(PaymentOutcome::OrderPaid)).count();
            assert!(paid <= 1 || a.order_no() != b.order_no(), "one order paid twice: {ra:?} {rb:?}");
        }
        Step::Expire(i) => {
            clock.advance(PAST_EXPIRY_SECS);
            if let Some(no) = made.orders.get(i % made.orders.len().max(1)).copied() {
                expire(app, &no).await;
            }
        }
        Step::ExpireWhilePaid(i) => {
            let Some(otn) = nth(&made.attempts, i) else { return };
            let no = otn.order_no().unwrap();
            clock.advance(PAST_EXPIRY_SECS);
            futures::join!(expire(app, &no), pay(app, &otn));
        }
        Step::Refund { attempt, agrees } => {
            if let Some(otn) = nth(&made.attempts, attempt) {
                refund(app, &otn, agrees).await;
            }
        }
    }
}

/// Every order and attempt as they stand.
async fn states(app: &App<MemStore>, made: &Made) -> (HashMap<OrderNo, Order>, HashMap<OutTradeNo, Attempt>) {
    let mut orders = HashMap::new();
    for no in &made.orders {
        orders.insert(*no, app.store.get_order(no).await.unwrap().unwrap());
    }
    let mut attempts = HashMap::new();
    for otn in &made.attempts {
        attempts.insert(otn.clone(), app.store.get_attempt(otn).await.unwrap().unwrap());
    }
    (orders, attempts)
}

/// What must hold after every step.
async fn invariants(app: &App<MemStore>, made: &Made) {
    let store = &app.store;
    let (orders, attempts) = states(app, made).await;
    let receipts = store.list_receipts(&student_no()).await.unwrap();
    // An e-receipt exists exactly for each paid order, names the attempt that paid it, and its
    // SMS is queued.
    for (no, o) in &orders {
        let receipt = receipts.iter().find(|r| r.order_no == *no);
        assert_eq!(receipt.is_some(), o.state == OrderState::Paid, "order {no} is {:?}, receipt {receipt:?}", o.state);
        if let Some(r) = receipt {
            assert_eq!(r.total, o.total);
            assert_eq!(r.payee, "甘肃省财政厅");
            let payer = &attempts[&r.out_trade_no];
            assert_eq!(payer.order_no, *no);
            assert!(store.get_sms(r.receipt_no.as_str()).await.unwrap().is_some(), "receipt SMS queued");
            // The paying attempt is paid, being refunded, or refunded (and the receipt says so).
            let refunded = payer.state == AttemptState::Refunded;
            assert!(matches!(payer.state, AttemptState::Paid | AttemptState::Refunding | AttemptState::Refunded));
            assert_eq!(r.refunded_at.is_some(), refunded);
        }
        // Never two attempts paying one order: the others are duplicates.
        let paying = attempts.values().filter(|a| a.order_no == *no && a.state == AttemptState::Paid).count();
        assert!(paying <= 1, "order {no} paid by {paying} attempts");
    }
    // Each fee item is credited exactly with the orders paid and not refunded, once each.
    let mut expected: HashMap<String, (Fen, Vec<OutTradeNo>)> = HashMap::new();
    for r in receipts.iter().filter(|r| r.refunded_at.is_none()) {
        for line in &r.lines {
            let e = expected.entry(line.item_key()).or_default();
            e.0 = e.0.checked_add(line.amount).unwrap();
            e.1.push(r.out_trade_no.clone());
        }
    }
    for (key, paid, mut credited_by) in store.credits(&student_no()) {
        let (want_paid, mut want_by) = expected.remove(&key).unwrap_or_default();
        credited_by.sort();
        want_by.sort();
        assert_eq!((paid, credited_by), (want_paid, want_by), "item {key}");
        let due = ITEMS.iter().find(|(id, _)| key.ends_with(id)).unwrap().1;
        assert!(paid.get() <= due, "item {key} paid {paid} beyond its due {due}");
    }
    // One bank transaction for each attempt the gateway took money on; none for the others.
    let bank = store.bank_transactions(&student_no());
    for (otn, a) in &attempts {
        let txns: Vec<_> = bank.iter().filter(|t| &t.out_trade_no == otn).collect();
        let took_money = !matches!(a.state, AttemptState::Created | AttemptState::Closed);
        assert_eq!(txns.len(), usize::from(took_money), "attempt {otn} ({:?}) has {} bank records", a.state, txns.len());
        if let Some(t) = txns.first() {
            assert_eq!(t.amount, a.amount);
            if a.state != AttemptState::Refunding {
                assert_eq!(t.state, a.state);
            }
        }
    }
    // Each item is locked by at most one order, and only while that order is open.
    for (id, _) in ITEMS {
        let key = format!("{YEAR}#{id}");
        let holder = store.open_order_for_item(&student_no(), &key).await.unwrap();
        let open_with_item: Vec<_> = orders
            .values()
            .filter(|o| o.state == OrderState::Open && o.lines.iter().any(|l| l.item_key() == key))
            .map(|o| o.order_no)
            .collect();
        assert_eq!(holder.into_iter().collect::<Vec<_>>(), open_with_item, "item {key}");
    }
}

/// Settled states never move back.
fn sticky(
    before: &(HashMap<OrderNo, Order>, HashMap<OutTradeNo, Attempt>),
    after: &(HashMap<OrderNo, Order>, HashMap<OutTradeNo, Attempt>),
) {
    for (no, o) in &before.0 {
        if o.state != OrderState::Open {
            assert_eq!(after.0[no].state, o.state, "order {no} left {:?}", o.state);
        }
    }
    for (otn, a) in &before.1 {
        let now = after.1[otn].state;
        let allowed: &[AttemptState] = match a.state {
            AttemptState::Created => &[AttemptState::Created, AttemptState::Closed, AttemptState::Paid, AttemptState::DuplicatePaid],
            AttemptState::Closed => &[AttemptState::Closed, AttemptState::Paid, AttemptState::DuplicatePaid],
            AttemptState::Paid => &[AttemptState::Paid, AttemptState::Refunding, AttemptState::Refunded],
            AttemptState::DuplicatePaid => &[AttemptState::DuplicatePaid, AttemptState::Refunding, AttemptState::Refunded],
            AttemptState::Refunding => &[AttemptState::Refunding, AttemptState::Refunded, AttemptState::Paid, AttemptState::DuplicatePaid],
            AttemptState::Refunded => &[AttemptState::Refunded],
        };
        assert!(allowed.contains(&now), "attempt {otn}: {:?} → {now:?}", a.state);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn every_history_keeps_the_books_straight(steps in prop::collection::vec(step(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (app, clock) = app_and_clock().await;
            let mut made = Made::default();
            for s in &steps {
                let before = states(&app, &made).await;
                run(&app, &clock, &mut made, s).await;
                let after = states(&app, &made).await;
                sticky(&before, &after);
                invariants(&app, &made).await;
            }
        });
    }
}

/// The interleaving store really interleaves: without its pauses, the duplicate copies above
/// would run one after another and never race.
#[tokio::test(flavor = "current_thread")]
async fn concurrent_copies_of_one_notification_race_and_one_wins() {
    let (app, clock) = app_and_clock().await;
    let mut made = Made::default();
    run(&app, &clock, &mut made, &Step::Order(0b111)).await;
    run(&app, &clock, &mut made, &Step::Attempt(0, 1)).await;
    let otn = made.attempts[0].clone();
    let outcomes = futures::future::join_all((0..3).map(|_| pay(&app, &otn))).await;
    assert_eq!(
        outcomes,
        vec![Some(PaymentOutcome::OrderPaid), Some(PaymentOutcome::AlreadyRecorded), Some(PaymentOutcome::AlreadyRecorded)]
    );
    // All three read the attempt before the first wrote: the two late ones lost the conditional
    // write, read again and found it recorded — one transition, one receipt, one credit.
    assert_eq!(app.store.lost_races(), 2);
    let entries = shared::store::AuditStore::audit_for_order(&app.store, &otn.order_no().unwrap()).await.unwrap();
    assert_eq!(entries.iter().filter(|e| e.action == AuditAction::AttemptPaid).count(), 1);
    assert_eq!(app.store.list_receipts(&student_no()).await.unwrap().len(), 1);
    invariants(&app, &made).await;
}
