//! Alipay's asynchronous notification as a [`Notice`]: payments only (a refund shows up as a
//! trade-status notification of the paid trade, kept and not acted on: refunds settle by their
//! own answer or query).

use crate::alipay::{ACK, UncheckedNotification};
use crate::domain::Attempt;
use crate::notice::{Answer, PaymentNotice, PaymentReport, Verdict};

impl PaymentNotice for UncheckedNotification {
    fn out_trade_no(&self) -> &str {
        UncheckedNotification::out_trade_no(self)
    }

    fn check(self: Box<Self>, attempt: &Attempt) -> Result<PaymentReport, String> {
        let n = UncheckedNotification::check(*self, attempt.out_trade_no.as_str(), attempt.amount).map_err(|m| m.to_string())?;
        Ok(if n.is_refund() {
            PaymentReport::Kept("refund trade status")
        } else if !n.is_paid() {
            PaymentReport::Kept("not a payment")
        } else {
            PaymentReport::Paid { gateway_trade_no: n.trade_no.clone(), amount: n.total_amount, paid_at: n.gmt_payment }
        })
    }
}

/// `success` (HTTP 200) stops Alipay's resends; anything else makes it send again.
pub(crate) fn answer(verdict: Verdict) -> Answer {
    match verdict {
        Verdict::Handled => Answer::text(200, ACK),
        Verdict::Retry => Answer::text(500, "fail"),
        Verdict::Refused => Answer::text(400, "fail"),
    }
}
