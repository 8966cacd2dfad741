//! `orders` function: 学费缴费 — make or reuse an order for the picked fee items, read it,
//! change its receipt phone, cancel it; start a payment on a channel (选择缴费方式) and ask the
//! gateways whether it was paid (「我已支付」).

use lambda_adapter::http;
use lambda_http::{Body, Request, RequestExt, Response, http::StatusCode};
use serde::Deserialize;
use shared::auth;
use shared::domain::Channel;
use shared::gateway::Device;
use shared::service::orders::Pick;
use shared::service::payer::{PAYER_SECS, PAYER_STATE_SECS};
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, gateways: true, ..shared::Uses::TABLE_ONLY };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PickBody {
    academic_year: String,
    item_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    items: Vec<PickBody>,
    phone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    phone: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayerBody {
    channel: Channel,
}

#[derive(serde::Serialize)]
struct PayerAuthorization {
    authorize_url: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayBody {
    channel: Channel,
    device: Device,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    // WeChat's OAuth return (微信内支付): a top-level navigation, always a redirect.
    if req.method() == "GET" && req.uri().path() == shared::service::payer::PAYER_RETURN_PATH {
        return payer_return(app, &req).await;
    }
    http::serve(app, &req, route(app, &req)).await
}

fn redirect(location: &str, cookies: &[String]) -> Response<Body> {
    let mut b = Response::builder().status(StatusCode::FOUND).header("location", location).header("cache-control", "no-store");
    for c in cookies {
        b = b.header("set-cookie", c);
    }
    b.body(Body::Empty).expect("valid response")
}

/// `GET /api/wechat/payer?code&state`: the gateway's return; the state cookie is spent.
async fn payer_return(app: &App, req: &Request) -> Response<Body> {
    let secure = app.settings.cookie_secure;
    let query = |name: &str| req.query_string_parameters_ref().and_then(|q| q.first(name)).unwrap_or_default().to_owned();
    let state_token = http::cookie(req, auth::payer_state_cookie_name(secure));
    let named = app.payer_authorized(state_token, &query("code"), &query("state")).await;
    let mut cookies = vec![auth::payer_state_cookie("", 0, secure)];
    if let Some(token) = named.payer_token {
        cookies.push(auth::payer_cookie(&token, PAYER_SECS, secure));
    }
    redirect(&named.location, &cookies)
}

/// The `{order_no}` path parameter and what follows it (`""`, `"phone"`, `"cancel"`).
fn order_route(req: &Request) -> Option<(String, &str)> {
    let no = req.path_parameters_ref().and_then(|p| p.first("order_no")).map(str::to_owned)?;
    let rest = req.uri().path().strip_prefix("/api/orders/")?.strip_prefix(no.as_str())?;
    Some((no, rest.trim_start_matches('/')))
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    let method = req.method().as_str();
    let target = if req.uri().path() == "/api/orders" { Some((String::new(), "create")) } else { order_route(req) };
    let Some((no, action)) = target else { return Err(AppError::NotFound) };
    if !matches!((method, action), ("POST", "create") | ("GET", "") | ("PUT", "phone") | ("POST", "cancel" | "pay" | "check" | "payer")) {
        return Err(AppError::NotFound);
    }
    let who = http::authenticate(app, req).await?;
    who.require_ready()?;
    let resp = match action {
        "create" => {
            let body: CreateBody = http::json_body(req)?;
            let picks: Vec<Pick> = body.items.into_iter().map(|p| Pick { academic_year: p.academic_year, item_id: p.item_id }).collect();
            let (view, created) = app.create_or_reuse_order(&who, &picks, body.phone.as_deref()).await?;
            http::json(if created { StatusCode::CREATED } else { StatusCode::OK }, &view)
        }
        "" => http::json(StatusCode::OK, &app.order_status(&who, &no).await?),
        "pay" => {
            let body: PayBody = http::json_body(req)?;
            let payer = app.payer_of(&who, http::cookie(req, auth::payer_cookie_name(app.settings.cookie_secure)));
            http::json(StatusCode::OK, &app.start_payment(&who, &no, body.channel, body.device, &http::client_ip(req), payer).await?)
        }
        "check" => http::json(StatusCode::OK, &app.check_payment(&who, &no).await?),
        "payer" => {
            // 微信内支付: where WeChat names the payer; the state kept in a cookie meanwhile.
            let body: PayerBody = http::json_body(req)?;
            let r = app.payer_authorize(&who, &no, body.channel).await?;
            let mut resp = http::json(StatusCode::OK, &PayerAuthorization { authorize_url: r.location });
            let cookie = auth::payer_state_cookie(&r.state_token, PAYER_STATE_SECS, app.settings.cookie_secure);
            resp.headers_mut().append("set-cookie", cookie.parse().expect("a cookie is a header value"));
            resp
        }
        "phone" => {
            let body: PhoneBody = http::json_body(req)?;
            http::json(StatusCode::OK, &app.set_order_phone(&who, &no, &body.phone).await?)
        }
        "cancel" => http::json(StatusCode::OK, &app.cancel_order(&who, &no).await?),
        _ => return Err(AppError::NotFound),
    };
    Ok(http::renewed(&who, resp))
}
