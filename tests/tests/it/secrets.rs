//! Secrets are read at cold start from Secrets Manager (moto here) when `*_SECRET_ARN` names
//! them, and from the plain variable otherwise (shared/src/config.rs).

use integration_tests::*;
use shared::app::ConfigError;
use shared::config::{JWT_SECRET, SecretVar, Secrets};
use std::collections::HashMap;

/// Alipay's settings, as the gateway registry names them.
fn alipay_merchant() -> SecretVar {
    shared::config::gateway_setting(shared::gateway::REGISTRY.iter().find(|r| r.setting == "ALIPAY_MERCHANT").unwrap())
}

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    move |k| m.get(k).cloned()
}

#[tokio::test]
async fn a_secret_named_by_its_arn_is_fetched_and_wins_over_the_plain_variable() {
    let cfg = local::sdk_config(&moto_endpoint()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&cfg);
    let value = format!("{}{}", shared::auth::random_id(), shared::auth::random_id());
    let name = format!("campus-pay/test/jwt-{}", &shared::auth::random_id()[..8]);
    let arn = sm.create_secret().name(&name).secret_string(&value).send().await.unwrap().arn().unwrap().to_owned();

    let secrets = Secrets::new(&cfg);
    let got = secrets.read_with(JWT_SECRET, env(&[("JWT_SECRET_ARN", &arn), ("JWT_SECRET", "plain-value-not-used")])).await.unwrap();
    assert_eq!(got.as_deref(), Some(value.as_str()));
    // It signs sessions as a configured key would.
    assert!(shared::auth::TokenKeys::from_secret(got.unwrap().as_bytes()).is_ok());

    // Locally: the plain variable; unset: not configured.
    assert_eq!(secrets.read_with(alipay_merchant(), env(&[("ALIPAY_MERCHANT", "{}")])).await.unwrap().as_deref(), Some("{}"));
    assert_eq!(secrets.read_with(alipay_merchant(), env(&[])).await.unwrap(), None);
}

#[tokio::test]
async fn a_missing_secret_stops_the_cold_start_with_its_variable_named() {
    let cfg = local::sdk_config(&moto_endpoint()).await;
    let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:campus-pay/test/none-AbCdEf";
    let err = Secrets::new(&cfg).read_with(alipay_merchant(), env(&[("ALIPAY_MERCHANT_SECRET_ARN", arn)])).await.unwrap_err();
    match err {
        ConfigError::Secret(var, code) => assert_eq!((var, code.as_str()), ("ALIPAY_MERCHANT_SECRET_ARN", "ResourceNotFoundException")),
        other => panic!("{other:?}"),
    }
}
