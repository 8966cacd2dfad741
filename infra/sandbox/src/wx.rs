//! The local WeChat Pay APIv3 (gateways.md §2, §5), public-key mode: Native and H5 orders,
//! query and close by out-trade-no, the cashier pages, signed and encrypted notifications.

use crate::engine::{self, Core, Outgoing, is_http_url, random_digits, random_uuid};
use crate::page::{self, Brand, Cashier, Tone};
use crate::statements::PaidRecord;
use crate::sync::lock;
use crate::{Book, Control};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared::clock::{Clock, SystemClock, beijing};
use shared::domain::Fen;
use shared::gateway::wechat::{
    self, Headers, NotifyAnswer, Sandbox, SandboxRefund, SandboxSettings, SandboxTransaction, Stamp, TradeStatus,
};
use shared::gateway::{GatewayError, form};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Intervals between notification sends until a 200/204 comes back: 16 sends in about 24 h (§2.6).
pub const WECHAT_RETRY_AFTER_SECS: [u64; 15] =
    [15, 15, 30, 180, 600, 1_200, 1_800, 1_800, 1_800, 3_600, 10_800, 10_800, 10_800, 21_600, 21_600];

#[derive(Debug, Clone)]
pub struct WechatConfig {
    pub settings: SandboxSettings,
    /// Where this sandbox is reachable, e.g. `http://127.0.0.1:4602`: the base of `code_url`
    /// and `h5_url`.
    pub public_base: String,
    /// 1.0 = the real retry schedule; 0.001 makes 15 seconds 15 ms.
    pub retry_scale: f64,
    /// The official account behind `appid` (JSAPI, inside WeChat): its AppSecret and the
    /// merchant site registered with it. `None`: no OAuth, no JSAPI.
    pub official_account: Option<OfficialAccount>,
}

/// What the merchant registered for its official account, as WeChat checks it.
#[derive(Debug, Clone)]
pub struct OfficialAccount {
    pub app_secret: String,
    /// 网页授权域名 and 支付授权目录 in one: OAuth returns only to this host, and the bridge
    /// pays only from pages under this URL (e.g. `http://127.0.0.1:3000/`).
    pub site: String,
}

/// The local WeChat Pay on the system clock. Panics on invalid settings (keys, retry_scale).
pub fn wechat(cfg: WechatConfig) -> (Router, Control) {
    try_wechat(cfg, Arc::new(SystemClock)).unwrap_or_else(|e| panic!("invalid WeChat Pay sandbox settings: {e}"))
}

/// The local WeChat Pay on `clock` (share the platform's clock when it is shifted in tests: the
/// 5-minute `Authorization` window is checked against it).
pub fn try_wechat(cfg: WechatConfig, clock: Arc<dyn Clock>) -> Result<(Router, Control), GatewayError> {
    let state = Arc::new(Wx {
        sandbox: Sandbox::new(&cfg.settings)?,
        mchid: cfg.settings.mchid.clone(),
        appid: cfg.settings.appid.clone(),
        public_base: cfg.public_base.trim_end_matches('/').to_owned(),
        core: Arc::new(Core::new("wechat", clock, cfg.retry_scale)?),
        trades: Mutex::new(HashMap::new()),
        seq: AtomicU64::new(0),
        refunds: Mutex::new(HashMap::new()),
        refund_urls: Mutex::new(HashMap::new()),
        account: cfg.official_account.clone(),
        payer_openid: format!("oSbx{}", random_digits(24)),
        oauth_codes: Mutex::new(HashMap::new()),
    });
    let control = Control::new(Arc::clone(&state.core), state.clone());
    let router = Router::new()
        .route("/v3/pay/transactions/native", post(create_native))
        .route("/v3/pay/transactions/h5", post(create_h5))
        .route("/v3/pay/transactions/jsapi", post(create_jsapi))
        .route("/v3/pay/transactions/out-trade-no/{no}", get(query))
        .route("/v3/pay/transactions/out-trade-no/{no}/close", post(close))
        .route("/v3/refund/domestic/refunds", post(refund))
        .route("/v3/refund/domestic/refunds/{no}", get(refund_query))
        .route("/v3/bill/tradebill", get(trade_bill))
        .route("/v3/billdownload/file", get(bill_file))
        .route("/scan/{no}", get(scan_page))
        .route("/h5/{no}", get(h5_page))
        .route("/cashier/{no}/pay", post(pay))
        .route("/cashier/{no}/cancel", post(cancel))
        .merge(crate::wx_jsapi::routes())
        .with_state(state)
        .merge(control.clone().routes());
    Ok((router, control))
}

pub(crate) struct Wx {
    pub(crate) sandbox: Sandbox,
    mchid: String,
    pub(crate) appid: String,
    public_base: String,
    core: Arc<Core>,
    trades: Mutex<HashMap<String, Trade>>,
    seq: AtomicU64,
    /// Refunds by `out_refund_no`.
    refunds: Mutex<HashMap<String, SandboxRefund>>,
    /// The `notify_url` each refund gave, by `out_refund_no`.
    refund_urls: Mutex<HashMap<String, String>>,
    pub(crate) account: Option<OfficialAccount>,
    /// The openid of the WeChat user holding the phone, for our `appid`.
    pub(crate) payer_openid: String,
    /// OAuth codes handed out: code → when (5 minutes, once).
    pub(crate) oauth_codes: Mutex<HashMap<String, DateTime<Utc>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Native,
    H5,
    Jsapi,
}

impl Kind {
    fn trade_type(self) -> &'static str {
        match self {
            Kind::Native => "NATIVE",
            Kind::H5 => "MWEB",
            Kind::Jsapi => "JSAPI",
        }
    }
}

/// What a create-order request asked for; a repeat must ask for the same (§2.4).
#[derive(Debug, Clone, PartialEq, Eq)]
struct OrderFields {
    kind: Kind,
    description: String,
    total: Fen,
    notify_url: String,
    time_expire: Option<String>,
    /// JSAPI: `payer.openid`.
    payer: Option<String>,
}

struct Trade {
    order: OrderFields,
    expires_at: Option<DateTime<Utc>>,
    prepay_id: String,
    stage: Stage,
}

enum Stage {
    NotPay,
    Paid { transaction_id: String, at: DateTime<Utc> },
    Closed,
}

impl Trade {
    fn trade_state(&self) -> TradeStatus {
        match self.stage {
            Stage::NotPay => TradeStatus::NotPay,
            Stage::Paid { .. } => TradeStatus::Success,
            Stage::Closed => TradeStatus::Closed,
        }
    }
    /// `time_expire` is the last moment the payer may pay (§2.7.5).
    fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|t| now > t)
    }
    fn transaction(&self, out_trade_no: &str) -> SandboxTransaction {
        let (transaction_id, success_time) = match &self.stage {
            Stage::Paid { transaction_id, at } => (Some(transaction_id.clone()), Some(*at)),
            _ => (None, None),
        };
        SandboxTransaction {
            out_trade_no: out_trade_no.to_owned(),
            transaction_id,
            trade_type: self.order.kind.trade_type().to_owned(),
            trade_state: self.trade_state(),
            total: self.order.total,
            success_time,
        }
    }
}

fn state_name(s: TradeStatus) -> &'static str {
    match s {
        TradeStatus::Success => "SUCCESS",
        TradeStatus::Refund => "REFUND",
        TradeStatus::NotPay => "NOTPAY",
        TradeStatus::Closed => "CLOSED",
        TradeStatus::Revoked => "REVOKED",
        TradeStatus::UserPaying => "USERPAYING",
        TradeStatus::PayError => "PAYERROR",
    }
}

impl Book for Wx {
    fn state(&self, out_trade_no: &str) -> Option<String> {
        let refunded = self.refunded(out_trade_no);
        lock(&self.trades).get(out_trade_no).map(|t| match t.trade_state() {
            // Refunded in full: `REFUND` (§2.5).
            TradeStatus::Success if refunded >= t.order.total => "REFUND".to_owned(),
            s => state_name(s).to_owned(),
        })
    }
    fn refunds(&self, out_trade_no: &str) -> usize {
        lock(&self.refunds).values().filter(|r| r.out_trade_no == out_trade_no).count()
    }

    fn settle_abnormal_refund(&self, out_refund_no: &str) -> bool {
        let settled = {
            let mut refunds = lock(&self.refunds);
            let Some(r) = refunds.get_mut(out_refund_no).filter(|r| r.status == "ABNORMAL") else { return false };
            r.status = "SUCCESS".into();
            r.success_time = Some(self.now());
            r.clone()
        };
        tracing::info!(gateway = "wechat", out_refund_no, "abnormal refund settled by the merchant");
        self.notify_refund(settled);
        true
    }

    fn paid(&self) -> Vec<PaidRecord> {
        let trades = lock(&self.trades);
        let paid = trades.iter().filter_map(|(no, t)| match &t.stage {
            Stage::Paid { transaction_id, at } => {
                Some(PaidRecord { out_trade_no: no.clone(), trade_no: transaction_id.clone(), amount: t.order.total, paid_at: *at })
            }
            _ => None,
        });
        paid.collect()
    }
}

/// An API refusal: HTTP status, `code`, `message` (§2.3).
type Refusal = (StatusCode, &'static str, String);

fn param_error(message: impl Into<String>) -> Refusal {
    (StatusCode::BAD_REQUEST, "PARAM_ERROR", message.into())
}

impl Wx {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.core.now()
    }

    /// A response signed with the sandbox's key (`Wechatpay-*` headers, `Request-ID`), also for
    /// 204 and errors (§2.3, §5).
    fn signed(&self, status: StatusCode, body: String) -> Response {
        let stamp = Stamp::fresh(self.now());
        let headers = match self.sandbox.sign_response(body.as_bytes(), &stamp, &random_uuid()) {
            Ok(h) => h,
            Err(e) => {
                tracing::error!(gateway = "wechat", error = %e, "could not sign a response");
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        };
        let mut resp = (status, body).into_response();
        let map = resp.headers_mut();
        for (name, value) in headers.iter() {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
                map.insert(n, v);
            }
        }
        if status == StatusCode::NO_CONTENT {
            map.remove(header::CONTENT_TYPE);
        } else {
            map.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        resp
    }

    fn refused(&self, (status, code, message): Refusal) -> Response {
        tracing::info!(gateway = "wechat", status = status.as_u16(), code, "request refused");
        self.signed(status, wechat::error_body(code, &message))
    }

    /// Checks `Authorization` (§2.2): `None` when it verifies, else the answer — a 401
    /// `SIGN_ERROR`, unsigned.
    fn unauthorized(&self, method: &str, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let url = uri.path_and_query().map_or(uri.path(), |pq| pq.as_str());
        let e = self.sandbox.verify_authorization(method, url, &Headers::from_http(headers), body, self.now()).err()?;
        tracing::warn!(gateway = "wechat", method, path = uri.path(), error = %e, "authorization refused");
        Some(
            (
                StatusCode::UNAUTHORIZED,
                [(header::CONTENT_TYPE, "application/json")],
                wechat::error_body("SIGN_ERROR", "签名错误，请检查后再试"),
            )
                .into_response(),
        )
    }

    /// `4200000000` + Beijing date + a 10-digit sequence (28 digits).
    fn next_transaction_id(&self, now: DateTime<Utc>) -> String {
        let seq = self.seq.fetch_add(1, Ordering::SeqCst) + 1;
        format!("4200000000{}{seq:010}", now.with_timezone(&beijing()).format("%Y%m%d"))
    }

    fn link(&self, out_trade_no: &str, t: &Trade) -> Value {
        match t.order.kind {
            Kind::Native => json!({ "code_url": format!("{}/scan/{out_trade_no}", self.public_base) }),
            Kind::H5 => json!({
                "h5_url": format!("{}/h5/{out_trade_no}?prepay_id={}", self.public_base, t.prepay_id)
            }),
            Kind::Jsapi => json!({ "prepay_id": t.prepay_id }),
        }
    }

    fn create(&self, kind: Kind, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        if let Some(resp) = self.unauthorized("POST", uri, headers, body) {
            return resp;
        }
        let now = self.now();
        let (out_trade_no, order, expires_at) = match self.order_fields(kind, body) {
            Ok(parsed) => parsed,
            Err(r) => return self.refused(r),
        };
        let mut trades = lock(&self.trades);
        if let Some(t) = trades.get(&out_trade_no) {
            let refusal = match t.stage {
                Stage::Paid { .. } => Some((StatusCode::BAD_REQUEST, "ORDERPAID", "该订单已支付".to_owned())),
                Stage::Closed => Some((StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已关闭".to_owned())),
                Stage::NotPay if t.expired(now) => {
                    Some((StatusCode::BAD_REQUEST, "ORDER_CLOSED", "订单已过期，请使用新的商户订单号".to_owned()))
                }
                Stage::NotPay if t.order != order => Some((StatusCode::BAD_REQUEST, "INVALID_REQUEST", "201 商户订单号重复".to_owned())),
                Stage::NotPay => None,
            };
            if let Some(r) = refusal {
                return self.refused(r);
            }
            return self.signed(StatusCode::OK, self.link(&out_trade_no, t).to_string());
        }
        let prepay_id = format!("wx{}{}", now.with_timezone(&beijing()).format("%d%H%M%S"), random_digits(24));
        let trade = Trade { order, expires_at, prepay_id, stage: Stage::NotPay };
        let link = self.link(&out_trade_no, &trade);
        tracing::info!(gateway = "wechat", out_trade_no, trade_type = kind.trade_type(), "order created");
        trades.insert(out_trade_no, trade);
        self.signed(StatusCode::OK, link.to_string())
    }

    /// Validates a create-order body (§2.4).
    fn order_fields(&self, kind: Kind, body: &[u8]) -> Result<(String, OrderFields, Option<DateTime<Utc>>), Refusal> {
        let v: Value = serde_json::from_slice(body).map_err(|_| param_error("请求体不是合法的 JSON"))?;
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        let appid = text("appid").ok_or_else(|| param_error("缺少 appid"))?;
        let mchid = text("mchid").ok_or_else(|| param_error("缺少 mchid"))?;
        if appid != self.appid || mchid != self.mchid {
            return Err((StatusCode::BAD_REQUEST, "APPID_MCHID_NOT_MATCH", "appid 和 mch_id 不匹配".into()));
        }
        let description = text("description").ok_or_else(|| param_error("缺少 description"))?;
        if description.chars().count() > 127 {
            return Err(param_error("description 过长"));
        }
        let out_trade_no = text("out_trade_no").ok_or_else(|| param_error("缺少 out_trade_no"))?;
        let no_ok =
            (6..=32).contains(&out_trade_no.len()) && out_trade_no.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b));
        if !no_ok {
            return Err(param_error("out_trade_no 须为 6-32 位字母、数字或 _-|*"));
        }
        let notify_url = text("notify_url").ok_or_else(|| param_error("缺少 notify_url"))?;
        if !is_http_url(notify_url) || notify_url.contains(['?', '#']) || notify_url.len() > 255 {
            return Err(param_error("notify_url 须为不带参数的 http(s) 地址"));
        }
        let amount = v.get("amount").ok_or_else(|| param_error("缺少 amount"))?;
        let total = amount.get("total").and_then(Value::as_i64).ok_or_else(|| param_error("缺少 amount.total"))?;
        if total < 1 || total > Fen::MAX.get() {
            return Err(param_error("amount.total 须为正整数（分）"));
        }
        if amount.get("currency").is_some_and(|c| c.as_str() != Some("CNY")) {
            return Err(param_error("amount.currency 仅支持 CNY"));
        }
        let time_expire = text("time_expire").map(str::to_owned);
        let expires_at = match &time_expire {
            Some(s) => {
                Some(DateTime::parse_from_rfc3339(s).map_err(|_| param_error("time_expire 须为 RFC 3339 时间"))?.with_timezone(&Utc))
            }
            None => None,
        };
        if kind == Kind::H5 {
            let scene = v.get("scene_info").ok_or_else(|| param_error("缺少 scene_info"))?;
            let ip = scene.get("payer_client_ip").and_then(Value::as_str).unwrap_or_default();
            if ip.parse::<IpAddr>().is_err() {
                return Err(param_error("scene_info.payer_client_ip 无效"));
            }
            if scene.pointer("/h5_info/type").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(param_error("缺少 scene_info.h5_info.type"));
            }
        }
        let payer = if kind == Kind::Jsapi {
            let openid = v.pointer("/payer/openid").and_then(Value::as_str).ok_or_else(|| param_error("缺少 payer.openid"))?;
            // An openid is per official account: only ours, of the user the sandbox knows.
            if self.account.is_none() || openid != self.payer_openid {
                return Err(param_error("openid 与 appid 不匹配"));
            }
            Some(openid.to_owned())
        } else {
            None
        };
        let order = OrderFields {
            kind,
            description: description.to_owned(),
            total: Fen::new(total),
            notify_url: notify_url.to_owned(),
            time_expire,
            payer,
        };
        Ok((out_trade_no.to_owned(), order, expires_at))
    }

    fn notify(&self, out_trade_no: &str, url: String, tx: SandboxTransaction) {
        let sandbox = self.sandbox.clone();
        // One notification id for the notification and all its retries.
        let id = random_uuid();
        engine::spawn_notifications(
            Arc::clone(&self.core),
            out_trade_no.to_owned(),
            url,
            &WECHAT_RETRY_AFTER_SECS,
            move |now| {
                let n = sandbox.payment_notification(&tx, &id, now)?;
                let mut headers: Vec<(String, String)> = n.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                headers.push(("User-Agent".into(), "Mozilla/4.0".into()));
                Ok(Outgoing { headers, body: n.body })
            },
            |status, _| NotifyAnswer::is_ack(status),
        );
    }

    fn refunded(&self, out_trade_no: &str) -> Fen {
        lock(&self.refunds).values().filter(|r| r.out_trade_no == out_trade_no && r.status != "CLOSED").map(|r| r.refund).sum()
    }

    /// A refund request (§2.5): a paid order, `amount.total` its total, at most what is left;
    /// the same `out_refund_no` again answers the same refund. Answered `PROCESSING`; the
    /// refund then succeeds and is notified (`REFUND.SUCCESS`, AAD `refund`) to `notify_url` —
    /// or, when set to fail on its way to the card, is `ABNORMAL` (`REFUND.ABNORMAL`) until the
    /// merchant handles it.
    fn refund(&self, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
        if let Some(resp) = self.unauthorized("POST", uri, headers, body) {
            return resp;
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else { return self.refused(param_error("请求体不是合法的 JSON")) };
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        let Some(out_refund_no) = text("out_refund_no").filter(|n| n.len() <= 64) else {
            return self.refused(param_error("缺少 out_refund_no"));
        };
        let (Some(refund), Some(total)) =
            (v.pointer("/amount/refund").and_then(Value::as_i64), v.pointer("/amount/total").and_then(Value::as_i64))
        else {
            return self.refused(param_error("缺少 amount.refund 或 amount.total"));
        };
        if let Some(r) = lock(&self.refunds).get(&out_refund_no) {
            if r.refund.get() != refund {
                return self.refused((StatusCode::BAD_REQUEST, "INVALID_REQUEST", "退款单号重复，退款金额不一致".into()));
            }
            return self.signed(StatusCode::OK, self.sandbox.refund_body(r));
        }
        let trades = lock(&self.trades);
        let found = match text("out_trade_no") {
            Some(no) => trades.get(&no).map(|t| (no, t)),
            None => text("transaction_id").and_then(|id| {
                trades
                    .iter()
                    .find(|(_, t)| matches!(&t.stage, Stage::Paid { transaction_id, .. } if *transaction_id == id))
                    .map(|(n, t)| (n.clone(), t))
            }),
        };
        let Some((out_trade_no, t)) = found else {
            return self.refused((StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在".into()));
        };
        let Stage::Paid { transaction_id, .. } = &t.stage else {
            return self.refused((StatusCode::BAD_REQUEST, "INVALID_REQUEST", "订单未支付，不能退款".into()));
        };
        if total != t.order.total.get() {
            return self.refused(param_error("amount.total 与订单金额不一致"));
        }
        let (transaction_id, total) = (transaction_id.clone(), t.order.total);
        drop(trades);
        let left = total.get() - self.refunded(&out_trade_no).get();
        if refund < 1 || refund > left {
            return self.refused((StatusCode::FORBIDDEN, "NOT_ENOUGH", "退款金额超过可退金额".into()));
        }
        let notify_url = text("notify_url").filter(|u| is_http_url(u));
        let now = self.now();
        let mut r = SandboxRefund {
            out_trade_no: out_trade_no.clone(),
            transaction_id,
            out_refund_no: out_refund_no.clone(),
            refund_id: format!("50300{}{}", now.with_timezone(&beijing()).format("%Y%m%d"), random_digits(15)),
            status: "PROCESSING".into(),
            total,
            refund: Fen::new(refund),
            created_at: now,
            success_time: None,
        };
        let answer = self.sandbox.refund_body(&r);
        tracing::info!(gateway = "wechat", out_trade_no, out_refund_no, "refund accepted");
        if self.core.take_refund_to_card_fault() {
            // Taken from the merchant, refused by the payer's account: ABNORMAL until the
            // merchant handles it (settle_abnormal_refund).
            r.status = "ABNORMAL".into();
        } else {
            // The money goes back at once here; the merchant learns it by notification or query.
            r.status = "SUCCESS".into();
            r.success_time = Some(now);
        }
        lock(&self.refunds).insert(out_refund_no.clone(), r.clone());
        if let Some(url) = notify_url {
            lock(&self.refund_urls).insert(out_refund_no, url);
        }
        self.notify_refund(r);
        self.signed(StatusCode::OK, answer)
    }

    /// Sends `REFUND.<status>` to the refund's `notify_url` (if it gave one), on the schedule.
    fn notify_refund(&self, r: SandboxRefund) {
        let Some(url) = lock(&self.refund_urls).get(&r.out_refund_no).cloned() else { return };
        let sandbox = self.sandbox.clone();
        let id = random_uuid();
        engine::spawn_notifications(
            Arc::clone(&self.core),
            r.out_refund_no.clone(),
            url,
            &WECHAT_RETRY_AFTER_SECS,
            move |now| {
                let n = sandbox.refund_notification(&r, &id, now)?;
                let mut headers: Vec<(String, String)> = n.headers.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
                headers.push(("User-Agent".into(), "Mozilla/4.0".into()));
                Ok(Outgoing { headers, body: n.body })
            },
            |status, _| NotifyAnswer::is_ack(status),
        );
    }

    fn cashier(&self, no: &str, via: &str, redirect_url: Option<&str>) -> Response {
        let trades = lock(&self.trades);
        let Some(t) = trades.get(no) else {
            return error_page(StatusCode::NOT_FOUND, "订单不存在", "");
        };
        match t.stage {
            Stage::Paid { .. } => {
                return page::outcome(StatusCode::OK, Brand::Wechat, Tone::Info, "订单已支付", "请勿重复支付", None);
            }
            Stage::Closed => return error_page(StatusCode::OK, "订单已关闭", "无法支付"),
            Stage::NotPay if t.expired(self.now()) => return error_page(StatusCode::OK, "订单已过期", "无法支付"),
            Stage::NotPay => {}
        }
        let mut hidden = vec![("via", via)];
        if let Some(url) = redirect_url {
            hidden.push(("redirect_url", url));
        }
        page::cashier(&Cashier {
            brand: Brand::Wechat,
            out_trade_no: no,
            subject: &t.order.description,
            amount: t.order.total,
            hidden: &hidden,
        })
    }
}

async fn create_native(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.create(Kind::Native, &uri, &headers, &body)
}

async fn create_jsapi(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.create(Kind::Jsapi, &uri, &headers, &body)
}

async fn create_h5(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.create(Kind::H5, &uri, &headers, &body)
}

async fn query(State(s): State<Arc<Wx>>, Path(no): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(resp) = s.unauthorized("GET", &uri, &headers, &body) {
        return resp;
    }
    let mchid = form::parse(uri.query().unwrap_or_default().as_bytes()).ok().and_then(|mut q| q.remove("mchid"));
    match mchid {
        None => return s.refused(param_error("缺少 mchid")),
        Some(m) if m != s.mchid => {
            return s.refused((StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "商户号不存在".into()));
        }
        Some(_) => {}
    }
    let body = match lock(&s.trades).get(&no) {
        Some(t) => s.sandbox.transaction_body(&t.transaction(&no)),
        None => return s.refused((StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在".into())),
    };
    s.signed(StatusCode::OK, body)
}

/// Closes an unpaid order: 204, also for repeats and unknown numbers (§2.5); a paid one is refused.
async fn close(State(s): State<Arc<Wx>>, Path(no): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(resp) = s.unauthorized("POST", &uri, &headers, &body) {
        return resp;
    }
    let mchid = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v.get("mchid")?.as_str().map(str::to_owned));
    match mchid {
        None => return s.refused(param_error("缺少 mchid")),
        Some(m) if m != s.mchid => {
            return s.refused((StatusCode::BAD_REQUEST, "MCH_NOT_EXISTS", "商户号不存在".into()));
        }
        Some(_) => {}
    }
    if let Some((status, code)) = s.core.take_close_fault() {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        tracing::info!(gateway = "wechat", out_trade_no = no, code, "close answered with a fault, nothing closed");
        return s.signed(status, wechat::error_body(&code, "sandbox fault"));
    }
    if let Some(t) = lock(&s.trades).get_mut(&no) {
        match t.stage {
            Stage::Paid { .. } => {
                return s.refused((StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付".into()));
            }
            Stage::NotPay => {
                t.stage = Stage::Closed;
                tracing::info!(gateway = "wechat", out_trade_no = no, "order closed");
            }
            Stage::Closed => {}
        }
    }
    s.signed(StatusCode::NO_CONTENT, String::new())
}

async fn refund(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    s.refund(&uri, &headers, &body)
}

/// `GET /v3/refund/domestic/refunds/{out_refund_no}` (§2.5); 404 `RESOURCE_NOT_EXISTS` if unknown.
async fn refund_query(State(s): State<Arc<Wx>>, Path(no): Path<String>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(resp) = s.unauthorized("GET", &uri, &headers, &body) {
        return resp;
    }
    let found = lock(&s.refunds).get(&no).map(|r| s.sandbox.refund_body(r));
    match found {
        Some(body) => s.signed(StatusCode::OK, body),
        None => s.refused((StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在".into())),
    }
}

/// `GET /v3/bill/tradebill?bill_date=…&bill_type=ALL`: a link to a day's bill (days before today);
/// a day without trades is `400 NO_STATEMENT_EXIST`.
async fn trade_bill(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(resp) = s.unauthorized("GET", &uri, &headers, &body) {
        return resp;
    }
    let now = s.now();
    let q = form::parse(uri.query().unwrap_or_default().as_bytes()).unwrap_or_default();
    let Some(day) = q.get("bill_date").and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) else {
        return s.refused(param_error("bill_date 格式错误"));
    };
    if !matches!(q.get("bill_type").map(String::as_str), None | Some("ALL" | "SUCCESS" | "REFUND")) {
        return s.refused(param_error("bill_type 无效"));
    }
    let rows = if day < shared::clock::beijing_date(now) { Control::statement_rows(s.as_ref(), &s.core, day) } else { Vec::new() };
    if rows.is_empty() {
        return s.refused((StatusCode::BAD_REQUEST, "NO_STATEMENT_EXIST", "No statement exist".into()));
    }
    let csv = crate::statements::wechat_csv(&s.appid, &s.mchid, &rows);
    let hash = hex::encode(<sha1::Sha1 as sha1::Digest>::digest(&csv));
    let token = s.core.statements.offer(csv, now);
    tracing::info!(gateway = "wechat", %day, rows = rows.len(), "trade bill offered");
    let link =
        json!({ "hash_type": "SHA1", "hash_value": hash, "download_url": format!("{}/v3/billdownload/file?token={token}", s.public_base) });
    s.signed(StatusCode::OK, link.to_string())
}

/// The bill behind a download link (signed request, unsigned answer: the hash vouches for it).
async fn bill_file(State(s): State<Arc<Wx>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(resp) = s.unauthorized("GET", &uri, &headers, &body) {
        return resp;
    }
    let token = form::parse(uri.query().unwrap_or_default().as_bytes()).ok().and_then(|mut q| q.remove("token")).unwrap_or_default();
    match s.core.statements.take(&token, s.now()) {
        Some(csv) => ([(header::CONTENT_TYPE, "application/octet-stream")], csv).into_response(),
        None => s.refused((StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "账单链接已失效".into())),
    }
}

async fn scan_page(State(s): State<Arc<Wx>>, Path(no): Path<String>) -> Response {
    s.cashier(&no, "scan", None)
}

/// The H5 cashier; `redirect_url` (appended by the merchant to `h5_url`) is where the browser
/// goes after paying or giving up (§2.4).
async fn h5_page(State(s): State<Arc<Wx>>, Path(no): Path<String>, RawQuery(q): RawQuery) -> Response {
    let redirect = q.and_then(|q| form::parse(q.as_bytes()).ok()).and_then(|mut m| m.remove("redirect_url")).filter(|u| is_http_url(u));
    s.cashier(&no, "h5", redirect.as_deref())
}

/// `(via, redirect_url)` of a cashier form.
fn cashier_form(body: &[u8]) -> (String, Option<String>) {
    let mut f = form::parse(body).unwrap_or_default();
    let via = f.remove("via").unwrap_or_default();
    let redirect = f.remove("redirect_url").filter(|u| via == "h5" && is_http_url(u));
    (via, redirect)
}

impl Wx {
    /// The payer pays trade `no` (cashier, or the JSAPI bridge): `NOTPAY` → `SUCCESS`, notified.
    /// A trade paid, closed or expired is refused with the words the payer sees.
    pub(crate) fn pay_trade(&self, no: &str) -> Result<(), (StatusCode, &'static str)> {
        let now = self.now();
        let mut trades = lock(&self.trades);
        let t = trades.get_mut(no).ok_or((StatusCode::NOT_FOUND, "订单不存在"))?;
        match t.stage {
            Stage::Paid { .. } => return Err((StatusCode::CONFLICT, "订单已支付，请勿重复支付")),
            Stage::Closed => return Err((StatusCode::CONFLICT, "订单已关闭，无法支付")),
            Stage::NotPay if t.expired(now) => {
                tracing::info!(gateway = "wechat", out_trade_no = no, "payment refused: order expired");
                return Err((StatusCode::CONFLICT, "订单已过期，无法支付"));
            }
            Stage::NotPay => {}
        }
        t.stage = Stage::Paid { transaction_id: self.next_transaction_id(now), at: now };
        let tx = t.transaction(no);
        tracing::info!(gateway = "wechat", out_trade_no = no, transaction_id = tx.transaction_id, "order paid");
        self.notify(no, t.order.notify_url.clone(), tx);
        Ok(())
    }

    /// The JSAPI trade a `prepay_id` belongs to, with its payer: `(out_trade_no, openid)`.
    pub(crate) fn jsapi_trade(&self, prepay_id: &str) -> Option<(String, String)> {
        lock(&self.trades)
            .iter()
            .find(|(_, t)| t.prepay_id == prepay_id && t.order.kind == Kind::Jsapi)
            .map(|(no, t)| (no.clone(), t.order.payer.clone().unwrap_or_default()))
    }
}

async fn pay(State(s): State<Arc<Wx>>, Path(no): Path<String>, body: Bytes) -> Response {
    let (_, redirect) = cashier_form(&body);
    if let Err((status, words)) = s.pay_trade(&no) {
        return error_page(status, words, "");
    }
    match redirect {
        Some(url) => Redirect::to(&url).into_response(),
        None => page::outcome(StatusCode::OK, Brand::Wechat, Tone::Ok, "支付成功", "请返回商户页面查看结果", None),
    }
}

/// The payer gives up: the order stays `NOTPAY`. H5 returns to `redirect_url` as WeChat does.
async fn cancel(State(s): State<Arc<Wx>>, Path(no): Path<String>, body: Bytes) -> Response {
    let (via, redirect) = cashier_form(&body);
    if !lock(&s.trades).contains_key(&no) {
        return error_page(StatusCode::NOT_FOUND, "订单不存在", "");
    }
    tracing::info!(gateway = "wechat", out_trade_no = no, "payer cancelled");
    if let Some(url) = redirect {
        return Redirect::to(&url).into_response();
    }
    let back = if via == "h5" { format!("/h5/{no}") } else { format!("/scan/{no}") };
    page::outcome(StatusCode::OK, Brand::Wechat, Tone::Info, "已取消支付", "", Some((&back, "返回收银台")))
}

fn error_page(status: StatusCode, message: &str, detail: &str) -> Response {
    page::outcome(status, Brand::Wechat, Tone::Error, message, detail, None)
}
