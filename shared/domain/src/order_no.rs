//! 收费订单号: 19 characters — 2-letter type, yyMMdd (Beijing date), 5-character unit id,
//! 6-digit daily serial. `XF200510LUTAU000001` is the first order of 2020-05-10.

use chrono::{Datelike, NaiveDate};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderNoError {
    #[error("order number must be 19 characters")]
    Length,
    #[error("order type must be 2 upper-case letters")]
    OrderType,
    #[error("order date must be a real yyMMdd date")]
    Date,
    #[error("unit id must be 5 upper-case letters or digits")]
    Unit,
    #[error("serial must be 6 digits from 000001 to 999999")]
    Serial,
}

/// The 2-letter order type (`XF` = 学费).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderType([u8; 2]);

impl OrderType {
    pub const TUITION: OrderType = OrderType(*b"XF");
    pub fn parse(s: &str) -> Result<Self, OrderNoError> {
        let b = s.as_bytes();
        if b.len() == 2 && b.iter().all(u8::is_ascii_uppercase) { Ok(Self([b[0], b[1]])) } else { Err(OrderNoError::OrderType) }
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii")
    }
}

/// The 5-character school/unit identifier (`LUTAU`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitId([u8; 5]);

impl UnitId {
    pub fn parse(s: &str) -> Result<Self, OrderNoError> {
        let b = s.as_bytes();
        if b.len() == 5 && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            Ok(Self(b.try_into().expect("length checked")))
        } else {
            Err(OrderNoError::Unit)
        }
    }
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("ascii")
    }
}

/// A daily serial, 1..=999999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Serial(u32);

impl Serial {
    pub const MAX: u32 = 999_999;
    pub fn new(n: u64) -> Result<Self, OrderNoError> {
        if (1..=u64::from(Self::MAX)).contains(&n) { Ok(Self(n as u32)) } else { Err(OrderNoError::Serial) }
    }
    pub fn get(self) -> u32 {
        self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrderNo {
    order_type: OrderType,
    date: NaiveDate,
    unit: UnitId,
    serial: Serial,
}

impl OrderNo {
    /// Dates representable in yyMMdd: 2000-01-01 ..= 2099-12-31.
    pub fn new(order_type: OrderType, date: NaiveDate, unit: UnitId, serial: Serial) -> Result<Self, OrderNoError> {
        if !(2000..=2099).contains(&date.year()) {
            return Err(OrderNoError::Date);
        }
        Ok(Self { order_type, date, unit, serial })
    }

    pub fn parse(raw: &str) -> Result<Self, OrderNoError> {
        let s = raw.trim();
        if s.len() != 19 || !s.is_ascii() {
            return Err(OrderNoError::Length);
        }
        let order_type = OrderType::parse(&s[0..2])?;
        let d = &s[2..8];
        if !d.bytes().all(|c| c.is_ascii_digit()) {
            return Err(OrderNoError::Date);
        }
        let (yy, mm, dd): (i32, u32, u32) = (d[0..2].parse().unwrap_or(0), d[2..4].parse().unwrap_or(0), d[4..6].parse().unwrap_or(0));
        let date = NaiveDate::from_ymd_opt(2000 + yy, mm, dd).ok_or(OrderNoError::Date)?;
        let unit = UnitId::parse(&s[8..13])?;
        let serial_txt = &s[13..19];
        if !serial_txt.bytes().all(|c| c.is_ascii_digit()) {
            return Err(OrderNoError::Serial);
        }
        let serial = Serial::new(serial_txt.parse().map_err(|_| OrderNoError::Serial)?)?;
        Self::new(order_type, date, unit, serial)
    }

    pub fn order_type(&self) -> OrderType {
        self.order_type
    }
    pub fn date(&self) -> NaiveDate {
        self.date
    }
    pub fn unit(&self) -> UnitId {
        self.unit
    }
    pub fn serial(&self) -> Serial {
        self.serial
    }
}

impl fmt::Display for OrderNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{:02}{:02}{:02}{}{:06}",
            self.order_type.as_str(),
            self.date.year() % 100,
            self.date.month(),
            self.date.day(),
            self.unit.as_str(),
            self.serial.0
        )
    }
}

impl serde::Serialize for OrderNo {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_reference_example() {
        // Reference manual, 四.11: the first payment of 2020-05-10.
        let n = OrderNo::parse("XF200510LUTAU000001").unwrap();
        assert_eq!(n.order_type(), OrderType::TUITION);
        assert_eq!(n.date(), NaiveDate::from_ymd_opt(2020, 5, 10).unwrap());
        assert_eq!(n.unit().as_str(), "LUTAU");
        assert_eq!(n.serial().get(), 1);
        assert_eq!(n.to_string(), "XF200510LUTAU000001");
    }

    #[test]
    fn rejects() {
        assert_eq!(OrderNo::parse("XF200510LUTAU00001"), Err(OrderNoError::Length));
        assert_eq!(OrderNo::parse("xf200510LUTAU000001"), Err(OrderNoError::OrderType));
        assert_eq!(OrderNo::parse("XF200230LUTAU000001"), Err(OrderNoError::Date));
        assert_eq!(OrderNo::parse("XF200510LUTa0000001"), Err(OrderNoError::Unit));
        assert_eq!(OrderNo::parse("XF200510LUTAU000000"), Err(OrderNoError::Serial));
        assert_eq!(OrderNo::parse("XF200510LUTAU00000+"), Err(OrderNoError::Serial));
        assert_eq!(OrderNo::parse("XF200510LUTAU0000０"), Err(OrderNoError::Length));
        assert!(Serial::new(1_000_000).is_err());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(
            t in "[A-Z]{2}", days in 0i64..36_524, unit in "[A-Z0-9]{5}", serial in 1u64..=999_999
        ) {
            let date = NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Duration::days(days);
            let n = OrderNo::new(OrderType::parse(&t).unwrap(), date, UnitId::parse(&unit).unwrap(), Serial::new(serial).unwrap()).unwrap();
            let s = n.to_string();
            prop_assert_eq!(s.len(), 19);
            prop_assert_eq!(OrderNo::parse(&s).unwrap(), n);
        }

        #[test]
        fn garbage_never_panics(s in "\\PC{0,25}") {
            let _ = OrderNo::parse(&s);
        }
    }
}
