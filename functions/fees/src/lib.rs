//! `fees` function: GET /api/fees — 当前费用 of the logged-in student.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::{App, AppError, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(&req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    match (req.method().as_str(), req.uri().path()) {
        ("GET", "/api/fees") => {
            let who = app.authenticate(req).await?;
            who.require_ready()?;
            Ok(who.respond(http::json(StatusCode::OK, &app.fees(&who).await?)))
        }
        _ => Err(AppError::NotFound),
    }
}
