//! Recording payments that a gateway vouched for (a verified notification or our own query).

use crate::app::App;
use crate::domain::{Actor, Attempt, By, ConfirmedPayment, Fen, Order, PaymentOutcome};
use crate::store::{PaymentStore, RawNotification, StoreError, StudentStore};

/// Everything recording a payment needs from the store: the transition itself (which also
/// queues the receipt SMS) and, for an order that does not name its payer, the profile.
pub trait PaymentStores: PaymentStore + StudentStore {}
impl<T: PaymentStore + StudentStore> PaymentStores for T {}

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

impl<S: PaymentStores> App<S> {
    /// Compares the confirmed payment with our attempt, then applies the payment transition
    /// (idempotent: a repeat is `AlreadyRecorded`), audited as `actor`'s. The payment that pays
    /// the order also issues its e-receipt and queues the receipt SMS in the same transaction.
    /// Nothing here waits for the SMS: the `outbox` function, triggered by the table's stream,
    /// sends it ([`App::deliver_sms`]), and the sweeper retries what the provider refused.
    pub async fn record_confirmed_payment(&self, p: &ConfirmedPayment, actor: &Actor) -> Result<PaymentOutcome, PaymentRejected> {
        let known = self.store.payment_state(&p.out_trade_no).await?.ok_or(PaymentRejected::UnknownAttempt)?;
        self.record_payment_on(p, actor, known, None).await
    }

    /// [`Self::record_confirmed_payment`] on the attempt and order the caller has just read,
    /// keeping `raw` (the notification that vouched for it) with the transition.
    pub(crate) async fn record_payment_on(
        &self,
        p: &ConfirmedPayment,
        actor: &Actor,
        (attempt, order): (Attempt, Order),
        raw: Option<RawNotification>,
    ) -> Result<PaymentOutcome, PaymentRejected> {
        if attempt.channel != p.channel {
            return Err(PaymentRejected::ChannelMismatch);
        }
        if attempt.amount != p.amount {
            return Err(PaymentRejected::AmountMismatch { expected: attempt.amount, got: p.amount });
        }
        if !attempt.state.awaits_payment() {
            if let Some(raw) = &raw {
                self.store.store_notification(raw).await?;
            }
            return Ok(PaymentOutcome::AlreadyRecorded);
        }
        // The receipt's payer: named on the order when it was made (orders older than that
        // read the profile).
        let payer = match &order.payer_name {
            Some(name) => name.clone(),
            None => {
                self.store
                    .get_student(&attempt.student_no)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("attempt of an unknown student".into()))?
                    .name
            }
        };
        let issue = self.prepare_receipt(&attempt, payer, p);
        let outcome =
            match self.store.record_payment(p, (attempt, order), &issue, raw.as_ref(), &By::new(actor.clone(), self.clock.now())).await {
                Err(StoreError::NotFound) => return Err(PaymentRejected::UnknownAttempt),
                other => other?,
            };
        tracing::info!(out_trade_no = %p.out_trade_no, channel = p.channel.as_str(), amount = %p.amount, ?outcome, "payment recorded");
        Ok(outcome)
    }
}
