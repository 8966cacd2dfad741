//! The audit entry of each state change of orders, attempts and refunds, built here once so
//! that every store writes the same words (the DynamoDB store inside the change's transaction,
//! the in-memory store beside it). The payment's own entries are decided with it
//! ([`crate::payment::PaymentTransition::decide`]).

use super::audit::{AuditAction, AuditEntry, AuditSubject, By};
use super::contact::Phone;
use super::order::{Attempt, AttemptState, Order, OrderState};
use super::refund::Refund;

impl By {
    /// A new open order.
    pub fn order_created(&self, o: &Order) -> AuditEntry {
        self.entry(AuditAction::OrderCreated, AuditSubject::Order(o.order_no), &o.student_no)
            .change(None, &format!("{} total_fen={}", OrderState::Open.as_str(), o.total.get()))
    }
    /// An open order closed (expired, superseded or cancelled).
    pub fn order_closed(&self, o: &Order) -> AuditEntry {
        self.entry(AuditAction::OrderClosed, AuditSubject::Order(o.order_no), &o.student_no)
            .change(Some(OrderState::Open.as_str()), OrderState::Closed.as_str())
    }
    /// The receipt phone of an open order changed (both phones masked).
    pub fn receipt_phone_changed(&self, o: &Order, phone: &Phone) -> AuditEntry {
        self.entry(AuditAction::OrderReceiptPhoneChanged, AuditSubject::Order(o.order_no), &o.student_no)
            .change(Some(&o.receipt_phone.masked()), &phone.masked())
    }
    /// A new attempt at the gateway.
    pub fn attempt_created(&self, a: &Attempt) -> AuditEntry {
        self.entry(AuditAction::AttemptCreated, AuditSubject::Order(a.order_no), &a.student_no)
            .target(a.out_trade_no.as_str())
            .change(None, &format!("{} {} amount_fen={}", a.state.as_str(), a.channel.as_str(), a.amount.get()))
    }
    /// An attempt closed at the gateway and proven unpaid.
    pub fn attempt_closed(&self, a: &Attempt) -> AuditEntry {
        self.entry(AuditAction::AttemptClosed, AuditSubject::Order(a.order_no), &a.student_no)
            .target(a.out_trade_no.as_str())
            .change(Some(AttemptState::Created.as_str()), AttemptState::Closed.as_str())
    }
    /// A refund asked of the gateway, the attempt leaving `from`.
    pub fn refund_requested(&self, r: &Refund, from: AttemptState) -> AuditEntry {
        self.entry(AuditAction::RefundRequested, AuditSubject::Order(r.order_no), &r.student_no)
            .target(r.out_trade_no.as_str())
            .change(Some(from.as_str()), &format!("refunding refund_no={} amount_fen={}", r.refund_no, r.amount.get()))
    }
    /// The money went back.
    pub fn refund_succeeded(&self, r: &Refund) -> AuditEntry {
        self.entry(AuditAction::RefundSucceeded, AuditSubject::Order(r.order_no), &r.student_no)
            .target(r.out_trade_no.as_str())
            .change(Some(AttemptState::Refunding.as_str()), &format!("refunded refund_no={} amount_fen={}", r.refund_no, r.amount.get()))
    }
    /// The gateway refused the refund (its words, at most 200 characters, as the reason); the
    /// attempt is back in its prior state.
    pub fn refund_failed(&self, r: &Refund, message: &str) -> AuditEntry {
        self.entry(AuditAction::RefundFailed, AuditSubject::Order(r.order_no), &r.student_no)
            .target(r.out_trade_no.as_str())
            .change(Some(AttemptState::Refunding.as_str()), r.prior_state.as_str())
            .reason(message.chars().take(200).collect::<String>())
    }
}
