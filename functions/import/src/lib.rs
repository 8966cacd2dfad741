//! `import`: fee-bill and offline-payment files uploaded to the operators' bucket under
//! `imports/` (S3 event), or named in a console test event
//! `{"key": "imports/2026-fees.csv", "operator": "财务处-张敏"}`. Every row is checked; the whole
//! file is applied or none of it, once per content; the report lands next to the file
//! (`imports/<name>.report.csv`). See `App::import_object` and `docs/operators-design.md`.

use aws_lambda_events::s3::S3Event;
use lambda_runtime::Error;
use serde::Deserialize;
use serde_json::{Value, json};
use shared::App;
use shared::domain::{Actor, By, OperatorName};

/// What this function uses besides its table (its cold start builds only these).
pub const USES: shared::Uses = shared::Uses { ops_files: true, ..shared::Uses::TABLE_ONLY };

/// An S3 event's object key: URL-encoded, `+` for a space.
pub fn s3_key(raw: &str) -> Result<String, Error> {
    let spaced = raw.replace('+', " ");
    Ok(percent_encoding::percent_decode_str(&spaced).decode_utf8().map_err(|_| "the S3 object key is not UTF-8")?.into_owned())
}

/// The uploader as the operator of an S3 event: its principal id (`AWS:AIDA…`, or
/// `AWS:AROA…:session` for a role), `:` shown as `/`; `s3-upload` when there is none.
pub fn uploader(principal_id: Option<&str>) -> OperatorName {
    let cleaned: String = principal_id.unwrap_or("").replace(':', "/").chars().filter(|c| !c.is_control()).take(64).collect();
    OperatorName::parse(&cleaned).unwrap_or_else(|_| OperatorName::parse("s3-upload").expect("valid"))
}

/// What the function is invoked with.
#[derive(Debug)]
pub enum ImportEvent {
    /// Uploads to the operators' bucket (`aws_lambda_events`' S3 notification).
    Uploaded(S3Event),
    /// An operator's console test event: the file under `imports/` and who they are.
    Named { key: String, operator: OperatorName },
}

/// The console event's fields, each optional so that a missing one is named in the answer.
#[derive(Deserialize)]
struct Named {
    key: Option<String>,
    operator: Option<String>,
}

impl ImportEvent {
    /// An event with `Records` is S3's, and must be one whole; anything else is the console's.
    pub fn parse(event: Value) -> Result<Self, String> {
        if event.get("Records").is_some() {
            return serde_json::from_value(event).map(Self::Uploaded).map_err(|e| format!("not an S3 event notification: {e}"));
        }
        let named: Named = serde_json::from_value(event).map_err(|e| format!("not an import event: {e}"))?;
        let key = named
            .key
            .ok_or(r#"the event needs "key": the file under imports/, e.g. {"key": "imports/2026-fees.csv", "operator": "财务处-张敏"}"#)?;
        let operator = named.operator.ok_or(r#"the event needs "operator": who you are, e.g. "财务处-张敏""#)?;
        let operator = OperatorName::parse(&operator).map_err(|e| format!("operator: {e}"))?;
        Ok(Self::Named { key: key.trim().to_owned(), operator })
    }
}

/// Handles one event; the answer is the import's outcome (`{"results": [...]}` for an S3
/// event, one per record). An error (S3 or the table unavailable, an interrupted apply) makes
/// Lambda retry an S3 event; the retry finishes the file.
pub async fn handle(app: &App, event: Value, request_id: &str) -> Result<Value, Error> {
    match ImportEvent::parse(event)? {
        ImportEvent::Uploaded(s3) => {
            let mut results = Vec::new();
            for r in &s3.records {
                let bucket = r.s3.bucket.name.as_deref().ok_or("S3 record without s3.bucket.name")?;
                let key = s3_key(r.s3.object.key.as_deref().ok_or("S3 record without s3.object.key")?)?;
                if let Some(ours) = &app.settings.ops_bucket
                    && ours != bucket
                {
                    return Err(format!("bucket {bucket} is not the operators' bucket").into());
                }
                let by =
                    By::new(Actor::Operator(uploader(r.principal_id.principal_id.as_deref())), app.clock.now()).with_request(request_id);
                results.push(serde_json::to_value(app.import_object(bucket, &key, &by).await?)?);
            }
            Ok(json!({ "results": results }))
        }
        ImportEvent::Named { key, operator } => {
            let bucket = app.settings.ops_bucket.as_deref().ok_or("OPS_BUCKET is not set")?;
            let by = By::new(Actor::Operator(operator), app.clock.now()).with_request(request_id);
            Ok(serde_json::to_value(app.import_object(bucket, &key, &by).await?)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_keys_are_decoded() {
        assert_eq!(s3_key("imports/2026+%E7%A7%8B.csv").unwrap(), "imports/2026 秋.csv");
        assert_eq!(s3_key("imports/a%2Bb.csv").unwrap(), "imports/a+b.csv");
    }

    #[test]
    fn events_are_s3_notifications_or_named_files() {
        // The shape S3 sends (docs.aws.amazon.com, "Event message structure"), trimmed.
        let s3 = json!({"Records": [{
            "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "cn-northwest-1",
            "eventTime": "2026-12-07T02:03:04.000Z", "eventName": "ObjectCreated:Put",
            "userIdentity": {"principalId": "AWS:AIDAEXAMPLE"},
            "requestParameters": {"sourceIPAddress": "203.0.113.7"}, "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": "ops"}, "object": {"key": "imports/a.csv", "size": 10}}
        }]});
        let Ok(ImportEvent::Uploaded(e)) = ImportEvent::parse(s3) else { panic!("an S3 event") };
        assert_eq!(e.records[0].s3.object.key.as_deref(), Some("imports/a.csv"));
        // Records that are not S3's are refused, not read as a console event.
        assert!(ImportEvent::parse(json!({"Records": [{"s3": "nope"}]})).unwrap_err().starts_with("not an S3 event"));
        let Ok(ImportEvent::Named { key, operator }) = ImportEvent::parse(json!({"key": " imports/b.csv ", "operator": "张敏"})) else {
            panic!("a named file")
        };
        assert_eq!((key.as_str(), operator.as_str()), ("imports/b.csv", "张敏"));
        assert!(ImportEvent::parse(json!({"key": "imports/b.csv"})).unwrap_err().contains(r#"needs "operator""#));
        assert!(ImportEvent::parse(json!({"operator": "张敏"})).unwrap_err().contains(r#"needs "key""#));
    }

    #[test]
    fn uploaders() {
        assert_eq!(uploader(Some("AWS:AROAEXAMPLE:zhang.min")).as_str(), "AWS/AROAEXAMPLE/zhang.min");
        assert_eq!(uploader(None).as_str(), "s3-upload");
        assert_eq!(uploader(Some("")).as_str(), "s3-upload");
    }
}
