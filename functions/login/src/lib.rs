//! `login` function: POST /api/login, POST /api/logout and the forgotten-password routes.

use lambda_adapter::http;
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::service::profile::MeView;
use shared::service::recovery::ResetProof;
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, sms: true, ..shared::Uses::TABLE_ONLY };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    user: MeView,
    must_change_password: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForgotBody {
    student_no: String,
    id_card: String,
    name: String,
}

#[derive(Serialize)]
struct ForgotResponse {
    ticket: String,
    question: Option<String>,
    phone_masked: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketBody {
    ticket: String,
}

#[derive(Serialize)]
struct CodeSent {
    phone_masked: String,
    expires_in_seconds: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Method {
    Answer,
    Sms,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    ticket: String,
    method: Method,
    answer: Option<String>,
    code: Option<String>,
    new_password: String,
}

/// Serves one request.
pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(app, &req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    match (req.method().as_str(), req.uri().path()) {
        ("POST", "/api/login") => {
            let body: LoginBody = http::json_body(req)?;
            let done = app.login(&body.username, &body.password, &http::client_ip(req)).await?;
            let resp = http::json(
                StatusCode::OK,
                &LoginResponse {
                    user: MeView::new(&done.student, done.must_change_password),
                    must_change_password: done.must_change_password,
                },
            );
            Ok(http::with_cookie(resp, &done.cookie))
        }
        ("POST", "/api/logout") => {
            let clear = http::logout(app, req).await?;
            Ok(http::with_cookie(http::no_content(), &clear))
        }
        ("POST", "/api/password/forgot") => {
            let body: ForgotBody = http::json_body(req)?;
            let t = app.forgot_start(&body.student_no, &body.id_card, &body.name, &http::client_ip(req)).await?;
            Ok(http::json(StatusCode::OK, &ForgotResponse { ticket: t.ticket, question: t.question, phone_masked: t.phone_masked }))
        }
        ("POST", "/api/password/forgot/sms") => {
            let body: TicketBody = http::json_body(req)?;
            let phone_masked = app.forgot_send_code(&body.ticket, &http::client_ip(req)).await?;
            let expires_in_seconds = app.settings.reset_code_ttl.num_seconds();
            Ok(http::json(StatusCode::OK, &CodeSent { phone_masked, expires_in_seconds }))
        }
        ("POST", "/api/password/forgot/reset") => {
            let body: ResetBody = http::json_body(req)?;
            let proof = match body.method {
                Method::Answer => ResetProof::Answer {
                    answer: body.answer.ok_or_else(|| AppError::field("answer", "请输入密保答案"))?,
                    code: body.code,
                },
                Method::Sms => ResetProof::SmsCode(body.code.ok_or_else(|| AppError::field("code", "请输入短信验证码"))?),
            };
            app.forgot_reset(&body.ticket, proof, &body.new_password).await?;
            Ok(http::no_content())
        }
        _ => Err(AppError::NotFound),
    }
}
