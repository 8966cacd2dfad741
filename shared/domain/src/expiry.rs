//! The expiry of an unpaid order, decided on the order and its attempts as read: an order
//! closes only once it is past its expiry and every attempt is proven unpaid — closing it
//! frees its fee items for a new order, so a payment still possible at a gateway must be ruled
//! out first (or found, and the order paid instead).

use super::order::{Attempt, AttemptState, Order, OrderState, OutTradeNo};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Not open, not yet expired, or holding money (an attempt paid): nothing to do.
    Leave,
    /// Expired, with attempts its gateways may still take money on: each is closed at its
    /// gateway and proven unpaid first, then the order is decided on again.
    CloseAttemptsFirst(Vec<OutTradeNo>),
    /// Expired and every attempt proven unpaid (or none made): the order closes.
    Close,
}

impl Expiry {
    pub fn decide(order: &Order, attempts: &[Attempt], now: DateTime<Utc>) -> Self {
        if order.state != OrderState::Open || !order.is_expired(now) {
            return Self::Leave;
        }
        if attempts.iter().any(|a| !a.state.awaits_payment()) {
            // Money arrived (the payment transition will or did settle the order): never close.
            return Self::Leave;
        }
        let live: Vec<OutTradeNo> = attempts.iter().filter(|a| a.state == AttemptState::Created).map(|a| a.out_trade_no.clone()).collect();
        if live.is_empty() { Self::Close } else { Self::CloseAttemptsFirst(live) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{attempt, order};
    use chrono::Duration;

    #[test]
    fn an_expired_order_closes_only_after_its_live_attempts() {
        let o = order(OrderState::Open);
        let late = o.expires_at + Duration::seconds(1);
        assert_eq!(Expiry::decide(&o, &[], o.expires_at - Duration::seconds(1)), Expiry::Leave, "not yet expired");
        assert_eq!(Expiry::decide(&o, &[], late), Expiry::Close);
        let (closed, live) = (attempt(&o, 1, AttemptState::Closed), attempt(&o, 2, AttemptState::Created));
        assert_eq!(Expiry::decide(&o, &[closed.clone(), live.clone()], late), Expiry::CloseAttemptsFirst(vec![live.out_trade_no]));
        assert_eq!(Expiry::decide(&o, &[closed], late), Expiry::Close);
    }

    #[test]
    fn an_order_holding_money_or_settled_is_left_alone() {
        let o = order(OrderState::Open);
        let late = o.expires_at + Duration::hours(1);
        for state in [AttemptState::Paid, AttemptState::DuplicatePaid, AttemptState::Refunding, AttemptState::Refunded] {
            assert_eq!(Expiry::decide(&o, &[attempt(&o, 1, state)], late), Expiry::Leave, "{state:?}");
        }
        for state in [OrderState::Paid, OrderState::Closed] {
            assert_eq!(Expiry::decide(&order(state), &[], late), Expiry::Leave);
        }
    }
}
