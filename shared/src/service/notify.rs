//! Gateway notifications, one flow for every channel: the channel's gateway verifies and says
//! what the notification is about; it is compared with our attempt (or refund), kept, and the
//! payment transition (or the refund's settlement) applied — and only then acknowledged.

use crate::app::App;
use crate::domain::{Actor, Attempt, Channel, ConfirmedPayment, Order, OutTradeNo, PaymentOutcome};
use crate::gateway::notice::{About, Answer, PaymentNotice, PaymentReport, Verdict};
use crate::service::payments::{PaymentRejected, PaymentStores};
use crate::store::{RawNotification, StoreError};
use chrono::{DateTime, Utc};

/// Why a notification was not acknowledged. Nothing was changed; the gateway will resend.
#[derive(Debug, thiserror::Error)]
pub enum NotifyRejected {
    #[error("channel not configured")]
    NotConfigured,
    #[error("unverifiable: {0}")]
    Unverifiable(String),
    #[error("not one of our attempts")]
    UnknownAttempt,
    #[error("does not match our attempt: {0}")]
    Mismatch(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl NotifyRejected {
    /// What the gateway is told: a store failure may heal by its next send; the rest is refused.
    pub fn verdict(&self) -> Verdict {
        match self {
            NotifyRejected::Store(_) => Verdict::Retry,
            _ => Verdict::Refused,
        }
    }
}

impl From<PaymentRejected> for NotifyRejected {
    fn from(e: PaymentRejected) -> Self {
        match e {
            PaymentRejected::UnknownAttempt => NotifyRejected::UnknownAttempt,
            PaymentRejected::Store(s) => NotifyRejected::Store(s),
            other => NotifyRejected::Mismatch(other.to_string()),
        }
    }
}

/// What a verified notification did (`None`: a state we only keep, such as a close, or a
/// refund's settlement).
pub type Handled = Option<PaymentOutcome>;

fn log_rejection(channel: Channel, e: &NotifyRejected) {
    tracing::warn!(channel = channel.as_str(), reason = %e, metric = "notify_rejected", "notification not acknowledged");
    // The NotifyRejected alarm in infra/template.yaml counts these.
    crate::metrics::count(crate::metrics::NOTIFY_REJECTED, 1, &[("Channel", channel.as_str())]);
}

impl<S: PaymentStores + crate::store::RefundStore + crate::store::OrderStore> App<S> {
    /// A notification `channel`'s gateway posted to `/api/notify/<channel>`: verified, checked,
    /// kept, applied. `Ok` means: acknowledge it.
    pub async fn notification(&self, channel: Channel, headers: &http::HeaderMap, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let r = self.notification_inner(channel, headers, body).await;
        if let Err(e) = &r {
            log_rejection(channel, e);
        }
        r
    }

    /// [`Self::notification`] and the answer its gateway expects for the outcome.
    pub async fn answer_notification(&self, channel: Channel, headers: &http::HeaderMap, body: &[u8]) -> Answer {
        let verdict = match self.notification(channel, headers, body).await {
            Ok(_) => Verdict::Handled,
            Err(e) => e.verdict(),
        };
        match self.payments.get(channel) {
            Some(gateway) => gateway.answer(verdict),
            // Not configured: nothing to verify with; the sender is told no.
            None => Answer::text(400, "fail"),
        }
    }

    async fn notification_inner(&self, channel: Channel, headers: &http::HeaderMap, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let gateway = self.payments.get(channel).ok_or(NotifyRejected::NotConfigured)?;
        let now = self.clock.now();
        let notice = gateway.verify_notification(headers, body, now).map_err(|e| NotifyRejected::Unverifiable(e.to_string()))?;
        match notice.about {
            About::Payment(p) => self.payment_notice(channel, p, notice.raw, now).await,
            About::Refund(r) => self.refund_notice(channel, r, notice.raw, now).await,
        }
    }

    /// The attempt a notification names, with its order: one read that serves the check and
    /// the payment transition.
    async fn attempt_of(&self, out_trade_no: &str) -> Result<(Attempt, Order), NotifyRejected> {
        let no = OutTradeNo::parse(out_trade_no).map_err(|_| NotifyRejected::UnknownAttempt)?;
        self.store.payment_state(&no).await?.ok_or(NotifyRejected::UnknownAttempt)
    }

    /// Checks a payment notice against our attempt and keeps it: with the payment transition
    /// when it reports a payment, else on its own. `now`: when it was received (and verified).
    async fn payment_notice(
        &self,
        channel: Channel,
        notice: Box<dyn PaymentNotice>,
        raw: String,
        now: DateTime<Utc>,
    ) -> Result<Handled, NotifyRejected> {
        let known = self.attempt_of(notice.out_trade_no()).await?;
        let report = notice.check(&known.0).map_err(NotifyRejected::Mismatch)?;
        let no = known.0.out_trade_no.clone();
        let raw = RawNotification::new(channel, &no, now, raw);
        match report {
            PaymentReport::Paid { gateway_trade_no, amount, paid_at } => {
                let p = ConfirmedPayment { out_trade_no: no, channel, gateway_trade_no, amount, paid_at: paid_at.unwrap_or(now) };
                Ok(Some(self.record_payment_on(&p, &Actor::Gateway(channel), known, Some(raw)).await?))
            }
            PaymentReport::Kept(what) => {
                tracing::info!(out_trade_no = %no, channel = channel.as_str(), what, "notification kept");
                self.store.store_notification(&raw).await?;
                Ok(None)
            }
        }
    }
}
