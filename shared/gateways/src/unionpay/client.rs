//! UnionPay ACP 5.1.0 over HTTP: the protocol module's signed forms posted with the shared
//! `reqwest` client, answers parsed and verified by the module.

use crate::GatewayError;
use crate::domain::{Channel, OutTradeNo};
use crate::net::{bytes, transport};
use crate::notice::{About, Answer, Notice, Verdict};
use crate::statement::Statement;
use crate::unionpay;
use crate::{CallError, Closing, PaymentAction, PaymentGateway, RefundOutcome, RefundRequest, StartRequest, TradeRef, TradeState};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// How long a UnionPay attempt stays payable: the official demo's `payTimeout` of now + 15 min
/// (gateways.md §3.3). UnionPay has no close for a consume, so this bounds how long a student
/// who leaves its cashier waits before switching channel.
pub const UNIONPAY_PAY_WINDOW_MINUTES: i64 = 15;
/// Clock skew allowed between UnionPay and us before an attempt past its `payTimeout` counts as
/// final.
pub const UNIONPAY_SKEW_SECS: i64 = 60;

/// The moment after which a UnionPay trade can no longer be paid, by our clock.
fn unionpay_final_after(trade: &TradeRef) -> DateTime<Utc> {
    trade.pay_by + chrono::Duration::seconds(UNIONPAY_SKEW_SECS)
}

/// UnionPay ACP 5.1.0: the front-consume form (auto-submitted by the browser) on a PC
/// (`channelType=07`) or a phone (`08`); `queryTrans.do` by orderId + the original `txnTime`;
/// no close — an attempt is final once its `payTimeout` has passed.
pub struct UnionpayGateway {
    merchant: unionpay::Merchant,
    http: reqwest::Client,
}

/// Builds the gateway from its settings JSON, `unionpay::MerchantSettings` (its URLs are
/// inside; [`crate::Registration::build`]).
pub fn configure(json: &str, w: &crate::Wiring) -> Result<crate::Gateway, GatewayError> {
    let s: unionpay::MerchantSettings = crate::settings_json(json)?;
    Ok(std::sync::Arc::new(UnionpayGateway::new(unionpay::Merchant::new(&s)?, w.http.clone())))
}

impl UnionpayGateway {
    pub fn new(merchant: unionpay::Merchant, http: reqwest::Client) -> Self {
        Self { merchant, http }
    }
}

#[async_trait]
impl PaymentGateway for UnionpayGateway {
    fn channel(&self) -> Channel {
        Channel::Unionpay
    }

    fn max_pay_window(&self) -> Option<chrono::Duration> {
        Some(chrono::Duration::minutes(UNIONPAY_PAY_WINDOW_MINUTES))
    }

    async fn start(&self, r: &StartRequest) -> Result<PaymentAction, CallError> {
        let order =
            unionpay::ConsumeRequest { out_trade_no: &r.out_trade_no, amount: r.amount, device: r.device, pay_timeout: r.expires_at };
        // `txnTime` = `r.now`, the attempt's `created_at`: a query repeats it from there.
        Ok(self.merchant.front_consume(&order, r.now)?.into_action())
    }

    async fn query(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<TradeState, CallError> {
        let txn_time = unionpay::format_time(trade.started_at);
        let body = self.post_form(self.merchant.query(&trade.out_trade_no, &txn_time)?).await?;
        let state = self.merchant.parse_query_response(&trade.out_trade_no, &txn_time, &body, now)?;
        // Before payTimeout, "not found" and "failed" prove nothing: the student may still pay.
        Ok(match state {
            TradeState::NotFound | TradeState::Closed if now <= unionpay_final_after(trade) => TradeState::Pending,
            TradeState::NotFound => TradeState::Closed,
            other => other,
        })
    }

    async fn close(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<Closing, CallError> {
        let final_after = unionpay_final_after(trade);
        if now > final_after { Ok(Closing::Closed) } else { Ok(Closing::PayableUntil(final_after)) }
    }

    fn verify_notification(&self, _: &::http::HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<Notice, GatewayError> {
        // Refunds (txnType 04) come to the same backUrl.
        let about = if unionpay::Merchant::is_refund_notification(body) {
            About::Refund(Box::new(self.merchant.parse_refund_notification(body, now)?))
        } else {
            About::Payment(Box::new(self.merchant.parse_notification(body, now)?))
        };
        Ok(Notice { raw: String::from_utf8_lossy(body).into_owned(), about })
    }
    fn answer(&self, verdict: Verdict) -> Answer {
        super::notice::answer(verdict)
    }

    /// `frontUrl`: the transaction's fields, posted by the browser (gateways.md §4.6).
    fn returning_attempt(&self, form: &[u8]) -> Option<OutTradeNo> {
        crate::form::parse(form).ok().and_then(|f| f.get("orderId").and_then(|o| OutTradeNo::parse(o).ok()))
    }

    /// `backTransReq.do`, `txnType=04`, `txnTime` = this send's time (every send carries the
    /// current time; the official demo: "必须取当前时间，否则会报txnTime无效").
    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let txn_time = unionpay::format_time(r.last_sent_at());
        let form = self.merchant.refund(&r.refund_no, &r.gateway_trade_no, r.amount, &txn_time)?;
        let body = self.post_form(form).await?;
        Ok(self.merchant.verified_answer(&r.refund_no, &txn_time, &body, now)?.refund_outcome())
    }
    /// Asks about every send, newest first, by its own (orderId, txnTime): one that succeeded
    /// settles the refund; one still in progress keeps it pending; otherwise the newest send's
    /// word stands (`NotFound`: none arrived, so it may be sent again).
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let mut outcomes = Vec::with_capacity(r.sent_at.len());
        for at in r.sent_at.iter().rev() {
            let txn_time = unionpay::format_time(*at);
            let body = self.post_form(self.merchant.query_refund(&r.refund_no, &txn_time)?).await?;
            let outcome = self.merchant.verified_answer(&r.refund_no, &txn_time, &body, now)?.refund_query_outcome()?;
            if matches!(outcome, RefundOutcome::Succeeded { .. }) {
                return Ok(outcome);
            }
            outcomes.push(outcome);
        }
        let pending = outcomes.contains(&RefundOutcome::Pending);
        Ok(if pending { RefundOutcome::Pending } else { outcomes.into_iter().next().unwrap_or(RefundOutcome::NotFound) })
    }
    /// The day's settlement file: the signed file-transfer form; the file comes inside the
    /// signed answer.
    async fn statement(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<Statement, CallError> {
        let body = self.post_form(self.merchant.file_transfer(day, now)?).await?;
        let Some(file) = self.merchant.parse_file_transfer(&body, now)? else {
            return Ok(Statement::empty(Channel::Unionpay, day));
        };
        Ok(super::statement::parse_settlement_zip(day, self.merchant.mer_id(), &file.zip)?)
    }
}

impl UnionpayGateway {
    async fn post_form(&self, form: unionpay::SignedForm) -> Result<Vec<u8>, CallError> {
        let resp = self
            .http
            .post(&form.url)
            .header("content-type", unionpay::FORM_CONTENT_TYPE)
            .body(form.body())
            .send()
            .await
            .map_err(transport)?;
        bytes(resp).await
    }
}
