//! One order and its attempts, as the decisions' unit tests start from them (test-only).

use crate::{AcademicYear, Attempt, AttemptState, Channel, FeeType, Fen, ItemId, Order, OrderLine, OrderNo, OrderState, OutTradeNo};
use crate::{PersonName, Phone, StudentNo};
use chrono::{Duration, TimeZone, Utc};

/// `XF261126LUTAU000001` of 2021010101 (李四): 2025-2026 tuition, 3,920.00, made 2026-11-26
/// 10:00 Beijing, expiring two hours later.
pub fn order(state: OrderState) -> Order {
    let at = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
    Order {
        order_no: OrderNo::parse("XF261126LUTAU000001").unwrap(),
        student_no: StudentNo::parse("2021010101").unwrap(),
        lines: vec![OrderLine {
            academic_year: AcademicYear::parse("2025-2026").unwrap(),
            item_id: ItemId::parse("TUITION").unwrap(),
            name: "学费".into(),
            fee_type: FeeType::Tuition,
            amount: Fen::new(392_000),
        }],
        total: Fen::new(392_000),
        receipt_phone: Phone::parse("13800138000").unwrap(),
        payer_name: Some(PersonName::parse("李四").unwrap()),
        state,
        created_at: at,
        expires_at: at + Duration::hours(2),
        attempts: 1,
        version: 2,
    }
}

/// The order's `seq`-th attempt, on WeChat Pay, for its whole total.
pub fn attempt(o: &Order, seq: u8, state: AttemptState) -> Attempt {
    Attempt {
        out_trade_no: OutTradeNo::new(&o.order_no, Channel::Wechat, seq),
        order_no: o.order_no,
        student_no: o.student_no.clone(),
        channel: Channel::Wechat,
        amount: o.total,
        state,
        created_at: o.created_at,
        pay_by: o.expires_at,
        gateway_trade_no: None,
        paid_at: None,
    }
}
