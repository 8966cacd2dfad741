//! Our local Alipay (§5): verifies the platform's requests with the app public key, signs
//! responses and notifications with its own "Alipay" private key (a test key, never a real one).

use super::{
    CODE_SUCCESS, PrivateKey, PublicKey, SIGN_TYPE, charset_encoding, format_time, malformed, notification_content, response_node_name,
    rsa2_sign, rsa2_sign_bytes, rsa2_verify, sign_content, signature_of,
};
use crate::domain::Fen;
use crate::{GatewayError, form};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::fmt;

/// Sandbox configuration: the one app it serves and its own "Alipay" key.
#[derive(Clone, Deserialize)]
pub struct SandboxSettings {
    pub app_id: String,
    pub seller_id: String,
    /// The platform's app public key: SPKI PEM or bare Base64.
    pub app_public_key: String,
    /// The sandbox's "Alipay" private key: PKCS#1/PKCS#8 PEM or bare Base64 PKCS#8.
    pub alipay_private_key: String,
}

impl fmt::Debug for SandboxSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxSettings").field("app_id", &self.app_id).field("seller_id", &self.seller_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct Sandbox {
    app_id: String,
    seller_id: String,
    app_key: PublicKey,
    key: PrivateKey,
}

/// A request whose signature verified against the app public key (§1.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// e.g. `alipay.trade.precreate`; see [`super::Method::from_name`].
    pub method: String,
    /// `biz_content`, parsed (empty when absent).
    pub biz: Map<String, Value>,
    /// Every parameter, URL query and form body merged, `sign` included.
    pub params: BTreeMap<String, String>,
}

/// A paid trade, for [`Sandbox::paid_notification`] (§1.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaidTrade<'a> {
    pub out_trade_no: &'a str,
    pub trade_no: &'a str,
    /// The same for every retry of one notification.
    pub notify_id: &'a str,
    pub subject: &'a str,
    pub total: Fen,
    pub created_at: DateTime<Utc>,
    pub paid_at: DateTime<Utc>,
    pub notified_at: DateTime<Utc>,
}

impl Sandbox {
    pub fn new(s: &SandboxSettings) -> Result<Self, GatewayError> {
        if s.app_id.trim().is_empty() || s.seller_id.trim().is_empty() {
            return Err(GatewayError::Key("sandbox app_id and seller_id are required".into()));
        }
        Ok(Self {
            app_id: s.app_id.trim().to_owned(),
            seller_id: s.seller_id.trim().to_owned(),
            app_key: PublicKey::parse(&s.app_public_key)?,
            key: PrivateKey::parse(&s.alipay_private_key)?,
        })
    }

    pub fn app_id(&self) -> &str {
        &self.app_id
    }
    pub fn seller_id(&self) -> &str {
        &self.seller_id
    }

    /// Verifies a request to `/gateway.do`, GET or POST: `query` is the raw query string (after
    /// `?`), `body` the form body (empty for GET). Parameters may come in either; one given in
    /// both is refused as ambiguous. The signature covers all of them but `sign` (§1.3, §5).
    pub fn verify_request(&self, query: &[u8], body: &[u8]) -> Result<IncomingRequest, GatewayError> {
        let bad_form = |e: String| GatewayError::Malformed(format!("request: {e}"));
        let mut params = form::parse(query).map_err(bad_form)?;
        for (k, v) in form::parse(body).map_err(bad_form)? {
            if params.insert(k, v).is_some() {
                return Err(malformed("request gives a parameter in both the URL and the body"));
            }
        }
        rsa2_verify(&sign_content(&params), signature_of(&params)?, &self.app_key)?;
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        if get("app_id") != Some(self.app_id.as_str()) {
            return Err(malformed("request app_id is not the sandbox's app"));
        }
        if get("charset").is_some_and(|c| charset_encoding(c) != Some(encoding_rs::UTF_8)) {
            return Err(malformed("request charset is not UTF-8"));
        }
        let method = get("method").ok_or_else(|| malformed("request has no method"))?.to_owned();
        let biz = match get("biz_content") {
            Some(text) => serde_json::from_str(text).map_err(|_| malformed("biz_content is not a JSON object"))?,
            None => Map::new(),
        };
        Ok(IncomingRequest { method, biz, params })
    }

    /// A signed response body: the node text is emitted once, signed, and spliced verbatim as
    /// `{"<method>_response":<node>,"sign":"…"}` (§1.4, §5).
    pub fn response(&self, method: &str, node: &Value) -> String {
        let text = node.to_string();
        let sign = rsa2_sign(&text, &self.key);
        let name = Value::String(response_node_name(method));
        format!("{{{name}:{text},\"sign\":\"{sign}\"}}")
    }

    /// `{"code":"10000","msg":"Success", …fields}`.
    pub fn success(fields: Map<String, Value>) -> Value {
        let mut node = Map::new();
        node.insert("code".into(), CODE_SUCCESS.into());
        node.insert("msg".into(), "Success".into());
        node.extend(fields);
        Value::Object(node)
    }

    /// `{"code":"40004","msg":"Business Failed","sub_code":…,"sub_msg":…}` (§1.4).
    pub fn business_error(sub_code: &str, sub_msg: &str) -> Value {
        serde_json::json!({"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg})
    }

    /// Signs form parameters under the V1 rules (§1.7): sets `sign_type=RSA2` and `sign` over
    /// all other non-empty fields. For notifications and return-URL redirects.
    pub fn sign_v1(&self, mut params: BTreeMap<String, String>) -> BTreeMap<String, String> {
        params.remove("sign");
        params.insert("sign_type".into(), SIGN_TYPE.into());
        let sign = rsa2_sign(&notification_content(&params), &self.key);
        params.insert("sign".into(), sign);
        params
    }

    /// [`Self::paid_notification`] as Alipay sends it to an app whose charset is GBK: the
    /// fields in GBK, signed over their GBK bytes, percent-encoded byte by byte, `charset=GBK`.
    pub fn paid_notification_gbk(&self, trade: &PaidTrade<'_>) -> String {
        let mut params = form::parse(self.paid_notification(trade).as_bytes()).expect("our own form");
        params.retain(|k, _| k != "sign" && k != "sign_type");
        params.insert("charset".into(), "GBK".into());
        params.insert("sign_type".into(), SIGN_TYPE.into());
        let gbk = |s: &str| encoding_rs::GBK.encode(s).0.into_owned();
        let sign = rsa2_sign_bytes(&gbk(&notification_content(&params)), &self.key);
        params.insert("sign".into(), sign);
        let pairs: Vec<String> =
            params.iter().map(|(k, v)| format!("{}={}", form::percent_encode(&gbk(k)), form::percent_encode(&gbk(v)))).collect();
        pairs.join("&")
    }

    /// The form body of a signed `TRADE_SUCCESS` notification, to POST to the app's
    /// `notify_url` with [`super::FORM_CONTENT_TYPE`] (§1.7, §5).
    pub fn paid_notification(&self, trade: &PaidTrade<'_>) -> String {
        let amount = trade.total.to_string();
        let times = [trade.created_at, trade.paid_at, trade.notified_at].map(format_time);
        let fields = [
            ("app_id", self.app_id.as_str()),
            ("auth_app_id", self.app_id.as_str()),
            ("buyer_pay_amount", &amount),
            ("charset", "utf-8"),
            ("gmt_create", &times[0]),
            ("gmt_payment", &times[1]),
            ("notify_id", trade.notify_id),
            ("notify_time", &times[2]),
            ("notify_type", "trade_status_sync"),
            ("out_trade_no", trade.out_trade_no),
            ("receipt_amount", &amount),
            ("seller_id", self.seller_id.as_str()),
            ("subject", trade.subject),
            ("total_amount", &amount),
            ("trade_no", trade.trade_no),
            ("trade_status", "TRADE_SUCCESS"),
            ("version", "1.0"),
        ];
        let params = fields.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        let signed = self.sign_v1(params);
        form::encode(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}
