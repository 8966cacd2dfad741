//! Lambda entry point: builds the clients once per cold start, then serves events.

use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::app::init_tracing();
    let app = Arc::new(shared::App::from_env().await?);
    lambda_http::run(lambda_http::service_fn(move |req| {
        let app = Arc::clone(&app);
        async move { Ok::<_, lambda_http::Error>(notify_wechat::handle(&app, req).await) }
    }))
    .await
}
