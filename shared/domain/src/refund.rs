//! Refunds (退款) of paid attempts, asked for by an operator. See `docs/operators-design.md`.

use super::audit::OperatorName;
use super::ids::StudentNo;
use super::money::Fen;
use super::order::{AttemptState, Channel, OutTradeNo};
use super::order_no::OrderNo;
use chrono::{DateTime, Utc};
use std::fmt;

/// The refund's own number at the gateway: `R` + the attempt's out-trade-no
/// (`RXF261126LUTAU000001A01`, 23 characters of `[0-9A-Za-z]`). Derived, so every retry of one
/// refund sends the same number — Alipay `out_request_no` (≤ 64), WeChat Pay `out_refund_no`
/// (≤ 64) and UnionPay's refund `orderId` (8–40, letters and digits only) alike — and one
/// attempt has at most one refund (full refunds only).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RefundNo(String);

impl RefundNo {
    pub fn for_attempt(out_trade_no: &OutTradeNo) -> Self {
        Self(format!("R{out_trade_no}"))
    }
    pub fn parse(raw: &str) -> Option<Self> {
        let otn = OutTradeNo::parse(raw.strip_prefix('R')?).ok()?;
        Some(Self::for_attempt(&otn))
    }
    /// The attempt it refunds.
    pub fn out_trade_no(&self) -> OutTradeNo {
        OutTradeNo::parse(&self.0[1..]).expect("made from an out-trade-no")
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RefundNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RefundState {
    /// Asked for; the gateway's outcome is awaited (notification, or the sweeper's query).
    Requested,
    /// The money went back (terminal).
    Succeeded,
    /// The gateway refused it; the attempt is back in its prior state.
    Failed,
}

impl RefundState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Requested, Self::Succeeded, Self::Failed].into_iter().find(|v| v.as_str() == s)
    }
}

/// One refund of one paid attempt (always its full amount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub refund_no: RefundNo,
    pub out_trade_no: OutTradeNo,
    pub order_no: OrderNo,
    pub student_no: StudentNo,
    pub channel: Channel,
    pub amount: Fen,
    /// The gateway's trade number of the payment (UnionPay `origQryId`).
    pub gateway_trade_no: String,
    /// `Paid` or `DuplicatePaid`: where a refusal returns the attempt.
    pub prior_state: AttemptState,
    pub reason: Option<String>,
    pub operator: OperatorName,
    pub request_id: Option<String>,
    pub state: RefundState,
    /// When it was asked for and first sent (the first send's UnionPay `txnTime`).
    pub requested_at: DateTime<Utc>,
    /// When it was sent again, oldest first: a resend carries its own UnionPay `txnTime`, and
    /// every send is asked about by its own (orderId, txnTime).
    pub resent_at: Vec<DateTime<Utc>>,
    pub settled_at: Option<DateTime<Utc>>,
    /// The gateway's refund id, once it gave one.
    pub gateway_refund_no: Option<String>,
    /// The gateway's words when it refused.
    pub failure: Option<String>,
}

/// At most this many sends of one refund (the first and its resends). A gateway that still
/// knows of none of them needs a person, not another send.
pub const MAX_REFUND_SENDS: usize = 5;

impl Refund {
    /// Every send, oldest first (never empty).
    pub fn sends(&self) -> Vec<DateTime<Utc>> {
        std::iter::once(self.requested_at).chain(self.resent_at.iter().copied()).collect()
    }

    /// The refund with one more send at `now`, if it may be sent again: still requested,
    /// under [`MAX_REFUND_SENDS`], and later than its last send (a fresh UnionPay `txnTime`,
    /// which has a resolution of a second).
    pub fn resend(&self, now: DateTime<Utc>) -> Option<Refund> {
        let last = self.resent_at.last().copied().unwrap_or(self.requested_at);
        let fresh = now.timestamp() > last.timestamp();
        if self.state != RefundState::Requested || self.resent_at.len() + 1 >= MAX_REFUND_SENDS || !fresh {
            return None;
        }
        let mut next = self.clone();
        next.resent_at.push(now);
        Some(next)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundCommandError {
    #[error("out_trade_no is missing or not an out-trade-no (8-32 letters or digits)")]
    OutTradeNo,
    #[error("operator is missing or invalid (1-64 characters, no control characters or ':')")]
    Operator,
    #[error("reason must be at most 200 characters without control characters")]
    Reason,
    #[error("amount must be a yuan amount such as \"4000.00\"")]
    Amount,
}

/// The operator's refund event: `{"out_trade_no", "reason"?, "operator", "amount"?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundCommand {
    pub out_trade_no: OutTradeNo,
    pub operator: OperatorName,
    /// Required to refund a payment that paid its order; optional for a duplicate.
    pub reason: Option<String>,
    /// A safety check: must equal the paid amount when given.
    pub amount: Option<Fen>,
}

impl RefundCommand {
    pub fn parse(event: &serde_json::Value) -> Result<Self, RefundCommandError> {
        let text = |k: &str| event.get(k).and_then(|v| v.as_str()).map(str::trim);
        let out_trade_no = text("out_trade_no").and_then(|s| OutTradeNo::parse(s).ok()).ok_or(RefundCommandError::OutTradeNo)?;
        let operator = text("operator").and_then(|s| OperatorName::parse(s).ok()).ok_or(RefundCommandError::Operator)?;
        let reason = match text("reason").filter(|r| !r.is_empty()) {
            Some(r) if r.chars().count() > 200 || r.chars().any(char::is_control) => return Err(RefundCommandError::Reason),
            r => r.map(str::to_owned),
        };
        let amount = match event.get("amount") {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(v.as_str().and_then(|s| Fen::parse_yuan(s.trim()).ok()).ok_or(RefundCommandError::Amount)?),
        };
        Ok(Self { out_trade_no, operator, reason, amount })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refund_numbers_are_valid_at_every_gateway_and_name_their_attempt() {
        let otn = OutTradeNo::parse("XF261126LUTAU000001U02").unwrap();
        let r = RefundNo::for_attempt(&otn);
        assert_eq!(r.as_str(), "RXF261126LUTAU000001U02");
        assert!(r.as_str().len() <= 32 && r.as_str().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(r.out_trade_no(), otn);
        assert_eq!(RefundNo::parse(r.as_str()), Some(r));
        assert_eq!(RefundNo::parse("XF261126LUTAU000001U02"), None);
    }

    #[test]
    fn commands_parse_or_say_what_is_wrong() {
        let ok = RefundCommand::parse(
            &json!({"out_trade_no": "XF261126LUTAU000001A01", "operator": "财务处-张敏", "reason": " 重复支付 ", "amount": "4000.00"}),
        )
        .unwrap();
        assert_eq!((ok.reason.as_deref(), ok.amount), (Some("重复支付"), Some(Fen::new(400_000))));
        let bare = RefundCommand::parse(&json!({"out_trade_no": "XF261126LUTAU000001A01", "operator": "张敏", "reason": ""})).unwrap();
        assert_eq!((bare.reason, bare.amount), (None, None));
        assert_eq!(RefundCommand::parse(&json!({"operator": "张敏"})), Err(RefundCommandError::OutTradeNo));
        assert_eq!(RefundCommand::parse(&json!({"out_trade_no": "XF261126LUTAU000001A01"})), Err(RefundCommandError::Operator));
        assert_eq!(
            RefundCommand::parse(&json!({"out_trade_no": "XF261126LUTAU000001A01", "operator": "a", "amount": 4000})),
            Err(RefundCommandError::Amount)
        );
        assert_eq!(
            RefundCommand::parse(&json!({"out_trade_no": "XF261126LUTAU000001A01", "operator": "a", "reason": "x".repeat(201)})),
            Err(RefundCommandError::Reason)
        );
    }
}
