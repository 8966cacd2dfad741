//! `notify-alipay`: POST /api/notify/alipay — Alipay's asynchronous notification. Verified,
//! compared with our attempt, stored, applied; answered `success` only after all of that.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::App;
use shared::gateway::alipay::ACK;

fn text(status: StatusCode, body: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::Text(body.to_owned()))
        .expect("valid response")
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let resp = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/notify/alipay") => match app.alipay_notification(req.body().as_ref()).await {
            Ok(_) => text(StatusCode::OK, ACK),
            // Anything but `success` makes Alipay resend; a store failure may heal by then.
            Err(shared::service::notify::NotifyRejected::Store(_)) => text(StatusCode::INTERNAL_SERVER_ERROR, "fail"),
            Err(_) => text(StatusCode::BAD_REQUEST, "fail"),
        },
        _ => shared::http::not_found(),
    };
    shared::http::finish(req.method().as_str(), req.uri().path(), started, Ok(resp))
}
