//! Configuration values that are secrets (the session-signing key, gateway merchant keys, the
//! CDN's origin token), read once per cold start.
//!
//! Each secret has two names. In the cloud the template sets `<NAME>_SECRET_ARN` (for example
//! `JWT_SECRET_ARN`) and the value is fetched from Secrets Manager (`GetSecretValue`, the
//! `SecretString`) when the function starts; the value never appears in the function's
//! configuration. Locally, and in tests, the plain `<NAME>` variable holds the value itself.
//! The ARN wins when both are set. Nothing here is ever logged.

/// Why the configuration read at cold start is unusable (the function does not start).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is missing")]
    Missing(&'static str),
    #[error("environment variable {0} is invalid: {1}")]
    Invalid(&'static str, &'static str),
    #[error("the secret named by {0} could not be read: {1}")]
    Secret(&'static str, String),
    /// A gateway's settings that do not build it, in words safe to log.
    #[error("{0} is invalid: {1}")]
    Gateway(&'static str, String),
}

/// One secret setting: the variable holding the value, and the one naming its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretVar {
    pub value: &'static str,
    pub arn: &'static str,
}

/// The session-signing key (at least 32 bytes).
pub const JWT_SECRET: SecretVar = SecretVar { value: "JWT_SECRET", arn: "JWT_SECRET_ARN" };
/// A registered gateway's settings JSON (`ALIPAY_MERCHANT`, …; see `gateway::REGISTRY`).
pub fn gateway_setting(r: &crate::gateway::Registration) -> SecretVar {
    SecretVar { value: r.setting, arn: r.setting_arn }
}
/// The token CloudFront adds to every request it forwards to the API (`x-origin-verify`); a
/// request carrying it came through the CDN, so the viewer address CloudFront reports is true.
pub const ORIGIN_VERIFY: SecretVar = SecretVar { value: "ORIGIN_VERIFY", arn: "ORIGIN_VERIFY_SECRET_ARN" };

/// Where a secret's value comes from, decided from the environment alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `<NAME>_SECRET_ARN` is set: fetch this secret.
    SecretsManager(String),
    /// Only `<NAME>` is set: its value.
    Plain(String),
    /// Neither is set.
    Unset,
}

impl SecretVar {
    /// Reads the two variables through `env` (the process environment in [`read`]).
    pub fn source(&self, env: impl Fn(&str) -> Option<String>) -> SecretSource {
        let present = |name: &str| env(name).filter(|v| !v.is_empty());
        match (present(self.arn), env(self.value)) {
            (Some(arn), _) => SecretSource::SecretsManager(arn),
            (None, Some(v)) => SecretSource::Plain(v),
            (None, None) => SecretSource::Unset,
        }
    }
}

/// Fetches secrets from Secrets Manager; the client is made on first use, so a function whose
/// secrets are all plain variables (locally) never builds it.
pub struct Secrets<'a> {
    cfg: &'a aws_config::SdkConfig,
    client: std::sync::OnceLock<aws_sdk_secretsmanager::Client>,
}

impl<'a> Secrets<'a> {
    pub fn new(cfg: &'a aws_config::SdkConfig) -> Self {
        Self { cfg, client: std::sync::OnceLock::new() }
    }

    /// The value of `var` (see the module documentation), or `None` when it is not configured.
    pub async fn read(&self, var: SecretVar) -> Result<Option<String>, ConfigError> {
        self.read_with(var, |name| std::env::var(name).ok()).await
    }

    /// As [`Self::read`], with the variables looked up through `env`.
    pub async fn read_with(&self, var: SecretVar, env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
        match var.source(env) {
            SecretSource::Unset => Ok(None),
            SecretSource::Plain(v) => Ok(Some(v)),
            SecretSource::SecretsManager(arn) => {
                let client = self.client.get_or_init(|| aws_sdk_secretsmanager::Client::new(self.cfg));
                let out = client.get_secret_value().secret_id(&arn).send().await.map_err(|e| {
                    // Only the error code: never the request or the response.
                    let code = aws_sdk_secretsmanager::error::ProvideErrorMetadata::code(&e).unwrap_or("unreachable").to_owned();
                    ConfigError::Secret(var.arn, code)
                })?;
                let value = out.secret_string().ok_or(ConfigError::Invalid(var.arn, "the secret has no SecretString"))?;
                tracing::info!(secret = var.arn, "secret read");
                Ok(Some(value.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn the_arn_wins_over_the_plain_value() {
        let e = env(&[("JWT_SECRET", "local"), ("JWT_SECRET_ARN", "arn:aws:secretsmanager:cn-north-1:1:secret:x")]);
        assert_eq!(JWT_SECRET.source(e), SecretSource::SecretsManager("arn:aws:secretsmanager:cn-north-1:1:secret:x".into()));
    }

    #[test]
    fn without_an_arn_the_plain_value_is_used_as_locally() {
        let [alipay, wechat, ..] = crate::gateway::REGISTRY else { panic!("three gateways") };
        let (alipay, wechat) = (gateway_setting(alipay), gateway_setting(wechat));
        assert_eq!(alipay.source(env(&[("ALIPAY_MERCHANT", "{}")])), SecretSource::Plain("{}".into()));
        // An empty ARN (an unset template parameter) means "not from Secrets Manager".
        assert_eq!(alipay.source(env(&[("ALIPAY_MERCHANT_SECRET_ARN", "")])), SecretSource::Unset);
        assert_eq!(wechat.source(env(&[])), SecretSource::Unset);
    }
}
