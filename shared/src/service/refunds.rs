//! Refunds (退款), asked for by an operator (function `refund`, `campus-local refund`): a paid
//! attempt `paid|duplicate_paid → refunding` (with its refund item and audit entry, in one
//! transaction), then the gateway's refund call; `refunding → refunded` when the gateway says
//! so — synchronously (Alipay), by notification (WeChat Pay, UnionPay) or by the sweeper's
//! query — or back to the prior state when it refuses. An unknown outcome is queried, and only
//! ever re-sent under the same refund number. See `docs/operators-design.md`.

use crate::app::App;
use crate::domain::{
    Actor, AttemptState, By, Channel, Fen, MAX_REFUND_SENDS, Refund, RefundCommand, RefundCommandError, RefundNo, RefundRefused,
    RefundSettlement, RefundStart, RefundState,
};
use crate::gateway::notice::RefundNotice;
use crate::gateway::{RefundOutcome, RefundRequest};
use crate::service::notify::{Handled, NotifyRejected};
use crate::store::{OrderStore, PaymentStore, RawNotification, RefundStore, StoreError};
use chrono::Duration;
use serde::Serialize;

/// Everything refunds need from the store.
pub trait RefundStores: PaymentStore + OrderStore + RefundStore {}
impl<T: PaymentStore + OrderStore + RefundStore> RefundStores for T {}

/// Refunds still awaiting their outcome this long after they were asked for are queried by the
/// sweeper (the notification usually comes first).
pub const REFUND_QUERY_AFTER_SECS: i64 = 60;
/// At most this many refunds per sweep.
pub const REFUND_SWEEP_BATCH: i32 = 50;

/// Why a refund was not made. Nothing was changed, except for `Refused`: the attempt is back in
/// its prior state and the refusal is in the audit log.
#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("invalid refund event: {0}")]
    Command(#[from] RefundCommandError),
    #[error("no payment attempt {0}")]
    UnknownAttempt(String),
    #[error("attempt {out_trade_no} is {state}: only a paid attempt (duplicate_paid, or paid with a reason) can be refunded")]
    NotRefundable { out_trade_no: String, state: &'static str },
    #[error("attempt {0} paid its order: refunding it needs a reason")]
    ReasonRequired(String),
    #[error("amount {given} is not the paid amount {paid}: only full refunds are made")]
    AmountMismatch { given: Fen, paid: Fen },
    #[error("channel {0} is not configured here")]
    ChannelUnavailable(&'static str),
    #[error("the gateway refused the refund: {code} {message}")]
    Refused { code: String, message: String },
    #[error("the attempt changed meanwhile; nothing was done — look again")]
    Conflict,
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// What the refund command answers.
#[derive(Debug, Serialize)]
pub struct RefundView {
    pub out_trade_no: String,
    pub refund_no: String,
    pub channel: Channel,
    pub amount: Fen,
    /// The attempt's state now: `refunding` (outcome awaited) or `refunded`.
    pub state: AttemptState,
    pub state_label: &'static str,
    /// `false` when this invocation changed nothing (already refunded or in progress).
    pub requested_now: bool,
}

/// What the sweeper's refund step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RefundSweep {
    pub refunds_queried: usize,
    pub refunds_settled: usize,
}

fn request_of(r: &Refund) -> RefundRequest {
    RefundRequest {
        out_trade_no: r.out_trade_no.clone(),
        refund_no: r.refund_no.to_string(),
        gateway_trade_no: r.gateway_trade_no.clone(),
        amount: r.amount,
        reason: r.reason.clone(),
        sent_at: r.sends(),
    }
}

impl<S: RefundStores> App<S> {
    /// The operator's refund (`event` as in [`RefundCommand::parse`]). Invoking it again for
    /// the same attempt refunds nothing twice: a refund in progress is asked about, a finished
    /// one is reported.
    pub async fn refund_payment(&self, event: &serde_json::Value, request_id: &str) -> Result<RefundView, RefundError> {
        let cmd = RefundCommand::parse(event)?;
        let actor = Actor::Operator(cmd.operator.clone());
        self.refund_as(&cmd, actor, request_id).await
    }

    /// The refund `cmd` asks for, by `actor` (an operator, or the school's policy).
    pub(crate) async fn refund_as(&self, cmd: &RefundCommand, actor: Actor, request_id: &str) -> Result<RefundView, RefundError> {
        let otn = cmd.out_trade_no.clone();
        let attempt = self.store.get_attempt(&otn).await?.ok_or_else(|| RefundError::UnknownAttempt(otn.to_string()))?;
        let view = |state: AttemptState, requested_now: bool| RefundView {
            out_trade_no: otn.to_string(),
            refund_no: RefundNo::for_attempt(&otn).to_string(),
            channel: attempt.channel,
            amount: attempt.amount,
            state,
            state_label: state.label(),
            requested_now,
        };
        let refund = match RefundStart::decide(&attempt, cmd, self.clock.now(), request_id) {
            Ok(RefundStart::AlreadyRefunded) => return Ok(view(AttemptState::Refunded, false)),
            Ok(RefundStart::InProgress(no)) => {
                let r = self.store.get_refund(&attempt.order_no, &no).await?.ok_or(RefundError::Conflict)?;
                let state = self.advance_refund(&r, &actor).await?;
                return Ok(view(attempt_state(state, &r), false));
            }
            Ok(RefundStart::Request(refund)) => *refund,
            Err(RefundRefused::ReasonRequired) => return Err(RefundError::ReasonRequired(otn.to_string())),
            Err(RefundRefused::NotRefundable(state)) => return Err(RefundError::NotRefundable { out_trade_no: otn.to_string(), state }),
            Err(RefundRefused::AmountMismatch { given, paid }) => return Err(RefundError::AmountMismatch { given, paid }),
        };
        let gateway = self.payments.get(attempt.channel).ok_or(RefundError::ChannelUnavailable(attempt.channel.as_str()))?;
        let now = refund.requested_at;
        let by = self.refund_by(&refund, actor.clone());
        match self.store.begin_refund(&attempt, &refund, &by).await {
            Err(StoreError::Conflict) => return Err(RefundError::Conflict),
            other => other?,
        }
        tracing::info!(out_trade_no = %otn, refund_no = %refund.refund_no, operator = refund.operator.as_str(), "refund requested");
        let state = match gateway.refund(&request_of(&refund), now).await {
            Ok(outcome) => self.settle_refund(&refund, outcome, &actor).await?,
            Err(e) => {
                // Unknown: the sweeper asks (same refund number), never a new one.
                tracing::warn!(refund_no = %refund.refund_no, error = %e, "refund outcome unknown; the sweeper will ask");
                RefundState::Requested
            }
        };
        if state == RefundState::Failed {
            let r = self.store.get_refund(&refund.order_no, &refund.refund_no).await?;
            let failure = r.and_then(|r| r.failure).unwrap_or_default();
            let (code, message) = failure.split_once(' ').map_or((failure.clone(), String::new()), |(c, m)| (c.to_owned(), m.to_owned()));
            return Err(RefundError::Refused { code, message });
        }
        Ok(view(attempt_state(state, &refund), true))
    }

    /// Who settles a refund, with the refund's reason and request id carried onto the entry.
    fn refund_by(&self, r: &Refund, actor: Actor) -> By {
        let mut by = By::new(actor, self.clock.now());
        by.request_id = r.request_id.clone();
        by.reason = r.reason.clone();
        by
    }

    /// Asks the gateway where a requested refund stands and settles it. A refund the gateway
    /// never received is sent again under the same number.
    pub async fn advance_refund(&self, r: &Refund, actor: &Actor) -> Result<RefundState, RefundError> {
        if r.state != RefundState::Requested {
            return Ok(r.state);
        }
        let gateway = self.payments.get(r.channel).ok_or(RefundError::ChannelUnavailable(r.channel.as_str()))?;
        let req = request_of(r);
        let now = self.clock.now();
        let outcome = match gateway.query_refund(&req, now).await {
            Ok(RefundOutcome::NotFound) => self.send_again(r, now).await?,
            Ok(other) => other,
            Err(e) => {
                tracing::warn!(refund_no = %r.refund_no, error = %e, "refund query failed; asked again later");
                RefundOutcome::Pending
            }
        };
        self.settle_refund(r, outcome, actor).await
    }

    /// A refund no gateway send of which arrived: recorded as sent once more (fresh time), then
    /// sent. Conditional on the sends as read, so two sweepers never both send; a refund sent
    /// [`MAX_REFUND_SENDS`] times is left to a person.
    async fn send_again(&self, r: &Refund, now: chrono::DateTime<chrono::Utc>) -> Result<RefundOutcome, RefundError> {
        let gateway = self.payments.get(r.channel).ok_or(RefundError::ChannelUnavailable(r.channel.as_str()))?;
        let Some(next) = r.resend(now) else {
            if r.sends().len() >= MAX_REFUND_SENDS {
                return Ok(RefundOutcome::Abnormal { code: format!("NOT_RECEIVED_AFTER_{MAX_REFUND_SENDS}_SENDS") });
            }
            return Ok(RefundOutcome::Pending);
        };
        match self.store.refund_resent(r, now).await {
            Ok(()) => {}
            // Sent again (or settled) by someone else meanwhile.
            Err(StoreError::Conflict) => return Ok(RefundOutcome::Pending),
            Err(e) => return Err(e.into()),
        }
        tracing::info!(refund_no = %r.refund_no, send = next.sends().len(), "refund not received by the gateway; sent again");
        Ok(match gateway.refund(&request_of(&next), now).await {
            Ok(RefundOutcome::NotFound) | Err(_) => RefundOutcome::Pending,
            Ok(other) => other,
        })
    }

    /// Applies what the gateway said, as the domain decides it ([`RefundSettlement::decide`]).
    /// Returns the refund's state afterwards.
    async fn settle_refund(&self, r: &Refund, outcome: RefundOutcome, actor: &Actor) -> Result<RefundState, RefundError> {
        let by = self.refund_by(r, actor.clone());
        let settlement = RefundSettlement::decide(r, &outcome);
        let done = match &settlement {
            RefundSettlement::Succeeded { gateway_refund_no, gives_items_back } => {
                // Refunding the payment that paid the order gives the fee items back.
                let read = self.store.get_order(&r.order_no).await?.ok_or(StoreError::NotFound)?;
                // A duplicate that went back: the student hears it, at the order's receipt phone,
                // by an SMS queued with the settlement (once: the refund settles once).
                let notice = (r.prior_state == AttemptState::DuplicatePaid).then(|| duplicate_refunded_sms(r, &read, by.at));
                let order = gives_items_back.then_some(read);
                self.store.refund_succeeded(r, order.as_ref(), gateway_refund_no.as_deref(), &by, notice.as_ref()).await
            }
            RefundSettlement::Failed { message } => self.store.refund_failed(r, message, &by).await,
            RefundSettlement::NeedsOperator { code } => {
                tracing::error!(
                    refund_no = %r.refund_no, channel = r.channel.as_str(), code,
                    "refund needs an operator: ABNORMAL = the payer's account refused it (settle it on the merchant platform, 异常退款); NOT_RECEIVED = the gateway has none of its sends"
                );
                crate::metrics::count(crate::metrics::REFUND_NEEDS_OPERATOR, 1, &[("Channel", r.channel.as_str())]);
                return Ok(r.state);
            }
            RefundSettlement::StillRequested => return Ok(r.state),
        }
        .map(|()| settlement.state());
        match done {
            Ok(state) => {
                tracing::info!(refund_no = %r.refund_no, state = state.as_str(), actor = %actor, "refund settled");
                Ok(state)
            }
            // Settled meanwhile (a notification and a query racing): read what stands.
            Err(StoreError::Conflict) => {
                let now = self.store.get_refund(&r.order_no, &r.refund_no).await?.ok_or(StoreError::NotFound)?;
                if now.state == RefundState::Requested {
                    // Not settled by anyone else: a condition of the books failed (a fee item no
                    // longer credited by this payment). Left for the sweeper, and for a person.
                    tracing::error!(refund_no = %r.refund_no, "refund settlement refused by the store's conditions; retried by the sweeper");
                }
                Ok(now.state)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The sweeper's step: refunds still awaiting their outcome a minute after they were asked
    /// for are queried (and settled, or sent again under the same number if never received).
    pub async fn sweep_refunds(&self) -> Result<RefundSweep, StoreError> {
        let now = self.clock.now();
        let mut report = RefundSweep::default();
        for r in self.store.refunds_requested_before(now - Duration::seconds(REFUND_QUERY_AFTER_SECS), REFUND_SWEEP_BATCH).await? {
            // The index is eventually consistent: act on the item as it is now.
            let Some(r) = self.store.get_refund(&r.order_no, &r.refund_no).await? else { continue };
            report.refunds_queried += 1;
            match self.advance_refund(&r, &Actor::Sweeper).await {
                Ok(RefundState::Requested) => {}
                Ok(_) => report.refunds_settled += 1,
                Err(e) => tracing::warn!(refund_no = %r.refund_no, error = %e, "sweep: refund deferred"),
            }
        }
        Ok(report)
    }

    async fn refund_named(&self, refund_no: &str) -> Result<Refund, NotifyRejected> {
        let no = RefundNo::parse(refund_no).ok_or(NotifyRejected::UnknownAttempt)?;
        let order = no.out_trade_no().order_no().ok_or(NotifyRejected::UnknownAttempt)?;
        self.store.get_refund(&order, &no).await?.ok_or(NotifyRejected::UnknownAttempt)
    }

    /// A verified refund notification (WeChat Pay `REFUND.*`, UnionPay `txnType=04`): checked
    /// against our refund, kept, and the refund settled if it still awaits its outcome.
    pub(crate) async fn refund_notice(
        &self,
        channel: Channel,
        notice: Box<dyn RefundNotice>,
        raw: String,
        received_at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Handled, NotifyRejected> {
        let r = self.refund_named(notice.refund_no()).await?;
        let outcome = notice.check(&r).map_err(NotifyRejected::Mismatch)?;
        self.store.store_notification(&RawNotification::new(channel, &r.refund_no, received_at, raw)).await?;
        self.settle_notified(&r, outcome, channel).await
    }

    async fn settle_notified(&self, r: &Refund, outcome: RefundOutcome, channel: Channel) -> Result<Handled, NotifyRejected> {
        if r.state != RefundState::Requested {
            // A repeat, or the sweeper got there first: acknowledged, nothing changes.
            return Ok(None);
        }
        match self.settle_refund(r, outcome, &Actor::Gateway(channel)).await {
            Ok(_) => Ok(None),
            Err(RefundError::Store(e)) => Err(NotifyRejected::Store(e)),
            Err(e) => Err(NotifyRejected::Mismatch(e.to_string())),
        }
    }
}

/// 「您重复缴纳的…元已原路退回」: one SMS segment, to the order's receipt phone.
fn duplicate_refunded_sms(r: &Refund, order: &crate::domain::Order, at: chrono::DateTime<chrono::Utc>) -> crate::store::OutboxSms {
    let text =
        format!("【校园统一支付平台】您重复缴纳的{}元已原路退回（缴费单{}），到账时间以支付机构为准。", r.amount.to_grouped(), r.order_no);
    crate::store::OutboxSms::pending(&format!("REFUND-{}", r.refund_no), &order.receipt_phone, &text, at)
}

/// The attempt state that goes with a refund state.
fn attempt_state(state: RefundState, r: &Refund) -> AttemptState {
    match state {
        RefundState::Requested => AttemptState::Refunding,
        RefundState::Succeeded => AttemptState::Refunded,
        RefundState::Failed => r.prior_state,
    }
}
