//! `sweeper`: run every minute by a schedule. Asks the gateways about attempts still unsettled
//! after a few minutes and closes expired orders (gateway first). See `App::sweep`.

use lambda_adapter::events::Trigger;
use lambda_runtime::Error;
use shared::App;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { gateways: true, sms: true, ..shared::Uses::TABLE_ONLY };

/// Handles its schedule's event, or an operator's console run (`{}`: sweep now), and returns
/// the sweep report. Any other event is refused: it was meant for another function.
pub async fn handle(app: &App, event: serde_json::Value, request_id: &str) -> Result<serde_json::Value, Error> {
    match Trigger::parse(event)? {
        Trigger::Schedule(_) => {}
        Trigger::Console(e) if e.is_null() || e.as_object().is_some_and(|o| o.is_empty()) => {
            tracing::info!(request_id, "sweep run from the console");
        }
        Trigger::Console(_) => return Err("the sweeper takes its schedule's event, or {} to sweep now".into()),
    }
    let report = app.sweep().await?;
    Ok(serde_json::to_value(report)?)
}
