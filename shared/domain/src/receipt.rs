//! 电子票据 (e-receipts): exactly one per paid order, issued inside the payment transition, and
//! the public link to it that the receipt SMS carries.

use super::capital::capitals;
use super::ids::StudentNo;
use super::money::Fen;
use super::order::{Channel, ConfirmedPayment, Order, OrderLine, OutTradeNo};
use super::order_no::OrderNo;
use super::student::PersonName;
use base64::Engine;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a receipt link token")]
pub struct LinkTokenError;

/// 票据号: `PJ` + the order number — `PJXF261126LUTAU000001`. Unique because an order has at
/// most one receipt and order numbers are unique; readable because it names its order (type,
/// Beijing date, unit, daily serial).
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct ReceiptNo(String);

impl ReceiptNo {
    pub fn for_order(order: &OrderNo) -> Self {
        Self(format!("PJ{order}"))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The order it was issued for.
    pub fn order_no(&self) -> Option<OrderNo> {
        self.0.strip_prefix("PJ").and_then(|o| OrderNo::parse(o).ok())
    }
    pub fn parse(raw: &str) -> Option<Self> {
        let r = Self(raw.to_owned());
        r.order_no().is_some().then_some(r)
    }
}

impl fmt::Display for ReceiptNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters of a verification code: upper-case letters and digits without the look-alikes
/// 0/O, 1/I/L (31 symbols).
const CHECK_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
/// 12 symbols of 31: ≈59 bits, drawn from the operating system's generator.
pub const CHECK_CODE_LEN: usize = 12;

/// 校验码: a random code printed on the receipt, unguessable (≈59 bits), so a printed receipt
/// can be told from a made-up one by asking the platform.
pub fn new_check_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..CHECK_CODE_LEN).map(|_| char::from(CHECK_ALPHABET[rng.random_range(0..CHECK_ALPHABET.len())])).collect()
}

/// The secret of a public receipt link (`/r/<token>`): 128 random bits, base64url without
/// padding (22 characters). Only its SHA-256 is stored (`hash`), so the table does not hold
/// working links; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct LinkToken(String);

impl LinkToken {
    pub const LEN: usize = 22;

    pub fn generate() -> Self {
        let bytes: [u8; 16] = rand::random();
        Self(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }
    /// Accepts exactly the shape `generate` makes; anything else cannot name a link.
    pub fn parse(raw: &str) -> Result<Self, LinkTokenError> {
        let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| LinkTokenError)?;
        if raw.len() == Self::LEN && decoded.len() == 16 { Ok(Self(raw.to_owned())) } else { Err(LinkTokenError) }
    }
    /// For building the link only — never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// What the store keeps and looks links up by: hex SHA-256 of the token.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }
}

impl fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LinkToken(…)")
    }
}

/// What the payment transition needs, besides the order it reads, to issue the receipt and
/// queue its SMS: prepared before the transaction, used only if the order becomes paid.
/// `Debug` leaves out the SMS text, which carries the link's secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ReceiptIssue {
    pub payer_name: PersonName,
    pub payee: String,
    pub check_code: String,
    /// SHA-256 of the link token (the token itself travels only in the SMS text).
    pub link_hash: String,
    pub link_expires_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// The receipt SMS, link included; sent to the order's receipt phone.
    pub sms_text: String,
}

impl fmt::Debug for ReceiptIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiptIssue")
            .field("payer_name", &self.payer_name)
            .field("link_expires_at", &self.link_expires_at)
            .field("issued_at", &self.issued_at)
            .finish_non_exhaustive()
    }
}

/// An issued e-receipt. Everything on it is fixed when it is issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub receipt_no: ReceiptNo,
    pub check_code: String,
    pub order_no: OrderNo,
    pub student_no: StudentNo,
    pub payer_name: PersonName,
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    pub payee: String,
    pub channel: Channel,
    pub gateway_trade_no: String,
    pub out_trade_no: OutTradeNo,
    pub paid_at: DateTime<Utc>,
    pub issued_at: DateTime<Utc>,
    /// The public link works until then.
    pub link_expires_at: DateTime<Utc>,
    /// Set when the payment was refunded (退款): the receipt stays, marked 已退款.
    pub refunded_at: Option<DateTime<Utc>>,
}

impl Receipt {
    /// The receipt of `order`, paid by `payment`.
    pub fn issue(order: &Order, payment: &ConfirmedPayment, issue: &ReceiptIssue) -> Self {
        Self {
            receipt_no: ReceiptNo::for_order(&order.order_no),
            check_code: issue.check_code.clone(),
            order_no: order.order_no,
            student_no: order.student_no.clone(),
            payer_name: issue.payer_name.clone(),
            lines: order.lines.clone(),
            total: order.total,
            payee: issue.payee.clone(),
            channel: payment.channel,
            gateway_trade_no: payment.gateway_trade_no.clone(),
            out_trade_no: payment.out_trade_no.clone(),
            paid_at: payment.paid_at,
            issued_at: issue.issued_at,
            link_expires_at: issue.link_expires_at,
            refunded_at: None,
        }
    }
    /// The total in capitals: 壹仟贰佰叁拾肆元伍角整.
    pub fn total_capitals(&self) -> String {
        capitals(self.total)
    }
}

/// The receipt SMS before its link (signed like the platform's other SMS): at most one
/// 70-character segment for any amount up to `Fen::MAX` and a link life up to 3650 days:
/// `【校园统一支付平台】您已缴费3,920.00元，缴费单XF261126LUTAU000001。电子票据30天内有效：`
pub fn receipt_sms_text(amount: Fen, order_no: &OrderNo, link_days: i64) -> String {
    let amount = amount.to_display_yuan();
    let amount = amount.trim_start_matches('¥');
    format!("【校园统一支付平台】您已缴费{amount}元，缴费单{order_no}。电子票据{link_days}天内有效：")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_numbers_name_their_order() {
        let order = OrderNo::parse("XF261126LUTAU000001").unwrap();
        let r = ReceiptNo::for_order(&order);
        assert_eq!(r.as_str(), "PJXF261126LUTAU000001");
        assert_eq!(r.order_no(), Some(order));
        assert_eq!(ReceiptNo::parse("PJXF261126LUTAU000001"), Some(r));
        assert_eq!(ReceiptNo::parse("XF261126LUTAU000001"), None);
    }

    #[test]
    fn check_codes_are_long_random_and_unambiguous() {
        let a = new_check_code();
        assert_eq!(a.len(), CHECK_CODE_LEN);
        assert!(a.bytes().all(|b| CHECK_ALPHABET.contains(&b)), "{a}");
        assert!(!a.contains(['0', 'O', '1', 'I', 'L']));
        let many: std::collections::HashSet<String> = (0..1000).map(|_| new_check_code()).collect();
        assert_eq!(many.len(), 1000);
    }

    #[test]
    fn link_tokens_parse_only_their_own_shape() {
        let t = LinkToken::generate();
        assert_eq!(t.expose().len(), LinkToken::LEN);
        assert_eq!(LinkToken::parse(t.expose()), Ok(t.clone()));
        assert_eq!(t.hash().len(), 64);
        assert_ne!(LinkToken::generate().hash(), t.hash());
        assert!(!format!("{t:?}").contains(t.expose()));
        for bad in ["", "short", "AAAAAAAAAAAAAAAAAAAAA=", "AAAAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAA+A", "AAAAAAAAAAAAAAAAAAAA/A"] {
            assert_eq!(LinkToken::parse(bad), Err(LinkTokenError), "{bad}");
        }
    }

    #[test]
    fn the_sms_fits_one_segment_before_its_link() {
        let order = OrderNo::parse("XF261126LUTAU000001").unwrap();
        let text = receipt_sms_text(Fen::new(392_000), &order, 30);
        assert_eq!(text, "【校园统一支付平台】您已缴费3,920.00元，缴费单XF261126LUTAU000001。电子票据30天内有效：");
        for amount in [Fen::new(1), Fen::MAX] {
            let n = receipt_sms_text(amount, &order, 3650).chars().count();
            assert!(n <= 70, "{n} characters for {amount}");
        }
    }
}
