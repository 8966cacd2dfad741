//! Notifications, whatever the gateway: what its verification yields (a [`Notice`] about one of
//! our attempts or refunds, still to be compared with it) and how it wants to be answered. The
//! flow that uses them is one for every channel (`service/notify.rs`).

use super::RefundOutcome;
use crate::domain::{Attempt, Fen, Refund};
use chrono::{DateTime, Utc};

/// A notification whose signature (and, per gateway, timestamp window, AEAD and certificate
/// chain) verified. Nothing in it is trusted about *our* records until it is checked.
pub struct Notice {
    /// The notification as it is kept (the body, with WeChat Pay's signature headers).
    pub raw: String,
    pub about: About,
}

pub enum About {
    /// About one of our payment attempts.
    Payment(Box<dyn PaymentNotice>),
    /// About a refund of one (`R<out-trade-no>`), sent to the same URL.
    Refund(Box<dyn RefundNotice>),
}

/// A verified payment notification, not yet compared with our attempt.
pub trait PaymentNotice: Send + Sync {
    /// The out-trade-no it names, as sent: one that does not parse is not ours.
    fn out_trade_no(&self) -> &str;
    /// Compares it with our attempt — the amount, and whatever else the gateway names a trade by
    /// (UnionPay: `txnTime`) — and says what it reports. `Err`: the words of the mismatch.
    fn check(self: Box<Self>, attempt: &Attempt) -> Result<PaymentReport, String>;
}

/// What a checked payment notification reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentReport {
    /// The attempt was paid: the gateway's trade number, the amount and, when it says, the time.
    Paid { gateway_trade_no: String, amount: Fen, paid_at: Option<DateTime<Utc>> },
    /// Anything else (a close, a refund's trade status): kept, nothing changes. Says what it was.
    Kept(&'static str),
}

/// A verified refund notification, not yet compared with our refund.
pub trait RefundNotice: Send + Sync {
    /// The refund number it names, as sent.
    fn refund_no(&self) -> &str;
    /// Compares it with our refund (trade, amounts, and UnionPay's `txnTime`, `origQryId`) and
    /// says where the refund stands. `Err`: the words of the mismatch.
    fn check(self: Box<Self>, refund: &Refund) -> Result<RefundOutcome, String>;
}

/// What became of a notification, for the gateway's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Verified, checked, stored and applied (or a repeat): the gateway may stop sending it.
    Handled,
    /// Storing it failed: it may succeed on the gateway's next send.
    Retry,
    /// Unverifiable, not ours, or not matching ours: refused (the gateway will resend; it will
    /// be refused again, and counted by the `NotifyRejected` alarm).
    Refused,
}

/// Our HTTP answer to a gateway, in its own terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    /// `None` with an empty body.
    pub content_type: Option<&'static str>,
    pub body: String,
}

impl Answer {
    /// A plain-text answer (Alipay's `success`, UnionPay's `ok`, and `fail`).
    pub fn text(status: u16, body: &str) -> Self {
        Self { status, content_type: Some("text/plain; charset=utf-8"), body: body.to_owned() }
    }
}
