//! The local platform's stand-in for the students' phones: every SMS goes to SNS (moto) as
//! deployed, and is then shown on this terminal, so whoever tries the platform can read the
//! first-login, recovery and phone-change codes and the receipt links. Only `campus-local`'s
//! own process uses it (the tests read SMS from the sender itself); deployed functions have no
//! such thing.

use async_trait::async_trait;
use shared::domain::Phone;
use shared::sms::{SmsError, SmsSender};
use std::sync::Arc;

pub struct TerminalPhones {
    pub sns: Arc<dyn SmsSender>,
}

#[async_trait]
impl SmsSender for TerminalPhones {
    async fn send(&self, to: &Phone, text: &str) -> Result<String, SmsError> {
        let id = self.sns.send(to, text).await?;
        println!("  [短信 → {}] {text}", to.masked());
        Ok(id)
    }
}
