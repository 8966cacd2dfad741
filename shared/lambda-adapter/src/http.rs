//! Thin HTTP plumbing shared by every function: JSON in and out, errors, cookies, sessions,
//! client address, notifications.

use lambda_http::{Body, Request, RequestExt, Response, http::HeaderValue, http::StatusCode, request::RequestContext};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::AppError;
use shared::service::session::Authed;

/// Bodies above this size are refused with 413 before parsing.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Parses a JSON body into `T` (which should `deny_unknown_fields`).
pub fn json_body<T: DeserializeOwned>(req: &Request) -> Result<T, AppError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(AppError::PayloadTooLarge);
    }
    if bytes.is_empty() {
        return Err(AppError::BadRequest("empty body".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| AppError::BadRequest(format!("json: {}", e.classify_name())))
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}
impl ClassifyName for serde_json::Error {
    /// The error kind only: serde's message may quote the (personal) input.
    fn classify_name(&self) -> &'static str {
        use serde_json::error::Category::*;
        match self.classify() {
            Io => "io",
            Syntax => "syntax",
            Data => "data",
            Eof => "eof",
        }
    }
}

/// A JSON response with the given status.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    let body = serde_json::to_string(value).expect("serialisable response");
    Response::builder()
        .status(status)
        .header("content-type", "application/json; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Body::Text(body))
        .expect("valid response")
}

pub fn no_content() -> Response<Body> {
    Response::builder().status(StatusCode::NO_CONTENT).header("cache-control", "no-store").body(Body::Empty).expect("valid response")
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a std::collections::BTreeMap<&'static str, String>>,
}

/// The `{code, message, fields?}` error response. Server-side failures are logged (without
/// request data); client errors are not.
pub fn error_response(err: &AppError) -> Response<Body> {
    let status = err.status();
    if status.is_server_error() {
        tracing::error!(code = err.code(), error = %err, "request failed");
    }
    json(status, &ErrorBody { code: err.code(), message: err.message(), fields: err.fields() })
}

/// Adds a `Set-Cookie` header.
pub fn with_cookie(mut resp: Response<Body>, cookie: &str) -> Response<Body> {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        resp.headers_mut().append("set-cookie", v);
    }
    resp
}

/// Every value of cookie `name`, from every `Cookie` header, in order.
fn cookies<'a>(req: &'a Request, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    req.headers()
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The value of cookie `name`, from any `Cookie` header.
pub fn cookie<'a>(req: &'a Request, name: &'a str) -> Option<&'a str> {
    cookies(req, name).next().filter(|v| !v.is_empty())
}

/// The session cookie's value. Two session cookies on one request are refused: one of them was
/// planted by another site (cookie tossing), and which one the browser put first is not ours
/// to guess.
fn session_token<'a>(app: &shared::App, req: &'a Request) -> Result<Option<&'a str>, AppError> {
    let name = shared::auth::session_cookie_name(app.settings.cookie_secure);
    let mut all = cookies(req, name);
    let first = all.next();
    if all.next().is_some() {
        tracing::warn!("request with two session cookies refused");
        return Err(AppError::Unauthenticated);
    }
    Ok(first.filter(|v| !v.is_empty()))
}

/// Methods that change state: they must come from our own site, with a JSON body.
fn changes_state(method: &lambda_http::http::Method) -> bool {
    !matches!(method.as_str(), "GET" | "HEAD" | "OPTIONS")
}

/// The cross-site request guard of the student site's routes (ASVS 5.0 3.5): a request that
/// changes state must say it comes from our own site — `Sec-Fetch-Site: same-origin`, which
/// every current browser sends and no page of another site can forge, or, from a browser
/// without it, an `Origin` equal to `site` (`PUBLIC_BASE_URL`) — and must carry
/// `application/json`, which no cross-site form can send without a CORS preflight we never
/// grant. 403 `CROSS_SITE` or 415 `UNSUPPORTED_MEDIA_TYPE` otherwise. The gateways'
/// notification routes do not come through here: they are verified by signature.
pub fn same_site_json(req: &Request, site: &str) -> Result<(), AppError> {
    if !changes_state(req.method()) {
        return Ok(());
    }
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok());
    let ours = match (header("sec-fetch-site"), header("origin")) {
        (Some(fetch_site), _) => fetch_site.eq_ignore_ascii_case("same-origin"),
        (None, Some(origin)) => origin.trim_end_matches('/').eq_ignore_ascii_case(site_origin(site)),
        (None, None) => false,
    };
    if !ours {
        tracing::warn!(method = req.method().as_str(), path = req.uri().path(), "cross-site request refused");
        return Err(AppError::CrossSite);
    }
    let media = header("content-type").and_then(|c| c.split(';').next()).map(str::trim);
    if !media.is_some_and(|m| m.eq_ignore_ascii_case("application/json")) {
        return Err(AppError::UnsupportedMediaType);
    }
    Ok(())
}

/// `scheme://host[:port]` of a base URL (what a browser sends as `Origin`).
fn site_origin(site: &str) -> &str {
    let after_scheme = site.find("://").map_or(0, |i| i + 3);
    match site[after_scheme..].find('/') {
        Some(i) => &site[..after_scheme + i],
        None => site.trim_end_matches('/'),
    }
}

/// The token CloudFront sends with every request it forwards (`x-origin-verify`), set once per
/// cold start from `ORIGIN_VERIFY` / `ORIGIN_VERIFY_SECRET_ARN` (see `shared::config`).
static CDN_TOKEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Trusts requests carrying `token` in `x-origin-verify` to come through the CDN. At most once
/// per process; the token must be at least 32 characters.
pub fn trust_cdn_token(token: String) -> Result<(), &'static str> {
    if token.len() < 32 {
        return Err("the origin token must be at least 32 characters");
    }
    CDN_TOKEN.set(token).map_err(|_| "the origin token is set once per cold start")
}

/// The caller's address. Behind CloudFront, API Gateway sees only the CDN's edge, so the
/// viewer address CloudFront adds (`cloudfront-viewer-address`, `ip:port`) is used — but only
/// on a request that carries the CDN's origin token, which a caller going to the API directly
/// cannot know. Otherwise the address API Gateway saw; never another client-supplied header.
pub fn client_ip(req: &Request) -> String {
    if let Some(ip) = cdn_viewer_ip(req, CDN_TOKEN.get().map(String::as_str)) {
        return ip;
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "unknown".to_owned())
}

fn cdn_viewer_ip(req: &Request, token: Option<&str>) -> Option<String> {
    let token = token?;
    let sent = req.headers().get("x-origin-verify")?.as_bytes();
    if !shared::auth::constant_time_eq(sent, token.as_bytes()) {
        return None;
    }
    let viewer = req.headers().get("cloudfront-viewer-address")?.to_str().ok()?;
    // `203.0.113.7:46532` or `2001:db8::7:46532`: the address is everything before the last colon.
    let (ip, _port) = viewer.rsplit_once(':')?;
    ip.parse::<std::net::IpAddr>().ok().map(|a| a.to_string())
}

/// A gateway's notification, `POST /api/notify/<channel>`: one flow for every channel
/// (`App::answer_notification`), answered in the gateway's own terms.
pub async fn notification(app: &shared::App, channel: shared::domain::Channel, req: &Request) -> Response<Body> {
    let a = app.answer_notification(channel, req.headers(), req.body().as_ref()).await;
    let mut b = Response::builder().status(a.status);
    if let Some(content_type) = a.content_type {
        b = b.header("content-type", content_type);
    }
    b.body(if a.body.is_empty() { Body::Empty } else { Body::Text(a.body) }).expect("valid response")
}

/// The 404 answer for a path or method a function does not serve.
pub fn not_found() -> Response<Body> {
    error_response(&AppError::NotFound)
}

/// Turns a handler result into the response, logging one line per request (method, path,
/// status, milliseconds — never bodies, cookies or query strings).
pub fn finish(req_method: &str, path: &str, started: std::time::Instant, result: Result<Response<Body>, AppError>) -> Response<Body> {
    let resp = result.unwrap_or_else(|e| error_response(&e));
    tracing::info!(method = req_method, path, status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
    resp
}

/// Runs a student-site function's router for `req` (the future is lazy: timing starts here)
/// behind the cross-site guard ([`same_site_json`]), mapping errors to their JSON answers and
/// logging the request line.
pub async fn serve(
    app: &shared::App,
    req: &Request,
    route: impl std::future::Future<Output = Result<Response<Body>, AppError>>,
) -> Response<Body> {
    let started = std::time::Instant::now();
    let result = match same_site_json(req, &app.settings.public_base_url) {
        Ok(()) => route.await,
        Err(e) => Err(e),
    };
    finish(req.method().as_str(), req.uri().path(), started, result)
}

/// Checks the request's session cookie (`App::authenticate`).
pub async fn authenticate(app: &shared::App, req: &Request) -> Result<Authed, AppError> {
    app.authenticate(session_token(app, req)?).await
}

/// Ends the request's session, if any (`App::logout`); returns the clearing `Set-Cookie` value.
pub async fn logout(app: &shared::App, req: &Request) -> Result<String, AppError> {
    // Two session cookies: nothing to end that is surely ours; the cookie is cleared all the same.
    app.logout(session_token(app, req).unwrap_or(None)).await
}

/// Adds the session's renewed cookie, if any (sliding expiry), to a response.
pub fn renewed(who: &Authed, resp: Response<Body>) -> Response<Body> {
    match &who.renewed_cookie {
        Some(c) => with_cookie(resp, c),
        None => resp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn req(headers: &[(&str, &str)]) -> Request {
        let mut b = http::Request::builder().uri("/api/login");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::Empty).unwrap()
    }

    #[test]
    fn the_viewer_address_counts_only_with_the_cdn_token() {
        let through_cdn = req(&[("x-origin-verify", TOKEN), ("cloudfront-viewer-address", "203.0.113.7:46532")]);
        assert_eq!(cdn_viewer_ip(&through_cdn, Some(TOKEN)).as_deref(), Some("203.0.113.7"));
        let v6 = req(&[("x-origin-verify", TOKEN), ("cloudfront-viewer-address", "2001:db8::7:443")]);
        assert_eq!(cdn_viewer_ip(&v6, Some(TOKEN)).as_deref(), Some("2001:db8::7"));
        // Straight to the API with a made-up viewer address: ignored.
        let forged = req(&[("x-origin-verify", "0123456789abcdef0123456789abcdeX"), ("cloudfront-viewer-address", "198.51.100.1:1")]);
        assert_eq!(cdn_viewer_ip(&forged, Some(TOKEN)), None);
        assert_eq!(cdn_viewer_ip(&req(&[("cloudfront-viewer-address", "198.51.100.1:1")]), Some(TOKEN)), None);
        // No token configured (locally): never trusted.
        assert_eq!(cdn_viewer_ip(&through_cdn, None), None);
        let garbage = req(&[("x-origin-verify", TOKEN), ("cloudfront-viewer-address", "not-an-ip:1")]);
        assert_eq!(cdn_viewer_ip(&garbage, Some(TOKEN)), None);
    }

    #[test]
    fn a_short_token_is_refused() {
        assert!(trust_cdn_token("short".into()).is_err());
    }
}
