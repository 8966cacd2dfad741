//! `fees` function: GET /api/fees — 当前费用 of the logged-in student.

use lambda_http::{Body, Request, Response, http::StatusCode};
use shared::{App, AppError, http};

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    let started = std::time::Instant::now();
    let (method, path) = (req.method().as_str().to_owned(), req.uri().path().to_owned());
    let result = route(app, &req).await;
    http::finish(&method, &path, started, result)
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
