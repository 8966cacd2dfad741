//! Contact details a student maintains: phone, e-mail, postcode, address.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("not a mainland mobile number")]
    Phone,
    #[error("not an e-mail address")]
    Email,
    #[error("postcode must be 6 digits")]
    Postcode,
    #[error("address too long")]
    Address,
}

/// A mainland China mobile number (11 digits starting 13-19). `+86`, spaces and dashes, and
/// full-width digits (`crate::typed`), are accepted on input. Personal data: `Debug` and `Display` show only the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Phone(String);

impl Phone {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let compact: String = crate::typed::half_width(raw).chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits = compact.strip_prefix("+86").or_else(|| compact.strip_prefix("0086")).unwrap_or(&compact);
        let b = digits.as_bytes();
        if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit) {
            Ok(Self(digits.to_owned()))
        } else {
            Err(ContactError::Phone)
        }
    }
    /// The 11 digits, for storage and sending only — never for logs.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// E.164 form for SMS: `+8618712346579`.
    pub fn e164(&self) -> String {
        format!("+86{}", self.0)
    }
    /// `187****6579`, as the reference shows it.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces, at most 254
/// characters. Deliverability is not checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let s = raw.trim();
        let ok = s.len() <= 254
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && match s.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && local.len() <= 64
                        && !domain.contains('@')
                        && domain.contains('.')
                        && domain.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
                }
                None => false,
            };
        if ok { Ok(Self(s.to_owned())) } else { Err(ContactError::Email) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A Chinese postcode: exactly 6 digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Postcode(String);

impl Postcode {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let s = crate::typed::half_width(raw);
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) { Ok(Self(s)) } else { Err(ContactError::Postcode) }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postal address: trimmed, at most 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    pub const MAX_CHARS: usize = 100;
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let s = raw.trim();
        if s.chars().count() <= Self::MAX_CHARS && !s.chars().any(char::is_control) {
            Ok(Self(s.to_owned()))
        } else {
            Err(ContactError::Address)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones() {
        let p = Phone::parse("+86 187-1234-6579").unwrap();
        assert_eq!(p.expose(), "18712346579");
        assert_eq!(p.masked(), "187****6579");
        assert_eq!(p.e164(), "+8618712346579");
        assert_eq!(format!("{p:?}"), "Phone(187****6579)");
        for bad in ["", "12712346579", "1871234657", "187123465790", "1871234657a", "+1 187 1234 6579"] {
            assert_eq!(Phone::parse(bad), Err(ContactError::Phone), "{bad}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" zhang.san@lut.edu.cn ").unwrap().as_str(), "zhang.san@lut.edu.cn");
        for bad in ["zhang", "zhang@", "@lut.cn", "a@b", "a b@lut.cn", "a@@lut.cn", "a@lut..cn", "a@-lut.cn"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn postcodes_and_addresses() {
        assert_eq!(Postcode::parse("730050").unwrap().as_str(), "730050");
        // As a phone keyboard types it: full-width digits.
        assert_eq!(Postcode::parse("　７３００５０").unwrap().as_str(), "730050");
        for bad in ["73005", "7300500", "73005a", "７３００５ａ"] {
            assert!(Postcode::parse(bad).is_err(), "{bad}");
        }
        assert!(Address::parse(&"兰".repeat(100)).is_ok());
        assert!(Address::parse(&"兰".repeat(101)).is_err());
        assert!(Address::parse("兰州\u{0}市").is_err());
    }
}
