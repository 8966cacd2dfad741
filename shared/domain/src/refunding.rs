//! The refund's decisions: what an operator's refund command does to the attempt as read, and
//! what a gateway's word does to a requested refund. The service asks the gateway and the store
//! applies; what happens is decided here.

use super::money::Fen;
use super::order::{Attempt, AttemptState};
use super::refund::{Refund, RefundCommand, RefundNo, RefundState};
use chrono::{DateTime, Utc};

/// Where a gateway says a refund stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// The money went back.
    Succeeded { gateway_refund_no: Option<String>, at: Option<DateTime<Utc>> },
    /// Accepted (or still processing): the result comes by notification or query.
    Pending,
    /// Definitely refused (nothing refunded): `code` and the gateway's message.
    Refused { code: String, message: String },
    /// Taken from the merchant but not returned to the payer (WeChat Pay `ABNORMAL`: the card
    /// refused it). Not final: the merchant settles it by hand at the gateway, which then
    /// reports the refund succeeded. Someone must be told.
    Abnormal { code: String },
    /// The gateway has no such refund (asked before it arrived, or it was never received):
    /// sending it again with the same refund number is safe.
    NotFound,
}

/// Why an attempt is not refunded as asked. Nothing changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    #[error("attempt is {0}: only a paid attempt (duplicate_paid, or paid with a reason) can be refunded")]
    NotRefundable(&'static str),
    #[error("the attempt paid its order: refunding it needs a reason")]
    ReasonRequired,
    #[error("amount {given} is not the paid amount {paid}: only full refunds are made")]
    AmountMismatch { given: Fen, paid: Fen },
}

/// What a refund command asks of the attempt as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundStart {
    /// Refunded before: reported, nothing sent.
    AlreadyRefunded,
    /// A refund of it awaits its outcome: asked about, never sent under a new number.
    InProgress(RefundNo),
    /// A new refund (or one again after the gateway refused the last): the attempt goes
    /// `prior → refunding` with this refund, then the gateway is asked.
    Request(Box<Refund>),
}

impl RefundStart {
    /// Decides on `attempt` as read. A payment that paid its order needs a reason (the student's
    /// fee items will owe again); a duplicate does not. The amount, when given, must be the
    /// paid amount: full refunds only.
    pub fn decide(attempt: &Attempt, cmd: &RefundCommand, now: DateTime<Utc>, request_id: &str) -> Result<Self, RefundRefused> {
        match attempt.state {
            AttemptState::Refunded => return Ok(Self::AlreadyRefunded),
            AttemptState::Refunding => return Ok(Self::InProgress(RefundNo::for_attempt(&attempt.out_trade_no))),
            AttemptState::DuplicatePaid => {}
            AttemptState::Paid if cmd.reason.is_none() => return Err(RefundRefused::ReasonRequired),
            AttemptState::Paid => {}
            other => return Err(RefundRefused::NotRefundable(other.as_str())),
        }
        if let Some(given) = cmd.amount
            && given != attempt.amount
        {
            return Err(RefundRefused::AmountMismatch { given, paid: attempt.amount });
        }
        let gateway_trade_no =
            attempt.gateway_trade_no.clone().ok_or(RefundRefused::NotRefundable("paid without a gateway trade number"))?;
        Ok(Self::Request(Box::new(Refund {
            refund_no: RefundNo::for_attempt(&attempt.out_trade_no),
            out_trade_no: attempt.out_trade_no.clone(),
            order_no: attempt.order_no,
            student_no: attempt.student_no.clone(),
            channel: attempt.channel,
            amount: attempt.amount,
            gateway_trade_no,
            prior_state: attempt.state,
            reason: cmd.reason.clone(),
            operator: cmd.operator.clone(),
            request_id: Some(request_id.to_owned()),
            state: RefundState::Requested,
            requested_at: now,
            resent_at: Vec::new(),
            settled_at: None,
            gateway_refund_no: None,
            failure: None,
        })))
    }
}

/// What a gateway's word does to a requested refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSettlement {
    /// Refund `requested → succeeded`, attempt `→ refunded`; when the refunded attempt had
    /// paid its order (`gives_items_back`), the order and receipt are marked refunded and every
    /// fee item owes its line again.
    Succeeded { gateway_refund_no: Option<String>, gives_items_back: bool },
    /// Refund `requested → failed` with the gateway's words; the attempt back to its prior state.
    Failed { message: String },
    /// Nothing to settle yet: the refund stays `requested` for the notification or the sweeper.
    StillRequested,
    /// Stays `requested`, and an operator must act at the gateway (the refund could not reach
    /// the payer's account): the alarm is raised every time the gateway says so.
    NeedsOperator { code: String },
}

impl RefundSettlement {
    /// Decides on `refund` as read and the gateway's `outcome`. A refund already settled is
    /// not settled again.
    pub fn decide(refund: &Refund, outcome: &RefundOutcome) -> Self {
        if refund.state != RefundState::Requested {
            return Self::StillRequested;
        }
        match outcome {
            RefundOutcome::Succeeded { gateway_refund_no, .. } => {
                Self::Succeeded { gateway_refund_no: gateway_refund_no.clone(), gives_items_back: refund.prior_state == AttemptState::Paid }
            }
            RefundOutcome::Refused { code, message } => Self::Failed { message: format!("{code} {message}") },
            RefundOutcome::Abnormal { code } => Self::NeedsOperator { code: code.clone() },
            RefundOutcome::Pending | RefundOutcome::NotFound => Self::StillRequested,
        }
    }

    /// The refund's state once this settlement is applied.
    pub fn state(&self) -> RefundState {
        match self {
            Self::Succeeded { .. } => RefundState::Succeeded,
            Self::Failed { .. } => RefundState::Failed,
            Self::StillRequested | Self::NeedsOperator { .. } => RefundState::Requested,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Channel, MAX_REFUND_SENDS, OperatorName, OrderNo, OutTradeNo, StudentNo};
    use chrono::TimeZone;

    fn attempt(state: AttemptState) -> Attempt {
        let order_no = OrderNo::parse("XF261126LUTAU000001").unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        Attempt {
            out_trade_no: OutTradeNo::new(&order_no, Channel::Alipay, 2),
            order_no,
            student_no: StudentNo::parse("2021010101").unwrap(),
            channel: Channel::Alipay,
            amount: Fen::new(392_000),
            state,
            created_at: at,
            pay_by: at,
            gateway_trade_no: Some("2026112622001".into()),
            paid_at: Some(at),
        }
    }

    fn cmd(reason: Option<&str>, amount: Option<i64>) -> RefundCommand {
        RefundCommand {
            out_trade_no: attempt(AttemptState::Paid).out_trade_no,
            operator: OperatorName::parse("财务处-张敏").unwrap(),
            reason: reason.map(str::to_owned),
            amount: amount.map(Fen::new),
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap()
    }

    #[test]
    fn a_duplicate_is_refunded_without_a_reason_a_payment_of_the_order_only_with_one() {
        let Ok(RefundStart::Request(r)) = RefundStart::decide(&attempt(AttemptState::DuplicatePaid), &cmd(None, None), now(), "req-1")
        else {
            panic!("a duplicate is refundable")
        };
        assert_eq!((r.prior_state, r.amount, r.state), (AttemptState::DuplicatePaid, Fen::new(392_000), RefundState::Requested));
        assert_eq!(r.refund_no.as_str(), "RXF261126LUTAU000001A02");
        assert_eq!(RefundStart::decide(&attempt(AttemptState::Paid), &cmd(None, None), now(), "r"), Err(RefundRefused::ReasonRequired));
        assert!(matches!(
            RefundStart::decide(&attempt(AttemptState::Paid), &cmd(Some("退学"), None), now(), "r"),
            Ok(RefundStart::Request(_))
        ));
    }

    #[test]
    fn only_full_refunds_of_paid_attempts_and_never_twice() {
        assert_eq!(
            RefundStart::decide(&attempt(AttemptState::DuplicatePaid), &cmd(None, Some(1)), now(), "r"),
            Err(RefundRefused::AmountMismatch { given: Fen::new(1), paid: Fen::new(392_000) })
        );
        for state in [AttemptState::Created, AttemptState::Closed] {
            assert_eq!(
                RefundStart::decide(&attempt(state), &cmd(Some("x"), None), now(), "r"),
                Err(RefundRefused::NotRefundable(state.as_str()))
            );
        }
        assert_eq!(RefundStart::decide(&attempt(AttemptState::Refunded), &cmd(None, None), now(), "r"), Ok(RefundStart::AlreadyRefunded));
        assert!(matches!(
            RefundStart::decide(&attempt(AttemptState::Refunding), &cmd(None, None), now(), "r"),
            Ok(RefundStart::InProgress(_))
        ));
    }

    #[test]
    fn a_refund_is_sent_again_with_a_fresh_time_at_most_five_times_in_all() {
        let Ok(RefundStart::Request(r)) = RefundStart::decide(&attempt(AttemptState::DuplicatePaid), &cmd(None, None), now(), "r") else {
            panic!()
        };
        assert!(r.resend(now()).is_none(), "not within the second of the last send");
        let mut sent = (*r).clone();
        for i in 1..MAX_REFUND_SENDS {
            let at = now() + chrono::Duration::minutes(i as i64);
            sent = sent.resend(at).expect("may send again");
            assert_eq!((sent.sends().len(), sent.sends().last().copied()), (i + 1, Some(at)));
        }
        assert!(sent.resend(now() + chrono::Duration::hours(1)).is_none(), "five sends, then a person");
        let settled = Refund { state: RefundState::Succeeded, ..(*r).clone() };
        assert!(settled.resend(now() + chrono::Duration::hours(1)).is_none());
    }

    #[test]
    fn the_gateways_word_settles_a_requested_refund_once() {
        let Ok(RefundStart::Request(r)) = RefundStart::decide(&attempt(AttemptState::Paid), &cmd(Some("退学"), None), now(), "r") else {
            panic!()
        };
        let ok = RefundOutcome::Succeeded { gateway_refund_no: Some("RF1".into()), at: None };
        assert_eq!(
            RefundSettlement::decide(&r, &ok),
            RefundSettlement::Succeeded { gateway_refund_no: Some("RF1".into()), gives_items_back: true }
        );
        let refused = RefundOutcome::Refused { code: "ACQ.TRADE_HAS_CLOSE".into(), message: "交易已关闭".into() };
        assert_eq!(RefundSettlement::decide(&r, &refused), RefundSettlement::Failed { message: "ACQ.TRADE_HAS_CLOSE 交易已关闭".into() });
        assert_eq!(RefundSettlement::decide(&r, &RefundOutcome::Pending), RefundSettlement::StillRequested);
        // ABNORMAL is not a refusal: the refund stays requested (a later SUCCESS settles it)
        // and an operator is called.
        let abnormal = RefundSettlement::decide(&r, &RefundOutcome::Abnormal { code: "ABNORMAL".into() });
        assert_eq!((abnormal.state(), &abnormal), (RefundState::Requested, &RefundSettlement::NeedsOperator { code: "ABNORMAL".into() }));
        let settled = Refund { state: RefundState::Succeeded, ..(*r).clone() };
        assert_eq!(RefundSettlement::decide(&settled, &ok), RefundSettlement::StillRequested);
    }
}
