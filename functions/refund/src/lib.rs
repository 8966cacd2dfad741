//! `refund`: an operator refunds a paid attempt — a duplicate payment (重复支付待退款), or a
//! payment that paid its order when a reason is given — from the Lambda console with the event
//! `{"out_trade_no": "…", "reason": "…", "operator": "…", "amount"?: "4000.00"}`
//! (locally: `campus-local refund <out_trade_no> --reason … --operator …`). See
//! `App::refund_payment` and `docs/operators-design.md`.

use lambda_runtime::Error;
use shared::App;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { gateways: true, ..shared::Uses::TABLE_ONLY };

/// Handles one refund event: the refund's state (`refunding`: the gateway's answer is awaited;
/// `refunded`), or an error saying why nothing was refunded.
pub async fn handle(app: &App, event: serde_json::Value, request_id: &str) -> Result<serde_json::Value, Error> {
    match app.refund_payment(&event, request_id).await {
        Ok(view) => Ok(serde_json::to_value(view)?),
        Err(e) => {
            tracing::warn!(error = %e, request_id, "refund not made");
            Err(e.to_string().into())
        }
    }
}
