//! `fees` function: GET /api/fees — 当前费用 of the logged-in student; and the API's `$default`
//! route: every request no route matches (an unknown path, or a method its path does not
//! declare) gets the documented 404 `NOT_FOUND` body, before any other check.

use lambda_adapter::http;
use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, ..shared::Uses::TABLE_ONLY };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    if (req.method().as_str(), req.uri().path()) != ("GET", "/api/fees") {
        return http::not_found();
    }
    http::serve(app, &req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/api/fees") => {
            let who = http::authenticate(app, req).await?;
            who.require_ready()?;
            Ok(http::renewed(&who, http::json(StatusCode::OK, &app.fees(&who).await?)))
        }
        _ => Err(AppError::NotFound),
    }
}
