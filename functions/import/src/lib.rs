//! `import`: fee-bill and offline-payment files uploaded to the operators' bucket under
//! `imports/` (S3 event), or named in a console test event
//! `{"key": "imports/2026-fees.csv", "operator": "财务处-张敏"}`. Every row is checked; the whole
//! file is applied or none of it, once per content; the report lands next to the file
//! (`imports/<name>.report.csv`). See `App::import_object` and `docs/operators-design.md`.

use lambda_runtime::Error;
use serde_json::{Value, json};
use shared::App;
use shared::domain::{Actor, By, OperatorName};

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

/// Handles one event; the answer is the import's outcome (`{"results": [...]}` for an S3
/// event, one per record). An error (S3 or the table unavailable, an interrupted apply) makes
/// Lambda retry an S3 event; the retry finishes the file.
pub async fn handle(app: &App, event: Value, request_id: &str) -> Result<Value, Error> {
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut results = Vec::new();
        for r in records {
            let bucket = r["s3"]["bucket"]["name"].as_str().ok_or("S3 record without s3.bucket.name")?;
            let key = s3_key(r["s3"]["object"]["key"].as_str().ok_or("S3 record without s3.object.key")?)?;
            if let Some(ours) = &app.settings.ops_bucket
                && ours != bucket
            {
                return Err(format!("bucket {bucket} is not the operators' bucket").into());
            }
            let by =
                By::new(Actor::Operator(uploader(r["userIdentity"]["principalId"].as_str())), app.clock.now()).with_request(request_id);
            results.push(serde_json::to_value(app.import_object(bucket, &key, &by).await?)?);
        }
        return Ok(json!({ "results": results }));
    }
    let key = event
        .get("key")
        .and_then(Value::as_str)
        .ok_or(r#"the event needs "key": the file under imports/, e.g. {"key": "imports/2026-fees.csv", "operator": "财务处-张敏"}"#)?;
    let operator = event.get("operator").and_then(Value::as_str).ok_or(r#"the event needs "operator": who you are, e.g. "财务处-张敏""#)?;
    let operator = OperatorName::parse(operator).map_err(|e| format!("operator: {e}"))?;
    let bucket = app.settings.ops_bucket.as_deref().ok_or("OPS_BUCKET is not set")?;
    let by = By::new(Actor::Operator(operator), app.clock.now()).with_request(request_id);
    Ok(serde_json::to_value(app.import_object(bucket, key.trim(), &by).await?)?)
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
    fn uploaders() {
        assert_eq!(uploader(Some("AWS:AROAEXAMPLE:zhang.min")).as_str(), "AWS/AROAEXAMPLE/zhang.min");
        assert_eq!(uploader(None).as_str(), "s3-upload");
        assert_eq!(uploader(Some("")).as_str(), "s3-upload");
    }
}
