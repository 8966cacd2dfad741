//! `notify-wechat`: POST /api/notify/wechat — WeChat Pay's payment notification. Signature,
//! timestamp window and AEAD checked, compared with our attempt, stored, applied; answered 204
//! only after all of that.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::App;
use shared::gateway::wechat::{Headers, NotifyAnswer};
use shared::service::notify::NotifyRejected;

fn answer(a: NotifyAnswer) -> Response<Body> {
    let mut b = Response::builder().status(a.status);
    if !a.body.is_empty() {
        b = b.header("content-type", "application/json");
    }
    b.body(if a.body.is_empty() { Body::Empty } else { Body::Text(a.body) }).expect("valid response")
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let resp = match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/notify/wechat") => {
            let headers = Headers::from_http(req.headers());
            match app.wechat_notification(&headers, req.body().as_ref()).await {
                Ok(_) => answer(NotifyAnswer::ack()),
                Err(NotifyRejected::Store(_)) => answer(NotifyAnswer::fail("系统繁忙")),
                Err(_) => {
                    answer(NotifyAnswer { status: StatusCode::BAD_REQUEST.as_u16(), ..NotifyAnswer::fail("验签或数据校验失败") })
                }
            }
        }
        _ => shared::http::not_found(),
    };
    shared::http::finish(req.method().as_str(), req.uri().path(), started, Ok(resp))
}
