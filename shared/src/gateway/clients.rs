//! The gateways over HTTP: each protocol module's signed requests sent with one shared
//! `reqwest` client (built once per cold start), answers parsed and verified by the module.

use super::{
    CallError, Closing, Device, GatewayError, PaymentAction, PaymentGateway, RefundOutcome, RefundRequest, StartRequest, TradeRef,
    TradeState, alipay, unionpay, wechat,
};

/// Refunds over HTTP.
mod refund;
use crate::domain::{Channel, OutTradeNo};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

use std::time::Duration;

/// One HTTP client for every gateway: short timeouts (a Lambda must answer within seconds; an
/// unanswered call is resolved later by query, never by guessing).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().connect_timeout(Duration::from_secs(3)).timeout(Duration::from_secs(8)).build().expect("HTTP client")
}

fn transport(e: reqwest::Error) -> CallError {
    // The error's URL may carry signed parameters; keep only what kind of failure it was.
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "http"
    };
    CallError::Transport(kind.to_owned())
}

/// Alipay: `alipay.trade.precreate` on a PC (QR), `alipay.trade.wap.pay` on a phone (redirect).
pub struct AlipayGateway {
    merchant: alipay::Merchant,
    http: reqwest::Client,
    /// Where the wap cashier sends a student who gives up.
    quit_url: String,
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
        let order = alipay::OrderRequest {
            out_trade_no: r.out_trade_no.as_str(),
            amount: r.amount,
            subject: &r.subject,
            time_expire: r.expires_at,
        };
        match r.device {
            Device::Pc => {
                let body = self.send(self.merchant.precreate(&order, r.now)?).await?;
                Ok(PaymentAction::Qr { content: self.merchant.parse_precreate(r.out_trade_no.as_str(), &body)? })
            }
            Device::Phone => match self.merchant.wap_pay(&order, &self.quit_url, r.now)?.delivery {
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

    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.send_refund(r, now).await
    }
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.ask_refund(r, now).await
    }
    async fn statement(&self, day: chrono::NaiveDate, now: DateTime<Utc>) -> Result<super::statement::Statement, CallError> {
        super::statements::alipay(&self.merchant, &self.http, day, now).await
    }
}

/// WeChat Pay APIv3: Native (`code_url` QR) on a PC, H5 (`h5_url`) on a phone.
pub struct WechatGateway {
    merchant: wechat::Merchant,
    http: reqwest::Client,
    /// `https://api.mch.weixin.qq.com`, or the local sandbox.
    api_base: String,
    /// Where the H5 cashier sends the browser back to (our order page); the attempt's
    /// out-trade-no is added as `?out_trade_no=`.
    h5_return_url: Option<String>,
}

impl WechatGateway {
    pub fn new(merchant: wechat::Merchant, http: reqwest::Client, api_base: impl Into<String>, h5_return_url: Option<String>) -> Self {
        Self { merchant, http, api_base: api_base.into().trim_end_matches('/').to_owned(), h5_return_url }
    }

    /// `h5_url` + `&redirect_url=…` (WeChat Pay keeps the parameter and returns the browser there).
    fn with_redirect(&self, h5_url: String, no: &OutTradeNo) -> String {
        match &self.h5_return_url {
            Some(base) => {
                let back = format!("{base}?out_trade_no={no}");
                let sep = if h5_url.contains('?') { '&' } else { '?' };
                let encoded: String = form_urlencoded::byte_serialize(back.as_bytes()).collect();
                format!("{h5_url}{sep}redirect_url={encoded}")
            }
            None => h5_url,
        }
    }

    async fn send(&self, req: wechat::SignedRequest) -> Result<(u16, wechat::Headers, Vec<u8>), CallError> {
        let url = format!("{}{}", self.api_base, req.path);
        let mut builder = match req.method {
            "GET" => self.http.get(url),
            _ => self.http.post(url).header("content-type", "application/json").body(req.body),
        };
        for (k, v) in req.headers.iter() {
            builder = builder.header(k, v);
        }
        let resp = builder.send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let headers = wechat::Headers::from_http(resp.headers());
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        Ok((status, headers, body))
    }
}

#[async_trait]
impl PaymentGateway for WechatGateway {
    fn channel(&self) -> Channel {
        Channel::Wechat
    }

    async fn start(&self, r: &StartRequest) -> Result<PaymentAction, CallError> {
        let order =
            wechat::OrderRequest { out_trade_no: &r.out_trade_no, amount: r.amount, description: &r.subject, time_expire: r.expires_at };
        let stamp = wechat::Stamp::fresh(r.now);
        let req = match r.device {
            Device::Pc => self.merchant.native_order(&order, &stamp)?,
            Device::Phone => {
                let ip = r.client_ip.parse().unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
                self.merchant.h5_order(&order, ip, &stamp)?
            }
        };
        let (status, headers, body) = self.send(req).await?;
        let url = self.merchant.parse_order_response(status, &headers, &body, r.now)?;
        Ok(match r.device {
            Device::Pc => PaymentAction::Qr { content: url },
            Device::Phone => PaymentAction::Redirect { url: self.with_redirect(url, &r.out_trade_no) },
        })
    }

    async fn query(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<TradeState, CallError> {
        let no = &trade.out_trade_no;
        let (status, headers, body) = self.send(self.merchant.query_order(no, &wechat::Stamp::fresh(now))?).await?;
        Ok(self.merchant.parse_query_response(no, status, &headers, &body, now)?)
    }

    async fn close(&self, trade: &TradeRef, now: DateTime<Utc>) -> Result<Closing, CallError> {
        let no = &trade.out_trade_no;
        let (status, headers, body) = self.send(self.merchant.close_order(no, &wechat::Stamp::fresh(now))?).await?;
        // Closed, or nothing to close (ORDERPAID, ORDER_CLOSED, ORDER_NOT_EXIST): the caller's
        // query decides. Any other answer is an error and the attempt stays open.
        self.merchant.parse_close_response(status, &headers, &body, now)?;
        Ok(Closing::Closed)
    }

    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.send_refund(r, now).await
    }
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.ask_refund(r, now).await
    }
    async fn statement(&self, day: chrono::NaiveDate, now: DateTime<Utc>) -> Result<super::statement::Statement, CallError> {
        super::statements::wechat(&self.merchant, &self.http, &self.api_base, day, now).await
    }
}

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

    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.send_refund(r, now).await
    }
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        self.ask_refund(r, now).await
    }
    async fn statement(&self, day: chrono::NaiveDate, now: DateTime<Utc>) -> Result<super::statement::Statement, CallError> {
        super::statements::unionpay(&self.merchant, &self.http, day, now).await
    }
}

/// The QR code for `content` as an SVG image (for the PC cashier).
pub fn qr_svg(content: &str) -> Option<String> {
    let code = qrcode::QrCode::new(content.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color<'_>>().min_dimensions(220, 220).quiet_zone(true).build())
}
