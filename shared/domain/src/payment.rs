//! The payment transition: what a payment the gateway vouched for does to our attempt and
//! order, decided here on the states as read and applied by a store as one transaction that is
//! conditional on exactly those states (a lost race re-reads and decides again).
//!
//! ```text
//! attempt created|closed ──┬── order open ──▶ OrderPaid:     attempt paid, order paid, items
//!                          │                                 credited, receipt + link + SMS
//!                          └── order paid|closed ▶ DuplicatePaid: attempt duplicate_paid
//!                                                            (its money awaits a refund)
//! attempt in any other state ─────────────────▶ AlreadyRecorded: nothing changes
//! ```

use super::audit::{AuditAction, AuditEntry, AuditSubject, By};
use super::money::Fen;
use super::order::{Attempt, AttemptState, Channel, ConfirmedPayment, Order, OrderState, PaymentOutcome};
use super::receipt::{Receipt, ReceiptIssue};

/// Why a gateway's word does not match our attempt: nothing may change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PaymentMismatch {
    #[error("attempt belongs to another channel ({ours:?}, paid on {theirs:?})")]
    Channel { ours: Channel, theirs: Channel },
    #[error("amount {got} differs from the attempt's {expected}")]
    Amount { expected: Fen, got: Fen },
}

/// The attempt's side of a payment: `from` the state it was read in (the write's condition)
/// `to` paid or duplicate-paid, with the gateway's facts. Also the attempt's bank transaction
/// (银行交易记录), in state `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptPaid {
    pub attempt: Attempt,
    pub to: AttemptState,
    pub payment: ConfirmedPayment,
}

/// An open order paid: the order `open → paid` at the version read, every line credited to its
/// fee item once (the out-trade-no joins the item's `credited_by`), the item locks released,
/// and the e-receipt issued with its public link and its SMS to the order's receipt phone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderPaid {
    pub order: Order,
    pub attempt: AttemptPaid,
    pub receipt: Receipt,
    /// The link's hash and expiry and the SMS text (`Debug` leaves the text out).
    pub issue: ReceiptIssue,
    /// `AttemptPaid` and `OrderPaid`, in that order.
    pub audit: [AuditEntry; 2],
}

/// A payment of an order that is no longer open: the attempt `→ duplicate_paid` with its bank
/// transaction; nothing else changes. The money awaits an operator's refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicatePaid {
    pub attempt: AttemptPaid,
    pub audit: AuditEntry,
}

/// What recording one confirmed payment changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentTransition {
    OrderPaid(Box<OrderPaid>),
    DuplicatePaid(Box<DuplicatePaid>),
    /// The attempt was settled before (a repeated notification, or a query that lost a race
    /// with one): nothing changes.
    AlreadyRecorded,
}

impl PaymentTransition {
    /// Decides on `attempt` and its `order` as read. `issue` prepares the receipt; it is
    /// called only when the payment pays the order.
    pub fn decide(
        attempt: &Attempt,
        order: &Order,
        payment: &ConfirmedPayment,
        by: &By,
        issue: impl FnOnce() -> ReceiptIssue,
    ) -> Result<Self, PaymentMismatch> {
        if attempt.channel != payment.channel {
            return Err(PaymentMismatch::Channel { ours: attempt.channel, theirs: payment.channel });
        }
        if attempt.amount != payment.amount {
            return Err(PaymentMismatch::Amount { expected: attempt.amount, got: payment.amount });
        }
        if !attempt.state.awaits_payment() {
            return Ok(Self::AlreadyRecorded);
        }
        let subject = || AuditSubject::Order(order.order_no);
        let otn = payment.out_trade_no.as_str();
        let facts = format!("amount_fen={} trade={}", payment.amount.get(), payment.gateway_trade_no);
        if order.state == OrderState::Open {
            let issue = issue();
            let attempt_paid = by
                .entry(AuditAction::AttemptPaid, subject(), &order.student_no)
                .target(otn)
                .change(Some(attempt.state.as_str()), &format!("paid {facts}"));
            let order_paid = by
                .entry(AuditAction::OrderPaid, subject(), &order.student_no)
                .target(otn)
                .change(Some(OrderState::Open.as_str()), OrderState::Paid.as_str());
            Ok(Self::OrderPaid(Box::new(OrderPaid {
                receipt: Receipt::issue(order, payment, &issue),
                order: order.clone(),
                attempt: AttemptPaid { attempt: attempt.clone(), to: AttemptState::Paid, payment: payment.clone() },
                issue,
                audit: [attempt_paid, order_paid],
            })))
        } else {
            let audit = by
                .entry(AuditAction::AttemptDuplicatePaid, subject(), &order.student_no)
                .target(otn)
                .change(Some(attempt.state.as_str()), &format!("duplicate_paid {facts}"));
            Ok(Self::DuplicatePaid(Box::new(DuplicatePaid {
                attempt: AttemptPaid { attempt: attempt.clone(), to: AttemptState::DuplicatePaid, payment: payment.clone() },
                audit,
            })))
        }
    }

    pub fn outcome(&self) -> PaymentOutcome {
        match self {
            Self::OrderPaid(_) => PaymentOutcome::OrderPaid,
            Self::DuplicatePaid(_) => PaymentOutcome::DuplicatePaid,
            Self::AlreadyRecorded => PaymentOutcome::AlreadyRecorded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PersonName;
    use crate::audit::Actor;
    use crate::fixtures::order;
    use chrono::{TimeZone, Utc};

    fn attempt(o: &Order, state: AttemptState) -> Attempt {
        crate::fixtures::attempt(o, 1, state)
    }

    fn payment(a: &Attempt) -> ConfirmedPayment {
        ConfirmedPayment {
            out_trade_no: a.out_trade_no.clone(),
            channel: a.channel,
            gateway_trade_no: "4200001234".into(),
            amount: a.amount,
            paid_at: a.created_at + chrono::Duration::minutes(3),
        }
    }

    fn issue() -> ReceiptIssue {
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 2, 3, 1).unwrap();
        ReceiptIssue {
            payer_name: PersonName::parse("李四").unwrap(),
            payee: "甘肃省财政厅".into(),
            check_code: "ABCDEFGH".into(),
            link_hash: "00".repeat(32),
            link_expires_at: at + chrono::Duration::days(30),
            issued_at: at,
            sms_text: "text".into(),
        }
    }

    fn by() -> By {
        By::new(Actor::Gateway(Channel::Wechat), Utc.with_ymd_and_hms(2026, 11, 26, 2, 3, 1).unwrap())
    }

    #[test]
    fn an_open_order_is_paid_and_its_receipt_issued() {
        let o = order(OrderState::Open);
        let a = attempt(&o, AttemptState::Created);
        let t = PaymentTransition::decide(&a, &o, &payment(&a), &by(), issue).unwrap();
        let PaymentTransition::OrderPaid(paid) = &t else { panic!("{t:?}") };
        assert_eq!(paid.attempt.to, AttemptState::Paid);
        assert_eq!(paid.receipt.total, o.total);
        assert_eq!(paid.receipt.payer_name.as_str(), "李四");
        assert_eq!(paid.audit[0].action, AuditAction::AttemptPaid);
        assert_eq!(paid.audit[0].after.as_deref(), Some("paid amount_fen=392000 trade=4200001234"));
        assert_eq!(paid.audit[1].action, AuditAction::OrderPaid);
        assert_eq!(t.outcome(), PaymentOutcome::OrderPaid);
    }

    #[test]
    fn a_second_payment_of_a_settled_order_is_a_duplicate_without_a_receipt() {
        for state in [OrderState::Paid, OrderState::Closed] {
            let o = order(state);
            let a = attempt(&o, AttemptState::Closed);
            let t = PaymentTransition::decide(&a, &o, &payment(&a), &by(), || panic!("no receipt for a duplicate")).unwrap();
            let PaymentTransition::DuplicatePaid(d) = &t else { panic!("{t:?}") };
            assert_eq!(d.attempt.to, AttemptState::DuplicatePaid);
            assert_eq!(d.audit.before.as_deref(), Some("closed"));
        }
    }

    #[test]
    fn a_settled_attempt_changes_nothing() {
        let o = order(OrderState::Paid);
        for state in [AttemptState::Paid, AttemptState::DuplicatePaid, AttemptState::Refunding, AttemptState::Refunded] {
            let a = attempt(&o, state);
            let t = PaymentTransition::decide(&a, &o, &payment(&a), &by(), || panic!("no receipt")).unwrap();
            assert_eq!(t, PaymentTransition::AlreadyRecorded);
        }
    }

    #[test]
    fn another_channel_or_amount_is_refused_before_anything_else() {
        let o = order(OrderState::Open);
        let a = attempt(&o, AttemptState::Paid);
        let mut p = payment(&a);
        p.amount = Fen::new(1);
        assert_eq!(
            PaymentTransition::decide(&a, &o, &p, &by(), issue),
            Err(PaymentMismatch::Amount { expected: o.total, got: Fen::new(1) })
        );
        let mut p = payment(&a);
        p.channel = Channel::Alipay;
        assert!(matches!(PaymentTransition::decide(&a, &o, &p, &by(), issue), Err(PaymentMismatch::Channel { .. })));
    }
}
