//! Lambda entry point: builds the clients once per cold start, then imports the file of every
//! event (an S3 upload under `imports/`, or a console test event).

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::app::init_tracing();
    let app = Arc::new(shared::App::from_env().await?);
    lambda_runtime::run(lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<serde_json::Value>| {
        let app = Arc::clone(&app);
        async move { import::handle(&app, event.payload, &event.context.request_id).await }
    }))
    .await
}
