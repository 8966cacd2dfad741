//! Downloading each gateway's daily statement over HTTP: the signed request built and the
//! answer verified by the protocol module (`<gateway>::statement`), with the shared `reqwest`
//! client of [`super::clients`]. The `PaymentGateway::statement` of each client calls here.

use super::statement::Statement;
use super::{CallError, GatewayError, alipay, unionpay, wechat};
use crate::domain::Channel;
use chrono::{DateTime, NaiveDate, Utc};

fn transport(e: reqwest::Error) -> CallError {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "http"
    };
    CallError::Transport(kind.to_owned())
}

async fn bytes(resp: reqwest::Response) -> Result<Vec<u8>, CallError> {
    Ok(resp.bytes().await.map_err(transport)?.to_vec())
}

/// Alipay: the signed download-URL query, then a plain GET of the (short-lived) URL.
pub async fn alipay(m: &alipay::Merchant, http: &reqwest::Client, day: NaiveDate, now: DateTime<Utc>) -> Result<Statement, CallError> {
    let req = m.bill_download_url(day, now);
    let alipay::Delivery::Post { url, body } = req.delivery else {
        return Err(GatewayError::Malformed("the bill query is a POST".into()).into());
    };
    let resp = http.post(url).header("content-type", alipay::FORM_CONTENT_TYPE).body(body).send().await.map_err(transport)?;
    let text = resp.text().await.map_err(transport)?;
    let Some(download) = m.parse_bill_download_url(&text)? else {
        return Ok(Statement::empty(Channel::Alipay, day));
    };
    let resp = http.get(download).send().await.map_err(transport)?;
    if !resp.status().is_success() {
        return Err(GatewayError::Refused { code: format!("HTTP_{}", resp.status().as_u16()), message: "bill download".into() }.into());
    }
    Ok(alipay::statement::parse_bill_zip(day, &bytes(resp).await?)?)
}

async fn wechat_send(
    http: &reqwest::Client,
    api_base: &str,
    req: wechat::SignedRequest,
) -> Result<(u16, wechat::Headers, Vec<u8>), CallError> {
    let mut builder = http.get(format!("{api_base}{}", req.path));
    for (k, v) in req.headers.iter() {
        builder = builder.header(k, v);
    }
    let resp = builder.send().await.map_err(transport)?;
    let status = resp.status().as_u16();
    let headers = wechat::Headers::from_http(resp.headers());
    Ok((status, headers, bytes(resp).await?))
}

/// WeChat Pay: the signed tradebill call, then the signed download checked by its SHA-1.
pub async fn wechat(
    m: &wechat::Merchant,
    http: &reqwest::Client,
    api_base: &str,
    day: NaiveDate,
    now: DateTime<Utc>,
) -> Result<Statement, CallError> {
    let (status, headers, body) = wechat_send(http, api_base, m.trade_bill(day, &wechat::Stamp::fresh(now))?).await?;
    let Some(link) = m.parse_trade_bill(status, &headers, &body, now)? else {
        return Ok(Statement::empty(Channel::Wechat, day));
    };
    let (status, _, file) = wechat_send(http, api_base, m.bill_download(&link, api_base, &wechat::Stamp::fresh(now))?).await?;
    if status != 200 {
        return Err(GatewayError::Refused { code: format!("HTTP_{status}"), message: "bill download".into() }.into());
    }
    Ok(wechat::statement::parse_downloaded(day, &link, &file)?)
}

/// UnionPay: the signed file-transfer form; the file comes inside the signed answer.
pub async fn unionpay(m: &unionpay::Merchant, http: &reqwest::Client, day: NaiveDate, now: DateTime<Utc>) -> Result<Statement, CallError> {
    let form = m.file_transfer(day, now)?;
    let resp =
        http.post(&form.url).header("content-type", unionpay::FORM_CONTENT_TYPE).body(form.body()).send().await.map_err(transport)?;
    let body = bytes(resp).await?;
    let Some(file) = m.parse_file_transfer(&body, now)? else {
        return Ok(Statement::empty(Channel::Unionpay, day));
    };
    Ok(unionpay::statement::parse_settlement_zip(day, m.mer_id(), &file.zip)?)
}
