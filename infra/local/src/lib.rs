//! The local platform: the functions on their SAM routes, the static site, and the table,
//! against moto (DynamoDB + SNS) on 127.0.0.1. Also the harness the integration tests spawn.

pub mod gateway;
pub mod keys;
pub mod payments;
pub mod seed;
pub mod template;

use aws_sdk_dynamodb::config::{Credentials, Region};
use shared::clock::Clock;
use shared::sms::SnsSms;
use shared::store::DynamoStore;
use shared::{App, Settings};
use std::path::Path;
use std::sync::Arc;

/// The region moto keeps state in; one region everywhere.
pub const REGION: &str = "us-east-1";

/// AWS SDK configuration pointing at a local endpoint with dummy static credentials.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("local", "local", None, None, "campus-local"))
        .load()
        .await
}

/// Builds the application context exactly as a function's `main` does, against `endpoint`.
pub fn build_app(cfg: &aws_config::SdkConfig, table: &str, jwt_secret: &[u8], clock: Arc<dyn Clock>, payments: shared::gateway::Payments) -> App {
    App {
        store: DynamoStore::new(aws_sdk_dynamodb::Client::new(cfg), table),
        sms: Arc::new(SnsSms::new(aws_sdk_sns::Client::new(cfg))),
        tokens: shared::auth::TokenKeys::from_secret(jwt_secret).expect("secret of 32+ bytes"),
        hasher: shared::auth::Hasher::new(),
        clock,
        // Plain http locally: a Secure cookie would never come back.
        settings: Settings { cookie_secure: false, ..Settings::default() },
        payments,
    }
}

/// The whole site: API routes from the template, everything else from `static_dir`.
pub fn router(app: Arc<App>, template: &template::Template, static_dir: &Path) -> axum::Router {
    gateway::api_router(app, template).fallback_service(tower_http::services::ServeDir::new(static_dir))
}

/// The repository's static site folder.
pub fn default_static_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static-site")
}
