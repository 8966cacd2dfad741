//! 电子票据: what the payment transition needs to issue one, 票据查询 (a student's own receipts),
//! and the public link the receipt SMS carries.
//!
//! The link is `<PUBLIC_BASE_URL>/r/<token>`: 128 random bits made when the order is paid, of
//! which only the SHA-256 is stored (with the order it names and its expiry, issue time +
//! `RECEIPT_LINK_DAYS`). A token that was never issued — forged, or altered in any character —
//! finds nothing; an expired one finds its expiry. Either way no receipt data is shown. A random
//! stored token (rather than a signed one) needs no key in the functions that pay orders, and a
//! leaked table holds no working links.

use crate::app::App;
use crate::clock::beijing;
use crate::domain::{Attempt, Channel, ConfirmedPayment, Fen, LinkToken, OrderNo, PersonName, Receipt, ReceiptIssue, receipt};
use crate::error::AppError;
use crate::service::Authed;
use crate::service::orders::{OrderLineView, PAYEE};
use crate::store::{ReceiptStore, StoreError};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// An e-receipt as 票据查询 and the receipt page show it.
#[derive(Debug, Clone, Serialize)]
pub struct ReceiptView {
    pub receipt_no: String,
    pub check_code: String,
    pub order_no: String,
    pub student_no: String,
    pub payer_name: String,
    pub lines: Vec<OrderLineView>,
    pub total: Fen,
    /// 壹仟贰佰叁拾肆元伍角整
    pub total_capitals: String,
    pub payee: String,
    pub channel: Channel,
    pub channel_label: &'static str,
    pub gateway_trade_no: String,
    pub out_trade_no: String,
    pub paid_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// The printable page (needs the session).
    pub url: String,
    /// The payment was refunded (已退款).
    pub refunded: bool,
    pub refunded_at: Option<DateTime<Utc>>,
}

impl From<&Receipt> for ReceiptView {
    fn from(r: &Receipt) -> Self {
        Self {
            receipt_no: r.receipt_no.to_string(),
            check_code: r.check_code.clone(),
            order_no: r.order_no.to_string(),
            student_no: r.student_no.as_str().to_owned(),
            payer_name: r.payer_name.as_str().to_owned(),
            lines: r.lines.iter().map(OrderLineView::from).collect(),
            total: r.total,
            total_capitals: r.total_capitals(),
            payee: r.payee.clone(),
            channel: r.channel,
            channel_label: r.channel.label(),
            gateway_trade_no: r.gateway_trade_no.clone(),
            out_trade_no: r.out_trade_no.to_string(),
            paid_at: r.paid_at,
            issued_at: r.issued_at,
            url: format!("/receipts/{}", r.order_no),
            refunded: r.refunded_at.is_some(),
            refunded_at: r.refunded_at,
        }
    }
}

impl ReceiptView {
    /// `2026-11-26 16:30:05`, Beijing time, as printed on the receipt.
    pub fn paid_at_beijing(&self) -> String {
        self.paid_at.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
    }
    pub fn issued_at_beijing(&self) -> String {
        self.issued_at.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

/// Why a public receipt link shows no receipt.
#[derive(Debug, thiserror::Error)]
pub enum LinkRefused {
    /// Never issued: forged, altered, or not a token at all.
    #[error("unknown link")]
    Unknown,
    #[error("link expired")]
    Expired,
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for LinkRefused {
    fn from(e: StoreError) -> Self {
        LinkRefused::App(e.into())
    }
}

impl<S> App<S> {
    /// Everything the payment transition needs to issue the receipt for `attempt`'s order,
    /// should this payment pay it: the payer's name, a new check code, a new link token (the
    /// SMS text carries it, the store only its hash) and its expiry.
    pub(crate) fn prepare_receipt(&self, attempt: &Attempt, payer_name: PersonName, p: &ConfirmedPayment) -> ReceiptIssue {
        let now = self.clock.now();
        let days = self.settings.receipt_link_days;
        let token = LinkToken::generate();
        let text = receipt::receipt_sms_text(p.amount, &attempt.order_no, days);
        ReceiptIssue {
            payer_name,
            payee: PAYEE.to_owned(),
            check_code: receipt::new_check_code(),
            link_hash: token.hash(),
            link_expires_at: now + Duration::days(days),
            issued_at: now,
            sms_text: format!("{text}{}/r/{}", self.settings.public_base_url, token.expose()),
        }
    }
}

impl<S: ReceiptStore> App<S> {
    /// 票据查询: the caller's receipts, newest first.
    pub async fn my_receipts(&self, who: &Authed) -> Result<Vec<ReceiptView>, AppError> {
        Ok(self.store.list_receipts(&who.student_no).await?.iter().map(ReceiptView::from).collect())
    }

    /// The receipt of one of the caller's orders. Another student's order, an unpaid one, or
    /// no order at all: `NotFound`, alike.
    pub async fn my_receipt(&self, who: &Authed, order_no: &str) -> Result<ReceiptView, AppError> {
        let no = OrderNo::parse(order_no).map_err(|_| AppError::NotFound)?;
        let r = self.store.get_receipt(&who.student_no, &no).await?.ok_or(AppError::NotFound)?;
        Ok(ReceiptView::from(&r))
    }

    /// The receipt a public link names, while the link is valid.
    pub async fn receipt_by_link(&self, token: &str) -> Result<ReceiptView, LinkRefused> {
        let token = LinkToken::parse(token).map_err(|_| LinkRefused::Unknown)?;
        let link = self.store.get_receipt_link(&token.hash()).await?.ok_or(LinkRefused::Unknown)?;
        if self.clock.now() >= link.expires_at {
            return Err(LinkRefused::Expired);
        }
        let r = self
            .store
            .get_receipt(&link.student_no, &link.order_no)
            .await?
            .ok_or_else(|| LinkRefused::App(AppError::Store(StoreError::Corrupt("receipt link without its receipt".into()))))?;
        Ok(ReceiptView::from(&r))
    }
}
