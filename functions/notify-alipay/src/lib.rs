//! `notify-alipay`: POST /api/notify/alipay — Alipay's asynchronous notification. Verified,
//! compared with our attempt, stored, applied; answered `success` only after all of that
//! (`shared::http::notification`, the flow every channel shares).

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Channel;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let resp = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/notify/alipay") => shared::http::notification(app, Channel::Alipay, &req).await,
        _ => shared::http::not_found(),
    };
    shared::http::finish(req.method().as_str(), req.uri().path(), started, Ok(resp))
}
