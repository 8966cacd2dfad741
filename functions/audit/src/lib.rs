//! `audit`: invoked from the Lambda console with `{"order_no": "…"}` or `{"student_no": "…"}`;
//! answers the audit entries of that order or student, oldest first. Read-only.

use lambda_runtime::Error;
use shared::App;
use shared::service::audit::AuditQuery;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses::TABLE_ONLY;

pub async fn handle(app: &App, event: serde_json::Value, request_id: &str) -> Result<serde_json::Value, Error> {
    let query = AuditQuery::from_event(&event)?;
    let entries = app.audit_log(&query).await?;
    tracing::info!(request_id, count = entries.len(), "audit query answered");
    Ok(serde_json::json!({ "count": entries.len(), "entries": entries }))
}
