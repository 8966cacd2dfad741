//! Recording payments that a gateway vouched for (a verified notification or our own query).

use crate::app::App;
use crate::domain::{ConfirmedPayment, Fen, PaymentOutcome};
use crate::store::{PaymentStore, StoreError};

/// Why a gateway's word was not acted on. Nothing was changed; the caller does not ack, logs
/// the reason and counts it.
#[derive(Debug, thiserror::Error)]
pub enum PaymentRejected {
    #[error("no attempt with this out-trade-no")]
    UnknownAttempt,
    #[error("attempt belongs to another channel")]
    ChannelMismatch,
    #[error("amount {got} differs from the attempt's {expected}")]
    AmountMismatch { expected: Fen, got: Fen },
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl<S: PaymentStore> App<S> {
    /// Compares the confirmed payment with our attempt, then applies the payment transition
    /// (idempotent: a repeat is `AlreadyRecorded`).
    pub async fn record_confirmed_payment(&self, p: &ConfirmedPayment) -> Result<PaymentOutcome, PaymentRejected> {
        let attempt = self.store.get_attempt(&p.out_trade_no).await?.ok_or(PaymentRejected::UnknownAttempt)?;
        if attempt.channel != p.channel {
            return Err(PaymentRejected::ChannelMismatch);
        }
        if attempt.amount != p.amount {
            return Err(PaymentRejected::AmountMismatch { expected: attempt.amount, got: p.amount });
        }
        let outcome = match self.store.record_payment(p).await {
            Err(StoreError::NotFound) => return Err(PaymentRejected::UnknownAttempt),
            other => other?,
        };
        tracing::info!(out_trade_no = %p.out_trade_no, channel = p.channel.as_str(), amount = %p.amount, ?outcome, "payment recorded");
        Ok(outcome)
    }
}
