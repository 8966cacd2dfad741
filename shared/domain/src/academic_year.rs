//! 学年: an academic year such as `2025-2026`.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("academic year must look like 2025-2026")]
pub struct AcademicYearError;

/// An academic year `YYYY-YYYY` whose second year follows the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AcademicYear(u16);

impl AcademicYear {
    pub fn parse(raw: &str) -> Result<Self, AcademicYearError> {
        let (a, b) = raw.trim().split_once('-').ok_or(AcademicYearError)?;
        let digits = |s: &str| s.len() == 4 && s.bytes().all(|c| c.is_ascii_digit());
        if !digits(a) || !digits(b) {
            return Err(AcademicYearError);
        }
        let start: u16 = a.parse().map_err(|_| AcademicYearError)?;
        let end: u16 = b.parse().map_err(|_| AcademicYearError)?;
        if !(1990..=2200).contains(&start) || end != start + 1 {
            return Err(AcademicYearError);
        }
        Ok(Self(start))
    }
    pub fn start_year(self) -> u16 {
        self.0
    }
}

impl fmt::Display for AcademicYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.0, self.0 + 1)
    }
}

impl serde::Serialize for AcademicYear {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn parses() {
        assert_eq!(AcademicYear::parse("2025-2026").unwrap().to_string(), "2025-2026");
        for bad in ["2025-2027", "2025", "25-26", "2026-2025", "2025/2026", "２０２５-2026"] {
            assert!(AcademicYear::parse(bad).is_err(), "{bad}");
        }
        assert!(AcademicYear::parse("2024-2025").unwrap() < AcademicYear::parse("2025-2026").unwrap());
    }
}
