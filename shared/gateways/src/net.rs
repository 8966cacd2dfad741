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

/// The largest answer read from a gateway (a statement download is the largest by far).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// The whole answer body, at most [`MAX_ANSWER_BYTES`] (more is refused as it arrives).
pub(crate) async fn bytes(resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    bytes_within(resp, MAX_ANSWER_BYTES).await
}

async fn bytes_within(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, CallError> {
    let too_large = || CallError::Transport("answer too large".into());
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(transport)? {
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Serves one answer: `head` (status line and headers), then `body`.
    async fn one_answer(head: &'static str, body: Vec<u8>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = sock.read(&mut request).await;
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(&body).await;
        });
        format!("http://{addr}/")
    }

    /// A gateway (or whoever answers in its place) cannot make us hold an answer of any size:
    /// a declared length over the limit is refused at once, an undeclared one as it arrives.
    #[tokio::test]
    async fn answers_over_the_limit_are_refused() {
        let declared = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n", vec![b'x'; 100_000]).await;
        let resp = http_client().get(declared).send().await.unwrap();
        assert!(matches!(bytes_within(resp, 64 * 1024).await, Err(CallError::Transport(m)) if m == "answer too large"));
        let streamed = one_answer("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n", vec![b'x'; 100_000]).await;
        let resp = http_client().get(streamed).send().await.unwrap();
        assert!(matches!(bytes_within(resp, 64 * 1024).await, Err(CallError::Transport(m)) if m == "answer too large"));
        let small = one_answer("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n", b"hello".to_vec()).await;
        assert_eq!(bytes_within(http_client().get(small).send().await.unwrap(), 64 * 1024).await.unwrap(), b"hello");
    }
}
