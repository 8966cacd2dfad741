//! The sandbox UnionPay (ACP 5.1.0, gateways.md §3 and §5): the browser's auto-submitted
//! front-consume form lands on `/gateway/api/frontTransReq.do` and is verified with the
//! merchant's key; the cashier page `/cashier/{orderId}` offers 支付 / 取消 until `payTimeout`;
//! `/gateway/api/queryTrans.do` answers signed, unencoded `k=v&…` bodies; a payment is notified
//! to `backUrl` as a signed URL-encoded form (5 sends, HTTP 200 = received) and the browser is
//! sent back to `frontUrl` with a POST of the same signed fields. Everything UnionPay signs
//! carries `signPubKeyCert` from a test chain the sandbox issued itself, so the platform's chain
//! and CN checks run unmodified.

use crate::engine::{self, Core, Outgoing, is_http_url};
use crate::page::{self, Brand, Cashier, Tone};
use crate::statements::PaidRecord;
use crate::sync::lock;
use crate::{Book, Control};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use shared::clock::{Clock, SystemClock};
use shared::domain::Fen;
use shared::gateway::unionpay::{self, Sandbox, SandboxChain, SandboxRefund, SandboxSettings, SandboxTrade, TradeProgress};
use shared::gateway::{GatewayError, form};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Waits between the 5 sends of a notification: 1, 2, 4 and 5 minutes (gateways.md §3.5 — the
/// official demo's comment and smartwalle's differ slightly; this is smartwalle's reading,
/// which gives the 5 sends both agree on).
pub const UNIONPAY_RETRY_AFTER_SECS: [u64; 4] = [60, 120, 240, 300];

/// How far a request's `txnTime` may be from the sandbox's clock (UnionPay publishes none).
pub const TXN_TIME_TOLERANCE_SECS: i64 = 600;

#[derive(Debug, Clone)]
pub struct UnionpayConfig {
    pub settings: SandboxSettings,
    /// Scales the retry schedule (1.0 = real time).
    pub retry_scale: f64,
}

/// The sandbox with the system clock. Panics on invalid settings (local tooling only).
pub fn unionpay(cfg: UnionpayConfig) -> (Router, Control, SandboxChain) {
    try_unionpay(cfg, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("invalid UnionPay sandbox settings: {e}"))
}

/// The router, its [`Control`], and the chain it signs with: configure the platform's
/// `root_cert_pem` and `middle_cert_pem` from it.
pub fn try_unionpay(cfg: UnionpayConfig, clock: Arc<dyn Clock>) -> Result<(Router, Control, SandboxChain), GatewayError> {
    let sandbox = Sandbox::new(&cfg.settings, clock.now())?;
    let chain = sandbox.chain().clone();
    let state = Arc::new(Up {
        sandbox,
        core: Arc::new(Core::new("unionpay", clock, cfg.retry_scale)?),
        trades: Mutex::new(HashMap::new()),
        refunds: Mutex::new(HashMap::new()),
    });
    let control = Control::new(Arc::clone(&state.core), state.clone());
    let router = Router::new()
        .route("/gateway/api/frontTransReq.do", post(front))
        .route("/gateway/api/queryTrans.do", post(query))
        .route("/gateway/api/backTransReq.do", post(back_trans))
        .route("/gateway/api/fileTransfer.do", post(file_transfer))
        .route("/cashier/{no}", get(cashier_page))
        .route("/cashier/{no}/pay", post(pay))
        .route("/cashier/{no}/cancel", post(cancel))
        .with_state(state)
        .merge(control.clone().routes());
    Ok((router, control, chain))
}

struct Up {
    sandbox: Sandbox,
    core: Arc<Core>,
    /// By orderId.
    trades: Mutex<HashMap<String, Trade>>,
    /// Refunds (退货) by their own orderId.
    refunds: Mutex<HashMap<String, UpRefund>>,
}

struct UpRefund {
    txn_time: String,
    /// The consume's orderId.
    orig_order_id: String,
    orig_qry_id: String,
    query_id: String,
    amount: Fen,
}

impl UpRefund {
    fn sandbox_refund<'a>(&'a self, order_id: &'a str) -> SandboxRefund<'a> {
        SandboxRefund { order_id, txn_time: &self.txn_time, orig_qry_id: &self.orig_qry_id, query_id: &self.query_id, txn_amt: self.amount }
    }
}

struct Trade {
    txn_time: String,
    amount: Fen,
    back_url: String,
    front_url: Option<String>,
    pay_timeout: Option<DateTime<Utc>>,
    paid: Option<Paid>,
}

#[derive(Clone)]
struct Paid {
    query_id: String,
    at: DateTime<Utc>,
}

impl Trade {
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.pay_timeout.is_some_and(|t| now > t)
    }
    fn sandbox_trade<'a>(&'a self, order_id: &'a str, paid: &'a Paid) -> SandboxTrade<'a> {
        SandboxTrade {
            order_id,
            txn_time: &self.txn_time,
            txn_amt: self.amount,
            query_id: &paid.query_id,
            progress: TradeProgress::Paid { at: paid.at },
        }
    }
}

/// Trade states for [`Control`]: `AWAITING_PAYER` (form received, not paid: a query answers
/// `respCode=34`, as UnionPay has no transaction until the payer pays), `PAID`, `TIMED_OUT`
/// (not paid and past `payTimeout`: can no longer be paid).
impl Book for Up {
    fn state(&self, out_trade_no: &str) -> Option<String> {
        let now = self.core.now();
        let refunded: Fen = lock(&self.refunds).values().filter(|r| r.orig_order_id == out_trade_no).map(|r| r.amount).sum();
        lock(&self.trades).get(out_trade_no).map(|t| {
            match (&t.paid, t.expired(now)) {
                (Some(_), _) if refunded >= t.amount => "REFUNDED",
                (Some(_), _) => "PAID",
                (None, true) => "TIMED_OUT",
                (None, false) => "AWAITING_PAYER",
            }
            .to_owned()
        })
    }
    fn refunds(&self, out_trade_no: &str) -> usize {
        self.refunds_of(out_trade_no)
    }

    fn paid(&self) -> Vec<PaidRecord> {
        let trades = lock(&self.trades);
        let paid = trades.iter().filter_map(|(no, t)| {
            let p = t.paid.as_ref()?;
            Some(PaidRecord { out_trade_no: no.clone(), trade_no: p.query_id.clone(), amount: t.amount, paid_at: p.at })
        });
        paid.collect()
    }
}

impl Up {
    fn refunds_of(&self, order_id: &str) -> usize {
        lock(&self.refunds).values().filter(|r| r.orig_order_id == order_id).count()
    }

    fn notify(&self, order_id: &str, url: String, trade: &Trade, paid: &Paid) {
        // Signed once: the sends repeat the same message, as UnionPay's do.
        let body = match self.sandbox.paid_notification(&trade.sandbox_trade(order_id, paid)) {
            Ok(body) => body,
            Err(e) => {
                tracing::error!(gateway = "unionpay", order_id, error = %e, "notification could not be built");
                return;
            }
        };
        engine::spawn_notifications(
            Arc::clone(&self.core),
            order_id.to_owned(),
            url,
            &UNIONPAY_RETRY_AFTER_SECS,
            move |_| {
                let headers = vec![("Content-Type".to_owned(), unionpay::FORM_CONTENT_TYPE.to_owned())];
                Ok(Outgoing { headers, body: body.clone() })
            },
            // HTTP 200 is what counts (a 302 too, per the demo); the body is not read.
            |status, _| status == 200 || status == 302,
        );
    }

    fn cashier(&self, no: &str) -> Response {
        let now = self.core.now();
        let trades = lock(&self.trades);
        let Some(t) = trades.get(no) else {
            return error_page(StatusCode::NOT_FOUND, "交易不存在", "");
        };
        if t.paid.is_some() {
            return page::outcome(StatusCode::OK, Brand::Unionpay, Tone::Info, "订单已支付", "请勿重复支付", None);
        }
        if t.expired(now) {
            return error_page(StatusCode::OK, "支付已超时", "订单已超过支付时限，无法支付");
        }
        page::cashier(&Cashier { brand: Brand::Unionpay, out_trade_no: no, subject: "网上缴费", amount: t.amount, hidden: &[] })
    }
}

fn error_page(status: StatusCode, message: &str, detail: &str) -> Response {
    page::outcome(status, Brand::Unionpay, Tone::Error, message, detail, None)
}

/// The browser's auto-submitted consume form: verified, remembered, then the cashier.
async fn front(State(s): State<Arc<Up>>, body: Bytes) -> Response {
    let now = s.core.now();
    let consume = match s.sandbox.verify_front_consume(&body, now) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(gateway = "unionpay", error = %e, "front consume refused");
            return error_page(StatusCode::BAD_REQUEST, "交易要素校验失败", &e.to_string());
        }
    };
    if !is_http_url(&consume.back_url) {
        return error_page(StatusCode::BAD_REQUEST, "交易要素校验失败", "backUrl 无效");
    }
    let mut trades = lock(&s.trades);
    if let Some(t) = trades.get(&consume.order_id) {
        // (merId, orderId) is unique per day: the same form again is the same trade.
        if t.txn_time != consume.txn_time || t.amount != consume.txn_amt {
            return error_page(StatusCode::BAD_REQUEST, "订单号重复", "该商户订单号已被使用");
        }
    } else {
        tracing::info!(gateway = "unionpay", order_id = consume.order_id, channel_type = consume.channel_type, "consume received");
        trades.insert(
            consume.order_id.clone(),
            Trade {
                txn_time: consume.txn_time.clone(),
                amount: consume.txn_amt,
                back_url: consume.back_url.clone(),
                front_url: consume.front_url.clone().filter(|u| is_http_url(u)),
                pay_timeout: consume.pay_timeout,
                paid: None,
            },
        );
    }
    Redirect::to(&format!("/cashier/{}", consume.order_id)).into_response()
}

/// `backTransReq.do` with `txnType=04` (退货, §3.4): the consume named by `origQryId` must be
/// paid and the amount within what is left; the same refund orderId again is the same refund.
/// Answered `respCode=00` (accepted); the result is notified to `backUrl` (§3.5).
async fn back_trans(State(s): State<Arc<Up>>, body: Bytes) -> Response {
    let text = |answer: String| ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], answer).into_response();
    let asked = match s.sandbox.verify_refund(&body) {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(gateway = "unionpay", error = %e, "refund refused");
            let fields: BTreeMap<String, String> =
                [("respCode", "11"), ("respMsg", "验证签名失败")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let signed = s.sandbox.sign(fields);
            return text(signed.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&"));
        }
    };
    if s.core.take_lost_refund() {
        tracing::info!(gateway = "unionpay", order_id = asked.order_id, "refund request lost (never received)");
        return (StatusCode::GATEWAY_TIMEOUT, "").into_response();
    }
    let now = s.core.now();
    // Every send carries the current time (the ACP demo: "必须取当前时间，否则会报txnTime无效").
    // UnionPay's tolerance is not published; the sandbox allows TXN_TIME_TOLERANCE_SECS.
    let current = unionpay::parse_time(&asked.txn_time).is_some_and(|t| (now - t).num_seconds().abs() <= TXN_TIME_TOLERANCE_SECS);
    if !current {
        tracing::info!(gateway = "unionpay", order_id = asked.order_id, txn_time = asked.txn_time, "refund refused: txnTime is not now");
        return text(s.sandbox.refund_response(&asked, "10", "报文格式错误[txnTime无效]"));
    }
    let mut refunds = lock(&s.refunds);
    if let Some(r) = refunds.get(&asked.order_id) {
        let same = r.txn_time == asked.txn_time && r.orig_qry_id == asked.orig_qry_id && r.amount == asked.txn_amt;
        let (code, msg) = if same { ("00", "成功[0000000]") } else { ("12", "重复交易") };
        return text(s.sandbox.refund_response(&asked, code, msg));
    }
    let trades = lock(&s.trades);
    let Some((orig_order_id, t)) = trades.iter().find(|(_, t)| t.paid.as_ref().is_some_and(|p| p.query_id == asked.orig_qry_id)) else {
        tracing::info!(gateway = "unionpay", order_id = asked.order_id, "refund refused: no paid consume");
        return text(s.sandbox.refund_response(&asked, "35", "原交易不存在或状态不正确"));
    };
    let left = t.amount.get() - refunds.values().filter(|r| r.orig_qry_id == asked.orig_qry_id).map(|r| r.amount.get()).sum::<i64>();
    if asked.txn_amt.get() > left {
        tracing::info!(gateway = "unionpay", order_id = asked.order_id, "refund refused: amount above what is left");
        return text(s.sandbox.refund_response(&asked, "36", "退货金额超限"));
    }
    let r = UpRefund {
        txn_time: asked.txn_time.clone(),
        orig_order_id: orig_order_id.clone(),
        orig_qry_id: asked.orig_qry_id.clone(),
        query_id: Sandbox::new_query_id(now),
        amount: asked.txn_amt,
    };
    tracing::info!(gateway = "unionpay", order_id = asked.order_id, orig_order_id, "refund accepted");
    drop(trades);
    if let Some(url) = asked.back_url.clone().filter(|u| is_http_url(u)) {
        let body = s.sandbox.refund_notification(&r.sandbox_refund(&asked.order_id));
        engine::spawn_notifications(
            Arc::clone(&s.core),
            asked.order_id.clone(),
            url,
            &UNIONPAY_RETRY_AFTER_SECS,
            move |_| {
                Ok(Outgoing { headers: vec![("Content-Type".to_owned(), unionpay::FORM_CONTENT_TYPE.to_owned())], body: body.clone() })
            },
            |status, _| status == 200 || status == 302,
        );
    }
    refunds.insert(asked.order_id.clone(), r);
    text(s.sandbox.refund_response(&asked, "00", "成功[0000000]"))
}

/// `queryTrans.do`: the verified (orderId, txnTime) asked about, answered signed.
async fn query(State(s): State<Arc<Up>>, body: Bytes) -> Response {
    let answer = match s.sandbox.verify_query(&body) {
        Ok((order_id, txn_time)) if lock(&s.refunds).get(&order_id).is_some_and(|r| r.txn_time == txn_time) => {
            let refunds = lock(&s.refunds);
            s.sandbox.refund_query_response(&refunds[&order_id].sandbox_refund(&order_id))
        }
        Ok((order_id, txn_time)) => {
            let trades = lock(&s.trades);
            let found = trades.get(&order_id).filter(|t| t.txn_time == txn_time);
            match found.and_then(|t| t.paid.as_ref().map(|p| (t, p))) {
                Some((t, p)) => s.sandbox.query_response(&order_id, &txn_time, Some(&t.sandbox_trade(&order_id, p))),
                None => s.sandbox.query_response(&order_id, &txn_time, None),
            }
        }
        Err(e) => {
            tracing::warn!(gateway = "unionpay", error = %e, "query refused");
            let fields: BTreeMap<String, String> =
                [("respCode", "11"), ("respMsg", "验证签名失败")].into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
            let signed = s.sandbox.sign(fields);
            signed.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
        }
    };
    ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], answer).into_response()
}

/// `fileTransfer.do` (`txnType=76`, `fileType=00`): the settlement zip of the clearing day
/// `settleDate` (`MMDD`, a day before today) inside the signed answer; no trades: `respCode=98`.
async fn file_transfer(State(s): State<Arc<Up>>, body: Bytes) -> Response {
    let now = s.core.now();
    let fields =
        |pairs: &[(&str, &str)]| -> BTreeMap<String, String> { pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect() };
    let answer = match s.sandbox.verify_request(&body) {
        Ok(p) => {
            let get = |k: &str| p.get(k).map(String::as_str).unwrap_or("");
            let today = shared::clock::beijing_date(now);
            let mut f = fields(&[
                ("accessType", "0"),
                ("bizType", "000000"),
                ("merId", get("merId")),
                ("settleDate", get("settleDate")),
                ("txnTime", get("txnTime")),
                ("txnType", "76"),
                ("txnSubType", "01"),
                ("fileType", "00"),
            ]);
            let day = crate::statements::settle_day(get("settleDate"), today).filter(|d| *d < today);
            match day {
                _ if get("txnType") != "76" || get("fileType") != "00" => {
                    f.extend(fields(&[("respCode", "12"), ("respMsg", "交易类型或文件类型错误")]));
                }
                None => f.extend(fields(&[("respCode", "98"), ("respMsg", "文件不存在")])),
                Some(day) => {
                    let rows = Control::statement_rows(s.as_ref(), &s.core, day);
                    if rows.is_empty() {
                        f.extend(fields(&[("respCode", "98"), ("respMsg", "文件不存在")]));
                    } else {
                        let (name, zip) = crate::statements::unionpay_zip(get("merId"), day, &rows);
                        tracing::info!(gateway = "unionpay", %day, rows = rows.len(), "settlement file sent");
                        let content = unionpay::statement::encode_file_content(&zip);
                        f.extend(fields(&[
                            ("respCode", "00"),
                            ("respMsg", "成功[0000000]"),
                            ("fileName", &name),
                            ("fileContent", &content),
                        ]));
                    }
                }
            }
            s.sandbox.sign(f)
        }
        Err(e) => {
            tracing::warn!(gateway = "unionpay", error = %e, "file transfer refused");
            s.sandbox.sign(fields(&[("respCode", "11"), ("respMsg", "验证签名失败")]))
        }
    };
    let text = answer.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], text).into_response()
}

async fn cashier_page(State(s): State<Arc<Up>>, Path(no): Path<String>) -> Response {
    s.cashier(&no)
}

async fn pay(State(s): State<Arc<Up>>, Path(no): Path<String>) -> Response {
    let now = s.core.now();
    let mut trades = lock(&s.trades);
    let Some(t) = trades.get_mut(&no) else {
        return error_page(StatusCode::NOT_FOUND, "交易不存在", "");
    };
    if t.paid.is_some() {
        return page::outcome(StatusCode::CONFLICT, Brand::Unionpay, Tone::Error, "订单已支付", "请勿重复支付", None);
    }
    if t.expired(now) {
        tracing::info!(gateway = "unionpay", order_id = no, "payment refused: payTimeout passed");
        return error_page(StatusCode::CONFLICT, "支付已超时，无法支付", "");
    }
    let paid = Paid { query_id: Sandbox::new_query_id(now), at: now };
    t.paid = Some(paid.clone());
    tracing::info!(gateway = "unionpay", order_id = no, query_id = paid.query_id, "consume paid");
    s.notify(&no, t.back_url.clone(), t, &paid);
    let back = t.front_url.clone();
    let fields = s.sandbox.paid_notification(&t.sandbox_trade(&no, &paid)).ok().and_then(|b| form::parse(b.as_bytes()).ok());
    drop(trades);
    match (back, fields) {
        (Some(url), Some(fields)) => {
            let fields: Vec<(String, String)> = fields.into_iter().collect();
            page::auto_post(Brand::Unionpay, "支付成功", &url, &fields)
        }
        _ => page::outcome(StatusCode::OK, Brand::Unionpay, Tone::Ok, "支付成功", "请返回商户页面查看结果", None),
    }
}

/// The payer gives up: nothing is created at UnionPay; the cashier stays usable until
/// `payTimeout`.
async fn cancel(State(s): State<Arc<Up>>, Path(no): Path<String>) -> Response {
    if !lock(&s.trades).contains_key(&no) {
        return error_page(StatusCode::NOT_FOUND, "交易不存在", "");
    }
    tracing::info!(gateway = "unionpay", order_id = no, "payer cancelled");
    let back = format!("/cashier/{no}");
    page::outcome(StatusCode::OK, Brand::Unionpay, Tone::Info, "已取消支付", "", Some((&back, "返回收银台")))
}
