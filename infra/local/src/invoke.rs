//! Console-style invocations on the local platform: what an operator does in the Lambda console
//! with a test event (or what a schedule or an S3 upload sends) is `POST /_local/invoke/<function>`
//! here, with the same JSON event, handled by the function crate's own handler. The platform's
//! sandboxes and keys live in the serving process, so a command-line invocation
//! (`campus-local invoke …`) goes through this endpoint. Local only: the template has no such
//! route, and the platform listens on 127.0.0.1.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use shared::App;
use std::collections::HashMap;
use std::sync::Arc;

/// An event-driven function as its `main.rs` runs it: the app, the event, the request id.
pub type EventHandler = fn(Arc<App>, Value, String) -> BoxFuture<'static, Result<Value, String>>;

/// Every event-driven function, by its template/cargo name.
pub fn event_handlers() -> HashMap<&'static str, EventHandler> {
    let mut m: HashMap<&'static str, EventHandler> = HashMap::new();
    m.insert("sweeper", |app, event, id| Box::pin(async move { sweeper::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m.insert("refund", |app, event, id| Box::pin(async move { refund::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m.insert("import", |app, event, id| Box::pin(async move { import::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m.insert("reconcile", |app, event, id| Box::pin(async move { reconcile::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m.insert("outbox", |app, event, id| Box::pin(async move { outbox::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m.insert("audit", |app, event, id| Box::pin(async move { audit::handle(&app, event, &id).await.map_err(|e| e.to_string()) }));
    m
}

/// A request id for a local invocation, shaped like Lambda's.
pub fn local_request_id() -> String {
    format!("local-{}", &shared::auth::random_id()[..20])
}

pub fn router(app: Arc<App>) -> Router {
    Router::new().route("/_local/invoke/{function}", axum::routing::post(invoke)).with_state(app)
}

fn json_response(status: StatusCode, v: Value) -> Response {
    (status, [(axum::http::header::CONTENT_TYPE, "application/json")], v.to_string()).into_response()
}

async fn invoke(State(app): State<Arc<App>>, Path(function): Path<String>, body: Bytes) -> Response {
    let Some(handler) = event_handlers().get(function.as_str()).copied() else {
        return json_response(StatusCode::NOT_FOUND, json!({ "errorMessage": format!("no event function {function}") }));
    };
    let event: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return json_response(StatusCode::BAD_REQUEST, json!({ "errorMessage": format!("the event is not JSON: {e}") })),
    };
    let id = local_request_id();
    // Like Lambda, the invocation runs to its end even if the caller goes away.
    match tokio::spawn(handler(app, event, id.clone())).await {
        Ok(Ok(v)) => json_response(StatusCode::OK, v),
        Ok(Err(e)) => json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({ "errorMessage": e, "requestId": id })),
        Err(_) => json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({ "errorMessage": "function panicked", "requestId": id })),
    }
}

/// `campus-local invoke <function> [event JSON] [--port N]`: sends the event to the running
/// platform and prints the function's answer. Exit status 1 if the function failed.
pub async fn invoke_command(base: &str, function: &str, event: Value) -> Result<Value, String> {
    let url = format!("{base}/_local/invoke/{function}");
    let resp =
        reqwest::Client::new().post(&url).json(&event).send().await.map_err(|e| format!("is the platform running at {base}? {e}"))?;
    let status = resp.status();
    let body: Value = resp.json().await.map_err(|e| format!("answer of {function} is not JSON: {e}"))?;
    if status.is_success() { Ok(body) } else { Err(body.get("errorMessage").and_then(Value::as_str).unwrap_or("failed").to_owned()) }
}

/// `campus-local import <file>`: puts the file in the local operators' bucket of `table` under
/// `imports/<file name>`, as an operator's upload does, sends `import` on the running platform
/// (`base`) the S3 event of that upload (uploader `operator`), and prints its answer and the
/// report it wrote. Exit status 1 if the function failed.
pub async fn import_command(base: &str, endpoint: &str, table: &str, file: &std::path::Path, operator: &str) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let name = file.file_name().and_then(|n| n.to_str()).ok_or("the file needs a UTF-8 name")?;
    let key = format!("imports/{name}");
    let bucket = crate::ops_bucket(table);
    let s3 = crate::s3_client(&crate::sdk_config(endpoint).await);
    s3.put_object().bucket(&bucket).key(&key).body(bytes.into()).send().await.map_err(|e| {
        format!(
            "upload to s3://{bucket}/{key} at {endpoint} failed (is the platform running with --table {table}?): {}",
            aws_sdk_s3::error::DisplayErrorContext(e)
        )
    })?;
    println!("uploaded {} to s3://{bucket}/{key}", file.display());
    let event = json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": operator },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": {},
            "s3": { "s3SchemaVersion": "1.0", "bucket": { "name": bucket }, "object": { "key": percent_encode_key(&key) } }
        }]
    });
    let answer = match invoke_command(base, "import", event).await {
        Ok(a) => a,
        Err(e) => {
            eprintln!("import failed: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", serde_json::to_string_pretty(&answer).unwrap_or_default());
    if let Some(report_key) = answer["results"][0]["report_key"].as_str() {
        let report = s3
            .get_object()
            .bucket(&bucket)
            .key(report_key)
            .send()
            .await
            .map_err(|e| format!("read the report: {}", aws_sdk_s3::error::DisplayErrorContext(e)))?;
        let bytes = report.body.collect().await.map_err(|e| format!("read the report: {e}"))?.into_bytes();
        println!(
            "\nreport s3://{bucket}/{report_key}:\n{}",
            String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes))
        );
    }
    Ok(())
}

/// An object key as S3 events carry it: URL-encoded, a space as `+`.
fn percent_encode_key(key: &str) -> String {
    key.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
