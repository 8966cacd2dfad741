//! campus-pay domain crate: types that parse, store capabilities and their DynamoDB
//! implementation, authentication, use cases, and the HTTP plumbing every function shares.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod service;
pub mod sms;
pub mod store;

pub use app::{App, Settings};
/// The domain crate (`shared/domain`), under its old path: `shared::domain::…`.
pub use domain;
pub use error::AppError;
/// The gateways crate (`shared/gateways`), under its old path: `shared::gateway::…`.
pub use gateways as gateway;
