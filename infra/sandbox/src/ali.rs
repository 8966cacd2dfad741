//! The local Alipay (gateways.md §1, §5): `/gateway.do`, the QR "scan" page and the cashier.
//!
//! A precreated trade is not an Alipay trade until its QR code is scanned (here: `/qr/{no}`
//! opened) — until then query and close answer `ACQ.TRADE_NOT_EXIST` (§1.5, §1.9.3). A wap trade
//! exists from the moment its cashier is shown.

use crate::engine::{self, Core, Outgoing, is_http_url, random_digits, with_query};
use crate::page::{self, Brand, Cashier, Tone};
use crate::statements::PaidRecord;
use crate::sync::lock;
use crate::{Book, Control};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};
use shared::clock::{Clock, SystemClock, beijing, beijing_date};
use shared::domain::Fen;
use shared::gateway::alipay::{self, IncomingRequest, Method, PaidTrade, Sandbox, SandboxSettings, TRADE_NOT_EXIST};
use shared::gateway::{GatewayError, form};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Intervals between notification sends until `success` comes back: 8 sends in about 25 h (§1.7).
pub const ALIPAY_RETRY_AFTER_SECS: [u64; 7] = [240, 600, 600, 3_600, 7_200, 21_600, 54_000];

/// `Content-Type` of notifications (§1.7).
const NOTIFY_CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";
const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S";
/// `total_amount` range (§1.5).
const MIN_AMOUNT: Fen = Fen::new(1);
const MAX_AMOUNT: Fen = Fen::new(10_000_000_000);

#[derive(Debug, Clone)]
pub struct AlipayConfig {
    pub settings: SandboxSettings,
    /// Where this sandbox is reachable, e.g. `http://127.0.0.1:4601`: the base of the links it
    /// hands out (`qr_code`).
    pub public_base: String,
    /// 1.0 = the real retry schedule; 0.001 makes 4 minutes 0.24 s.
    pub retry_scale: f64,
}

/// The local Alipay on the system clock. Panics on invalid settings (keys, ids, retry_scale).
pub fn alipay(cfg: AlipayConfig) -> (Router, Control) {
    try_alipay(cfg, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("invalid Alipay sandbox settings: {e}"))
}

/// The local Alipay on `clock` (share the platform's clock when it is shifted in tests).
pub fn try_alipay(cfg: AlipayConfig, clock: Arc<dyn Clock>) -> Result<(Router, Control), GatewayError> {
    let state = Arc::new(Ali {
        sandbox: Sandbox::new(&cfg.settings)?,
        public_base: cfg.public_base.trim_end_matches('/').to_owned(),
        core: Arc::new(Core::new("alipay", clock, cfg.retry_scale)?),
        trades: Mutex::new(HashMap::new()),
        seq: AtomicU64::new(0),
    });
    let control = Control::new(Arc::clone(&state.core), state.clone());
    let router = Router::new()
        .route("/gateway.do", get(gateway).post(gateway))
        .route("/qr/{no}", get(qr_page))
        .route("/bill/{token}", get(bill_file))
        .route("/cashier/{no}/pay", post(pay))
        .route("/cashier/{no}/cancel", post(cancel))
        .with_state(state)
        .merge(control.clone().routes());
    Ok((router, control))
}

struct Ali {
    sandbox: Sandbox,
    public_base: String,
    core: Arc<Core>,
    trades: Mutex<HashMap<String, Trade>>,
    seq: AtomicU64,
}

struct Trade {
    subject: String,
    total: Fen,
    notify_url: Option<String>,
    expires_at: Option<DateTime<Utc>>,
    /// Wap only: where the browser goes after paying / giving up.
    return_url: Option<String>,
    quit_url: Option<String>,
    /// Set when the trade comes into existence at Alipay: QR scanned or wap cashier shown.
    scanned: Option<Scanned>,
    stage: Stage,
    /// Refunds made, by `out_request_no`.
    refunds: Vec<AliRefund>,
}

struct AliRefund {
    out_request_no: String,
    amount: Fen,
    at: DateTime<Utc>,
}

struct Scanned {
    trade_no: String,
    at: DateTime<Utc>,
}

enum Stage {
    Open,
    Paid { at: DateTime<Utc> },
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    NotScanned,
    WaitBuyerPay,
    Success,
    Closed,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::NotScanned => "NOT_SCANNED",
            Status::WaitBuyerPay => "WAIT_BUYER_PAY",
            Status::Success => "TRADE_SUCCESS",
            Status::Closed => "TRADE_CLOSED",
        }
    }
}

impl Trade {
    /// A trade not yet scanned or paid, as a precreate or a wap pay makes it.
    fn open(order: &Order, notify_url: Option<String>, return_url: Option<String>, quit_url: Option<String>) -> Self {
        Trade {
            subject: order.subject.clone(),
            total: order.total,
            notify_url,
            expires_at: order.expires_at,
            return_url,
            quit_url,
            scanned: None,
            stage: Stage::Open,
            refunds: Vec::new(),
        }
    }

    /// The state at `now`: an open trade past its expiry is closed (§1.5 `time_expire`).
    fn status(&self, now: DateTime<Utc>) -> Status {
        match self.stage {
            // Fully refunded: closed (§1.6).
            Stage::Paid { .. } if self.refunded() >= self.total => Status::Closed,
            Stage::Paid { .. } => Status::Success,
            Stage::Closed => Status::Closed,
            Stage::Open if self.expires_at.is_some_and(|t| now >= t) => Status::Closed,
            Stage::Open if self.scanned.is_some() => Status::WaitBuyerPay,
            Stage::Open => Status::NotScanned,
        }
    }
}

impl Trade {
    fn refunded(&self) -> Fen {
        self.refunds.iter().map(|r| r.amount).sum()
    }
}

impl Book for Ali {
    fn state(&self, out_trade_no: &str) -> Option<String> {
        let now = self.core.now();
        lock(&self.trades).get(out_trade_no).map(|t| t.status(now).as_str().to_owned())
    }
    fn refunds(&self, out_trade_no: &str) -> usize {
        lock(&self.trades).get(out_trade_no).map_or(0, |t| t.refunds.len())
    }

    fn paid(&self) -> Vec<PaidRecord> {
        let trades = lock(&self.trades);
        let paid = trades.iter().filter_map(|(no, t)| match (&t.stage, &t.scanned) {
            (Stage::Paid { at }, Some(s)) => {
                Some(PaidRecord { out_trade_no: no.clone(), trade_no: s.trade_no.clone(), amount: t.total, paid_at: *at })
            }
            _ => None,
        });
        paid.collect()
    }
}

/// A business refusal: `sub_code`, `sub_msg` (§1.4).
type Refusal = (&'static str, String);

fn invalid(msg: impl Into<String>) -> Refusal {
    ("ACQ.INVALID_PARAMETER", msg.into())
}

/// The fields of a pay request (precreate, wap), validated.
struct Order {
    out_trade_no: String,
    total: Fen,
    subject: String,
    expires_at: Option<DateTime<Utc>>,
}

impl Ali {
    fn now(&self) -> DateTime<Utc> {
        self.core.now()
    }

    /// `2026112622001400000000000001`: Beijing date, `220014`, a 14-digit sequence.
    fn next_trade_no(&self, now: DateTime<Utc>) -> String {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!("{}220014{seq:014}", beijing_date(now).format("%Y%m%d"))
    }

    fn qr_code(&self, out_trade_no: &str) -> String {
        format!("{}/qr/{out_trade_no}", self.public_base)
    }

    /// A signed response (§1.4).
    fn signed(&self, method: Method, node: &Value) -> Response {
        json_response(self.sandbox.response(method.as_str(), node))
    }

    fn refused(&self, method: Method, (sub_code, sub_msg): Refusal) -> Response {
        tracing::info!(gateway = "alipay", method = method.as_str(), sub_code, "business refusal");
        self.signed(method, &Sandbox::business_error(sub_code, &sub_msg))
    }

    fn precreate(&self, req: &IncomingRequest) -> Response {
        let m = Method::Precreate;
        let now = self.now();
        let order = match order(&req.biz, now, &["FACE_TO_FACE_PAYMENT", "OFFLINE_PAYMENT"], false, true) {
            Ok(o) => o,
            Err(r) => return self.refused(m, r),
        };
        let mut trades = lock(&self.trades);
        if let Some(t) = trades.get(&order.out_trade_no) {
            if t.total != order.total {
                return self.refused(m, ("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改".into()));
            }
            match t.status(now) {
                Status::Success => return self.refused(m, ("ACQ.TRADE_HAS_SUCCESS", "交易已被支付".into())),
                Status::Closed => return self.refused(m, ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭".into())),
                Status::NotScanned | Status::WaitBuyerPay => {}
            }
        } else {
            tracing::info!(gateway = "alipay", out_trade_no = order.out_trade_no, "trade precreated");
            trades.insert(order.out_trade_no.clone(), Trade::open(&order, param(req, "notify_url"), None, None));
        }
        let mut fields = Map::new();
        fields.insert("out_trade_no".into(), order.out_trade_no.clone().into());
        fields.insert("qr_code".into(), self.qr_code(&order.out_trade_no).into());
        self.signed(m, &Sandbox::success(fields))
    }

    /// The browser arrives with a signed `alipay.trade.wap.pay`: record and show the cashier.
    fn wap_pay(&self, req: &IncomingRequest) -> Response {
        let now = self.now();
        let order = match order(&req.biz, now, &["QUICK_WAP_WAY", "QUICK_WAP_PAY"], true, false) {
            Ok(o) => o,
            Err((code, msg)) => return error_page(StatusCode::OK, &msg, code),
        };
        let quit_url = text(&req.biz, "quit_url");
        let return_url = param(req, "return_url");
        let mut trades = lock(&self.trades);
        if let Some(t) = trades.get_mut(&order.out_trade_no) {
            if t.total != order.total {
                return error_page(StatusCode::OK, "交易信息被篡改", "ACQ.CONTEXT_INCONSISTENT");
            }
            match t.status(now) {
                Status::Success => return state_page(StatusCode::OK, Status::Success),
                Status::Closed => return state_page(StatusCode::OK, Status::Closed),
                Status::NotScanned | Status::WaitBuyerPay => {}
            }
            if return_url.is_some() {
                t.return_url = return_url;
            }
            if quit_url.is_some() {
                t.quit_url = quit_url;
            }
        } else {
            tracing::info!(gateway = "alipay", out_trade_no = order.out_trade_no, "wap trade created");
            trades.insert(order.out_trade_no.clone(), Trade::open(&order, param(req, "notify_url"), return_url, quit_url));
        }
        let trade = trades.get_mut(&order.out_trade_no).expect("just found or inserted");
        if trade.scanned.is_none() {
            trade.scanned = Some(Scanned { trade_no: self.next_trade_no(now), at: now });
        }
        page::cashier(&Cashier {
            brand: Brand::Alipay,
            out_trade_no: &order.out_trade_no,
            subject: &trade.subject,
            amount: trade.total,
            hidden: &[("via", "wap")],
        })
    }

    /// `trade_no` wins over `out_trade_no` when both are given (§1.5).
    fn find<'t>(trades: &'t mut HashMap<String, Trade>, biz: &Map<String, Value>) -> Option<(String, &'t mut Trade)> {
        if let Some(trade_no) = text(biz, "trade_no") {
            return trades
                .iter_mut()
                .find(|(_, t)| t.scanned.as_ref().is_some_and(|s| s.trade_no == trade_no))
                .map(|(no, t)| (no.clone(), t));
        }
        let no = text(biz, "out_trade_no")?;
        trades.get_mut(&no).map(|t| (no, t))
    }

    fn query(&self, req: &IncomingRequest) -> Response {
        let m = Method::Query;
        let now = self.now();
        let mut trades = lock(&self.trades);
        let Some((no, t)) = Self::find(&mut trades, &req.biz) else {
            return self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()));
        };
        let Some(scanned) = &t.scanned else {
            return self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()));
        };
        let status = t.status(now);
        let paid = matches!(status, Status::Success);
        let mut f = Map::new();
        f.insert("trade_no".into(), scanned.trade_no.clone().into());
        f.insert("out_trade_no".into(), no.into());
        f.insert("buyer_logon_id".into(), "159****5620".into());
        f.insert("trade_status".into(), status.as_str().into());
        f.insert("total_amount".into(), t.total.to_string().into());
        let paid_amount = if paid { t.total } else { Fen::ZERO };
        f.insert("buyer_pay_amount".into(), paid_amount.to_string().into());
        f.insert("receipt_amount".into(), paid_amount.to_string().into());
        f.insert("point_amount".into(), "0.00".into());
        f.insert("invoice_amount".into(), paid_amount.to_string().into());
        f.insert("buyer_user_id".into(), "2088102177846880".into());
        if let Stage::Paid { at } = t.stage {
            f.insert("send_pay_date".into(), format_time(at).into());
            f.insert("fund_bill_list".into(), json!([{"amount": t.total.to_string(), "fund_channel": "ALIPAYACCOUNT"}]));
        }
        self.signed(m, &Sandbox::success(f))
    }

    /// `alipay.data.dataservice.bill.downloadurl.query`: a daily trade bill of a day before
    /// today; a day without payments has no bill (`isp.bill_not_exist`).
    fn bill_download_url(&self, req: &IncomingRequest) -> Response {
        let m = Method::BillDownloadUrl;
        let now = self.now();
        if text(&req.biz, "bill_type").as_deref() != Some("trade") {
            return self.refused(m, invalid("bill_type 仅支持 trade"));
        }
        let Some(day) = text(&req.biz, "bill_date").and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok()) else {
            return self.refused(m, invalid("bill_date 格式错误"));
        };
        if day >= beijing_date(now) {
            return self.refused(m, ("isp.bill_not_exist", "账单尚未生成".into()));
        }
        let rows = Control::statement_rows(self, &self.core, day);
        if rows.is_empty() {
            return self.refused(m, ("isp.bill_not_exist", "账单不存在".into()));
        }
        let zip = crate::statements::alipay_zip(self.sandbox.seller_id(), day, &rows, now);
        let token = self.core.statements.offer(zip, now);
        tracing::info!(gateway = "alipay", %day, rows = rows.len(), "bill offered");
        let mut f = Map::new();
        f.insert("bill_download_url".into(), format!("{}/bill/{token}", self.public_base).into());
        self.signed(m, &Sandbox::success(f))
    }

    fn close(&self, req: &IncomingRequest) -> Response {
        let m = Method::Close;
        let now = self.now();
        let mut trades = lock(&self.trades);
        let Some((no, t)) = Self::find(&mut trades, &req.biz) else {
            return self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()));
        };
        match t.status(now) {
            Status::NotScanned => {
                // Alipay has no trade to close; the QR code can no longer be paid either.
                t.stage = Stage::Closed;
                tracing::info!(gateway = "alipay", out_trade_no = no, "closed before the scan");
                self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()))
            }
            Status::WaitBuyerPay => {
                t.stage = Stage::Closed;
                tracing::info!(gateway = "alipay", out_trade_no = no, "trade closed");
                let mut f = Map::new();
                if let Some(s) = &t.scanned {
                    f.insert("trade_no".into(), s.trade_no.clone().into());
                }
                f.insert("out_trade_no".into(), no.into());
                self.signed(m, &Sandbox::success(f))
            }
            Status::Success | Status::Closed if t.scanned.is_none() => self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into())),
            Status::Success | Status::Closed => self.refused(m, ("ACQ.TRADE_STATUS_ERROR", "交易状态不合法".into())),
        }
    }

    /// `alipay.trade.refund` (§1.5): only a paid trade, at most what is left of it; the same
    /// `out_request_no` again is the same refund (`fund_change=N`). A refund is answered at
    /// once and notified as a trade-status change (`TRADE_CLOSED` when full, §1.7).
    fn refund(&self, req: &IncomingRequest) -> Response {
        let m = Method::Refund;
        let now = self.now();
        let mut trades = lock(&self.trades);
        let Some((no, t)) = Self::find(&mut trades, &req.biz) else {
            return self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()));
        };
        let Some(amount) = text(&req.biz, "refund_amount").and_then(|a| Fen::parse_yuan(&a).ok()).filter(|a| a.get() > 0) else {
            return self.refused(m, invalid("refund_amount 格式错误"));
        };
        let out_request_no = text(&req.biz, "out_request_no").unwrap_or_else(|| no.clone());
        let (Stage::Paid { .. }, Some(scanned)) = (&t.stage, &t.scanned) else {
            return self.refused(m, ("ACQ.TRADE_STATUS_ERROR", "交易状态不合法".into()));
        };
        let trade_no = scanned.trade_no.clone();
        let fund_change = match t.refunds.iter().find(|r| r.out_request_no == out_request_no) {
            Some(r) if r.amount != amount => return self.refused(m, ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额与原请求不一致".into())),
            Some(_) => "N",
            None if t.refunded().checked_add(amount).is_none_or(|sum| sum > t.total) => {
                return self.refused(m, ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限".into()));
            }
            None => {
                t.refunds.push(AliRefund { out_request_no: out_request_no.clone(), amount, at: now });
                tracing::info!(gateway = "alipay", out_trade_no = no, out_request_no, "trade refunded");
                if let Some(url) = t.notify_url.clone().filter(|u| is_http_url(u)) {
                    self.notify_refund(&no, url, t, &trade_no, &out_request_no, now);
                }
                "Y"
            }
        };
        let mut f = Map::new();
        f.insert("trade_no".into(), trade_no.into());
        f.insert("out_trade_no".into(), no.into());
        f.insert("buyer_logon_id".into(), "159****5620".into());
        f.insert("fund_change".into(), fund_change.into());
        f.insert("refund_fee".into(), t.refunded().to_string().into());
        f.insert("gmt_refund_pay".into(), format_time(now).into());
        self.signed(m, &Sandbox::success(f))
    }

    /// `alipay.trade.fastpay.refund.query` (§1.5): refund data when it was made, none otherwise.
    fn refund_query(&self, req: &IncomingRequest) -> Response {
        let m = Method::RefundQuery;
        let mut trades = lock(&self.trades);
        let Some((no, t)) = Self::find(&mut trades, &req.biz) else {
            return self.refused(m, (TRADE_NOT_EXIST, "交易不存在".into()));
        };
        let out_request_no = text(&req.biz, "out_request_no").unwrap_or_else(|| no.clone());
        let mut f = Map::new();
        if let Some(s) = &t.scanned {
            f.insert("trade_no".into(), s.trade_no.clone().into());
        }
        f.insert("out_trade_no".into(), no.into());
        if let Some(r) = t.refunds.iter().find(|r| r.out_request_no == out_request_no) {
            f.insert("out_request_no".into(), out_request_no.into());
            f.insert("total_amount".into(), t.total.to_string().into());
            f.insert("refund_amount".into(), r.amount.to_string().into());
            f.insert("refund_status".into(), "REFUND_SUCCESS".into());
            f.insert("gmt_refund_pay".into(), format_time(r.at).into());
        }
        self.signed(m, &Sandbox::success(f))
    }

    /// The trade-status notification of a refund (§1.7): `TRADE_CLOSED` when fully refunded
    /// (else `TRADE_SUCCESS`) with `refund_fee`, `gmt_refund`, `out_biz_no`.
    fn notify_refund(&self, out_trade_no: &str, url: String, t: &Trade, trade_no: &str, out_request_no: &str, now: DateTime<Utc>) {
        let sandbox = self.sandbox.clone();
        let status = if t.refunded() >= t.total { "TRADE_CLOSED" } else { "TRADE_SUCCESS" };
        let notify_id = format!("{}0022{}", beijing_date(now).format("%Y%m%d"), random_digits(22));
        let fixed: Vec<(String, String)> = [
            ("app_id", sandbox.app_id().to_owned()),
            ("auth_app_id", sandbox.app_id().to_owned()),
            ("charset", "utf-8".to_owned()),
            ("gmt_refund", format_time(now)),
            ("notify_id", notify_id),
            ("notify_type", "trade_status_sync".to_owned()),
            ("out_biz_no", out_request_no.to_owned()),
            ("out_trade_no", out_trade_no.to_owned()),
            ("refund_fee", t.refunded().to_string()),
            ("seller_id", sandbox.seller_id().to_owned()),
            ("subject", t.subject.clone()),
            ("total_amount", t.total.to_string()),
            ("trade_no", trade_no.to_owned()),
            ("trade_status", status.to_owned()),
            ("version", "1.0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        engine::spawn_notifications(
            Arc::clone(&self.core),
            out_request_no.to_owned(),
            url,
            &ALIPAY_RETRY_AFTER_SECS,
            move |now| {
                let mut params: BTreeMap<String, String> = fixed.iter().cloned().collect();
                params.insert("notify_time".into(), format_time(now));
                let signed = sandbox.sign_v1(params);
                Ok(Outgoing {
                    headers: vec![("Content-Type".into(), NOTIFY_CONTENT_TYPE.into()), ("User-Agent".into(), "Mozilla/4.0".into())],
                    body: form::encode(signed.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
                })
            },
            |status, body| status == 200 && body == alipay::ACK.as_bytes(),
        );
    }

    /// The signed return-URL parameters of a paid wap trade (§1.8).
    fn return_location(&self, return_url: &str, out_trade_no: &str, trade_no: &str, total: Fen) -> String {
        let app_id = self.sandbox.app_id();
        let total = total.to_string();
        let timestamp = format_time(self.now());
        let params: BTreeMap<String, String> = [
            ("method", "alipay.trade.wap.pay.return"),
            ("app_id", app_id),
            ("auth_app_id", app_id),
            ("charset", "utf-8"),
            ("out_trade_no", out_trade_no),
            ("trade_no", trade_no),
            ("total_amount", &total),
            ("seller_id", self.sandbox.seller_id()),
            ("timestamp", &timestamp),
            ("version", "1.0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let signed = self.sandbox.sign_v1(params);
        with_query(return_url, &form::encode(signed.iter().map(|(k, v)| (k.as_str(), v.as_str()))))
    }

    fn notify(&self, out_trade_no: &str, url: String, trade: PaidInfo) {
        let sandbox = self.sandbox.clone();
        let no = out_trade_no.to_owned();
        engine::spawn_notifications(
            Arc::clone(&self.core),
            out_trade_no.to_owned(),
            url,
            &ALIPAY_RETRY_AFTER_SECS,
            move |now| {
                let body = sandbox.paid_notification(&PaidTrade {
                    out_trade_no: &no,
                    trade_no: &trade.trade_no,
                    notify_id: &trade.notify_id,
                    subject: &trade.subject,
                    total: trade.total,
                    created_at: trade.created_at,
                    paid_at: trade.paid_at,
                    notified_at: now,
                });
                Ok(Outgoing {
                    headers: vec![("Content-Type".into(), NOTIFY_CONTENT_TYPE.into()), ("User-Agent".into(), "Mozilla/4.0".into())],
                    body,
                })
            },
            |status, body| status == 200 && body == alipay::ACK.as_bytes(),
        );
    }
}

/// What one notification (and all its retries) says.
struct PaidInfo {
    trade_no: String,
    /// The same for every retry (§1.7).
    notify_id: String,
    subject: String,
    total: Fen,
    created_at: DateTime<Utc>,
    paid_at: DateTime<Utc>,
}

async fn gateway(State(s): State<Arc<Ali>>, uri: Uri, body: Bytes) -> Response {
    let query = uri.query().unwrap_or_default().as_bytes();
    let req = match s.sandbox.verify_request(query, &body) {
        Ok(req) => req,
        Err(e) => {
            tracing::warn!(gateway = "alipay", error = %e, "request refused");
            // A browser sent here by a wap redirect gets a page, a server a JSON error.
            if claimed_method(query, &body).as_deref() == Some(Method::WapPay.as_str()) {
                let (_, _, sub_code, sub_msg) = auth_error(&e);
                return error_page(StatusCode::OK, sub_msg, sub_code);
            }
            return unsigned_error(&e);
        }
    };
    let Some(method) = Method::from_name(&req.method) else {
        tracing::warn!(gateway = "alipay", method = req.method, "unsupported method");
        return unsigned(("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名"));
    };
    match method {
        Method::Precreate => s.precreate(&req),
        Method::WapPay => s.wap_pay(&req),
        Method::Query => s.query(&req),
        Method::Close => s.close(&req),
        Method::Refund => s.refund(&req),
        Method::RefundQuery => s.refund_query(&req),
        Method::BillDownloadUrl => s.bill_download_url(&req),
    }
}

/// The bill zip behind a download URL, while the link lives.
async fn bill_file(State(s): State<Arc<Ali>>, Path(token): Path<String>) -> Response {
    match s.core.statements.take(&token, s.now()) {
        Some(zip) => ([(header::CONTENT_TYPE, "application/zip")], zip).into_response(),
        None => error_page(StatusCode::NOT_FOUND, "链接已失效", "请重新获取账单下载地址"),
    }
}

/// Opening the QR page is the scan: the trade comes into existence as `WAIT_BUYER_PAY`.
async fn qr_page(State(s): State<Arc<Ali>>, Path(no): Path<String>) -> Response {
    let now = s.now();
    let mut trades = lock(&s.trades);
    let Some(t) = trades.get_mut(&no) else {
        return error_page(StatusCode::NOT_FOUND, "二维码无效", "订单不存在");
    };
    match t.status(now) {
        Status::Success => return state_page(StatusCode::OK, Status::Success),
        Status::Closed => return state_page(StatusCode::OK, Status::Closed),
        Status::NotScanned => {
            t.scanned = Some(Scanned { trade_no: s.next_trade_no(now), at: now });
            tracing::info!(gateway = "alipay", out_trade_no = no, "QR code scanned");
        }
        Status::WaitBuyerPay => {}
    }
    page::cashier(&Cashier { brand: Brand::Alipay, out_trade_no: &no, subject: &t.subject, amount: t.total, hidden: &[("via", "qr")] })
}

async fn pay(State(s): State<Arc<Ali>>, Path(no): Path<String>, body: Bytes) -> Response {
    let via_wap = form::parse(&body).ok().and_then(|f| f.get("via").cloned()).as_deref() == Some("wap");
    let now = s.now();
    let mut trades = lock(&s.trades);
    let Some(t) = trades.get_mut(&no) else {
        return error_page(StatusCode::NOT_FOUND, "订单不存在", "");
    };
    match t.status(now) {
        Status::NotScanned => return error_page(StatusCode::CONFLICT, "请先扫码", "交易尚未创建"),
        Status::Success => {
            return page::outcome(StatusCode::CONFLICT, Brand::Alipay, Tone::Error, "订单已支付", "请勿重复支付", None);
        }
        Status::Closed => {
            t.stage = Stage::Closed;
            tracing::info!(gateway = "alipay", out_trade_no = no, "payment refused: trade closed");
            return page::outcome(StatusCode::CONFLICT, Brand::Alipay, Tone::Error, "交易已关闭，无法支付", "订单已关闭或已超时", None);
        }
        Status::WaitBuyerPay => {}
    }
    t.stage = Stage::Paid { at: now };
    let scanned = t.scanned.as_ref().expect("a waiting trade was scanned");
    let info = PaidInfo {
        trade_no: scanned.trade_no.clone(),
        notify_id: format!("{}0022{}", beijing_date(now).format("%Y%m%d"), random_digits(22)),
        subject: t.subject.clone(),
        total: t.total,
        created_at: scanned.at,
        paid_at: now,
    };
    tracing::info!(gateway = "alipay", out_trade_no = no, trade_no = info.trade_no, "trade paid");
    let redirect = match (&t.return_url, via_wap) {
        (Some(url), true) if is_http_url(url) => Some(s.return_location(url, &no, &info.trade_no, t.total)),
        _ => None,
    };
    match t.notify_url.clone() {
        Some(url) if is_http_url(&url) => s.notify(&no, url, info),
        _ => tracing::info!(gateway = "alipay", out_trade_no = no, "no notify_url: nothing to notify"),
    }
    drop(trades);
    match redirect {
        Some(location) => Redirect::to(&location).into_response(),
        None => page::outcome(StatusCode::OK, Brand::Alipay, Tone::Ok, "支付成功", "请返回商户页面查看结果", None),
    }
}

/// The payer gives up: the trade stays `WAIT_BUYER_PAY`.
async fn cancel(State(s): State<Arc<Ali>>, Path(no): Path<String>, body: Bytes) -> Response {
    let via_wap = form::parse(&body).ok().and_then(|f| f.get("via").cloned()).as_deref() == Some("wap");
    let trades = lock(&s.trades);
    let Some(t) = trades.get(&no) else {
        return error_page(StatusCode::NOT_FOUND, "订单不存在", "");
    };
    tracing::info!(gateway = "alipay", out_trade_no = no, "payer cancelled");
    if via_wap {
        if let Some(url) = t.quit_url.as_deref().filter(|u| is_http_url(u)) {
            return Redirect::to(url).into_response();
        }
        return page::outcome(StatusCode::OK, Brand::Alipay, Tone::Info, "已取消支付", "可返回商户页面重新发起支付", None);
    }
    let back = format!("/qr/{no}");
    page::outcome(StatusCode::OK, Brand::Alipay, Tone::Info, "已取消支付", "", Some((&back, "返回收银台")))
}

fn state_page(status: StatusCode, trade: Status) -> Response {
    match trade {
        Status::Success => page::outcome(status, Brand::Alipay, Tone::Info, "订单已支付", "请勿重复支付", None),
        _ => page::outcome(status, Brand::Alipay, Tone::Error, "交易已关闭", "订单已关闭或已超时，无法支付", None),
    }
}

fn error_page(status: StatusCode, message: &str, detail: &str) -> Response {
    page::outcome(status, Brand::Alipay, Tone::Error, message, detail, None)
}

fn json_response(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json;charset=utf-8")], body).into_response()
}

/// `(code, msg, sub_code, sub_msg)` for a request that failed verification (§1.4).
fn auth_error(e: &GatewayError) -> (&'static str, &'static str, &'static str, &'static str) {
    const MISSING: &str = "Missing Required Arguments";
    const INVALID: &str = "Invalid Arguments";
    match e {
        GatewayError::Signature(m) if m.contains("missing") => ("40001", MISSING, "isv.missing-signature", "缺少签名参数"),
        GatewayError::Signature(m) if m.contains("sign_type") => ("40002", INVALID, "isv.invalid-signature-type", "无效签名类型"),
        GatewayError::Signature(_) => ("40002", INVALID, "isv.invalid-signature", "验签出错"),
        GatewayError::Malformed(m) if m.contains("app_id") => ("40002", INVALID, "isv.invalid-app-id", "无效的AppID参数"),
        GatewayError::Malformed(m) if m.contains("no method") => ("40001", MISSING, "isv.missing-method", "缺少方法名参数"),
        GatewayError::Malformed(m) if m.contains("charset") => ("40002", INVALID, "isv.invalid-charset", "字符集错误"),
        GatewayError::Malformed(_) => ("40002", INVALID, "isv.invalid-parameter", "参数无效"),
        GatewayError::Key(_) | GatewayError::Refused { .. } => ("20000", "Service Currently Unavailable", "isp.unknow-error", "系统繁忙"),
    }
}

/// Authentication failures are answered with an unsigned `error_response` (§1.4).
fn unsigned_error(e: &GatewayError) -> Response {
    unsigned(auth_error(e))
}

fn unsigned((code, msg, sub_code, sub_msg): (&str, &str, &str, &str)) -> Response {
    json_response(json!({"error_response": {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}}).to_string())
}

/// The `method` a request claims, before any verification (only to pick page vs. JSON).
fn claimed_method(query: &[u8], body: &[u8]) -> Option<String> {
    [query, body].into_iter().find_map(|part| form::parse(part).ok()?.remove("method"))
}

/// A system parameter (URL ∪ form), non-empty.
fn param(req: &IncomingRequest, key: &str) -> Option<String> {
    req.params.get(key).filter(|v| !v.is_empty()).cloned()
}

/// A `biz_content` member as text (strings, and numbers as some SDKs send amounts).
fn text(biz: &Map<String, Value>, key: &str) -> Option<String> {
    match biz.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Validates the pay fields of `biz_content` (§1.5). `product_codes` lists the accepted values;
/// `qr` adds `qr_code_timeout_express` to the expiry (precreate).
fn order(biz: &Map<String, Value>, now: DateTime<Utc>, product_codes: &[&str], product_required: bool, qr: bool) -> Result<Order, Refusal> {
    let out_trade_no = text(biz, "out_trade_no").ok_or_else(|| invalid("缺少 out_trade_no"))?;
    if out_trade_no.len() > 64 || !out_trade_no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(invalid("out_trade_no 只能是不超过 64 位的字母、数字、下划线"));
    }
    let total = text(biz, "total_amount").ok_or_else(|| invalid("缺少 total_amount"))?;
    let total = Fen::parse_yuan(&total).map_err(|_| invalid("total_amount 格式错误"))?;
    if total < MIN_AMOUNT {
        return Err(invalid("total_amount 不能小于 0.01"));
    }
    if total > MAX_AMOUNT {
        return Err(("ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额".into()));
    }
    let subject = text(biz, "subject").ok_or_else(|| invalid("缺少 subject"))?;
    if subject.chars().count() > 256 {
        return Err(invalid("subject 过长"));
    }
    match text(biz, "product_code") {
        Some(code) if !product_codes.contains(&code.as_str()) => return Err(invalid("product_code 不支持")),
        None if product_required => return Err(invalid("缺少 product_code")),
        _ => {}
    }
    let mut expiry: Option<DateTime<Utc>> = None;
    let mut earliest = |t: DateTime<Utc>| expiry = Some(expiry.map_or(t, |e| e.min(t)));
    if let Some(s) = text(biz, "time_expire") {
        earliest(parse_time(&s).ok_or_else(|| invalid("time_expire 格式错误"))?);
    }
    if let Some(s) = text(biz, "timeout_express") {
        earliest(relative(&s, now).ok_or_else(|| invalid("timeout_express 格式错误"))?);
    }
    if qr && let Some(s) = text(biz, "qr_code_timeout_express") {
        earliest(relative(&s, now).ok_or_else(|| invalid("qr_code_timeout_express 格式错误"))?);
    }
    if expiry.is_some_and(|t| t <= now) {
        return Err(invalid("time_expire 已过"));
    }
    Ok(Order { out_trade_no, total, subject, expires_at: expiry })
}

/// `yyyy-MM-dd HH:mm:ss` (or `yyyy-MM-dd HH:mm`, the wap model's form, §8.5) in Beijing time.
fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, TIME_FORMAT).or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M")).ok()?;
    Some(naive.and_local_timezone(beijing()).single()?.with_timezone(&Utc))
}

fn format_time(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format(TIME_FORMAT).to_string()
}

/// `timeout_express`: `1m`–`15d` in `m`/`h`/`d`, or `1c` (midnight of the day, Beijing) (§1.5).
fn relative(s: &str, from: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if s == "1c" {
        let midnight = beijing_date(from).succ_opt()?.and_hms_opt(0, 0, 0)?;
        return Some(midnight.and_local_timezone(beijing()).single()?.with_timezone(&Utc));
    }
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: i64 = num.parse().ok()?;
    let secs = n.checked_mul(match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return None,
    })?;
    (60..=15 * 86_400).contains(&secs).then(|| from + Duration::seconds(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_expiry() {
        let t: DateTime<Utc> = "2026-11-26T04:00:00Z".parse().unwrap();
        assert_eq!(relative("30m", t), Some(t + Duration::minutes(30)));
        assert_eq!(relative("2h", t), Some(t + Duration::hours(2)));
        assert_eq!(relative("15d", t), Some(t + Duration::days(15)));
        assert_eq!(relative("16d", t), None);
        assert_eq!(relative("1.5h", t), None);
        assert_eq!(relative("0m", t), None);
        assert_eq!(relative("+5m", t), None);
        // 12:00 Beijing → midnight Beijing = 16:00 UTC.
        assert_eq!(relative("1c", t), Some("2026-11-26T16:00:00Z".parse().unwrap()));
    }

    #[test]
    fn beijing_times() {
        let t = parse_time("2026-11-26 12:30:00").unwrap();
        assert_eq!(t, "2026-11-26T04:30:00Z".parse::<DateTime<Utc>>().unwrap());
        assert_eq!(parse_time("2026-11-26 12:30"), Some(t));
        assert_eq!(format_time(t), "2026-11-26 12:30:00");
        assert_eq!(parse_time("2026-11-26T12:30:00"), None);
    }
}
