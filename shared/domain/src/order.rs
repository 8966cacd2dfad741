//! 缴费单 (orders) and payment attempts. See `docs/payments-design.md`.

use super::academic_year::AcademicYear;
use super::contact::Phone;
use super::fee::{FeeType, ItemId};
use super::ids::StudentNo;
use super::money::Fen;
use super::order_no::OrderNo;
use super::student::PersonName;
use chrono::{DateTime, Utc};
use std::fmt;

/// The three payment channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Alipay,
    Wechat,
    Unionpay,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Alipay, Channel::Wechat, Channel::Unionpay];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Alipay => "alipay",
            Channel::Wechat => "wechat",
            Channel::Unionpay => "unionpay",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
    /// The letter an attempt's out-trade-no carries.
    pub fn letter(self) -> char {
        match self {
            Channel::Alipay => 'A',
            Channel::Wechat => 'W',
            Channel::Unionpay => 'U',
        }
    }
    /// What students read: 支付宝, 微信支付, 银联.
    pub fn label(self) -> &'static str {
        match self {
            Channel::Alipay => "支付宝",
            Channel::Wechat => "微信支付",
            Channel::Unionpay => "银联在线支付",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("out-trade-no must be 8-32 letters or digits")]
pub struct OutTradeNoError;

/// An attempt's merchant order id at the gateway: the order number, the channel letter and a
/// two-digit attempt sequence — `XF261126LUTAU000001A01`. 8–32 `[0-9A-Za-z]`, so valid at
/// Alipay, WeChat Pay and UnionPay alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct OutTradeNo(String);

impl OutTradeNo {
    pub fn new(order: &OrderNo, channel: Channel, seq: u8) -> Self {
        debug_assert!((1..=99).contains(&seq));
        Self(format!("{order}{}{seq:02}", channel.letter()))
    }
    pub fn parse(raw: &str) -> Result<Self, OutTradeNoError> {
        let s = raw.trim();
        if (8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_owned()))
        } else {
            Err(OutTradeNoError)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The order this attempt belongs to, when it is one of ours.
    pub fn order_no(&self) -> Option<OrderNo> {
        self.0.get(..19).and_then(|s| OrderNo::parse(s).ok())
    }
}

impl fmt::Display for OutTradeNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One fee item in an order, priced when the order was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub academic_year: AcademicYear,
    pub item_id: ItemId,
    pub name: String,
    pub fee_type: FeeType,
    pub amount: Fen,
}

impl OrderLine {
    /// This line's item as named in keys and item sets ([`super::fee::item_key`]).
    pub fn item_key(&self) -> String {
        super::fee::item_key(&self.academic_year, &self.item_id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderState {
    /// Awaiting payment; its items are locked to it.
    Open,
    /// Paid (terminal).
    Paid,
    /// Expired or abandoned with every attempt provably unpaid (terminal).
    Closed,
}

impl OrderState {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::Paid => "paid",
            OrderState::Closed => "closed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Paid, Self::Closed].into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub order_no: OrderNo,
    pub student_no: StudentNo,
    pub lines: Vec<OrderLine>,
    pub total: Fen,
    /// The phone that receives the e-receipt (confirmed or changed in the wizard).
    pub receipt_phone: Phone,
    /// The payer named on the e-receipt: the student's name when the order was made (from
    /// their session). `None` on orders made before it was kept; the payment reads the profile.
    pub payer_name: Option<PersonName>,
    pub state: OrderState,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Attempts made so far (the last attempt's sequence number).
    pub attempts: u8,
    pub version: u64,
}

impl Order {
    /// The order's item set: its item keys, sorted and joined — equal sets, equal strings.
    pub fn item_set(&self) -> String {
        item_set(self.lines.iter().map(OrderLine::item_key))
    }
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        now >= self.expires_at
    }
}

/// Sorted, de-duplicated, comma-joined item keys.
pub fn item_set(keys: impl IntoIterator<Item = String>) -> String {
    let mut v: Vec<String> = keys.into_iter().collect();
    v.sort();
    v.dedup();
    v.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn out_trade_numbers() {
        let order = OrderNo::parse("XF261126LUTAU000001").unwrap();
        let n = OutTradeNo::new(&order, Channel::Alipay, 1);
        assert_eq!(n.as_str(), "XF261126LUTAU000001A01");
        assert_eq!(n.order_no(), Some(order));
        assert_eq!(OutTradeNo::parse("XF261126LUTAU000001W99").unwrap().as_str(), "XF261126LUTAU000001W99");
        assert!(OutTradeNo::parse("short").is_err());
        assert!(OutTradeNo::parse("XF261126_LUTAU000001").is_err(), "no underscore: UnionPay refuses it");
        assert!(OutTradeNo::parse(&"A".repeat(33)).is_err());
        assert_eq!(OutTradeNo::parse("T20240901120000ABCD1234").unwrap().order_no(), None);
    }

    #[test]
    fn item_sets_ignore_order_and_repeats() {
        assert_eq!(item_set(["b".to_string(), "a".into(), "b".into()]), "a,b");
        assert_eq!(Channel::parse("wechat"), Some(Channel::Wechat));
        assert_eq!(Channel::parse("paypal"), None);
    }

    proptest! {
        #[test]
        fn every_attempt_number_is_valid_everywhere(serial in 1u64..=999_999, seq in 1u8..=99, ch in 0usize..3) {
            let order = OrderNo::parse(&format!("XF261126LUTAU{serial:06}")).unwrap();
            let n = OutTradeNo::new(&order, Channel::ALL[ch], seq);
            prop_assert_eq!(n.as_str().len(), 22);
            prop_assert!(OutTradeNo::parse(n.as_str()).is_ok());
            prop_assert_eq!(n.order_no(), Some(order));
        }
    }
}

/// A payment attempt's state. Paid, DuplicatePaid→Refunded and Closed are never left except as
/// drawn in `docs/payments-design.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptState {
    /// Started at the gateway; not known to be paid.
    Created,
    /// Paid, and it paid its order (terminal).
    Paid,
    /// Closed at the gateway and proven unpaid.
    Closed,
    /// Paid, but its order had already been paid through another attempt: awaiting refund.
    DuplicatePaid,
    /// An operator asked the gateway to refund it (from Paid or DuplicatePaid); the outcome is
    /// awaited (notification or query). A refusal returns it to the state it came from.
    Refunding,
    /// Paid and given back (terminal).
    Refunded,
}

impl AttemptState {
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptState::Created => "created",
            AttemptState::Paid => "paid",
            AttemptState::Closed => "closed",
            AttemptState::DuplicatePaid => "duplicate_paid",
            AttemptState::Refunding => "refunding",
            AttemptState::Refunded => "refunded",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Paid, Self::Closed, Self::DuplicatePaid, Self::Refunding, Self::Refunded]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
    /// 银行交易记录 status as students read it.
    pub fn label(self) -> &'static str {
        match self {
            AttemptState::Created => "处理中",
            AttemptState::Paid => "成功",
            AttemptState::Closed => "已关闭",
            AttemptState::DuplicatePaid => "重复支付待退款",
            AttemptState::Refunding => "退款中",
            AttemptState::Refunded => "已退款",
        }
    }
    /// States from which a confirmed payment may still be recorded.
    pub fn awaits_payment(self) -> bool {
        matches!(self, AttemptState::Created | AttemptState::Closed)
    }
}

/// One try to pay an order on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub out_trade_no: OutTradeNo,
    pub order_no: OrderNo,
    pub student_no: StudentNo,
    pub channel: Channel,
    pub amount: Fen,
    pub state: AttemptState,
    /// When the attempt was started: the `now` of its start request (UnionPay's `txnTime`,
    /// which a UnionPay query must repeat).
    pub created_at: DateTime<Utc>,
    /// The last moment the gateway accepts payment for this attempt (the expiry sent to it).
    pub pay_by: DateTime<Utc>,
    /// The gateway's own trade number, once known.
    pub gateway_trade_no: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
}

/// A payment the gateway has vouched for — by a verified notification or by our own query —
/// after its amount, app id and merchant id were compared with ours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmedPayment {
    pub out_trade_no: OutTradeNo,
    pub channel: Channel,
    pub gateway_trade_no: String,
    pub amount: Fen,
    pub paid_at: DateTime<Utc>,
}

/// What recording a confirmed payment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentOutcome {
    /// The attempt and its order are now paid, the fee items credited.
    OrderPaid,
    /// The order was already paid through another attempt: this money awaits refund.
    DuplicatePaid,
    /// Seen before: nothing changed.
    AlreadyRecorded,
}
