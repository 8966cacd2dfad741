//! `profile` function: GET /api/me, GET|PUT /api/profile, the phone change, the password
//! change (with the first login's SMS code) and the security-question routes.

use lambda_adapter::http;
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::service::profile::ContactChange;
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, sms: true, ..shared::Uses::TABLE_ONLY };

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileBody {
    phone: Option<String>,
    email: Option<String>,
    postcode: Option<String>,
    address: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    old_password: String,
    new_password: String,
    /// The SMS code to the phone on file: needed at the first login.
    code: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneCodeBody {
    phone: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    phone: String,
    code: String,
}

#[derive(Serialize)]
struct CodeSent {
    phone_masked: String,
    expires_in_seconds: i64,
}

fn code_sent(app: &App, phone_masked: String) -> Response<Body> {
    http::json(StatusCode::OK, &CodeSent { phone_masked, expires_in_seconds: app.settings.reset_code_ttl.num_seconds() })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecurityBody {
    password: String,
    question: String,
    answer: String,
}

#[derive(Serialize)]
struct QuestionView {
    question: Option<String>,
}

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(app, &req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    let known = matches!(
        (req.method().as_str(), req.uri().path()),
        ("GET", "/api/me")
            | ("GET" | "PUT", "/api/profile")
            | ("POST", "/api/password" | "/api/password/code" | "/api/profile/phone/code")
            | ("PUT", "/api/profile/phone")
            | ("GET" | "PUT", "/api/security-question")
            | ("POST", "/api/security-question/verify")
    );
    if !known {
        return Err(AppError::NotFound);
    }
    let who = http::authenticate(app, req).await?;
    let resp = match (req.method().as_str(), req.uri().path()) {
        // Allowed during a forced password change: the page needs the user bar.
        ("GET", "/api/me") => http::json(StatusCode::OK, &app.me(&who).await?),
        ("POST", "/api/password") => {
            let body: PasswordBody = http::json_body(req)?;
            let cookie = app.change_password(&who, &body.old_password, &body.new_password, body.code.as_deref()).await?;
            // The fresh cookie replaces any renewal.
            return Ok(http::with_cookie(http::no_content(), &cookie));
        }
        // The first login's code, to the phone on file.
        ("POST", "/api/password/code") => code_sent(app, app.send_activation_code(&who, &http::client_ip(req)).await?),
        (method, path) => {
            who.require_ready()?;
            match (method, path) {
                ("GET", "/api/profile") => http::json(StatusCode::OK, &app.profile(&who).await?),
                ("PUT", "/api/profile") => {
                    let b: ProfileBody = http::json_body(req)?;
                    let change = ContactChange { phone: b.phone, email: b.email, postcode: b.postcode, address: b.address };
                    http::json(StatusCode::OK, &app.update_profile(&who, &change).await?)
                }
                ("POST", "/api/profile/phone/code") => {
                    let b: PhoneCodeBody = http::json_body(req)?;
                    code_sent(app, app.send_phone_code(&who, &b.phone, &b.password, &http::client_ip(req)).await?)
                }
                ("PUT", "/api/profile/phone") => {
                    let b: PhoneBody = http::json_body(req)?;
                    http::json(StatusCode::OK, &app.change_phone(&who, &b.phone, &b.code).await?)
                }
                ("GET", "/api/security-question") => {
                    http::json(StatusCode::OK, &QuestionView { question: app.security_question(&who).await? })
                }
                ("POST", "/api/security-question/verify") => {
                    let b: VerifyBody = http::json_body(req)?;
                    app.verify_password(&who, &b.password).await?;
                    http::no_content()
                }
                ("PUT", "/api/security-question") => {
                    let b: SecurityBody = http::json_body(req)?;
                    app.set_security_question(&who, &b.password, &b.question, &b.answer).await?;
                    http::no_content()
                }
                _ => return Err(AppError::NotFound),
            }
        }
    };
    Ok(http::renewed(&who, resp))
}
