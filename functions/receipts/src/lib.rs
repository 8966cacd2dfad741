//! `receipts` function: 电子票据.
//! - `GET /receipts/{order_no}`: the printable receipt page of one of the student's paid orders
//!   (session needed; anyone else's order, or an unpaid one, is a 404 page);
//! - `GET /r/{token}`: the same page through the public link the receipt SMS carries, while the
//!   link is valid; a forged, altered or expired link gets a page saying so, with no data;
//! - `GET /api/receipts`: the student's receipts as JSON (票据查询);
//! - `POST /api/receipts/check`: 票据查验 — anyone checks a receipt by 票据号 and 校验码
//!   (public, throttled per client; the page `verify.html`, the receipt's QR code leads there).
//!
//! The pages are HTML rendered with askama (`templates/`), self-contained (one inline style
//! sheet with its print rules, one inline script for the print button) and never cached. Their
//! content security policy allows exactly those two blocks, by hash: no `'unsafe-inline'`, so
//! markup injected into a page could run nothing.

use askama::Template;
use lambda_adapter::http;
use lambda_http::{Body, Request, RequestExt, Response, http::StatusCode};
use serde::Serialize;
use shared::service::receipts::{LinkRefused, ReceiptView};
use shared::{App, AppError};

/// The pages' style sheet, inlined (the CSP names it by hash).
pub const STYLE: &str = include_str!("../templates/receipt.css");
/// The print button's handler, inlined (the CSP names it by hash).
pub const SCRIPT: &str =
    r#"document.querySelector('[data-testid="receipt-print"]').addEventListener('click', function () { window.print(); });"#;

/// `'sha256-…'` of an inline block, as a CSP source.
fn csp_hash(block: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(block.as_bytes())))
}

/// The pages' policy: nothing loaded from anywhere, only our own style sheet and script run.
pub static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
});

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, ..shared::Uses::TABLE_ONLY };

#[derive(Template)]
#[template(path = "receipt.html")]
struct ReceiptPage<'a> {
    r: &'a ReceiptView,
    /// Reached through the public link (no site navigation: the reader may not be logged in).
    public: bool,
    /// 票据查验: the page (`…/verify.html`), and this receipt's check as a QR code (SVG).
    verify_page: String,
    verify_qr: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckBody {
    receipt_no: String,
    check_code: String,
}

#[derive(Template)]
#[template(path = "notice.html")]
struct NoticePage<'a> {
    title: &'a str,
    message: &'a str,
    link: Option<Link<'a>>,
}

/// Where the reader of a notice can go next.
struct Link<'a> {
    href: &'a str,
    text: &'a str,
}

#[derive(Serialize)]
struct ReceiptList {
    receipts: Vec<ReceiptView>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let path = req.uri().path();
    let method = req.method().as_str();
    // The request log names the route, never a link's token.
    let (logged, resp) = match (method, path) {
        ("GET", "/api/receipts") => (path, list(app, &req).await.unwrap_or_else(|e| http::error_response(&e))),
        // 票据查验 (public): a JSON change-like call from our own verification page.
        ("POST", "/api/receipts/check") => return http::serve(app, &req, check(app, &req)).await,
        ("GET", p) if p.starts_with("/receipts/") => ("/receipts/{order_no}", own_page(app, &req).await),
        ("GET", p) if p.starts_with("/r/") => ("/r/{token}", link_page(app, &req).await),
        _ => (path, http::not_found()),
    };
    http::finish(method, logged, started, Ok(resp))
}

fn param<'a>(req: &'a Request, name: &str) -> &'a str {
    req.path_parameters_ref().and_then(|p| p.first(name)).unwrap_or_default()
}

/// 票据查询: `{"receipts": [...]}`, newest first.
async fn list(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    let who = http::authenticate(app, req).await?;
    who.require_ready()?;
    let receipts = app.my_receipts(&who).await?;
    Ok(http::renewed(&who, http::json(StatusCode::OK, &ReceiptList { receipts })))
}

/// 票据查验: `{receipt_no, check_code}` → the receipt's essentials, or one message.
async fn check(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    let body: CheckBody = http::json_body(req)?;
    Ok(http::json(StatusCode::OK, &app.check_receipt(&body.receipt_no, &body.check_code, &http::client_ip(req)).await?))
}

async fn own_page(app: &App, req: &Request) -> Response<Body> {
    let shown = async {
        let who = http::authenticate(app, req).await?;
        who.require_ready()?;
        let r = app.my_receipt(&who, param(req, "order_no")).await?;
        Ok::<_, AppError>(http::renewed(&who, receipt_page(app, &r, false)))
    };
    shown.await.unwrap_or_else(|e| error_page(&e))
}

async fn link_page(app: &App, req: &Request) -> Response<Body> {
    match app.receipt_by_link(param(req, "token")).await {
        Ok(r) => receipt_page(app, &r, true),
        Err(LinkRefused::Unknown) => notice(
            StatusCode::NOT_FOUND,
            "链接无效",
            "该电子票据链接不正确或已被改动，无法显示票据。请核对短信中的链接是否完整；也可登录校园统一支付平台，在【已缴费信息】→【票据查询】中查看。",
            Some(("/index.html", "登录校园统一支付平台")),
        ),
        Err(LinkRefused::Expired) => notice(
            StatusCode::GONE,
            "链接已过期",
            "该电子票据链接已超过有效期，不再显示票据。请登录校园统一支付平台，在【已缴费信息】→【票据查询】中查看和打印电子票据。",
            Some(("/index.html", "登录校园统一支付平台")),
        ),
        Err(LinkRefused::App(e)) => error_page(&e),
    }
}

fn receipt_page(app: &App, r: &ReceiptView, public: bool) -> Response<Body> {
    let site = app.settings.public_base_url.trim_end_matches('/');
    let verify_page = format!("{site}/verify.html");
    // The code in the QR code's link is what is printed beside it: whoever holds the receipt.
    let svg = shared::gateway::qr_svg(&format!("{verify_page}?no={}&code={}", r.receipt_no, r.check_code)).unwrap_or_default();
    // Inline in the page: the markup from its <svg> on (no XML declaration inside HTML).
    let verify_qr = svg.find("<svg").map(|i| svg[i..].to_owned()).unwrap_or_default();
    match (ReceiptPage { r, public, verify_page, verify_qr }).render() {
        Ok(html) => page(StatusCode::OK, html),
        Err(e) => {
            tracing::error!(error = %e, "receipt page did not render");
            error_page(&AppError::Store(shared::store::StoreError::Corrupt("render".into())))
        }
    }
}

/// The HTML answer for an error of the receipt page: what happened, what to do, no data.
fn error_page(e: &AppError) -> Response<Body> {
    match e {
        AppError::Unauthenticated => notice(
            StatusCode::UNAUTHORIZED,
            "请先登录",
            "登录已过期或未登录。请登录后在【已缴费信息】→【票据查询】中查看电子票据。",
            Some(("/index.html", "前往登录")),
        ),
        AppError::PasswordChangeRequired => notice(
            StatusCode::FORBIDDEN,
            "请先修改初始密码",
            "首次登录请先修改初始密码，然后再查看电子票据。",
            Some(("/password.html?forced=1", "修改密码")),
        ),
        AppError::NotFound => notice(
            StatusCode::NOT_FOUND,
            "未找到电子票据",
            "未找到该缴费单的电子票据：缴费单号不正确，或该缴费单尚未支付成功。电子票据在缴费成功后自动开具。",
            Some(("/paid.html", "返回已缴费信息")),
        ),
        other => {
            tracing::error!(code = other.code(), error = %other, "receipt page failed");
            notice(StatusCode::INTERNAL_SERVER_ERROR, "系统繁忙", "系统繁忙，暂时无法显示电子票据，请稍后再试。", None)
        }
    }
}

fn notice(status: StatusCode, title: &str, message: &str, link: Option<(&str, &str)>) -> Response<Body> {
    let link = link.map(|(href, text)| Link { href, text });
    let html = (NoticePage { title, message, link })
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><meta charset=\"utf-8\"><title>{status}</title><p>{status}</p>"));
    page(status, html)
}

/// An HTML page: never cached (personal data), never indexed, no referrer leaving it (the
/// public link's token is in its address), nothing loaded from elsewhere.
fn page(status: StatusCode, html: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .header("referrer-policy", "no-referrer")
        .header("x-robots-tag", "noindex, nofollow")
        .header("x-content-type-options", "nosniff")
        .header("content-security-policy", CSP.as_str())
        .body(Body::Text(html))
        .expect("valid response")
}
