//! `records` function: 交易查询 — GET /api/transactions (银行交易记录), GET /api/paid and
//! GET /api/paid/{id} (已缴费信息 and its 明细), GET /api/enrolment (报名信息), and the public
//! GET /api/announcements (系统公告) and GET /api/site (the site's address as a QR code).

use lambda_adapter::http;
use lambda_http::{Body, Request, RequestExt, Response, http::StatusCode};
use shared::{App, AppError};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sessions: true, ..shared::Uses::TABLE_ONLY };

pub async fn handle(app: &App, req: Request) -> Response<Body> {
    http::serve(app, &req, route(app, &req)).await
}

async fn route(app: &App, req: &Request) -> Result<Response<Body>, AppError> {
    let path = req.uri().path();
    if req.method().as_str() != "GET" {
        return Err(AppError::NotFound);
    }
    // Public: the login page lists them, and shows the site's QR code for phones.
    if path == "/api/announcements" {
        return Ok(http::json(StatusCode::OK, &app.announcements().await?));
    }
    if path == "/api/site" {
        return Ok(http::json(StatusCode::OK, &app.site()));
    }
    let paid_id =
        path.strip_prefix("/api/paid/").map(|_| req.path_parameters_ref().and_then(|p| p.first("id")).unwrap_or_default().to_owned());
    if !matches!(path, "/api/transactions" | "/api/paid" | "/api/enrolment") && paid_id.is_none() {
        return Err(AppError::NotFound);
    }
    let who = http::authenticate(app, req).await?;
    who.require_ready()?;
    let resp = match (path, paid_id) {
        (_, Some(id)) => http::json(StatusCode::OK, &app.paid_record(&who, &id).await?),
        ("/api/transactions", _) => http::json(StatusCode::OK, &app.transactions(&who).await?),
        ("/api/paid", _) => {
            let fee_type = req.query_string_parameters_ref().and_then(|q| q.first("type"));
            http::json(StatusCode::OK, &app.paid_records(&who, fee_type).await?)
        }
        _ => http::json(StatusCode::OK, &app.enrolment(&who).await?),
    };
    Ok(http::renewed(&who, resp))
}
