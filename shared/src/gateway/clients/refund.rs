//! Refunds over HTTP, one gateway each: the protocol modules sign and parse, this sends.

use super::*;

impl AlipayGateway {
    /// `alipay.trade.refund`; an ambiguous `fund_change=N` is settled by a query at once (§1.9.4).
    pub(super) async fn send_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let no = r.out_trade_no.as_str();
        let req = self.merchant.refund(no, &r.refund_no, r.amount, r.reason.as_deref(), now)?;
        let body = self.send(req).await?;
        match self.merchant.parse_refund(no, &body)? {
            RefundOutcome::Pending => match self.ask_refund(r, now).await? {
                // Just asked for and not listed yet: still pending, never "send again" here.
                RefundOutcome::NotFound => Ok(RefundOutcome::Pending),
                other => Ok(other),
            },
            other => Ok(other),
        }
    }

    pub(super) async fn ask_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let no = r.out_trade_no.as_str();
        let body = self.send(self.merchant.refund_query(no, &r.refund_no, now)?).await?;
        Ok(self.merchant.parse_refund_query(no, &r.refund_no, &body)?)
    }
}

impl WechatGateway {
    /// `POST /v3/refund/domestic/refunds`: usually `PROCESSING`; the result comes by
    /// notification (to the payments' notify URL) or query.
    pub(super) async fn send_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let req =
            self.merchant.refund(&r.out_trade_no, &r.refund_no, r.amount, r.amount, r.reason.as_deref(), &wechat::Stamp::fresh(now))?;
        let (status, headers, body) = self.send(req).await?;
        Ok(self.merchant.parse_refund_response(&r.refund_no, status, &headers, &body, now)?)
    }

    pub(super) async fn ask_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let (status, headers, body) = self.send(self.merchant.query_refund(&r.refund_no, &wechat::Stamp::fresh(now))?).await?;
        Ok(self.merchant.parse_refund_response(&r.refund_no, status, &headers, &body, now)?)
    }
}

impl UnionpayGateway {
    pub(super) async fn post_form(&self, form: unionpay::SignedForm) -> Result<Vec<u8>, CallError> {
        let resp = self
            .http
            .post(&form.url)
            .header("content-type", unionpay::FORM_CONTENT_TYPE)
            .body(form.body())
            .send()
            .await
            .map_err(transport)?;
        Ok(resp.bytes().await.map_err(transport)?.to_vec())
    }

    /// `backTransReq.do`, `txnType=04`, `txnTime` = when the refund was first asked for.
    pub(super) async fn send_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let txn_time = unionpay::format_time(r.requested_at);
        let form = self.merchant.refund(&r.refund_no, &r.gateway_trade_no, r.amount, &txn_time)?;
        let body = self.post_form(form).await?;
        Ok(self.merchant.parse_refund_response(&r.refund_no, &txn_time, &body, now)?)
    }

    pub(super) async fn ask_refund(&self, r: &RefundRequest, now: DateTime<Utc>) -> Result<RefundOutcome, CallError> {
        let txn_time = unionpay::format_time(r.requested_at);
        let body = self.post_form(self.merchant.query_refund(&r.refund_no, &txn_time)?).await?;
        Ok(self.merchant.parse_refund_query(&r.refund_no, &txn_time, &body, now)?)
    }
}
