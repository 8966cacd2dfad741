//! The SMS outbox: messages written in the same transaction as what they announce, then sent
//! at most once each — a sender first claims a message by a conditional write.
//!
//! States: `pending` ──claim──▶ `sending` ──▶ `sent` (terminal)
//!                                       ──▶ `pending` again, later (provider refused; tries left)
//!                                       ──▶ `failed` (terminal: last try refused, or the
//!                                           sender vanished mid-send so the outcome is unknown)

use super::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::Phone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsState {
    Pending,
    Sending,
    Sent,
    Failed,
}

impl SmsState {
    pub fn as_str(self) -> &'static str {
        match self {
            SmsState::Pending => "pending",
            SmsState::Sending => "sending",
            SmsState::Sent => "sent",
            SmsState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Sending, Self::Sent, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

/// One queued SMS. `Debug` masks the phone (through `Phone`) and leaves out the text, which may
/// carry a secret link.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxSms {
    /// What the message is about (a receipt number): one message per id.
    pub id: String,
    pub phone: Phone,
    /// Removed once sent.
    pub text: Option<String>,
    pub state: SmsState,
    /// Sends started so far.
    pub tries: u32,
    /// Not to be sent before this.
    pub next_try_at: DateTime<Utc>,
    /// While `sending`: the claim ends then; past it the outcome is unknown.
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
}

impl OutboxSms {
    /// A new message, due at `at`: what the payment transition queues with a receipt.
    pub fn pending(id: &str, phone: &Phone, text: &str, at: DateTime<Utc>) -> Self {
        Self {
            id: id.to_owned(),
            phone: phone.clone(),
            text: Some(text.to_owned()),
            state: SmsState::Pending,
            tries: 0,
            next_try_at: at,
            lease_until: None,
            created_at: at,
            sent_at: None,
            last_error: None,
        }
    }
}

impl std::fmt::Debug for OutboxSms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSms")
            .field("id", &self.id)
            .field("phone", &self.phone)
            .field("state", &self.state)
            .field("tries", &self.tries)
            .field("next_try_at", &self.next_try_at)
            .field("lease_until", &self.lease_until)
            .field("last_error", &self.last_error)
            .finish_non_exhaustive()
    }
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    async fn get_sms(&self, id: &str) -> Result<Option<OutboxSms>, StoreError>;
    /// Claims a pending message that is due (`next_try_at <= now`): `sending`, one more try,
    /// leased until `lease_until`. `None` when it is not there to claim (another sender has it,
    /// it is not due, or it is settled) — only one claimant can win.
    async fn claim_sms(&self, id: &str, now: DateTime<Utc>, lease_until: DateTime<Utc>) -> Result<Option<OutboxSms>, StoreError>;
    /// The claimed message (`m` as the claim returned it) went out: `sent`, text removed.
    async fn sms_sent(&self, m: &OutboxSms, at: DateTime<Utc>) -> Result<(), StoreError>;
    /// The claimed message was refused and may be tried again at `next_try_at`.
    async fn sms_retry_later(&self, m: &OutboxSms, next_try_at: DateTime<Utc>, error: &str) -> Result<(), StoreError>;
    /// Gives up on `m` (in the state it was read in): `failed`, terminal.
    async fn sms_failed(&self, m: &OutboxSms, error: &str) -> Result<(), StoreError>;
    /// Messages needing the sweeper: pending ones due before `now`, and claims whose lease ended
    /// before `now`; oldest first (eventually consistent: each is re-checked by a conditional write).
    async fn sms_needing_attention(&self, now: DateTime<Utc>, limit: i32) -> Result<Vec<OutboxSms>, StoreError>;
}
