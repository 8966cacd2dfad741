//! Sending what the outbox holds (today: the receipt SMS), at most once per message.
//!
//! Whoever sends first claims the message by a conditional write (`pending → sending`), so two
//! senders — the notification that paid the order, a duplicate of it, the sweeper — never both
//! send. The payment's own handler tries once right after its transaction commits; the sweeper
//! (every minute) takes what is left: messages refused by the provider are tried again with
//! back-off ([`backoff`]), up to [`SMS_MAX_TRIES`] sends, then marked `failed`. A claim whose
//! sender vanished mid-send (its lease ran out with no result) is also marked `failed` rather
//! than sent again: the provider may have sent it, and a second SMS is worse than an alarm.
//! Every `failed` emits the `sms_given_up` metric (EMF), which the `SmsGivenUpAlarm` watches.
//! Phone numbers and texts never reach the logs.

use crate::app::App;
use crate::store::{OutboxSms, OutboxStore, SmsState, StoreError};
use chrono::Duration;
use serde::Serialize;

/// Sends per message before it is given up.
pub const SMS_MAX_TRIES: u32 = 5;
/// A send not settled this long after its claim is presumed lost (its outcome unknown).
pub const SMS_LEASE_SECS: i64 = 60;
/// At most this many messages per sweep.
pub const SMS_SWEEP_BATCH: i32 = 100;

/// The wait after the `tries`-th refused send: 30 s, 1 min, 2 min, 4 min (then it is given up).
pub fn backoff(tries: u32) -> Duration {
    Duration::seconds(30 << tries.clamp(1, 10).saturating_sub(1))
}

/// What one delivery try did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmsDelivery {
    Sent,
    /// Refused by the provider; due again after the back-off.
    RetryLater,
    /// Given up (last try refused): `sms_given_up` counted.
    Failed,
    /// Not due, or another sender has it, or it is settled: nothing done.
    NotClaimed,
}

/// What the outbox part of one sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutboxReport {
    pub sms_sent: usize,
    pub sms_retrying: usize,
    pub sms_failed: usize,
}

fn count_failed(m: &OutboxSms, reason: &str) {
    // The metric (EMF, for the alarm) and a log line; neither carries the phone or the text.
    crate::metrics::count(crate::metrics::SMS_GIVEN_UP, 1, &[]);
    tracing::warn!(sms_id = %m.id, tries = m.tries, reason, metric = crate::metrics::SMS_GIVEN_UP, "SMS given up");
}

impl<S: OutboxStore> App<S> {
    /// Claims message `id` if it is due and tries to send it, once.
    pub async fn deliver_sms(&self, id: &str) -> Result<SmsDelivery, StoreError> {
        let now = self.clock.now();
        match self.store.claim_sms(id, now, now + Duration::seconds(SMS_LEASE_SECS)).await? {
            Some(m) => self.send_claimed(&m).await,
            None => Ok(SmsDelivery::NotClaimed),
        }
    }

    async fn send_claimed(&self, m: &OutboxSms) -> Result<SmsDelivery, StoreError> {
        let Some(text) = m.text.as_deref() else {
            self.store.sms_failed(m, "no text").await?;
            count_failed(m, "no text");
            return Ok(SmsDelivery::Failed);
        };
        let sent = match self.sms() {
            Ok(sms) => sms.send(&m.phone, text).await,
            Err(none) => Err(none),
        };
        match sent {
            Ok(_) => {
                self.store.sms_sent(m, self.clock.now()).await?;
                tracing::info!(sms_id = %m.id, tries = m.tries, "SMS sent");
                Ok(SmsDelivery::Sent)
            }
            Err(e) if m.tries >= SMS_MAX_TRIES => {
                self.store.sms_failed(m, &e.0).await?;
                count_failed(m, &e.0);
                Ok(SmsDelivery::Failed)
            }
            Err(e) => {
                let next = self.clock.now() + backoff(m.tries);
                self.store.sms_retry_later(m, next, &e.0).await?;
                tracing::warn!(sms_id = %m.id, tries = m.tries, error = %e.0, %next, "SMS refused; will retry");
                Ok(SmsDelivery::RetryLater)
            }
        }
    }

    /// The outbox part of the sweep: due messages sent (claimed first), lost claims given up.
    pub async fn sweep_outbox(&self) -> Result<OutboxReport, StoreError> {
        let now = self.clock.now();
        let mut report = OutboxReport::default();
        for m in self.store.sms_needing_attention(now, SMS_SWEEP_BATCH).await? {
            let done = match m.state {
                SmsState::Pending => self.deliver_sms(&m.id).await,
                SmsState::Sending if m.lease_until.is_some_and(|t| t <= now) => {
                    match self.store.sms_failed(&m, "sender lost mid-send; outcome unknown").await {
                        Ok(()) => {
                            count_failed(&m, "outcome unknown");
                            Ok(SmsDelivery::Failed)
                        }
                        // Settled meanwhile by its sender.
                        Err(StoreError::Conflict) => Ok(SmsDelivery::NotClaimed),
                        Err(e) => Err(e),
                    }
                }
                _ => Ok(SmsDelivery::NotClaimed),
            };
            match done {
                Ok(SmsDelivery::Sent) => report.sms_sent += 1,
                Ok(SmsDelivery::RetryLater) => report.sms_retrying += 1,
                Ok(SmsDelivery::Failed) => report.sms_failed += 1,
                Ok(SmsDelivery::NotClaimed) => {}
                Err(e) => tracing::warn!(sms_id = %m.id, error = %e, "sweep: SMS deferred"),
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_thirty_seconds() {
        let waits: Vec<i64> = (1..SMS_MAX_TRIES).map(|t| backoff(t).num_seconds()).collect();
        assert_eq!(waits, [30, 60, 120, 240]);
    }
}
