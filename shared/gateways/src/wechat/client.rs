//! WeChat Pay APIv3 over HTTP: the protocol module's signed requests sent with the shared
//! `reqwest` client, answers parsed and verified by the module.

use crate::domain::{Channel, OutTradeNo};
use crate::net::{bytes, transport};
use crate::notice::{Answer, Notice, Verdict};
use crate::statement::Statement;
use crate::wechat;
use crate::wechat::statement::BillAnswer;
use crate::{
    CallError, Closing, Device, GatewayError, PaymentAction, PaymentGateway, RefundOutcome, RefundRequest, StartRequest, TradeRef,
    TradeState,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

/// WeChat Pay APIv3: Native (`code_url` QR) on a PC, H5 (`h5_url`) on a phone, JSAPI inside
/// WeChat (when configured; else the Native QR there too).
pub struct WechatGateway {
    merchant: wechat::Merchant,
    http: reqwest::Client,
    /// `https://api.mch.weixin.qq.com`, or the local sandbox.
    api_base: String,
    /// Where the H5 cashier sends the browser back to (our order page); the attempt's
    /// out-trade-no is added as `?out_trade_no=`.
    h5_return_url: Option<String>,
}

/// The WeChat Pay settings JSON ([`crate::REGISTRY`]): the merchant's, plus the API base
/// (`api_base`, default `https://api.mch.weixin.qq.com`; a sandbox's elsewhere).
#[derive(serde::Deserialize)]
struct Settings {
    #[serde(flatten)]
    merchant: wechat::MerchantSettings,
    #[serde(default = "default_api_base")]
    api_base: String,
}

fn default_api_base() -> String {
    "https://api.mch.weixin.qq.com".into()
}

/// Builds the gateway from its settings JSON; the H5 cashier returns to our order page
/// ([`crate::Registration::build`]).
pub fn configure(json: &str, w: &crate::Wiring) -> Result<crate::Gateway, GatewayError> {
    let s: Settings = crate::settings_json(json)?;
    Ok(std::sync::Arc::new(WechatGateway::new(wechat::Merchant::new(&s.merchant)?, w.http.clone(), s.api_base, w.order_page.clone())))
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
        Ok((status, headers, bytes(resp).await?))
    }
}

#[async_trait]
impl PaymentGateway for WechatGateway {
    fn channel(&self) -> Channel {
        Channel::Wechat
    }
    /// H5 (`/v3/pay/transactions/h5`) requires `scene_info.payer_client_ip`, the payer's own.
    fn needs_client_ip(&self, device: Device) -> bool {
        device == Device::Phone
    }

    /// Inside WeChat with JSAPI configured: the payer's openid first.
    fn needs_payer(&self, device: Device) -> bool {
        device == Device::Wechat && self.merchant.jsapi_enabled()
    }

    /// The silent `snsapi_base` OAuth of our official account.
    fn payer_authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String, GatewayError> {
        self.merchant.oauth_authorize_url(redirect_uri, state)
    }

    async fn payer_from_code(&self, code: &str) -> Result<String, CallError> {
        // The URL carries the AppSecret: transport errors never repeat it (net::transport).
        let resp = self.http.get(self.merchant.oauth_token_url(code)?).send().await.map_err(transport)?;
        Ok(self.merchant.parse_oauth_token(&bytes(resp).await?)?)
    }

    async fn start(&self, r: &StartRequest) -> Result<PaymentAction, CallError> {
        let order =
            wechat::OrderRequest { out_trade_no: &r.out_trade_no, amount: r.amount, subject: &r.subject, time_expire: r.expires_at };
        let stamp = wechat::Stamp::fresh(r.now);
        // Inside WeChat without JSAPI configured: the Native QR code, to long-press.
        let jsapi = r.device == Device::Wechat && self.merchant.jsapi_enabled();
        let req = match r.device {
            Device::Wechat if jsapi => {
                let openid = r.payer.as_deref().ok_or_else(|| GatewayError::Malformed("JSAPI needs the payer's openid".into()))?;
                self.merchant.jsapi_order(&order, openid, &stamp)?
            }
            Device::Pc | Device::Wechat => self.merchant.native_order(&order, &stamp)?,
            Device::Phone => {
                // H5's scene_info.payer_client_ip must be the payer's: never a stand-in.
                let ip = r.client_ip.ok_or_else(|| GatewayError::Malformed("H5 needs the payer's IP address".into()))?;
                self.merchant.h5_order(&order, ip, &stamp)?
            }
        };
        let (status, headers, body) = self.send(req).await?;
        if jsapi {
            let prepay_id = self.merchant.parse_prepay_response(status, &headers, &body, r.now)?;
            let nonce = wechat::Stamp::fresh(r.now).nonce;
            return Ok(PaymentAction::Jsapi { params: self.merchant.jsapi_params(&prepay_id, r.now.timestamp(), &nonce)? });
        }
        let url = self.merchant.parse_order_response(status, &headers, &body, r.now)?;
        Ok(match r.device {
            Device::Pc | Device::Wechat => PaymentAction::Qr { content: url },
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

    fn verify_notification(&self, headers: &::http::HeaderMap, body: &[u8], now: DateTime<Utc>) -> Result<Notice, GatewayError> {
        let headers = wechat::Headers::from_http(headers);
        let about = super::notice::verify(&self.merchant, &headers, body, now)?;
        Ok(Notice { raw: super::notice::raw(&headers, body), about })
    }
    fn answer(&self, verdict: Verdict) -> Answer {
        super::notice::answer(verdict)
    }

    /// `POST /v3/refund/domestic/refunds`: usually `PROCESSING`; the result comes by
    /// notification (to the payments' notify URL) or query.
    async fn refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let req =
            self.merchant.refund(&r.out_trade_no, &r.refund_no, r.amount, r.amount, r.reason.as_deref(), &wechat::Stamp::fresh(now))?;
        let (status, headers, body) = self.send(req).await?;
        Ok(self.merchant.parse_refund_response(&r.refund_no, status, &headers, &body, now)?)
    }
    async fn query_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let (status, headers, body) = self.send(self.merchant.query_refund(&r.refund_no, &wechat::Stamp::fresh(now))?).await?;
        Ok(self.merchant.parse_refund_response(&r.refund_no, status, &headers, &body, now)?)
    }
    /// The day's trade bill: the signed tradebill call, then the signed download checked by its
    /// SHA-1.
    async fn statement(&self, day: NaiveDate, now: DateTime<Utc>) -> Result<Statement, CallError> {
        let m = &self.merchant;
        let (status, headers, body) = self.send(m.trade_bill(day, &wechat::Stamp::fresh(now))?).await?;
        let link = match m.parse_trade_bill(status, &headers, &body, now)? {
            BillAnswer::Bill(link) => link,
            BillAnswer::NoBill => return Ok(Statement::empty(Channel::Wechat, day)),
            BillAnswer::NoBillUnsigned => {
                let mut st = Statement::empty(Channel::Wechat, day);
                st.warning = Some("WeChat Pay's NO_STATEMENT_EXIST came unsigned: the day is taken as without trades".into());
                return Ok(st);
            }
        };
        let (status, _, file) = self.send(m.bill_download(&link, &self.api_base, &wechat::Stamp::fresh(now))?).await?;
        if status != 200 {
            return Err(GatewayError::Refused { code: format!("HTTP_{status}"), message: "bill download".into() }.into());
        }
        Ok(super::statement::parse_downloaded(day, &link, &file)?)
    }
}
