//! The local platform: the functions on their SAM routes, the static site, and the table,
//! against moto (DynamoDB + SNS) on 127.0.0.1. Also the harness the integration tests spawn.

pub mod gateway;
pub mod invoke;
pub mod keys;
pub mod payments;
pub mod phone;
pub mod seed;
pub mod streams;
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
pub fn build_app(
    cfg: &aws_config::SdkConfig,
    table: &str,
    jwt_secret: &[u8],
    clock: Arc<dyn Clock>,
    payments: shared::gateway::Payments,
) -> App {
    // One process serves every function: it uses everything (`Uses::ALL`).
    App::builder(DynamoStore::new(aws_sdk_dynamodb::Client::new(cfg), table))
        .sessions(shared::auth::TokenKeys::from_secret(jwt_secret).expect("secret of 32+ bytes"))
        .sms(Arc::new(SnsSms::new(aws_sdk_sns::Client::new(cfg))))
        .clock(clock)
        // Plain http locally: a Secure cookie would never come back.
        .settings(Settings { cookie_secure: false, ops_bucket: Some(ops_bucket(table)), ..Settings::default() })
        .payments(payments)
        .s3(s3_client(cfg))
        .build()
}

/// What every function's code asks for at cold start (its `USES`), by cargo binary name; the
/// template is checked against it (`template.rs`).
pub fn function_uses() -> std::collections::HashMap<&'static str, shared::Uses> {
    [
        ("login", login::USES),
        ("profile", profile::USES),
        ("fees", fees::USES),
        ("orders", orders::USES),
        ("notify", notify::USES),
        ("records", records::USES),
        ("receipts", receipts::USES),
        ("sweeper", sweeper::USES),
        ("outbox", outbox::USES),
        ("refund", refund::USES),
        ("import", import::USES),
        ("reconcile", reconcile::USES),
        ("audit", audit::USES),
    ]
    .into_iter()
    .collect()
}

/// The local operators' bucket of a table (moto keeps one per table, like a deployed stack).
pub fn ops_bucket(table: &str) -> String {
    format!("ops-{}", table.to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"))
}

/// S3 against the local endpoint: path-style addressing (no bucket subdomains on 127.0.0.1).
pub fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(cfg).force_path_style(true).build())
}

/// Creates the operators' bucket if it is not there yet.
pub async fn ensure_ops_bucket(app: &App) -> Result<(), String> {
    let (Some(bucket), Some(s3)) = (&app.settings.ops_bucket, &app.s3) else { return Ok(()) };
    if s3.head_bucket().bucket(bucket).send().await.is_ok() {
        return Ok(());
    }
    s3.create_bucket().bucket(bucket).send().await.map(|_| ()).map_err(|e| format!("create bucket {bucket}: {e:?}"))
}

/// The whole site: API routes from the template, everything else from `static_dir` with the
/// headers CloudFront adds to the static site (`SiteHeadersPolicy`: its content security policy
/// holds in the browser tests as deployed).
pub fn router(app: Arc<App>, template: &template::Template, static_dir: &Path) -> axum::Router {
    let headers: Arc<Vec<(axum::http::HeaderName, axum::http::HeaderValue)>> = Arc::new(
        template.site_headers.iter().map(|(k, v)| (k.parse().expect("a header name"), v.parse().expect("a header value"))).collect(),
    );
    let site = axum::Router::new().fallback_service(tower_http::services::ServeDir::new(static_dir)).layer(axum::middleware::map_response(
        move |mut resp: axum::response::Response| {
            let headers = Arc::clone(&headers);
            async move {
                for (k, v) in headers.iter() {
                    resp.headers_mut().insert(k.clone(), v.clone());
                }
                resp
            }
        },
    ));
    gateway::api_router(Arc::clone(&app), template).merge(invoke::router(app)).fallback_service(site)
}

/// The repository's static site folder.
pub fn default_static_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../static-site")
}
