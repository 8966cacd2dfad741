//! The storage capabilities (the `store` crate, re-exported) and their DynamoDB implementation.
//!
//! The access patterns, keys and conditions are documented in `docs/data-model.md`.

pub use ::store::*;

pub mod dynamo;

pub use dynamo::DynamoStore;
