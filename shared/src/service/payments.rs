//! Recording payments that a gateway vouched for (a verified notification or our own query).

use crate::app::App;
use crate::domain::{Actor, Attempt, By, ConfirmedPayment, Fen, Order, PaymentMismatch, PaymentOutcome, PaymentTransition};

/// Rounds of read, decide, apply before a contended payment gives up (each lost round means
/// another writer settled something; the next read sees it).
const PAYMENT_ROUNDS: usize = 5;
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

impl From<PaymentMismatch> for PaymentRejected {
    fn from(m: PaymentMismatch) -> Self {
        match m {
            PaymentMismatch::Channel { .. } => Self::ChannelMismatch,
            PaymentMismatch::Amount { expected, got } => Self::AmountMismatch { expected, got },
        }
    }
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
    /// keeping `raw` (the notification that vouched for it) with the transition. The domain
    /// decides ([`PaymentTransition::decide`]); the store applies the decision conditionally on
    /// the states it was made on, and a lost race (a concurrent copy of the same notification)
    /// reads again and decides again — finding it recorded.
    pub(crate) async fn record_payment_on(
        &self,
        p: &ConfirmedPayment,
        actor: &Actor,
        known: (Attempt, Order),
        raw: Option<RawNotification>,
    ) -> Result<PaymentOutcome, PaymentRejected> {
        let by = By::new(actor.clone(), self.clock.now());
        let mut payer = None;
        let mut state = Some(known);
        for _ in 0..PAYMENT_ROUNDS {
            let (attempt, order) = match state.take() {
                Some(known) => known,
                None => self.store.payment_state(&p.out_trade_no).await?.ok_or(PaymentRejected::UnknownAttempt)?,
            };
            // The receipt's payer: named on the order when it was made (orders older than that
            // read the profile, once).
            if payer.is_none() && attempt.state.awaits_payment() {
                payer = Some(match &order.payer_name {
                    Some(name) => name.clone(),
                    None => {
                        self.store
                            .get_student(&attempt.student_no)
                            .await?
                            .ok_or_else(|| StoreError::Corrupt("attempt of an unknown student".into()))?
                            .name
                    }
                });
            }
            let transition = PaymentTransition::decide(&attempt, &order, p, &by, || {
                // Called only for an attempt awaiting payment, whose payer was read above.
                let payer = payer.clone().expect("payer read for an attempt awaiting payment");
                self.prepare_receipt(&attempt, payer, p)
            })?;
            match self.store.apply_payment(&transition, raw.as_ref()).await {
                Ok(()) => {
                    let outcome = transition.outcome();
                    tracing::info!(out_trade_no = %p.out_trade_no, channel = p.channel.as_str(), amount = %p.amount, ?outcome, "payment recorded");
                    return Ok(outcome);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Unavailable("payment transition contended".into()).into())
    }
}
