//! Alipay over HTTP: the protocol module's signed requests sent with the shared `reqwest`
//! client, answers parsed and verified by the module.

use crate::alipay;
use crate::domain::Channel;
use crate::net::{bytes, transport};
use crate::notice::{About, Answer, Notice, Verdict};
use crate::statement::Statement;
use crate::{
    CallError, Closing, Device, GatewayError, PaymentAction, PaymentGateway, RefundOutcome, RefundRequest, StartRequest, TradeRef,
    TradeState,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// Alipay: `alipay.trade.precreate` on a PC (QR), `alipay.trade.wap.pay` on a phone (redirect).
pub struct AlipayGateway {
    merchant: alipay::Merchant,
    http: reqwest::Client,
    /// Where the wap cashier sends a student who gives up.
    quit_url: String,
}

/// Builds the gateway from its settings JSON, `alipay::MerchantSettings`; a student who gives
/// up in the wap cashier goes back to our order page ([`crate::Registration::build`]).
pub fn configure(json: &str, w: &crate::Wiring) -> Result<crate::Gateway, GatewayError> {
    let s: alipay::MerchantSettings = crate::settings_json(json)?;
    let quit_url = w.order_page.clone().unwrap_or_default();
    Ok(std::sync::Arc::new(AlipayGateway::new(alipay::Merchant::new(&s)?, w.http.clone(), quit_url)))
}

impl AlipayGateway {
    pub fn new(merchant: alipay::Merchant, http: reqwest::Client, quit_url: impl Into<String>) -> Self {
        Self { merchant, http, quit_url: quit_url.into() }
    }

    async fn send(&self, req: alipay::SignedRequest) -> Result<String, CallError> {
        match req.delivery {
            alipay::Delivery::Post { url, body } => {
                let resp =
                    self.http.post(url).header("content-type", alipay::FORM_CONTENT_TYPE).body(body).send().await.map_err(transport)?;
                resp.text().await.map_err(transport)
            }
            alipay::Delivery::Redirect { .. } => Err(GatewayError::Malformed("a redirect is not sent by the server".into()).into()),
        }
    }
}

#[async_trait]
impl PaymentGateway for AlipayGateway {
    fn channel(&self) -> Channel {
        Channel::Alipay
    }

    async fn start(&self, r: &StartRequest) -> Result<PaymentAction, CallError> {
        let order =
            alipay::OrderRequest { out_trade_no: &r.out_trade_no, amount: r.amount, subject: &r.subject, time_expire: r.expires_at };
        match r.device {
            Device::Pc => {
                let body = self.send(self.merchant.precreate(&order, r.now)?).await?;
                Ok(PaymentAction::Qr { content: self.merchant.parse_precreate(r.out_trade_no.as_str(), &body)? })
            }
            // Inside WeChat as on any phone (the page tells the student to open a browser).
            Device::Phone | Device::Wechat => match self.merchant.wap_pay(&order, &self.quit_url, r.now)?.delivery {
                alipay::Delivery::Redirect { url } => Ok(PaymentAction::Redirect { url }),
                alipay::Delivery::Post { .. } => Err(GatewayError::Malformed("wap pay must redirect".into()).into()),
            },
        }
    }

    async fn query(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<TradeState, CallError> {
        let no = &trade.out_trade_no;
        let body = self.send(self.merchant.query(no.as_str(), now)?).await?;
        Ok(match self.merchant.parse_query(no.as_str(), &body)? {
            alipay::TradeState::NotFound => TradeState::NotFound,
            alipay::TradeState::WaitBuyerPay => TradeState::Pending,
            alipay::TradeState::Paid { trade_no, total, paid_at } => {
                TradeState::Paid { gateway_trade_no: trade_no, amount: total, paid_at: paid_at.unwrap_or(now) }
            }
            alipay::TradeState::Closed => TradeState::Closed,
        })
    }

    async fn close(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<Closing, CallError> {
        let no = &trade.out_trade_no;
        let body = self.send(self.merchant.close(no.as_str(), now)?).await?;
        match self.merchant.parse_close(no.as_str(), &body)? {
            alipay::CloseOutcome::Closed | alipay::CloseOutcome::NotExist => Ok(Closing::Closed),
            // Paid or otherwise not closable: the caller's query decides.
            alipay::CloseOutcome::NotClosable { .. } => Ok(Closing::Closed),
        }
    }

    fn verify_notification(&self, _: &::http::HeaderMap, body: &[u8], _: DateTime<Utc>) -> Result<Notice, GatewayError> {
        let unchecked = self.merchant.verify_notification(body)?;
        Ok(Notice { raw: String::from_utf8_lossy(body).into_owned(), about: About::Payment(Box::new(unchecked)) })
    }
    fn answer(&self, verdict: Verdict) -> Answer {
        super::notice::answer(verdict)
    }

    /// `alipay.trade.refund`; an ambiguous `fund_change=N` is settled by a query at once (§1.9.4).
    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let no = r.out_trade_no.as_str();
        let req = self.merchant.refund(no, &r.refund_no, r.amount, r.reason.as_deref(), now)?;
        let body = self.send(req).await?;
        match self.merchant.parse_refund(no, &body)? {
            RefundOutcome::Pending => match self.query_refund(r, now).await? {
                // Just asked for and not listed yet: still pending, never "send again" here.
                RefundOutcome::NotFound => Ok(RefundOutcome::Pending),
                other => Ok(other),
            },
            other => Ok(other),
        }
    }
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let no = r.out_trade_no.as_str();
        let body = self.send(self.merchant.refund_query(no, &r.refund_no, now)?).await?;
        Ok(self.merchant.parse_refund_query(no, &r.refund_no, &body)?)
    }
    /// The day's bill: the signed download-URL query, then a plain GET of the (short-lived) URL.
    async fn statement(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<Statement, CallError> {
        let text = self.send(self.merchant.bill_download_url(day, now)).await?;
        let Some(download) = self.merchant.parse_bill_download_url(&text)? else {
            return Ok(Statement::empty(Channel::Alipay, day));
        };
        let resp = self.http.get(download).send().await.map_err(transport)?;
        if !resp.status().is_success() {
            return Err(GatewayError::Refused { code: format!("HTTP_{}", resp.status().as_u16()), message: "bill download".into() }.into());
        }
        Ok(super::statement::parse_bill_zip(day, &bytes(resp).await?)?)
    }
}
