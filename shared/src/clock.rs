//! Time: UTC inside, Beijing (UTC+8, no daylight saving) for dates people see.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("valid offset")
}

/// The Beijing calendar date of an instant.
pub fn beijing_date(t: DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&beijing()).date_naive()
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The real clock shifted by an adjustable offset: lets the local platform and tests move time
/// forward (lockout expiry, code expiry) without sleeping.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_secs: AtomicI64,
}

impl ShiftedClock {
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now() + chrono::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn beijing_date_crosses_midnight_at_16_utc() {
        let t: DateTime<Utc> = "2020-05-09T15:59:59Z".parse().unwrap();
        assert_eq!(beijing_date(t).to_string(), "2020-05-09");
        let t: DateTime<Utc> = "2020-05-09T16:00:00Z".parse().unwrap();
        assert_eq!(beijing_date(t).to_string(), "2020-05-10");
    }
}
