//! Sending SMS. The sender is a trait so that a domestic provider can replace SNS later.

use crate::domain::Phone;
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
#[error("SMS not sent: {0}")]
pub struct SmsError(pub String);

#[async_trait]
pub trait SmsSender: Send + Sync {
    /// Sends `text` to `to`; returns the provider's message id.
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError>;
}

/// Amazon SNS `Publish` to a phone number, as a transactional message.
#[derive(Clone, Debug)]
pub struct SnsSms {
    client: aws_sdk_sns::Client,
}

impl SnsSms {
    pub fn new(client: aws_sdk_sns::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SmsSender for SnsSms {
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError> {
        use aws_sdk_sns::types::MessageAttributeValue;
        let kind = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SmsError(e.to_string()))?;
        let out = self
            .client
            .publish()
            .phone_number(to.e164())
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", kind)
            .send()
            .await
            // The SDK error carries no phone number; keep only its code.
            .map_err(|e| {
                // The SmsFailed alarm in infra/template.yaml counts these.
                crate::metrics::count(crate::metrics::SMS_FAILED, 1, &[]);
                SmsError(aws_sdk_sns::error::ProvideErrorMetadata::code(&e).unwrap_or("unknown").to_owned())
            })?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
