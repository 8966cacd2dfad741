//! Gateway notifications: verify, compare with our attempt, keep the raw message, apply the
//! payment transition — and only then acknowledge.

use crate::app::App;
use crate::domain::{Actor, Attempt, Channel, ConfirmedPayment, Order, OutTradeNo, PaymentOutcome};
use crate::gateway::{unionpay, wechat};
use crate::service::payments::{PaymentRejected, PaymentStores};
use crate::store::{RawNotification, StoreError};

/// Why a notification was not acknowledged. Nothing was changed; the gateway will resend.
#[derive(Debug, thiserror::Error)]
pub enum NotifyRejected {
    #[error("channel not configured")]
    NotConfigured,
    #[error("unverifiable: {0}")]
    Unverifiable(String),
    #[error("not one of our attempts")]
    UnknownAttempt,
    #[error("does not match our attempt: {0}")]
    Mismatch(String),
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

impl From<PaymentRejected> for NotifyRejected {
    fn from(e: PaymentRejected) -> Self {
        match e {
            PaymentRejected::UnknownAttempt => NotifyRejected::UnknownAttempt,
            PaymentRejected::Store(s) => NotifyRejected::Store(s),
            other => NotifyRejected::Mismatch(other.to_string()),
        }
    }
}

/// A WeChat Pay notification as kept: the body as received (its resource stays encrypted) with
/// the signature headers.
pub(crate) fn wechat_raw(headers: &wechat::Headers, body: &[u8]) -> String {
    serde_json::json!({
        "headers": headers.iter().filter(|(k, _)| k.to_ascii_lowercase().starts_with("wechatpay-")).collect::<std::collections::BTreeMap<_, _>>(),
        "body": String::from_utf8_lossy(body),
    })
    .to_string()
}

/// What a verified notification did (`None`: a state we only keep, such as a close).
pub type Handled = Option<PaymentOutcome>;

fn log_rejection(channel: Channel, e: &NotifyRejected) {
    tracing::warn!(channel = channel.as_str(), reason = %e, metric = "notify_rejected", "notification not acknowledged");
    // The NotifyRejected alarm in infra/template.yaml counts these.
    crate::metrics::count(crate::metrics::NOTIFY_REJECTED, 1, &[("Channel", channel.as_str())]);
}

impl<S: PaymentStores + crate::store::RefundStore + crate::store::OrderStore> App<S> {
    /// The attempt a notification names, with its order: one read that serves the checks and
    /// the payment transition.
    async fn attempt_of(&self, out_trade_no: &str) -> Result<(Attempt, Order), NotifyRejected> {
        let no = OutTradeNo::parse(out_trade_no).map_err(|_| NotifyRejected::UnknownAttempt)?;
        self.store.payment_state(&no).await?.ok_or(NotifyRejected::UnknownAttempt)
    }

    /// Keeps `raw`: with the payment transition when the notification reports a payment
    /// (`payment`), else on its own.
    async fn keep_and_apply(
        &self,
        raw: RawNotification,
        payment: Option<ConfirmedPayment>,
        known: (Attempt, Order),
    ) -> Result<Handled, NotifyRejected> {
        match payment {
            Some(p) => Ok(Some(self.record_payment_on(&p, &Actor::Gateway(p.channel), known, Some(raw)).await?)),
            None => {
                self.store.store_notification(&raw).await?;
                Ok(None)
            }
        }
    }

    /// Alipay's asynchronous notification (form body). `Ok` means: answer `success`.
    pub async fn alipay_notification(&self, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let r = self.alipay_notification_inner(body).await;
        if let Err(e) = &r {
            log_rejection(Channel::Alipay, e);
        }
        r
    }

    async fn alipay_notification_inner(&self, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let merchant = self.payments.alipay.as_ref().ok_or(NotifyRejected::NotConfigured)?;
        let unchecked = merchant.verify_notification(body).map_err(|e| NotifyRejected::Unverifiable(e.to_string()))?;
        let known = self.attempt_of(unchecked.out_trade_no()).await?;
        let no = known.0.out_trade_no.clone();
        let n = unchecked.check(no.as_str(), known.0.amount).map_err(|m| NotifyRejected::Mismatch(format!("{m:?}")))?;
        let now = self.clock.now();
        let raw = RawNotification::new(Channel::Alipay, &no, now, String::from_utf8_lossy(body));
        let payment = if n.is_refund() {
            // A refund's trade-status notification: the refund is settled by its own answer or
            // query (service/refunds.rs); nothing changes here.
            tracing::info!(out_trade_no = %no, "alipay refund notification kept");
            None
        } else if !n.is_paid() {
            tracing::info!(out_trade_no = %no, "alipay notification kept (not a payment)");
            None
        } else {
            Some(ConfirmedPayment {
                out_trade_no: no,
                channel: Channel::Alipay,
                gateway_trade_no: n.trade_no.clone(),
                amount: n.total_amount,
                paid_at: n.gmt_payment.unwrap_or(now),
            })
        };
        self.keep_and_apply(raw, payment, known).await
    }

    /// WeChat Pay's notification (signed headers, JSON body with an encrypted resource).
    /// `Ok` means: answer 204.
    pub async fn wechat_notification(&self, headers: &wechat::Headers, body: &[u8]) -> Result<Handled, NotifyRejected> {
        // Refund notifications come to the same URL (service/refunds.rs).
        let r = if wechat::Merchant::is_refund_notification(body) {
            self.wechat_refund_notification(headers, body).await
        } else {
            self.wechat_notification_inner(headers, body).await
        };
        if let Err(e) = &r {
            log_rejection(Channel::Wechat, e);
        }
        r
    }

    async fn wechat_notification_inner(&self, headers: &wechat::Headers, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let merchant = self.payments.wechat.as_ref().ok_or(NotifyRejected::NotConfigured)?;
        let now = self.clock.now();
        let unchecked = merchant.parse_notification(headers, body, now).map_err(|e| NotifyRejected::Unverifiable(e.to_string()))?;
        let known = self.attempt_of(unchecked.out_trade_no()).await?;
        let no = known.0.out_trade_no.clone();
        let n = unchecked.check(&no, known.0.amount).map_err(|m| NotifyRejected::Mismatch(format!("{m:?}")))?;
        let raw = RawNotification::new(Channel::Wechat, &no, now, wechat_raw(headers, body));
        let payment = if n.is_paid() {
            Some(ConfirmedPayment {
                out_trade_no: no,
                channel: Channel::Wechat,
                gateway_trade_no: n.transaction_id.clone(),
                amount: n.total,
                paid_at: n.success_time.unwrap_or(now),
            })
        } else {
            tracing::info!(out_trade_no = %no, "wechat notification kept (not a payment)");
            None
        };
        self.keep_and_apply(raw, payment, known).await
    }

    /// UnionPay's backUrl notification (URL-encoded form). `Ok` means: answer HTTP 200 `ok`.
    pub async fn unionpay_notification(&self, body: &[u8]) -> Result<Handled, NotifyRejected> {
        // Refund notifications (txnType 04) come to the same backUrl (service/refunds.rs).
        let r = if unionpay::Merchant::is_refund_notification(body) {
            self.unionpay_refund_notification(body).await
        } else {
            self.unionpay_notification_inner(body).await
        };
        if let Err(e) = &r {
            log_rejection(Channel::Unionpay, e);
        }
        r
    }

    async fn unionpay_notification_inner(&self, body: &[u8]) -> Result<Handled, NotifyRejected> {
        let merchant = self.payments.unionpay.as_ref().ok_or(NotifyRejected::NotConfigured)?;
        let now = self.clock.now();
        let unchecked = merchant.parse_notification(body, now).map_err(|e| NotifyRejected::Unverifiable(e.to_string()))?;
        let known = self.attempt_of(unchecked.order_id()).await?;
        let attempt = &known.0;
        // UnionPay names a transaction by merId + orderId + txnTime (§4.3): the txnTime must be
        // the one this attempt was started with.
        let sent = unionpay::format_time(attempt.created_at);
        if unchecked.txn_time() != sent {
            return Err(NotifyRejected::Mismatch(format!("txnTime {} is not the attempt's {sent}", unchecked.txn_time())));
        }
        let n = unchecked.check(&attempt.out_trade_no, attempt.amount).map_err(|m| NotifyRejected::Mismatch(m.to_string()))?;
        let raw = RawNotification::new(Channel::Unionpay, &attempt.out_trade_no, now, String::from_utf8_lossy(body));
        let payment = if n.is_paid() {
            Some(ConfirmedPayment {
                out_trade_no: attempt.out_trade_no.clone(),
                channel: Channel::Unionpay,
                gateway_trade_no: n.query_id.clone(),
                amount: n.txn_amt,
                paid_at: n.paid_at().unwrap_or(now),
            })
        } else {
            tracing::info!(out_trade_no = %attempt.out_trade_no, "unionpay notification kept (not a payment)");
            None
        };
        self.keep_and_apply(raw, payment, known).await
    }
}
