//! Local sandbox payment gateways: stand-ins for Alipay, WeChat Pay and UnionPay on one machine, for
//! development and tests only — never deployed.
//!
//! Each sandbox speaks its gateway's real protocol (gateways.md §1, §2, §5) with the protocol code
//! of `shared::gateway` — requests verified with the platform's public key, answers and
//! notifications signed with the sandbox's own test key — keeps trades in memory, shows a
//! cashier page where a person presses 支付 or 取消, and sends the asynchronous notification on
//! the real retry schedule (scaled by `retry_scale`).
//!
//! * [`alipay`] — `/gateway.do` (`alipay.trade.precreate`, `.wap.pay`, `.query`, `.close`,
//!   `.refund`, `.fastpay.refund.query`), the
//!   QR "scan" page `/qr/{out_trade_no}`, the cashier actions `/cashier/{out_trade_no}/pay|cancel`.
//! * [`wechat`] — `/v3/pay/transactions/native|h5`, query and close by out-trade-no, the cashier
//!   pages `/scan/{out_trade_no}` (Native) and `/h5/{out_trade_no}` (H5), the same cashier actions;
//!   refunds `/v3/refund/domestic/refunds` (POST, GET by number) with `REFUND.SUCCESS` notifications.
//! * [`unionpay`] — `/gateway/api/frontTransReq.do` (the browser's consume form → the cashier
//!   `/cashier/{orderId}`), `/gateway/api/queryTrans.do`, refunds on `/gateway/api/backTransReq.do`
//!   (`txnType=04`, notified to `backUrl`), the same cashier actions; it issues its
//!   own test certificate chain.
//!
//! Each returns an [`axum::Router`] meant for its own `127.0.0.1` port (so paths are the real
//! ones) and a [`Control`] for tests, also reachable over HTTP under `/_control/`.

mod ali;
mod engine;
mod page;
mod statements;
mod sync;
mod up;
mod wx;
mod wx_jsapi;

pub use ali::{ALIPAY_RETRY_AFTER_SECS, AlipayConfig, alipay, try_alipay};
pub use up::{UNIONPAY_RETRY_AFTER_SECS, UnionpayConfig, try_unionpay, unionpay};
pub use wx::{OfficialAccount, WECHAT_RETRY_AFTER_SECS, WechatConfig, try_wechat, wechat};

use crate::engine::Core;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::fmt;
use std::sync::Arc;

/// The payee the cashier pages name: where tuition goes.
pub const PAYEE: &str = "甘肃省财政厅";

/// What a sandbox knows about its trades, for [`Control`].
pub(crate) trait Book: Send + Sync {
    /// The trade's current state (expiry applied), or `None` for an unknown out-trade-no.
    fn state(&self, out_trade_no: &str) -> Option<String>;
    /// Refunds made of the trade (each refund number counted once, however often it was sent).
    fn refunds(&self, out_trade_no: &str) -> usize;
    /// Every paid trade (for the daily statements).
    fn paid(&self) -> Vec<statements::PaidRecord>;
    /// The merchant settled an `ABNORMAL` refund by hand: it succeeds and is notified. False if
    /// there is no such refund in that state (or the gateway has no such state).
    fn settle_abnormal_refund(&self, _out_refund_no: &str) -> bool {
        false
    }
}

/// Test control of one sandbox: notification delivery and what happened to a trade.
///
/// Trade states: Alipay `NOT_SCANNED` (precreated, QR not opened: the gateway answers
/// `ACQ.TRADE_NOT_EXIST`), `WAIT_BUYER_PAY`, `TRADE_SUCCESS`, `TRADE_CLOSED` (closed, expired, or
/// closed before the scan — the gateway then still answers `ACQ.TRADE_NOT_EXIST`); WeChat Pay
/// `NOTPAY`, `SUCCESS`, `CLOSED` (an expired `NOTPAY` stays `NOTPAY`, as at WeChat Pay, but can no
/// longer be paid).
#[derive(Clone)]
pub struct Control {
    core: Arc<Core>,
    book: Arc<dyn Book>,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Control")
            .field("gateway", &self.core.gateway)
            .field("deliver_notifications", &self.core.deliver())
            .finish_non_exhaustive()
    }
}

impl Control {
    pub(crate) fn new(core: Arc<Core>, book: Arc<dyn Book>) -> Self {
        Self { core, book }
    }

    /// `false`: notifications are "lost" — every send falls due and is dropped (it still counts
    /// towards the schedule, so the schedule ends as usual) — to exercise the platform's active
    /// query. `true` (the default): sent.
    pub fn set_deliver_notifications(&self, deliver: bool) {
        self.core.set_deliver(deliver);
        tracing::info!(gateway = self.core.gateway, deliver, "sandbox notification delivery set");
    }

    /// The next close is answered `status` with error `code` (signed, as the gateway signs its
    /// refusals) and closes nothing: WeChat's 202 `USER_PAYING`, 429, 5xx `SYSTEM_ERROR`.
    pub fn fail_next_close(&self, status: u16, code: &str) {
        self.core.fail_next_close(status, code);
        tracing::info!(gateway = self.core.gateway, status, code, "sandbox: the next close fails");
    }

    /// WeChat Pay: the next refund is accepted and taken from the merchant, but the payer's
    /// account refuses it: status `ABNORMAL`, notified as `REFUND.ABNORMAL`.
    pub fn fail_next_refund_to_card(&self) {
        self.core.fail_next_refund_to_card();
        tracing::info!(gateway = self.core.gateway, "sandbox: the next refund cannot reach the payer's account");
    }

    /// WeChat Pay: the merchant handled an `ABNORMAL` refund on the merchant platform (异常退款,
    /// e.g. to another account): it becomes `SUCCESS` and `REFUND.SUCCESS` is notified.
    pub fn settle_abnormal_refund(&self, out_refund_no: &str) -> bool {
        self.book.settle_abnormal_refund(out_refund_no)
    }

    /// UnionPay: the next refund request never reaches the gateway (answered 504, nothing
    /// recorded), so a query of its (orderId, txnTime) finds nothing.
    pub fn lose_next_refund(&self) {
        self.core.lose_next_refund();
        tracing::info!(gateway = self.core.gateway, "sandbox: the next refund request is lost");
    }

    pub fn deliver_notifications(&self) -> bool {
        self.core.deliver()
    }

    /// Notification sends acknowledged by the merchant (0 or 1: sending stops at the first ACK).
    pub fn notifications_acked(&self, out_trade_no: &str) -> usize {
        self.core.counts(out_trade_no).acked
    }

    /// Notification HTTP requests made for the trade (lost ones not counted).
    pub fn notifications_sent(&self, out_trade_no: &str) -> usize {
        self.core.counts(out_trade_no).sent
    }

    /// Refunds the gateway made of the trade (a retried refund number counts once).
    pub fn refunds_made(&self, out_trade_no: &str) -> usize {
        self.book.refunds(out_trade_no)
    }

    /// See the type's documentation for the values.
    pub fn trade_state(&self, out_trade_no: &str) -> Option<String> {
        self.book.state(out_trade_no)
    }

    /// The daily statement leaves this paid trade out (the platform sees "ours only").
    pub fn omit_from_statement(&self, out_trade_no: &str) {
        self.core.statements.omit(out_trade_no);
    }

    /// The daily statement lists this trade with `fen` instead of what was paid.
    pub fn set_statement_amount(&self, out_trade_no: &str, fen: shared::domain::Fen) {
        self.core.statements.set_amount(out_trade_no, fen);
    }

    /// The daily statement of `paid_at`'s Beijing day lists a payment the sandbox never saw.
    pub fn add_statement_row(&self, out_trade_no: &str, fen: shared::domain::Fen, paid_at: chrono::DateTime<chrono::Utc>) {
        let trade_no = format!("X{}", engine::random_digits(20));
        self.core.statements.add(statements::PaidRecord { out_trade_no: out_trade_no.to_owned(), trade_no, amount: fen, paid_at });
    }

    /// The rows the statement of `day` lists now (paid trades, edited).
    pub(crate) fn statement_rows(book: &dyn Book, core: &Core, day: chrono::NaiveDate) -> Vec<statements::PaidRecord> {
        core.statements.rows(book.paid(), day)
    }

    /// `POST /_control/deliver` `{"deliver": bool}`, `GET /_control/trades/{out_trade_no}`, and
    /// `POST /_control/statement` (see the `statements` module).
    pub(crate) fn routes(self) -> Router {
        Router::new()
            .route("/_control/statement", post(edit_statement))
            .route("/_control/deliver", post(set_deliver).get(get_deliver))
            .route("/_control/trades/{no}", get(trade))
            .with_state(self)
    }
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn set_deliver(State(c): State<Control>, body: Bytes) -> Response {
    let parsed: Option<bool> = serde_json::from_slice::<serde_json::Value>(&body).ok().and_then(|v| v.get("deliver")?.as_bool());
    match parsed {
        Some(deliver) => {
            c.set_deliver_notifications(deliver);
            json(StatusCode::OK, serde_json::json!({ "deliver": deliver }))
        }
        None => json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": "expected {\"deliver\": true|false}" })),
    }
}

async fn edit_statement(State(c): State<Control>, body: Bytes) -> Response {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let text = |p: &str| v.pointer(p).and_then(serde_json::Value::as_str).map(str::to_owned);
    let fen = |p: &str| v.pointer(p).and_then(serde_json::Value::as_i64).filter(|f| *f >= 0).map(shared::domain::Fen::new);
    if let Some(no) = text("/omit") {
        c.omit_from_statement(&no);
    } else if let (Some(no), Some(f)) = (text("/amount/out_trade_no"), fen("/amount/fen")) {
        c.set_statement_amount(&no, f);
    } else if let (Some(no), Some(f), Some(at)) = (text("/add/out_trade_no"), fen("/add/fen"), text("/add/paid_at")) {
        match chrono::DateTime::parse_from_rfc3339(&at) {
            Ok(at) => c.add_statement_row(&no, f, at.with_timezone(&chrono::Utc)),
            Err(_) => return json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": "paid_at is not RFC 3339" })),
        }
    } else {
        return json(StatusCode::BAD_REQUEST, serde_json::json!({ "error": "expected omit, amount or add" }));
    }
    json(StatusCode::OK, serde_json::json!({ "ok": true }))
}

async fn get_deliver(State(c): State<Control>) -> Response {
    json(StatusCode::OK, serde_json::json!({ "deliver": c.deliver_notifications() }))
}

async fn trade(State(c): State<Control>, Path(no): Path<String>) -> Response {
    match c.trade_state(&no) {
        Some(state) => json(
            StatusCode::OK,
            serde_json::json!({
                "out_trade_no": no,
                "state": state,
                "notifications_sent": c.notifications_sent(&no),
                "notifications_acked": c.notifications_acked(&no),
                "refunds_made": c.refunds_made(&no),
            }),
        ),
        None => json(StatusCode::NOT_FOUND, serde_json::json!({ "error": "unknown out_trade_no" })),
    }
}
