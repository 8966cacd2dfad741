//! UnionPay's backUrl notifications as [`Notice`]s: payments (consume) and refunds
//! (`txnType=04`) come to the same URL, each verified through the `signPubKeyCert` chain.

use crate::RefundOutcome;
use crate::domain::{Attempt, Refund};
use crate::notice::{Answer, PaymentNotice, PaymentReport, RefundNotice, Verdict};
use crate::unionpay::{ACK, RefundNotification, UncheckedNotification, format_time};

impl PaymentNotice for UncheckedNotification {
    fn out_trade_no(&self) -> &str {
        self.order_id()
    }

    fn check(self: Box<Self>, attempt: &Attempt) -> Result<PaymentReport, String> {
        // UnionPay names a transaction by merId + orderId + txnTime (§4.3): the txnTime must be
        // the one this attempt was started with.
        let sent = format_time(attempt.created_at);
        if self.txn_time() != sent {
            return Err(format!("txnTime {} is not the attempt's {sent}", self.txn_time()));
        }
        let n = UncheckedNotification::check(*self, &attempt.out_trade_no, attempt.amount).map_err(|m| m.to_string())?;
        Ok(if n.is_paid() {
            PaymentReport::Paid { gateway_trade_no: n.query_id.clone(), amount: n.txn_amt, paid_at: n.paid_at() }
        } else {
            PaymentReport::Kept("not a payment")
        })
    }
}

impl RefundNotice for RefundNotification {
    fn refund_no(&self) -> &str {
        &self.order_id
    }

    fn check(self: Box<Self>, r: &Refund) -> Result<RefundOutcome, String> {
        // Any of its sends (each has its own txnTime).
        let ours = r.sends().into_iter().any(|at| format_time(at) == self.txn_time);
        if !ours || self.orig_qry_id != r.gateway_trade_no || self.txn_amt != r.amount {
            return Err(format!("refund {} does not match ours (txnTime, origQryId, amount)", self.order_id));
        }
        Ok(if self.is_success() {
            RefundOutcome::Succeeded { gateway_refund_no: Some(self.query_id.clone()), at: None }
        } else {
            RefundOutcome::Pending
        })
    }
}

/// Only HTTP 200 counts as received (§3.5): a store failure may heal by the next of its 5 sends.
pub(crate) fn answer(verdict: Verdict) -> Answer {
    match verdict {
        Verdict::Handled => Answer::text(200, ACK),
        Verdict::Retry => Answer::text(500, "fail"),
        Verdict::Refused => Answer::text(400, "fail"),
    }
}
