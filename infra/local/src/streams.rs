//! The table's stream, delivered locally as Lambda delivers it when deployed: a poller reads
//! the stream's shards through the DynamoDB Streams API (moto's), keeps the records that a
//! trigger's filter patterns match (`FilterCriteria` in `infra/template.yaml`), and invokes the
//! trigger's function with batches of at most `BatchSize` records — the same JSON event Lambda
//! sends (`aws_lambda_events::dynamodb::Event`). Records the function reports as failed
//! (`batchItemFailures`) are retried up to `MaximumRetryAttempts` times, then left behind, as
//! Lambda leaves them; the sweeper is the safety net either way.
//!
//! It starts at the stream's `LATEST` position: what was written while no platform ran is the
//! sweeper's (a deployed mapping starts at `TRIM_HORIZON` once, when it is created).

use crate::invoke::{EventHandler, event_handlers, local_request_id};
use crate::template::{StreamTrigger, Template};
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine;
use serde_json::{Map, Value, json};
use shared::App;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Checks that a filter pattern uses only what [`matches`] implements (nested objects, lists of
/// literal values and `{"prefix": …}`), so that nothing the deployed filter would refuse is
/// delivered locally.
pub fn check_pattern(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(check_pattern),
        Value::Array(options) => options.iter().try_for_each(|o| match o {
            Value::Object(m) if m.len() == 1 && m.get("prefix").is_some_and(Value::is_string) => Ok(()),
            Value::Object(m) => Err(format!("matcher {:?} is not supported locally", m.keys().collect::<Vec<_>>())),
            Value::Array(_) => Err("a list inside a list of values".into()),
            _ => Ok(()),
        }),
        _ => Err("a pattern's values must be lists".into()),
    }
}

/// Whether `event` (one stream record as Lambda sends it) matches `pattern`, with Lambda's
/// event-filtering rules for the matchers [`check_pattern`] allows: every field of the
/// pattern must be present and match; a list matches if any of its values does.
pub fn matches(pattern: &Value, event: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields.iter().all(|(k, sub)| event.get(k).is_some_and(|e| matches(sub, e))),
        Value::Array(options) => options.iter().any(|o| match o {
            Value::Object(m) => m.get("prefix").and_then(Value::as_str).is_some_and(|p| event.as_str().is_some_and(|s| s.starts_with(p))),
            literal => literal == event,
        }),
        _ => false,
    }
}

/// The running delivery; dropping it does not stop it (it lives as long as the platform).
pub struct StreamDelivery {
    drain: mpsc::UnboundedSender<oneshot::Sender<()>>,
    paused: Arc<AtomicBool>,
}

impl StreamDelivery {
    /// Holds delivery back (`true`) or lets it go on (`false`): for a benchmark that measures
    /// one function's CPU on a thread the poller shares. Records written meanwhile wait.
    pub fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Returns once every record written before the call has been read and delivered.
    pub async fn drained(&self) {
        let (tx, rx) = oneshot::channel();
        if self.drain.send(tx).is_ok() {
            let _ = rx.await;
        }
    }
}

fn key_json(v: &AttributeValue) -> Result<Value, String> {
    match v {
        AttributeValue::S(s) => Ok(json!({ "S": s })),
        AttributeValue::N(n) => Ok(json!({ "N": n })),
        AttributeValue::B(b) => Ok(json!({ "B": base64::engine::general_purpose::STANDARD.encode(b.as_ref()) })),
        other => Err(format!("a key attribute of an unexpected type: {other:?}")),
    }
}

/// One record as Lambda hands it to a function.
fn lambda_record(r: &Record, stream_arn: &str) -> Result<Value, String> {
    let change = r.dynamodb().ok_or("a record without its change")?;
    let mut keys = Map::new();
    for (k, v) in change.keys().into_iter().flatten() {
        keys.insert(k.clone(), key_json(v)?);
    }
    let created = change.approximate_creation_date_time().map(|t| t.secs()).unwrap_or_default();
    Ok(json!({
        "eventID": r.event_id(),
        "eventName": r.event_name().map(|n| n.as_str()),
        "eventVersion": r.event_version(),
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region(),
        "eventSourceARN": stream_arn,
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": keys,
            "SequenceNumber": change.sequence_number(),
            "SizeBytes": change.size_bytes(),
            "StreamViewType": change.stream_view_type().map(|v| v.as_str()),
        },
    }))
}

/// What one read of the shards came to.
enum Polled {
    /// Records were read (and delivered): read again at once.
    Delivered,
    /// Every shard read, nothing new: whoever waits for a drain can be told.
    CaughtUp,
    /// A shard could not be read: nothing is known of what it holds.
    Failed,
}

struct Shard {
    id: String,
    iterator: Option<String>,
}

struct Poller {
    app: Arc<App>,
    streams: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shards: Vec<Shard>,
    triggers: Vec<(StreamTrigger, EventHandler)>,
}

impl Poller {
    async fn latest(&self, shard: &str) -> Result<Option<String>, String> {
        let out = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await
            .map_err(|e| format!("GetShardIterator: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
        Ok(out.shard_iterator)
    }

    /// Reads every shard once and delivers what it found.
    async fn poll(&mut self) -> Polled {
        let mut found = Vec::new();
        let mut failed = false;
        for i in 0..self.shards.len() {
            let Some(iterator) = self.shards[i].iterator.clone() else { continue };
            match self.streams.get_records().shard_iterator(iterator).limit(1000).send().await {
                Ok(out) => {
                    self.shards[i].iterator = out.next_shard_iterator;
                    found.extend(out.records.unwrap_or_default());
                }
                Err(e) => {
                    // An iterator behind the trimmed part of the shard (or one the emulator
                    // forgot): carry on from the newest record; the sweeper has the rest.
                    tracing::warn!(error = %aws_sdk_dynamodbstreams::error::DisplayErrorContext(&e), "stream read failed; restarting at LATEST");
                    let id = self.shards[i].id.clone();
                    self.shards[i].iterator = self.latest(&id).await.unwrap_or_default();
                    failed = true;
                }
            }
        }
        if found.is_empty() {
            return if failed { Polled::Failed } else { Polled::CaughtUp };
        }
        let events: Vec<Value> = found
            .iter()
            .filter_map(|r| lambda_record(r, &self.arn).map_err(|e| tracing::warn!(error = %e, "stream record skipped")).ok())
            .collect();
        for (trigger, handler) in &self.triggers {
            let picked: Vec<Value> = events.iter().filter(|e| trigger.patterns.iter().any(|p| matches(p, e))).cloned().collect();
            for batch in picked.chunks(trigger.batch_size.max(1)) {
                self.invoke(trigger, *handler, batch.to_vec()).await;
            }
        }
        Polled::Delivered
    }

    /// One batch, with Lambda's retries of the records the function reports as failed (or of
    /// the whole batch when the function itself fails).
    async fn invoke(&self, trigger: &StreamTrigger, handler: EventHandler, mut batch: Vec<Value>) {
        for attempt in 0..=trigger.max_retries {
            let event = json!({ "Records": batch });
            let failed: Vec<String> = match handler(Arc::clone(&self.app), event, local_request_id()).await {
                Ok(answer) => answer["batchItemFailures"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f["itemIdentifier"].as_str().map(str::to_owned))
                    .collect(),
                Err(e) => {
                    tracing::warn!(function = %trigger.function, error = %e, "stream batch failed");
                    batch.iter().filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str().map(str::to_owned)).collect()
                }
            };
            if failed.is_empty() {
                return;
            }
            batch.retain(|r| r["dynamodb"]["SequenceNumber"].as_str().is_some_and(|s| failed.iter().any(|f| f == s)));
            tracing::warn!(function = %trigger.function, records = batch.len(), attempt, "stream records failed; retrying");
        }
        tracing::warn!(function = %trigger.function, records = batch.len(), "stream records left after their retries");
    }
}

/// Starts delivering the stream of `table` to the template's stream triggers, polling every
/// `every` while idle. Enables the stream first if the table predates it.
pub async fn start(
    app: Arc<App>,
    cfg: &aws_config::SdkConfig,
    table: &str,
    template: &Template,
    every: Duration,
) -> Result<StreamDelivery, String> {
    let handlers = event_handlers();
    let mut triggers = Vec::new();
    for t in &template.stream_triggers {
        let handler = handlers.get(t.function.as_str()).copied().ok_or_else(|| format!("no event function {}", t.function))?;
        triggers.push((t.clone(), handler));
    }
    let ddb = app.store.client();
    let describe = |ddb: aws_sdk_dynamodb::Client| async move {
        ddb.describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| format!("DescribeTable: {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))
    };
    let mut arn = describe(ddb.clone()).await?.table.and_then(|t| t.latest_stream_arn);
    if arn.is_none()
        && let Some(view) = template.stream_view_type()
    {
        ddb.update_table()
            .table_name(table)
            .stream_specification(crate::template::stream_specification(view)?)
            .send()
            .await
            .map_err(|e| format!("UpdateTable (stream): {}", aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        arn = describe(ddb.clone()).await?.table.and_then(|t| t.latest_stream_arn);
    }
    let arn = arn.ok_or_else(|| format!("table {table} has no stream"))?;
    let streams = aws_sdk_dynamodbstreams::Client::new(cfg);
    let described = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .map_err(|e| format!("DescribeStream: {}", aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
    let shard_ids: Vec<String> =
        described.stream_description.and_then(|d| d.shards).unwrap_or_default().into_iter().filter_map(|s| s.shard_id).collect();
    let mut poller = Poller { app, streams, arn, shards: Vec::new(), triggers };
    for id in shard_ids {
        let iterator = poller.latest(&id).await?;
        poller.shards.push(Shard { id, iterator });
    }
    let (drain, mut requests) = mpsc::unbounded_channel::<oneshot::Sender<()>>();
    let paused = Arc::new(AtomicBool::new(false));
    let held = Arc::clone(&paused);
    tokio::spawn(async move {
        let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            if held.load(Ordering::SeqCst) {
                tokio::time::sleep(every).await;
                continue;
            }
            match poller.poll().await {
                Polled::Delivered => continue,
                // Whoever asked before this poll has been served.
                Polled::CaughtUp => waiting.drain(..).for_each(|w| {
                    let _ = w.send(());
                }),
                // Not known to be caught up: drains wait for a read that succeeds.
                Polled::Failed => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                request = requests.recv() => match request {
                    Some(w) => waiting.push(w),
                    // Nobody can ask any more; keep delivering for the platform.
                    None => tokio::time::sleep(every).await,
                },
            }
        }
    });
    Ok(StreamDelivery { drain, paused })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_pattern() -> Value {
        let template = Template::load_default().expect("template");
        let outbox = template.stream_triggers.iter().find(|t| t.function == "outbox").expect("the outbox function has a stream trigger");
        assert_eq!(outbox.patterns.len(), 1);
        outbox.patterns[0].clone()
    }

    fn record(event_name: &str, pk: &str) -> Value {
        json!({"eventName": event_name, "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": "SMS"}}, "SequenceNumber": "1"}})
    }

    #[test]
    fn the_outbox_trigger_takes_new_outbox_items_only() {
        let p = outbox_pattern();
        assert!(matches(&p, &record("INSERT", "OUTBOX#PJXF261207LUTAU000001")));
        assert!(!matches(&p, &record("MODIFY", "OUTBOX#PJXF261207LUTAU000001")), "a claim or a settlement is not a new message");
        assert!(!matches(&p, &record("REMOVE", "OUTBOX#PJXF261207LUTAU000001")));
        assert!(!matches(&p, &record("INSERT", "ORDER#XF261207LUTAU000001")));
        assert!(!matches(&p, &record("INSERT", "STU#OUTBOX#1")), "a prefix, not a substring");
        assert!(!matches(&p, &json!({"eventName": "INSERT"})), "no keys, no match");
    }

    #[test]
    fn matchers_the_local_delivery_cannot_honour_are_refused() {
        assert!(check_pattern(&json!({"eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "A"}]}}}})).is_ok());
        assert!(check_pattern(&json!({"eventName": [{"anything-but": "REMOVE"}]})).is_err());
        assert!(check_pattern(&json!({"eventName": "INSERT"})).is_err());
        assert!(check_pattern(&json!({"size": [{"numeric": [">", 0]}]})).is_err());
    }
}
