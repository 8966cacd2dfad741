//! `outbox`: sends what the SMS outbox holds (today: the receipt SMS), triggered by the
//! table's stream. The template filters the stream to new outbox items (`OutboxFunction`);
//! any other record that arrives is skipped. Each message is claimed before it is sent
//! ([`App::deliver_sms`]), so a redelivered batch, the sweeper or a second invocation never
//! sends it twice. A record whose claim or settlement could not be written is reported back
//! (`batchItemFailures`) for Lambda to retry; a refusal by the SMS provider is not a failure
//! here: the message stays in the outbox for the sweeper's back-off.

use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::Error;
use shared::App;
use shared::store::DynamoStore;

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { sms: true, ..shared::Uses::TABLE_ONLY };

#[derive(serde::Deserialize)]
struct Keys {
    pk: String,
    sk: String,
}

/// The message a record announces: a new outbox item.
fn message_id(r: &EventRecord) -> Option<String> {
    if r.event_name != "INSERT" {
        return None;
    }
    let keys: Keys = serde_dynamo::from_item(r.change.keys.clone()).ok()?;
    DynamoStore::outbox_id_of_key(&keys.pk, &keys.sk).map(str::to_owned)
}

/// Handles one batch of stream records; answers with the records to retry.
pub async fn handle(app: &App, event: serde_json::Value, _request_id: &str) -> Result<serde_json::Value, Error> {
    let event: Event = serde_json::from_value(event)?;
    let tries = event.records.iter().filter_map(|r| Some((r, message_id(r)?))).map(|(r, id)| async move {
        match app.deliver_sms(&id).await {
            Ok(delivery) => {
                tracing::info!(sms_id = %id, ?delivery, "outbox message handled");
                None
            }
            Err(e) => {
                tracing::warn!(sms_id = %id, error = %e, "outbox message not handled; the batch will retry it");
                Some(r.change.sequence_number.clone())
            }
        }
    });
    let mut answer = DynamoDbEventResponse::default();
    for seq in futures::future::join_all(tries).await.into_iter().flatten() {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = seq;
        answer.batch_item_failures.push(failure);
    }
    Ok(serde_json::to_value(answer)?)
}
