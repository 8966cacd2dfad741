//! `notify`: the gateways' asynchronous notifications, every channel through one flow.
//!
//! POST /api/notify/{channel} — verified by that channel's gateway (signature, and what else it
//! secures its notifications with), compared with our attempt or refund (amounts, app and
//! merchant ids), stored, applied; answered in the gateway's terms (Alipay `success`, WeChat Pay
//! 204, UnionPay `ok`) only after all of that, so a failure makes the gateway send it again
//! (`lambda_adapter::http::notification`).
//!
//! POST /api/return/{channel} — a cashier sending the browser back with a form (UnionPay's
//! `frontUrl`). Only a hint (gateways.md §4.6): nothing is trusted or changed; the browser goes
//! on to the order page of the attempt the form names, which asks our own records.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::App;
use shared::domain::Channel;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { gateways: true, ..shared::Uses::TABLE_ONLY };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let path = req.uri().path();
    let channel = |prefix: &str| path.strip_prefix(prefix).and_then(Channel::parse);
    let resp = match (req.method().as_str(), channel("/api/notify/"), channel("/api/return/")) {
        ("POST", Some(c), _) => lambda_adapter::http::notification(app, c, &req).await,
        ("POST", _, Some(c)) => back_to_order(app, c, req.body().as_ref()),
        _ => lambda_adapter::http::not_found(),
    };
    lambda_adapter::http::finish(req.method().as_str(), path, started, Ok(resp))
}

/// 303 to the order page of the attempt the form names (one of our out-trade-nos, read by the
/// channel's gateway), else to 学费缴费.
fn back_to_order(app: &App, channel: Channel, form: &[u8]) -> Response<Body> {
    let location = match app.payments.get(channel).and_then(|g| g.returning_attempt(form)) {
        Some(no) => format!("/order.html?out_trade_no={no}"),
        None => "/tuition.html".to_owned(),
    };
    Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header("location", location)
        .header("cache-control", "no-store")
        .body(Body::Empty)
        .expect("valid response")
}
