//! Inside WeChat, emulated: the official account's web OAuth (`snsapi_base`, which WeChat
//! answers silently with a `code`), the code-for-openid exchange, and the `WeixinJSBridge` that
//! WeChat's browser puts into every page.
//!
//! * `GET /connect/oauth2/authorize?appid&redirect_uri&response_type=code&scope=snsapi_base&state`
//!   — only inside WeChat (a `MicroMessenger` user agent; elsewhere WeChat shows "请在微信客户端
//!   打开链接"), only our `appid`, only back to the registered site (网页授权域名, else error
//!   10003): 302 to `redirect_uri?code=…&state=…`.
//! * `GET /sns/oauth2/access_token?appid&secret&code&grant_type=authorization_code` — a code is
//!   good once, for 5 minutes: `{access_token, expires_in, refresh_token, openid, scope}`, or
//!   `{errcode, errmsg}` (40013 invalid appid, 40125 invalid appsecret, 40029 invalid code,
//!   40163 code been used).
//! * `GET /jsbridge.js` — the bridge, for a test harness to put into the page as WeChat would.
//!   `WeixinJSBridge.invoke('getBrandWCPayRequest', params, cb)` hands the parameters to
//!   `window.__wechatSandboxPay` (the harness's stand-in for WeChat's own payment sheet, 支付确认
//!   → 输入支付密码), which posts them to `/jsbridge/getBrandWCPayRequest`; the callback gets
//!   `{err_msg: "get_brand_wcpay_request:ok|cancel|fail"}`.
//! * `POST /jsbridge/getBrandWCPayRequest` `{params, page_url, action: "pay"|"cancel"}` — the
//!   page must be under the registered site (支付授权目录, else "当前页面的URL未注册"), the
//!   `paySign` must verify with the merchant's key, and the trade must be this user's.

use crate::sync::lock;
use crate::wx::Wx;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use shared::gateway::wechat::JsapiParams;
use std::sync::Arc;

fn json_answer(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

/// How long an OAuth code is good for.
const CODE_SECS: i64 = 300;

pub(crate) fn routes() -> Router<Arc<Wx>> {
    Router::new()
        .route("/connect/oauth2/authorize", get(authorize))
        .route("/sns/oauth2/access_token", get(access_token))
        .route("/jsbridge.js", get(bridge_script))
        .route("/jsbridge/getBrandWCPayRequest", post(bridge_pay))
}

fn wechat_page(status: StatusCode, words: &str) -> Response {
    let body = format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>微信</title><body><p data-testid=\"wechat-error\">{words}</p></body></html>"
    );
    (status, Html(body)).into_response()
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

async fn authorize(State(s): State<Arc<Wx>>, headers: HeaderMap, Query(q): Query<AuthorizeQuery>) -> Response {
    let ua = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !ua.contains("MicroMessenger") {
        return wechat_page(StatusCode::OK, "请在微信客户端打开链接");
    }
    let Some(account) = &s.account else {
        return wechat_page(StatusCode::OK, "该公众号没有授权作用域（scope）权限，错误码：10005");
    };
    if q.appid.as_deref() != Some(s.appid.as_str()) {
        return wechat_page(StatusCode::OK, "appid 参数错误，错误码：10002");
    }
    if q.response_type.as_deref() != Some("code") || q.scope.as_deref() != Some("snsapi_base") {
        return wechat_page(StatusCode::OK, "Scope 参数错误或没有 Scope 权限，错误码：10005");
    }
    let Some(redirect) = q.redirect_uri.filter(|u| same_host(u, &account.site)) else {
        return wechat_page(StatusCode::OK, "redirect_uri 域名与后台配置不一致，错误码：10003");
    };
    let code = crate::engine::random_digits(32);
    lock(&s.oauth_codes).insert(code.clone(), s.now());
    let sep = if redirect.contains('?') { '&' } else { '?' };
    let state = shared::gateway::form::percent_encode(q.state.unwrap_or_default().as_bytes());
    // A 302, as WeChat answers.
    (StatusCode::FOUND, [(header::LOCATION, format!("{redirect}{sep}code={code}&state={state}"))]).into_response()
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&url[..url.len() - rest.len() + end])
}

fn same_host(url: &str, site: &str) -> bool {
    origin(url).is_some_and(|o| Some(o) == origin(site))
}

#[derive(Deserialize)]
struct TokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

async fn access_token(State(s): State<Arc<Wx>>, Query(q): Query<TokenQuery>) -> Response {
    let error = |code: i64, msg: &str| json_answer(json!({"errcode": code, "errmsg": msg}));
    let Some(account) = &s.account else { return error(48001, "api unauthorized") };
    if q.appid.as_deref() != Some(s.appid.as_str()) {
        return error(40013, "invalid appid");
    }
    if q.secret.as_deref() != Some(account.app_secret.as_str()) {
        return error(40125, "invalid appsecret");
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return error(40002, "invalid grant_type");
    }
    let now = s.now();
    let issued =
        q.code.as_deref().and_then(|c| lock(&s.oauth_codes).get_mut(c).map(|at| std::mem::replace(at, chrono::DateTime::UNIX_EPOCH)));
    match issued {
        None => error(40029, "invalid code"),
        Some(at) if at == chrono::DateTime::UNIX_EPOCH => error(40163, "code been used"),
        Some(at) if (now - at).num_seconds() > CODE_SECS => error(40029, "invalid code"),
        Some(_) => json_answer(json!({
            "access_token": crate::engine::random_digits(40), "expires_in": 7200,
            "refresh_token": crate::engine::random_digits(40), "openid": s.payer_openid, "scope": "snsapi_base",
        })),
    }
}

/// The bridge WeChat's browser provides, standing in for its native payment sheet through
/// `window.__wechatSandboxPay(request) → Promise<err_msg>` (the harness posts `request` here).
const BRIDGE: &str = r#"(() => {
  const sandbox = document.currentScript ? new URL(document.currentScript.src).origin : '';
  window.WeixinJSBridge = {
    invoke(name, params, cb) {
      const done = (err_msg) => setTimeout(() => cb && cb({ err_msg }), 0);
      if (name !== 'getBrandWCPayRequest') return done(`${name}:fail_not_supported`);
      if (typeof window.__wechatSandboxPay !== 'function') return done('get_brand_wcpay_request:fail');
      window.__wechatSandboxPay({ params, page_url: location.href, sandbox })
        .then(done, () => done('get_brand_wcpay_request:fail'));
    },
  };
  const ready = () => document.dispatchEvent(new Event('WeixinJSBridgeReady'));
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', ready); else ready();
})();
"#;

async fn bridge_script() -> Response {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], BRIDGE).into_response()
}

#[derive(Deserialize)]
struct BridgePay {
    params: JsapiParams,
    page_url: String,
    /// `pay` (the password entered) or `cancel` (the sheet closed).
    action: String,
}

async fn bridge_pay(State(s): State<Arc<Wx>>, body: axum::body::Bytes) -> Response {
    let answer =
        |result: &str, detail: &str| json_answer(json!({"err_msg": format!("get_brand_wcpay_request:{result}"), "detail": detail}));
    let Ok(req) = serde_json::from_slice::<BridgePay>(&body) else { return answer("fail", "参数错误") };
    let Some(account) = &s.account else { return answer("fail", "JSAPI 未开通") };
    if !req.page_url.starts_with(account.site.trim_end_matches('/')) {
        return answer("fail", "当前页面的URL未注册");
    }
    let prepay_id = match s.sandbox.verify_pay_params(&req.params) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(gateway = "wechat", error = %e, "JSAPI parameters refused");
            return answer("fail", "支付验证签名失败");
        }
    };
    let Some((out_trade_no, payer)) = s.jsapi_trade(&prepay_id) else { return answer("fail", "订单不存在") };
    if payer != s.payer_openid {
        return answer("fail", "该订单不属于当前微信用户");
    }
    if req.action == "cancel" {
        tracing::info!(gateway = "wechat", out_trade_no, "payer closed the payment sheet");
        return answer("cancel", "");
    }
    match s.pay_trade(&out_trade_no) {
        Ok(()) => answer("ok", ""),
        Err((_, words)) => answer("fail", words),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registered_site_is_matched_by_origin() {
        assert!(same_host("http://127.0.0.1:3000/api/wechat/payer?x=1", "http://127.0.0.1:3000/"));
        assert!(!same_host("http://127.0.0.1:3001/api", "http://127.0.0.1:3000/"));
        assert!(!same_host("https://127.0.0.1:3000/api", "http://127.0.0.1:3000/"));
        assert!(!same_host("http://127.0.0.1:3000.evil.example/", "http://127.0.0.1:3000/"));
        assert!(!same_host("javascript:alert(1)", "http://127.0.0.1:3000/"));
    }
}
