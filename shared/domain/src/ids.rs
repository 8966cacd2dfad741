//! Identity types: student numbers and resident ID-card numbers.

use std::fmt;

/// Why an identity value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("student number must be 4-20 letters or digits")]
    StudentNo,
    #[error("ID-card number must be 18 characters: 17 digits and a digit or X")]
    IdCardShape,
    #[error("ID-card number has an impossible birth date")]
    IdCardBirthDate,
    #[error("ID-card number check character does not match")]
    IdCardCheckDigit,
}

/// A student (or other user) number: 4-20 ASCII letters or digits, letters upper-cased.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct StudentNo(String);

impl StudentNo {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = crate::typed::half_width(raw);
        if (4..=20).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(s.to_ascii_uppercase()))
        } else {
            Err(IdError::StudentNo)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for StudentNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Debug for StudentNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StudentNo({})", self.0)
    }
}

/// Weights of GB 11643-1999 (ISO 7064 MOD 11-2) for the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK: [u8; 11] = *b"10X98765432";

/// Computes the GB 11643 check character of the first 17 digits.
pub fn id_check_char(first17: &[u8; 17]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    CHECK[(sum % 11) as usize]
}

/// A mainland resident ID-card number (GB 11643): 18 characters, a valid birth date and a
/// matching check character. A trailing `x` is normalised to `X`.
///
/// Personal data: `Debug` and `masked` never reveal the full number.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdCardNo(String);

impl IdCardNo {
    pub fn parse(raw: &str) -> Result<Self, IdError> {
        let s = crate::typed::half_width(raw).to_ascii_uppercase();
        let b = s.as_bytes();
        if b.len() != 18 || !b[..17].iter().all(u8::is_ascii_digit) || !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdError::IdCardShape);
        }
        let y: i32 = s[6..10].parse().map_err(|_| IdError::IdCardShape)?;
        let m: u32 = s[10..12].parse().map_err(|_| IdError::IdCardShape)?;
        let d: u32 = s[12..14].parse().map_err(|_| IdError::IdCardShape)?;
        if !(1900..=2100).contains(&y) || chrono::NaiveDate::from_ymd_opt(y, m, d).is_none() {
            return Err(IdError::IdCardBirthDate);
        }
        let first17: &[u8; 17] = b[..17].try_into().expect("length checked");
        if id_check_char(first17) != b[17] {
            return Err(IdError::IdCardCheckDigit);
        }
        Ok(Self(s))
    }

    /// The full number, for storage and comparison only — never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The last 8 characters: a student's initial password (`X` upper-case).
    pub fn last8(&self) -> &str {
        &self.0[10..]
    }

    /// `620102********1235`: region code and the last four characters.
    pub fn masked(&self) -> String {
        format!("{}********{}", &self.0[..6], &self.0[14..])
    }

    /// Gender from the 17th digit (odd male, even female), as shown in the user bar.
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female }
    }
}

impl fmt::Debug for IdCardNo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdCardNo({})", self.masked())
    }
}

/// 性别 as printed in the reference product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Gender {
    #[serde(rename = "男")]
    Male,
    #[serde(rename = "女")]
    Female,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "男" | "M" | "m" => Some(Gender::Male),
            "女" | "F" | "f" => Some(Gender::Female),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn published_gb11643_example_is_valid() {
        // The example number printed in GB 11643-1999 (and countless references to it).
        let id = IdCardNo::parse("11010519491231002x").unwrap();
        assert_eq!(id.expose(), "11010519491231002X");
        assert_eq!(id.last8(), "1231002X");
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.masked(), "110105********002X");
        assert!(!format!("{id:?}").contains("19491231"));
    }

    #[test]
    fn rejects_bad_ids() {
        assert_eq!(IdCardNo::parse("110105194912310021"), Err(IdError::IdCardCheckDigit));
        assert_eq!(IdCardNo::parse("11010519491331002X"), Err(IdError::IdCardBirthDate));
        assert_eq!(IdCardNo::parse("1101051949123100"), Err(IdError::IdCardShape));
        assert_eq!(IdCardNo::parse("11010519491231002Y"), Err(IdError::IdCardShape));
        assert_eq!(IdCardNo::parse("X10105194912310021"), Err(IdError::IdCardShape));
    }

    #[test]
    fn student_numbers() {
        assert_eq!(StudentNo::parse(" 2021010101 ").unwrap().as_str(), "2021010101");
        assert_eq!(StudentNo::parse("u0001").unwrap().as_str(), "U0001");
        assert!(StudentNo::parse("12").is_err());
        assert!(StudentNo::parse("2021-0101").is_err());
        assert!(StudentNo::parse("学号12345").is_err());
    }

    fn valid_first17() -> impl Strategy<Value = String> {
        (100000u32..=659999, 1900i32..=2099, 1u32..=12, 1u32..=28, 0u32..=999)
            .prop_map(|(r, y, m, d, seq)| format!("{r:06}{y:04}{m:02}{d:02}{seq:03}"))
    }

    proptest! {
        #[test]
        fn any_number_with_its_check_char_parses(first17 in valid_first17()) {
            let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
            let full = format!("{first17}{}", id_check_char(&b) as char);
            let id = IdCardNo::parse(&full.to_lowercase()).unwrap();
            prop_assert_eq!(id.expose(), full.as_str());
            prop_assert_eq!(id.last8().len(), 8);
        }

        #[test]
        fn any_single_wrong_check_char_is_rejected(first17 in valid_first17(), wrong in 0usize..11) {
            let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
            let right = id_check_char(&b);
            let c = CHECK[wrong];
            prop_assume!(c != right);
            let full = format!("{first17}{}", c as char);
            prop_assert_eq!(IdCardNo::parse(&full), Err(IdError::IdCardCheckDigit));
        }

        #[test]
        fn changing_one_digit_is_always_detected(first17 in valid_first17(), pos in 0usize..17, delta in 1u8..10) {
            let mut b: [u8; 17] = first17.as_bytes().try_into().unwrap();
            let check = id_check_char(&b);
            b[pos] = b'0' + (b[pos] - b'0' + delta) % 10;
            let altered = format!("{}{}", std::str::from_utf8(&b).unwrap(), check as char);
            // MOD 11-2 detects every single-digit substitution; the altered date may also be invalid.
            prop_assert!(IdCardNo::parse(&altered).is_err());
        }
    }
}
