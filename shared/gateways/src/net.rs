//! The one HTTP client every gateway shares, and how its failures are reported.

use super::CallError;
use std::time::Duration;

/// One HTTP client for every gateway: short timeouts (a Lambda must answer within seconds; an
/// unanswered call is resolved later by query, never by guessing).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(3)).timeout(Duration::from_secs(8)).build().expect("HTTP client")
}

/// What kind of failure a call met — `timeout`, `connect` or `http` — and nothing else: the
/// error's URL may carry signed parameters.
pub fn failure_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "http"
    }
}

/// A failed call, by kind only.
pub(crate) fn transport(e: reqwest::Error) -> CallError {
    CallError::Transport(failure_kind(&e).to_owned())
}

/// The whole answer body.
pub(crate) async fn bytes(resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    Ok(resp.bytes().await.map_err(transport)?.to_vec())
}
