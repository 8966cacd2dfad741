//! Paying inside WeChat's own browser (JSAPI, 公众号支付), as the official SDKs do it:
//!
//! 1. the payer's `openid` for our official account (`appid`) by the silent OAuth of
//!    `snsapi_base`: the browser goes to `open.weixin.qq.com/connect/oauth2/authorize`, WeChat
//!    sends it back to our `redirect_uri` with a one-time `code`, and we exchange the code at
//!    `api.weixin.qq.com/sns/oauth2/access_token` (with the account's AppSecret) for the openid;
//! 2. `POST /v3/pay/transactions/jsapi` with `payer.openid` → `prepay_id`;
//! 3. the page calls `WeixinJSBridge.invoke('getBrandWCPayRequest', params, cb)` with `appId`,
//!    `timeStamp`, `nonceStr`, `package=prepay_id=…`, `signType=RSA` and `paySign` =
//!    SHA256withRSA with the merchant key over `appId\ntimeStamp\nnonceStr\npackage\n`
//!    (wechatpay-go `services/payments/jsapi` `PrepayWithRequestPayment`; wechatpay-java
//!    `JsapiServiceExtension.prepayWithRequestPayment`). The bridge answers
//!    `get_brand_wcpay_request:ok|cancel|fail`; only the notification or a query says paid.

use super::*;

pub const DEFAULT_OAUTH_BASE: &str = "https://open.weixin.qq.com";
pub const DEFAULT_SNS_BASE: &str = "https://api.weixin.qq.com";

fn default_oauth_base() -> String {
    DEFAULT_OAUTH_BASE.into()
}
fn default_sns_base() -> String {
    DEFAULT_SNS_BASE.into()
}

/// JSAPI settings of the official account whose `appid` is the merchant's.
#[derive(Clone, Deserialize)]
pub struct JsapiSettings {
    /// The official account's AppSecret, for `sns/oauth2/access_token`.
    pub app_secret: String,
    /// Where OAuth's authorize page is (`https://open.weixin.qq.com`, or a sandbox).
    #[serde(default = "default_oauth_base")]
    pub oauth_base: String,
    /// Where `sns/oauth2/access_token` is (`https://api.weixin.qq.com`, or a sandbox).
    #[serde(default = "default_sns_base")]
    pub sns_base: String,
}

impl fmt::Debug for JsapiSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsapiSettings {{ oauth_base: {:?}, sns_base: {:?}, <app_secret redacted> }}", self.oauth_base, self.sns_base)
    }
}

/// The validated JSAPI settings.
#[derive(Clone)]
pub(super) struct Jsapi {
    app_secret: String,
    oauth_base: String,
    sns_base: String,
}

impl fmt::Debug for Jsapi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Jsapi { <redacted> }")
    }
}

impl Jsapi {
    pub(super) fn new(s: &JsapiSettings) -> Result<Self, GatewayError> {
        let base = |what: &str, v: &str| {
            let v = v.trim().trim_end_matches('/');
            let ok = (v.starts_with("https://") || v.starts_with("http://")) && !v.contains(['?', '#']);
            ok.then(|| v.to_owned()).ok_or_else(|| GatewayError::Key(format!("jsapi.{what} must be an http(s) URL without query")))
        };
        let secret = s.app_secret.trim();
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GatewayError::Key("jsapi.app_secret must be the official account's AppSecret (letters/digits)".into()));
        }
        Ok(Self { app_secret: secret.to_owned(), oauth_base: base("oauth_base", &s.oauth_base)?, sns_base: base("sns_base", &s.sns_base)? })
    }
}

/// The signed parameters of `WeixinJSBridge.invoke('getBrandWCPayRequest', …)`, named as the
/// bridge takes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsapiParams {
    #[serde(rename = "appId")]
    pub app_id: String,
    /// Unix seconds, as a string.
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    /// `prepay_id=…`.
    pub package: String,
    /// `RSA`.
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

impl JsapiParams {
    /// What `paySign` covers: `appId\ntimeStamp\nnonceStr\npackage\n`.
    pub fn message(&self) -> String {
        format!("{}\n{}\n{}\n{}\n", self.app_id, self.time_stamp, self.nonce_str, self.package)
    }

    /// The `prepay_id` its `package` names.
    pub fn prepay_id(&self) -> Option<&str> {
        self.package.strip_prefix("prepay_id=").filter(|p| !p.is_empty())
    }
}

/// The token answer of `sns/oauth2/access_token` (only what we read; the token itself is not
/// kept: `snsapi_base` gives nothing else to ask for).
#[derive(Deserialize)]
struct TokenAnswer {
    openid: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

#[derive(Deserialize)]
struct Prepaid {
    prepay_id: String,
}

/// An OAuth `code` or an `openid`: 1–128 of `[A-Za-z0-9_-]`.
fn is_token(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn encoded(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Merchant {
    fn jsapi(&self) -> Result<&Jsapi, GatewayError> {
        self.jsapi.as_ref().ok_or_else(|| GatewayError::Key("JSAPI is not configured (jsapi settings)".into()))
    }

    /// Whether paying inside WeChat (JSAPI) is configured.
    pub fn jsapi_enabled(&self) -> bool {
        self.jsapi.is_some()
    }

    /// Where to send the browser for the payer's openid (silent `snsapi_base` OAuth); WeChat
    /// comes back to `redirect_uri?code=…&state=…`.
    pub fn oauth_authorize_url(&self, redirect_uri: &str, state: &str) -> Result<String, GatewayError> {
        let j = self.jsapi()?;
        if !(redirect_uri.starts_with("https://") || redirect_uri.starts_with("http://")) || !is_token(state) {
            return Err(GatewayError::Malformed("OAuth needs an http(s) redirect_uri and a plain state".into()));
        }
        Ok(format!(
            "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope=snsapi_base&state={state}#wechat_redirect",
            j.oauth_base,
            self.appid,
            encoded(redirect_uri)
        ))
    }

    /// The `GET` URL exchanging an OAuth `code` for the openid. It carries the AppSecret: never
    /// log it.
    pub fn oauth_token_url(&self, code: &str) -> Result<String, GatewayError> {
        let j = self.jsapi()?;
        if !is_token(code) {
            return Err(GatewayError::Malformed("OAuth code is not a code".into()));
        }
        Ok(format!(
            "{}/sns/oauth2/access_token?appid={}&secret={}&code={code}&grant_type=authorization_code",
            j.sns_base, self.appid, j.app_secret
        ))
    }

    /// The openid of a token answer; an `errcode` (40029 invalid code, 40163 code used, …)
    /// refuses.
    pub fn parse_oauth_token(&self, body: &[u8]) -> Result<String, GatewayError> {
        let a: TokenAnswer = json(body)?;
        match (a.errcode.filter(|c| *c != 0), a.openid) {
            (None, Some(openid)) if is_token(&openid) => Ok(openid),
            (Some(code), _) => Err(GatewayError::Refused { code: code.to_string(), message: a.errmsg.unwrap_or_default() }),
            _ => Err(GatewayError::Malformed("OAuth answer has no openid".into())),
        }
    }

    /// `POST /v3/pay/transactions/jsapi` for the payer `openid` of our `appid`; the answer
    /// carries `prepay_id`.
    pub fn jsapi_order(&self, order: &OrderRequest<'_>, openid: &str, stamp: &Stamp) -> Result<SignedRequest, GatewayError> {
        if !is_token(openid) {
            return Err(GatewayError::Malformed("payer openid".into()));
        }
        let body = self.order_body(order, None, Some(openid))?;
        self.signed("POST", "/v3/pay/transactions/jsapi".into(), body, stamp)
    }

    /// The `prepay_id` of a verified JSAPI order answer.
    pub fn parse_prepay_response(&self, status: u16, headers: &Headers, body: &[u8], now: DateTime<Utc>) -> Result<String, GatewayError> {
        self.answer(status, headers, body, now)?;
        let p: Prepaid = json(body)?;
        is_token(&p.prepay_id).then_some(p.prepay_id).ok_or_else(|| GatewayError::Malformed("prepay_id".into()))
    }

    /// The bridge parameters for `prepay_id`, signed with the merchant key at `timestamp`.
    pub fn jsapi_params(&self, prepay_id: &str, timestamp: i64, nonce: &str) -> Result<JsapiParams, GatewayError> {
        if !is_token(prepay_id) || nonce.is_empty() || !nonce.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(GatewayError::Malformed("prepay_id and nonce".into()));
        }
        let mut p = JsapiParams {
            app_id: self.appid.clone(),
            time_stamp: timestamp.to_string(),
            nonce_str: nonce.to_owned(),
            package: format!("prepay_id={prepay_id}"),
            sign_type: "RSA".into(),
            pay_sign: String::new(),
        };
        p.pay_sign = self.key.sign(p.message().as_bytes())?;
        Ok(p)
    }
}
