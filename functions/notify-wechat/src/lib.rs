//! `notify-wechat`: POST /api/notify/wechat — WeChat Pay's payment and refund notifications.
//! Signature, timestamp window and AEAD checked, compared with our attempt (or refund), stored,
//! applied; answered 204 only after all of that (`shared::http::notification`, the flow every
//! channel shares).

use lambda_http::{Body, Request, Response};
use shared::App;
use shared::domain::Channel;

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let resp = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/notify/wechat") => shared::http::notification(app, Channel::Wechat, &req).await,
        _ => shared::http::not_found(),
    };
    shared::http::finish(req.method().as_str(), req.uri().path(), started, Ok(resp))
}
