//! Payment gateways: one module each. Wire types (the gateway's field names and formats) stay
//! inside the module; what leaves it is domain language (`Fen`, our out-trade-no, states).
//!
//! Each module is pure protocol code — canonical strings, signing, verification, parsing — so
//! the same code serves the platform (signing requests, verifying responses and notifications)
//! and the local sandbox gateways (verifying requests, signing responses and notifications).

pub mod alipay;
pub mod form;
pub mod wechat;

/// A gateway's rejection or a protocol failure, in words safe to log (no keys, no personal data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("signature missing or invalid: {0}")]
    Signature(String),
    #[error("malformed message: {0}")]
    Malformed(String),
    #[error("gateway refused: {code} {message}")]
    Refused { code: String, message: String },
    #[error("key material invalid: {0}")]
    Key(String),
}
