//! WeChat Pay's notifications as [`Notice`]s: payments (`TRANSACTION.*`) and refunds
//! (`REFUND.*`) come to the same URL, each signed in its headers with an encrypted resource.

use crate::domain::{Attempt, Refund};
use crate::notice::{Answer, PaymentNotice, PaymentReport, RefundNotice, Verdict};
use crate::wechat::{Headers, NotifyAnswer, RefundNotification, UncheckedNotification};
use crate::{GatewayError, RefundOutcome};
use chrono::{DateTime, Utc};

impl PaymentNotice for UncheckedNotification {
    fn out_trade_no(&self) -> &str {
        UncheckedNotification::out_trade_no(self)
    }

    fn check(self: Box<Self>, attempt: &Attempt) -> Result<PaymentReport, String> {
        let n = UncheckedNotification::check(*self, &attempt.out_trade_no, attempt.amount).map_err(|m| format!("{m:?}"))?;
        Ok(if n.is_paid() {
            PaymentReport::Paid { gateway_trade_no: n.transaction_id.clone(), amount: n.total, paid_at: n.success_time }
        } else {
            PaymentReport::Kept("not a payment")
        })
    }
}

impl RefundNotice for RefundNotification {
    fn refund_no(&self) -> &str {
        &self.out_refund_no
    }

    fn check(self: Box<Self>, r: &Refund) -> Result<RefundOutcome, String> {
        if self.out_trade_no != r.out_trade_no.as_str() || self.refund != r.amount || self.total != r.amount {
            return Err(format!("refund {} does not match ours (trade, amount)", self.out_refund_no));
        }
        Ok(match self.refund_status.as_str() {
            "SUCCESS" => RefundOutcome::Succeeded { gateway_refund_no: self.refund_id.clone(), at: self.success_time },
            "PROCESSING" => RefundOutcome::Pending,
            "ABNORMAL" => RefundOutcome::Abnormal { code: self.refund_status.clone() },
            other => RefundOutcome::Refused { code: other.to_owned(), message: self.event_type.clone() },
        })
    }
}

/// The notification as kept: the body as received (its resource stays encrypted) with the
/// signature headers.
pub(crate) fn raw(headers: &Headers, body: &[u8]) -> String {
    serde_json::json!({
        "headers": headers.iter().filter(|(k, _)| k.to_ascii_lowercase().starts_with("wechatpay-")).collect::<std::collections::BTreeMap<_, _>>(),
        "body": String::from_utf8_lossy(body),
    })
    .to_string()
}

/// Verifies either kind, told apart by its event type.
pub(crate) fn verify(
    merchant: &crate::wechat::Merchant,
    headers: &Headers,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<crate::notice::About, GatewayError> {
    use crate::notice::About;
    Ok(if crate::wechat::Merchant::is_refund_notification(body) {
        About::Refund(Box::new(merchant.parse_refund_notification(headers, body, now)?))
    } else {
        About::Payment(Box::new(merchant.parse_notification(headers, body, now)?))
    })
}

/// 204 stops WeChat Pay's resends (§4.2); a 5xx with `{"code":"FAIL"}` asks for another.
pub(crate) fn answer(verdict: Verdict) -> Answer {
    let a = match verdict {
        Verdict::Handled => NotifyAnswer::ack(),
        Verdict::Retry => NotifyAnswer::fail("系统繁忙"),
        Verdict::Refused => NotifyAnswer { status: 400, ..NotifyAnswer::fail("验签或数据校验失败") },
    };
    let content_type = if a.body.is_empty() { None } else { Some("application/json") };
    Answer { status: a.status, content_type, body: a.body }
}
