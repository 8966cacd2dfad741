//! `notify-unionpay`: POST /api/notify/unionpay — UnionPay's backUrl notification (ACP 5.1.0).
//! Verified through the `signPubKeyCert` chain and CN, compared with our attempt (merId, orderId,
//! txnTime, txnAmt), stored, applied; answered HTTP 200 `ok` only after all of that. Any other
//! status makes UnionPay send it again (5 sends in all). The flow is the one every channel shares
//! (`shared::http::notification`).
//!
//! Also POST /api/return/unionpay — the `frontUrl` UnionPay's cashier sends the browser back to
//! with a POST of the transaction's fields. Only a hint (gateways.md §4.6): nothing is trusted or
//! changed; the browser is sent on to the order page, which asks our own records.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::App;
use shared::domain::Channel;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let resp = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/notify/unionpay") => shared::http::notification(app, Channel::Unionpay, &req).await,
        ("POST", "/api/return/unionpay") => back_to_order(req.body().as_ref()),
        _ => shared::http::not_found(),
    };
    shared::http::finish(req.method().as_str(), req.uri().path(), started, Ok(resp))
}

/// 303 to the order page of the attempt the form names (`orderId`, when it is one of our
/// out-trade-nos), else to 学费缴费.
fn back_to_order(body: &[u8]) -> Response<Body> {
    let attempt =
        shared::gateway::form::parse(body).ok().and_then(|f| f.get("orderId").and_then(|o| shared::domain::OutTradeNo::parse(o).ok()));
    let location = match attempt {
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
