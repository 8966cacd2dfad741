//! `sweeper`: run every minute by a schedule. Asks the gateways about attempts still unsettled
//! after a few minutes and closes expired orders (gateway first). See `App::sweep`.

use lambda_runtime::Error;
use shared::App;

/// Handles one scheduled event (its content does not matter) and returns the sweep report.
pub async fn handle(app: &App, _event: serde_json::Value, _request_id: &str) -> Result<serde_json::Value, Error> {
    let report = app.sweep().await?;
    Ok(serde_json::to_value(report)?)
}
