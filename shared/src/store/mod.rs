//! The storage capabilities (the `store` crate) and their DynamoDB implementation (the
//! `store-dynamo` crate), re-exported under one path: `shared::store::…`.
//!
//! The access patterns, keys and conditions are documented in `docs/data-model.md`.

pub use ::store::*;

pub use store_dynamo as dynamo;
pub use store_dynamo::DynamoStore;
