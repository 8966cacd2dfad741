//! campus-pay's application: use cases (services), configuration, the `App` every function
//! builds, authentication; re-exports the domain, store, store-dynamo and gateways crates. No
//! Lambda or HTTP-framework types: those are `lambda-adapter`'s.

pub mod app;
pub mod auth;
pub mod clock;
pub mod config;
pub mod error;
pub mod metrics;
pub mod service;
pub mod sms;
pub mod store;

pub use app::{App, AppBuilder, Settings, Uses};
/// The domain crate (`shared/domain`), under its old path: `shared::domain::…`.
pub use domain;
pub use error::AppError;
/// The gateways crate (`shared/gateways`), under its old path: `shared::gateway::…`.
pub use gateways as gateway;
