//! 选择缴费方式 and 「我已支付」: starting an attempt at a gateway, switching channel safely,
//! and asking the gateways what happened.

use crate::app::App;
use crate::domain::{
    Actor, Attempt, AttemptState, By, Channel, ConfirmedPayment, Expiry, Order, OrderNo, OrderState, OutTradeNo, PaymentOutcome,
};
use crate::error::AppError;
use crate::gateway::{CallError, Closing, Device, PaymentAction, PaymentGateway, StartRequest, TradeRef, TradeState};
use crate::service::Authed;
use crate::service::orders::{OrderStores, OrderView};
use crate::service::payments::PaymentStores;
use crate::store::{StoreError, SweepStore};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::Arc;

/// The gateway's own expiry is this much earlier than the order's, so a locally expired order
/// can no longer be paid at the gateway.
pub const GATEWAY_EXPIRY_MARGIN_MINUTES: i64 = 5;

#[derive(Debug, Serialize)]
pub struct PayView {
    pub out_trade_no: String,
    pub channel: Channel,
    pub device: Device,
    pub action: PaymentAction,
    pub expires_at: DateTime<Utc>,
    /// The QR code of a `qr` action as SVG markup, drawn here so the site needs no library.
    pub qr_svg: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AttemptView {
    pub out_trade_no: String,
    pub channel: Channel,
    pub channel_label: &'static str,
    pub amount: crate::domain::Fen,
    pub state: AttemptState,
    pub state_label: &'static str,
    pub created_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
}

impl From<&Attempt> for AttemptView {
    fn from(a: &Attempt) -> Self {
        Self {
            out_trade_no: a.out_trade_no.to_string(),
            channel: a.channel,
            channel_label: a.channel.label(),
            amount: a.amount,
            state: a.state,
            state_label: a.state.label(),
            created_at: a.created_at,
            paid_at: a.paid_at,
        }
    }
}

/// An order with its attempts, as the order page polls it.
#[derive(Debug, Serialize)]
pub struct OrderStatusView {
    #[serde(flatten)]
    pub order: OrderView,
    pub attempts: Vec<AttemptView>,
    /// The channels this platform can take payments on.
    pub channels: Vec<Channel>,
    /// What students read for each of them (支付宝, …): the site names no channel itself.
    pub channel_labels: std::collections::BTreeMap<Channel, &'static str>,
}

fn unreachable(e: CallError) -> AppError {
    tracing::warn!(error = %e, "gateway call failed");
    AppError::GatewayUnavailable
}

impl<S: OrderStores + PaymentStores> App<S> {
    pub(crate) fn gateway(&self, channel: Channel) -> Result<&Arc<dyn PaymentGateway>, AppError> {
        self.payments.get(channel).ok_or(AppError::ChannelUnavailable)
    }

    pub(crate) async fn own_open_order(&self, who: &Authed, no: &str) -> Result<Order, AppError> {
        let o = self.order_of(who, no).await?;
        if o.state != OrderState::Open || o.is_expired(self.clock.now()) {
            return Err(AppError::OrderNotOpen);
        }
        Ok(o)
    }

    /// Asks the attempt's gateway; a payment it reports is recorded like a notification.
    /// Returns the attempt's state afterwards.
    pub async fn reconcile_attempt(&self, a: &Attempt, actor: &Actor) -> Result<AttemptState, AppError> {
        let gateway = self.gateway(a.channel)?;
        match gateway.query(&TradeRef::from(a), self.clock.now()).await.map_err(unreachable)? {
            TradeState::Paid { gateway_trade_no, amount, paid_at } => {
                let p = ConfirmedPayment { out_trade_no: a.out_trade_no.clone(), channel: a.channel, gateway_trade_no, amount, paid_at };
                match self.record_confirmed_payment(&p, actor).await {
                    Ok(PaymentOutcome::OrderPaid) => Ok(AttemptState::Paid),
                    Ok(PaymentOutcome::DuplicatePaid) => Ok(AttemptState::DuplicatePaid),
                    Ok(PaymentOutcome::AlreadyRecorded) => Ok(self.store.get_attempt(&a.out_trade_no).await?.map_or(a.state, |x| x.state)),
                    Err(crate::service::payments::PaymentRejected::Store(e)) => Err(e.into()),
                    Err(e) => {
                        tracing::error!(out_trade_no = %a.out_trade_no, error = %e, "gateway reports a payment we cannot match");
                        Err(AppError::GatewayUnavailable)
                    }
                }
            }
            _ => Ok(a.state),
        }
    }

    /// Closes an unpaid attempt at its gateway, then proves it unpaid by a query, then closes
    /// it here. A payment found on the way is recorded instead. Returns the final state. An
    /// attempt its gateway cannot close (UnionPay before `payTimeout`) is left as it is:
    /// `StillPayable`, unless the query finds it paid.
    async fn abandon_attempt(&self, a: &Attempt, actor: &Actor) -> Result<AttemptState, AppError> {
        let gateway = self.gateway(a.channel)?;
        let now = self.clock.now();
        let closing = gateway.close(&TradeRef::from(a), now).await.map_err(unreachable)?;
        let state = self.reconcile_attempt(a, actor).await?;
        if state != AttemptState::Created {
            return Ok(state);
        }
        if let Closing::PayableUntil(until) = closing {
            return Err(AppError::StillPayable { channel: a.channel, until });
        }
        match self.store.close_attempt(a, &By::new(actor.clone(), self.clock.now())).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
        tracing::info!(out_trade_no = %a.out_trade_no, "attempt closed");
        Ok(AttemptState::Closed)
    }

    /// 选择缴费方式: starts an attempt on `channel` for an open order. Any other live attempt is
    /// closed at its gateway and proven unpaid first; if it turns out paid, the order is paid
    /// and no new attempt is made.
    pub async fn start_payment(
        &self,
        who: &Authed,
        no: &str,
        channel: Channel,
        device: Device,
        client_ip: &str,
        payer: Option<String>,
    ) -> Result<PayView, AppError> {
        let gateway = Arc::clone(self.gateway(channel)?);
        let client_ip = client_ip.parse::<std::net::IpAddr>().ok();
        if client_ip.is_none() && gateway.needs_client_ip(device) {
            return Err(AppError::ClientAddressUnknown);
        }
        // Inside WeChat (JSAPI) the gateway must name the payer first (`payer_authorize`).
        if payer.is_none() && gateway.needs_payer(device) {
            return Err(AppError::PayerRequired);
        }
        let order = self.own_open_order(who, no).await?;
        let actor = Actor::Student(who.student_no.clone());
        for a in self.store.list_attempts(&order.order_no).await? {
            match a.state {
                AttemptState::Created => {
                    if self.abandon_attempt(&a, &actor).await? != AttemptState::Closed {
                        return Err(AppError::OrderNotOpen);
                    }
                }
                AttemptState::Paid | AttemptState::DuplicatePaid | AttemptState::Refunding | AttemptState::Refunded => {
                    return Err(AppError::OrderNotOpen);
                }
                AttemptState::Closed => {}
            }
        }
        // Re-read: closing attempts may have raced with a payment, and the version moved on.
        let order = self.own_open_order(who, no).await?;
        if order.attempts >= 99 {
            return Err(AppError::OrderNotOpen);
        }
        let now = self.clock.now();
        // The gateway's own expiry: before the order's, and within the gateway's window.
        let mut pay_by = order.expires_at - Duration::minutes(GATEWAY_EXPIRY_MARGIN_MINUTES);
        if let Some(window) = gateway.max_pay_window() {
            pay_by = pay_by.min(now + window);
        }
        if pay_by <= now {
            return Err(AppError::OrderNotOpen);
        }
        let attempt = Attempt {
            out_trade_no: OutTradeNo::new(&order.order_no, channel, order.attempts + 1),
            order_no: order.order_no,
            student_no: order.student_no.clone(),
            channel,
            amount: order.total,
            state: AttemptState::Created,
            created_at: now,
            pay_by,
            gateway_trade_no: None,
            paid_at: None,
        };
        // Persist before asking the gateway: an attempt the gateway knows is never unknown here.
        match self.store.create_attempt(&order, &attempt, &who.by(now)).await {
            Err(StoreError::Conflict) => return Err(AppError::Store(StoreError::Conflict)),
            other => other?,
        }
        let expires_at = pay_by;
        let subject = format!("{} 学费缴费 {}", crate::service::orders::PAYEE, order.order_no);
        let req = StartRequest {
            out_trade_no: attempt.out_trade_no.clone(),
            amount: order.total,
            subject,
            expires_at,
            device,
            client_ip,
            payer,
            now,
        };
        let action = gateway.start(&req).await.map_err(unreachable)?;
        tracing::info!(out_trade_no = %attempt.out_trade_no, channel = channel.as_str(), device = device.as_str(), "attempt started");
        let qr_svg = match &action {
            PaymentAction::Qr { content } => crate::gateway::qr_svg(content),
            _ => None,
        };
        Ok(PayView { out_trade_no: attempt.out_trade_no.to_string(), channel, device, action, expires_at, qr_svg })
    }

    /// 取消缴费单: closes every live attempt at its gateway (each proven unpaid), then the order,
    /// releasing its items. If a payment turns up on the way, the order is paid instead.
    pub async fn cancel_order(&self, who: &Authed, no: &str) -> Result<OrderView, AppError> {
        let o = self.order_of(who, no).await?;
        if o.state != OrderState::Open {
            return Err(AppError::OrderNotOpen);
        }
        let actor = Actor::Student(who.student_no.clone());
        for a in self.store.list_attempts(&o.order_no).await? {
            if a.state == AttemptState::Created && self.abandon_attempt(&a, &actor).await? != AttemptState::Closed {
                return Err(AppError::OrderNotOpen);
            }
        }
        let o = self.order_of(who, no).await?;
        if o.state != OrderState::Open
            || self.store.list_attempts(&o.order_no).await?.iter().any(|a| !matches!(a.state, AttemptState::Closed))
        {
            return Err(AppError::OrderNotOpen);
        }
        match self.store.close_order(&o, &who.by(self.clock.now())).await {
            Err(StoreError::Conflict) => return Err(AppError::OrderNotOpen),
            other => other?,
        }
        tracing::info!(order_no = %o.order_no, "order cancelled");
        Ok(OrderView::new(&Order { state: OrderState::Closed, version: o.version + 1, ..o }, self.clock.now()))
    }

    /// The order page's view: the order and its attempts.
    pub async fn order_status(&self, who: &Authed, no: &str) -> Result<OrderStatusView, AppError> {
        let order_no = OrderNo::parse(no).map_err(|_| AppError::NotFound)?;
        let (mut o, attempts) = match self.store.order_with_attempts(&order_no).await? {
            // Another student's order does not exist as far as this one can tell.
            Some((o, attempts)) if o.student_no == who.student_no => (o, attempts),
            _ => return Err(AppError::NotFound),
        };
        // One read, not isolated from a payment committing during it: it may show a paid
        // attempt of an open order. The order read again is at least as new as the attempts, so
        // the page never sees that mix (it stops waiting for a payment it cannot see).
        if o.state == OrderState::Open && attempts.iter().any(|a| matches!(a.state, AttemptState::Paid | AttemptState::DuplicatePaid)) {
            o = self.order_of(who, no).await?;
        }
        Ok(OrderStatusView {
            order: OrderView::new(&o, self.clock.now()),
            attempts: attempts.iter().map(AttemptView::from).collect(),
            channels: self.payments.channels(),
            channel_labels: self.payments.channels().into_iter().map(|c| (c, c.label())).collect(),
        })
    }

    /// 「我已支付」: asks the gateway about every attempt not known to be paid, records what it
    /// finds, and returns the order as it is now.
    pub async fn check_payment(&self, who: &Authed, no: &str) -> Result<OrderStatusView, AppError> {
        let o = self.order_of(who, no).await?;
        for a in self.store.list_attempts(&o.order_no).await? {
            if a.state.awaits_payment() {
                self.reconcile_attempt(&a, &Actor::Student(who.student_no.clone())).await?;
            }
        }
        self.order_status(who, no).await
    }
}

/// What one sweep did (logged, and returned to the scheduler).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Attempts asked about at their gateway.
    pub queried: usize,
    /// Payments found by asking (their notification never came or came late).
    pub found_paid: usize,
    /// Attempts closed at their gateway and here.
    pub attempts_closed: usize,
    /// Expired orders closed.
    pub orders_closed: usize,
    /// Items that could not be settled this time (a gateway did not answer): retried next sweep.
    pub deferred: usize,
    /// Work items found due (attempts to ask about + expired open orders), at most
    /// `SWEEP_BATCH` of each: the sweeper's backlog.
    pub due: usize,
    /// The SMS outbox: messages sent, refused and due again later, given up.
    #[serde(flatten)]
    pub outbox: crate::service::outbox::OutboxReport,
    /// Refunds asked about and settled.
    #[serde(flatten)]
    pub refunds: crate::service::refunds::RefundSweep,
    /// Duplicate payments refunded by the policy, or left for an operator.
    #[serde(flatten)]
    pub duplicates: crate::service::duplicates::DuplicateSweep,
}

/// Attempts younger than this are left to their notification.
pub const SWEEP_QUERY_AFTER_MINUTES: i64 = 2;
/// At most this many orders and attempts per sweep (the next sweep takes the rest).
pub const SWEEP_BATCH: i32 = 100;

impl<S: OrderStores + PaymentStores + SweepStore + crate::store::RefundStore + crate::store::OutboxStore> App<S> {
    /// The active query, run every minute: asks the gateways about attempts still unsettled a
    /// few minutes after they started (a success found late still counts), and closes expired
    /// orders — each attempt closed at its gateway and proven unpaid first.
    pub async fn sweep(&self) -> Result<SweepReport, AppError> {
        let now = self.clock.now();
        let mut report = SweepReport::default();
        let attempts = self.store.attempts_created_before(now - Duration::minutes(SWEEP_QUERY_AFTER_MINUTES), SWEEP_BATCH).await?;
        let expired = self.store.open_orders_expired_before(now, SWEEP_BATCH).await?;
        report.due = attempts.len() + expired.len();
        for a in attempts {
            report.queried += 1;
            match self.reconcile_attempt(&a, &Actor::Sweeper).await {
                Ok(AttemptState::Paid | AttemptState::DuplicatePaid) => report.found_paid += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(out_trade_no = %a.out_trade_no, error = %e, "sweep: attempt deferred");
                    report.deferred += 1;
                }
            }
        }
        for o in expired {
            match self.close_expired(&o).await {
                Ok((attempts, closed)) => {
                    report.attempts_closed += attempts;
                    report.orders_closed += usize::from(closed);
                }
                Err(e) => {
                    tracing::warn!(order_no = %o.order_no, error = %e, "sweep: expired order deferred");
                    report.deferred += 1;
                }
            }
        }
        report.refunds = self.sweep_refunds().await?;
        // Duplicates the school's policy refunds by itself (after the refunds already asked for).
        report.duplicates = self.sweep_duplicates().await?;
        // Last: SMS queued by the payments just found are sent in the same run.
        report.outbox = self.sweep_outbox().await?;
        if report == SweepReport::default() {
            tracing::debug!("sweep: nothing to do");
        } else {
            tracing::info!(?report, metric = "sweep", "sweep done");
        }
        // Every sweep, even an idle one: the SweeperBacklog alarm treats silence as a stalled sweeper.
        crate::metrics::count(crate::metrics::SWEEP_BACKLOG, report.due as u64, &[]);
        crate::metrics::count(crate::metrics::SWEEP_DEFERRED, report.deferred as u64, &[]);
        Ok(report)
    }

    /// Closes an expired order as the domain decides ([`Expiry::decide`]): every live attempt
    /// closed at its gateway and proven unpaid, then — decided again on what stands — the order.
    /// A payment found on the way pays the order instead. `(attempts closed, order closed)`.
    async fn close_expired(&self, o: &Order) -> Result<(usize, bool), AppError> {
        let mut closed = 0;
        let attempts = self.store.list_attempts(&o.order_no).await?;
        if let Expiry::CloseAttemptsFirst(live) = Expiry::decide(o, &attempts, self.clock.now()) {
            for a in attempts.iter().filter(|a| live.contains(&a.out_trade_no)) {
                match self.abandon_attempt(a, &Actor::Sweeper).await? {
                    AttemptState::Closed => closed += 1,
                    // Paid after all: the order is no longer open.
                    _ => return Ok((closed, false)),
                }
            }
        }
        let Some((current, attempts)) = self.store.order_with_attempts(&o.order_no).await? else { return Ok((closed, false)) };
        if Expiry::decide(&current, &attempts, self.clock.now()) != Expiry::Close {
            return Ok((closed, false));
        }
        match self.store.close_order(&current, &By::new(Actor::Sweeper, self.clock.now())).await {
            Ok(()) => {
                tracing::info!(order_no = %current.order_no, "expired order closed");
                Ok((closed, true))
            }
            Err(StoreError::Conflict) => Ok((closed, false)),
            Err(e) => Err(e.into()),
        }
    }
}
