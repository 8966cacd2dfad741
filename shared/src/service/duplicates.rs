//! Duplicate payments refunded by themselves (重复支付自动退款). A payment recorded as
//! 重复支付待退款 goes back to its original instrument without an operator, on the sweeper,
//! when every one of these holds (decided in [`AutoRefund::decide`], each read fresh):
//!
//! * the school's policy allows it: `AUTO_REFUND_DUPLICATES` on, the amount at most
//!   `AUTO_REFUND_MAX_YUAN` (above it an operator decides);
//! * the attempt is still `duplicate_paid`, a minute after it was recorded;
//! * its order is paid by **another** attempt — nothing is refunded that paid the order;
//! * the gateway's signed query says this attempt was paid, for its amount;
//! * no refund of it was refused before (a refused one is an operator's to look at).
//!
//! The refund goes through the operators' refund path with the same refund number, so a retry,
//! a second sweeper or an operator at the same time refunds once; its audit entries name the
//! actor `policy`; the student gets one SMS when it settles (queued with the settlement).
//! Reconciliation reports a duplicate still unrefunded after a day.

use crate::app::App;
use crate::domain::{Actor, Attempt, AttemptState, Fen, OperatorName, RefundCommand};
use crate::gateway::{TradeRef, TradeState};
use crate::service::refunds::RefundStores;
use crate::store::{StoreError, SweepStore};
use chrono::Duration;
use serde::Serialize;

/// A duplicate is left alone this long after it was recorded (a notification and a query
/// racing, an operator looking at it).
pub const AUTO_REFUND_AFTER_SECS: i64 = 60;
/// At most this many duplicates per sweep.
pub const AUTO_REFUND_BATCH: i32 = 20;
/// The refunds' reason, on the refund and its audit entries.
pub const AUTO_REFUND_REASON: &str = "重复支付，按学校规定自动原路退回";

/// What one sweep did with the duplicates it found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DuplicateSweep {
    /// Refunds begun (settled at once, or awaiting the gateway's word).
    pub duplicates_refunded: usize,
    /// Above the policy's amount: left for an operator.
    pub duplicates_for_operator: usize,
}

/// The policy's decision about one duplicate, from what was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoRefund {
    Refund,
    /// Not now or not by the policy, and why (for the log).
    Leave(&'static str),
    ForOperator,
}

impl AutoRefund {
    /// What can be decided before asking the gateway: `None` means ask it. `attempt` as read
    /// now; `others` the order's attempts; `refused_before` whether a refund of it was refused.
    pub fn before_asking(attempt: &Attempt, others: &[Attempt], refused_before: bool, max: Fen) -> Option<Self> {
        if attempt.state != AttemptState::DuplicatePaid {
            return Some(Self::Leave("no longer a duplicate"));
        }
        if !others.iter().any(|o| o.out_trade_no != attempt.out_trade_no && o.state == AttemptState::Paid) {
            return Some(Self::Leave("the order is not paid by another attempt"));
        }
        if refused_before {
            return Some(Self::Leave("a refund of it was refused: an operator's"));
        }
        (attempt.amount > max).then_some(Self::ForOperator)
    }

    /// With the gateway's signed word: refunded only if it says paid, for the attempt's amount.
    pub fn after_asking(attempt: &Attempt, gateway: &TradeState) -> Self {
        match gateway {
            TradeState::Paid { amount, .. } if *amount == attempt.amount => Self::Refund,
            _ => Self::Leave("the gateway does not confirm it paid"),
        }
    }

    /// Both steps at once.
    pub fn decide(attempt: &Attempt, others: &[Attempt], gateway: &TradeState, refused_before: bool, max: Fen) -> Self {
        Self::before_asking(attempt, others, refused_before, max).unwrap_or_else(|| Self::after_asking(attempt, gateway))
    }
}

impl<S: RefundStores + SweepStore> App<S> {
    /// The sweeper's step: every duplicate due, refunded where the policy says so.
    pub async fn sweep_duplicates(&self) -> Result<DuplicateSweep, StoreError> {
        let mut report = DuplicateSweep::default();
        if !self.settings.auto_refund_duplicates {
            return Ok(report);
        }
        let now = self.clock.now();
        for listed in self.store.duplicates_paid_before(now - Duration::seconds(AUTO_REFUND_AFTER_SECS), AUTO_REFUND_BATCH).await? {
            match self.auto_refund(&listed).await {
                Ok(AutoRefund::Refund) => report.duplicates_refunded += 1,
                Ok(AutoRefund::ForOperator) => report.duplicates_for_operator += 1,
                Ok(AutoRefund::Leave(why)) => {
                    tracing::info!(out_trade_no = %listed.out_trade_no, why, "duplicate not refunded by the policy")
                }
                Err(e) => tracing::warn!(out_trade_no = %listed.out_trade_no, error = %e, "duplicate refund deferred"),
            }
        }
        Ok(report)
    }

    async fn auto_refund(&self, listed: &Attempt) -> Result<AutoRefund, Box<dyn std::error::Error + Send + Sync>> {
        // The index is eventually consistent: act on what stands now.
        let Some(attempt) = self.store.get_attempt(&listed.out_trade_no).await? else { return Ok(AutoRefund::Leave("gone")) };
        let others = self.store.list_attempts(&attempt.order_no).await?;
        let refund_no = crate::domain::RefundNo::for_attempt(&attempt.out_trade_no);
        let refused_before = self.store.get_refund(&attempt.order_no, &refund_no).await?.is_some();
        // The gateway is asked only about a duplicate the policy may refund.
        if let Some(decided) = AutoRefund::before_asking(&attempt, &others, refused_before, self.settings.auto_refund_max) {
            return Ok(decided);
        }
        let gateway = self.payments.get(attempt.channel).ok_or("channel not configured")?;
        let said = gateway.query(&TradeRef::from(&attempt), self.clock.now()).await?;
        let decision = AutoRefund::after_asking(&attempt, &said);
        if decision == AutoRefund::Refund {
            let cmd = RefundCommand {
                out_trade_no: attempt.out_trade_no.clone(),
                operator: OperatorName::parse("policy").expect("a valid operator name"),
                reason: Some(AUTO_REFUND_REASON.into()),
                amount: Some(attempt.amount),
            };
            let request_id = format!("policy-{}", self.clock.now().timestamp());
            let view = self.refund_as(&cmd, Actor::Policy, &request_id).await?;
            tracing::info!(out_trade_no = %attempt.out_trade_no, state = view.state.as_str(), "duplicate payment refunded by the policy");
        }
        Ok(decision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Channel, OrderNo, OutTradeNo, StudentNo};
    use chrono::{TimeZone, Utc};

    fn attempt(seq: u8, channel: Channel, state: AttemptState) -> Attempt {
        let order_no = OrderNo::parse("XF261126LUTAU000001").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        Attempt {
            out_trade_no: OutTradeNo::new(&order_no, channel, seq),
            order_no,
            student_no: StudentNo::parse("2021010101").unwrap(),
            channel,
            amount: Fen::new(400_000),
            state,
            created_at: at,
            pay_by: at,
            gateway_trade_no: Some("T".into()),
            paid_at: Some(at),
        }
    }

    fn paid(fen: i64) -> TradeState {
        TradeState::Paid { gateway_trade_no: "T".into(), amount: Fen::new(fen), paid_at: Utc::now() }
    }

    #[test]
    fn only_a_confirmed_duplicate_of_an_order_paid_otherwise_is_refunded_by_the_policy() {
        let dup = attempt(1, Channel::Wechat, AttemptState::DuplicatePaid);
        let payer = attempt(2, Channel::Alipay, AttemptState::Paid);
        let all = [dup.clone(), payer.clone()];
        let max = Fen::new(5_000_000);
        assert_eq!(AutoRefund::decide(&dup, &all, &paid(400_000), false, max), AutoRefund::Refund);
        // The gateway does not confirm it, or for another amount.
        assert!(matches!(AutoRefund::decide(&dup, &all, &TradeState::Pending, false, max), AutoRefund::Leave(_)));
        assert!(matches!(AutoRefund::decide(&dup, &all, &paid(399_999), false, max), AutoRefund::Leave(_)));
        // Nothing else pays the order: never refunded by the policy.
        assert!(matches!(AutoRefund::decide(&dup, std::slice::from_ref(&dup), &paid(400_000), false, max), AutoRefund::Leave(_)));
        // The payment that paid the order is not a duplicate.
        assert!(matches!(AutoRefund::decide(&payer, &all, &paid(400_000), false, max), AutoRefund::Leave(_)));
        // Refused before, or above the school's amount: a person's.
        assert!(matches!(AutoRefund::decide(&dup, &all, &paid(400_000), true, max), AutoRefund::Leave(_)));
        assert_eq!(AutoRefund::decide(&dup, &all, &paid(400_000), false, Fen::new(399_999)), AutoRefund::ForOperator);
    }
}
