//! Time: UTC inside, Beijing (UTC+8, no daylight saving) for dates people see.

use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicI64, Ordering};

pub use domain::time::{beijing, beijing_date};

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
/// forward (lockout expiry, code expiry) without sleeping. Frozen, it stands still except when
/// advanced: for tests whose assertions depend on how much time passed (a back-off not yet
/// over), however slow the machine.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_secs: AtomicI64,
    frozen_at: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl ShiftedClock {
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }
    /// Stops the clock at the present moment; only `advance` moves it from now on.
    pub fn freeze(&self) {
        *self.frozen_at.lock().expect("clock lock") = Some(Utc::now());
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> DateTime<Utc> {
        let base = self.frozen_at.lock().expect("clock lock").unwrap_or_else(Utc::now);
        base + chrono::Duration::seconds(self.offset_secs.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let c = ShiftedClock::default();
        c.freeze();
        let t0 = c.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(c.now(), t0);
        c.advance(30);
        assert_eq!(c.now(), t0 + chrono::Duration::seconds(30));
    }

    #[test]
    fn beijing_date_crosses_midnight_at_16_utc() {
        let t: DateTime<Utc> = "2020-05-09T15:59:59Z".parse().unwrap();
        assert_eq!(beijing_date(t).to_string(), "2020-05-09");
        let t: DateTime<Utc> = "2020-05-09T16:00:00Z".parse().unwrap();
        assert_eq!(beijing_date(t).to_string(), "2020-05-10");
    }
}
