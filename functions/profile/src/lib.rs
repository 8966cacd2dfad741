//! `profile` function: GET /api/me, GET|PUT /api/profile, POST /api/password and the
//! security-question routes.

use lambda_adapter::http;
use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::service::profile::ContactChange;
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, ..shared::Uses::TABLE_ONLY };

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
            | ("POST", "/api/password")
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
            let cookie = app.change_password(&who, &body.old_password, &body.new_password).await?;
            // The fresh cookie replaces any renewal.
            return Ok(http::with_cookie(http::no_content(), &cookie));
        }
        (method, path) => {
            who.require_ready()?;
            match (method, path) {
                ("GET", "/api/profile") => http::json(StatusCode::OK, &app.profile(&who).await?),
                ("PUT", "/api/profile") => {
                    let b: ProfileBody = http::json_body(req)?;
                    let change = ContactChange { phone: b.phone, email: b.email, postcode: b.postcode, address: b.address };
                    http::json(StatusCode::OK, &app.update_profile(&who, &change).await?)
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
