//! A local stand-in for API Gateway's HTTP API: each request on a template route becomes the
//! same payload-v2 event API Gateway would send, is turned into a `lambda_http::Request` by
//! `lambda_http`'s own deserialiser, and goes to the unchanged function handler.

use crate::template::Template;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, RawPathParams, Request as AxumRequest};
use axum::response::{IntoResponse, Response as AxumResponse};
use base64::Engine;
use futures::future::BoxFuture;
use lambda_http::Body;
use lambda_http::request::LambdaRequest;
use serde_json::{Map, Value, json};
use shared::App;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A function handler as its `main.rs` runs it.
pub type Handler = fn(Arc<App>, lambda_http::Request) -> BoxFuture<'static, lambda_http::Response<Body>>;

/// Every function the platform knows, by cargo binary name.
pub fn handlers() -> HashMap<&'static str, Handler> {
    let mut m: HashMap<&'static str, Handler> = HashMap::new();
    m.insert("login", |app, req| Box::pin(async move { login::handle(&app, req).await }));
    m.insert("profile", |app, req| Box::pin(async move { profile::handle(&app, req).await }));
    m.insert("fees", |app, req| Box::pin(async move { fees::handle(&app, req).await }));
    m.insert("orders", |app, req| Box::pin(async move { orders::handle(&app, req).await }));
    m.insert("notify", |app, req| Box::pin(async move { notify::handle(&app, req).await }));
    m.insert("records", |app, req| Box::pin(async move { records::handle(&app, req).await }));
    m.insert("receipts", |app, req| Box::pin(async move { receipts::handle(&app, req).await }));
    m
}

/// Largest body API Gateway HTTP APIs accept.
const GATEWAY_MAX_BODY: usize = 10 * 1024 * 1024;

/// The router for every template route. Panics if the template names a function this
/// platform cannot serve — the template and the code must agree.
pub fn api_router(app: Arc<App>, template: &Template) -> Router {
    let known = handlers();
    let mut router = Router::new();
    let mut by_path: HashMap<&str, Vec<(&str, Handler)>> = HashMap::new();
    for r in &template.routes {
        let h = *known.get(r.function.as_str()).unwrap_or_else(|| panic!("template function {} has no handler", r.function));
        by_path.entry(r.path.as_str()).or_default().push((r.method.as_str(), h));
    }
    // The `$default` route's function, as API Gateway calls it for requests no route matches.
    let unrouted: Option<Handler> =
        template.default_route.as_ref().map(|f| *known.get(f.as_str()).unwrap_or_else(|| panic!("$default function {f} has no handler")));
    let to_default = {
        let app = Arc::clone(&app);
        move |peer: SocketAddr, req: AxumRequest| {
            let app = Arc::clone(&app);
            async move {
                match unrouted {
                    Some(handler) => invoke(handler, app, req, "$default", Map::new(), peer).await,
                    None => from_lambda(lambda_adapter::http::not_found()),
                }
            }
        }
    };
    for (path, methods) in by_path {
        let path_owned = path.to_owned();
        let to_default = to_default.clone();
        let table: Arc<HashMap<String, Handler>> = Arc::new(methods.into_iter().map(|(m, h)| (m.to_owned(), h)).collect());
        let app = Arc::clone(&app);
        router = router.route(
            path,
            axum::routing::any(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, params: RawPathParams, req: AxumRequest| {
                let (app, table, path, to_default) = (Arc::clone(&app), Arc::clone(&table), path_owned.clone(), to_default.clone());
                async move {
                    let method = req.method().as_str().to_owned();
                    let Some(handler) = table.get(&method).copied() else {
                        // No route for this method: API Gateway sends it to `$default`.
                        return to_default(peer, req).await;
                    };
                    let params: Map<String, Value> = params.iter().map(|(k, v)| (k.to_owned(), Value::String(v.to_owned()))).collect();
                    invoke(handler, app, req, &format!("{method} {path}"), params, peer).await
                }
            }),
        );
    }
    // Any other path under /api/ goes to `$default` too (never to the static site).
    router.route(
        "/api/{*rest}",
        axum::routing::any(move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: AxumRequest| to_default(peer, req)),
    )
}

/// One invocation of `handler` for the request on `route_key`. As on Lambda, it runs to its end
/// even if the caller hangs up (a gateway timing out on a notification must not cut a
/// payment's receipt SMS in half): the handler runs in its own task.
async fn invoke(
    handler: Handler,
    app: Arc<App>,
    req: AxumRequest,
    route_key: &str,
    params: Map<String, Value>,
    peer: SocketAddr,
) -> AxumResponse {
    match to_lambda(req, route_key, params, peer).await {
        Ok(lreq) => match tokio::spawn(handler(app, lreq)).await {
            Ok(resp) => from_lambda(resp),
            Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "function failed").into_response(),
        },
        Err(resp) => resp,
    }
}

/// Builds the API Gateway payload-v2 event and lets `lambda_http` turn it into its request.
async fn to_lambda(
    req: AxumRequest,
    route_key: &str,
    path_params: Map<String, Value>,
    peer: SocketAddr,
) -> Result<lambda_http::Request, AxumResponse> {
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, GATEWAY_MAX_BODY)
        .await
        .map_err(|_| (axum::http::StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large").into_response())?;
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, value) in &parts.headers {
        let Ok(v) = value.to_str() else { continue };
        if name == "cookie" {
            cookies.extend(v.split(';').map(|c| Value::String(c.trim().to_owned())));
            continue;
        }
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|e| *e = Value::String(format!("{},{v}", e.as_str().unwrap_or_default())))
            .or_insert_with(|| Value::String(v.to_owned()));
    }
    let raw_query = parts.uri.query().unwrap_or_default().to_owned();
    let mut query = Map::new();
    for (k, v) in url_pairs(&raw_query) {
        query.entry(k).and_modify(|e| *e = Value::String(format!("{},{v}", e.as_str().unwrap_or_default()))).or_insert(Value::String(v));
    }
    let (body, b64) = match std::str::from_utf8(&bytes) {
        Ok(text) => (text.to_owned(), false),
        Err(_) => (base64::engine::general_purpose::STANDARD.encode(&bytes), true),
    };
    let now = chrono::Utc::now();
    let event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": parts.uri.path(),
        "rawQueryString": raw_query,
        "cookies": cookies,
        "headers": headers,
        "queryStringParameters": query,
        "pathParameters": path_params,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": headers.get("host").cloned().unwrap_or(Value::String("127.0.0.1".into())),
            "domainPrefix": "local",
            "http": {
                "method": parts.method.as_str(),
                "path": parts.uri.path(),
                "protocol": "HTTP/1.1",
                "sourceIp": peer.ip().to_string(),
                "userAgent": headers.get("user-agent").cloned().unwrap_or(Value::String(String::new())),
            },
            "requestId": shared::auth::random_id(),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": now.timestamp_millis(),
        },
        "body": body,
        "isBase64Encoded": b64,
    });
    let lambda_req: LambdaRequest = serde_json::from_value(event)
        .map_err(|e| (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("event: {e}")).into_response())?;
    Ok(lambda_http::Request::from(lambda_req))
}

fn url_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                Ok(v) => {
                    out.push(v);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The function's response as API Gateway returns it (all `Set-Cookie` headers kept).
fn from_lambda(resp: lambda_http::Response<Body>) -> AxumResponse {
    let (parts, body) = resp.into_parts();
    let bytes = match body {
        Body::Empty => Vec::new(),
        Body::Text(t) => t.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    AxumResponse::from_parts(parts, axum::body::Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn decodes_queries() {
        assert_eq!(url_pairs("a=1&b=%E5%AD%A6+x&c"), vec![("a".into(), "1".into()), ("b".into(), "学 x".into()), ("c".into(), "".into())]);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }
}
