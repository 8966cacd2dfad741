//! The Lambda side of campus-pay (`lambda-adapter`): what turns a Lambda invocation into a call
//! of the application (`shared`) and its answer back — the HTTP plumbing ([`http`]), typed
//! events ([`events`]), logging ([`logging`]), and the `main` of every function
//! ([`http_main!`], [`event_main!`]). Functions depend on this crate and on `shared`; `shared`
//! knows nothing of Lambda.

pub mod events;
pub mod http;
pub mod logging;

use shared::app::ConfigError;
use shared::{App, Uses};
use std::sync::Arc;

/// A function's cold start: the allocator tuned, JSON logs on, the [`App`] built with only the
/// clients and secrets `uses` asks for, and the CDN's origin token trusted.
pub async fn cold_start(uses: Uses) -> Result<Arc<App>, ConfigError> {
    logging::tune_allocator();
    logging::init_tracing();
    let (app, origin_token) = App::from_env(uses).await?;
    if let Some(token) = origin_token {
        http::trust_cdn_token(token).map_err(|m| ConfigError::Invalid("ORIGIN_VERIFY", m))?;
    }
    Ok(Arc::new(app))
}

/// An HTTP function's `main`: [`cold_start`] with what the function uses, then
/// `lambda_http::run` with its handler (`async fn(&App, Request) -> Response<Body>`).
#[macro_export]
macro_rules! http_main {
    ($handler:path, $uses:expr) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_http::Error> {
            let app = $crate::cold_start($uses).await?;
            lambda_http::run(lambda_http::service_fn(move |req| {
                let app = std::sync::Arc::clone(&app);
                async move { Ok::<_, lambda_http::Error>($handler(&app, req).await) }
            }))
            .await
        }
    };
}

/// An event-driven function's `main` (schedules, S3 and stream events, console invocations):
/// [`cold_start`] with what the function uses, then `lambda_runtime::run` with its handler
/// (`async fn(&App, serde_json::Value, &str request id) -> Result<serde_json::Value, Error>`,
/// which parses the event into its type — see [`events`]).
#[macro_export]
macro_rules! event_main {
    ($handler:path, $uses:expr) => {
        #[tokio::main]
        async fn main() -> Result<(), lambda_runtime::Error> {
            let app = $crate::cold_start($uses).await?;
            lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
                let app = std::sync::Arc::clone(&app);
                async move { $handler(&app, event.payload, &event.context.request_id).await }
            }))
            .await
        }
    };
}
