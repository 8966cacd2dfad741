//! The password rule users are told: 8-32 characters, at least one letter and one digit, not
//! the initial password (ID suffix or name) and not the user number.

use super::student::Student;

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRuleError {
    #[error("password must be 8-32 characters")]
    Length,
    #[error("password must contain a letter and a digit")]
    Composition,
    #[error("password must differ from the initial password and the user number")]
    Guessable,
}

/// A password that satisfies the rule for one account. Not `Debug`-printable in clear.
pub struct NewPassword(String);

impl NewPassword {
    pub fn parse(raw: &str, owner: &Student) -> Result<Self, PasswordRuleError> {
        let n = raw.chars().count();
        if !(8..=32).contains(&n) || raw.chars().any(char::is_control) {
            return Err(PasswordRuleError::Length);
        }
        if !raw.chars().any(|c| c.is_ascii_alphabetic()) || !raw.chars().any(|c| c.is_ascii_digit()) {
            return Err(PasswordRuleError::Composition);
        }
        let same = |s: &str| raw.eq_ignore_ascii_case(s);
        if same(owner.id_card.last8()) || same(owner.name.as_str()) || same(owner.student_no.as_str()) || same(owner.id_card.expose()) {
            return Err(PasswordRuleError::Guessable);
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::*;

    #[test]
    fn rule() {
        let s = Student {
            student_no: StudentNo::parse("2021010101").unwrap(),
            name: PersonName::parse("张三").unwrap(),
            gender: Gender::Male,
            id_card: IdCardNo::parse("620102199903151235").unwrap(),
            department: String::new(),
            class_name: String::new(),
            kind: AccountKind::Student,
            contact: Contact::default(),
        };
        assert!(NewPassword::parse("Campus2026a", &s).is_ok());
        assert_eq!(NewPassword::parse("Ab1", &s).unwrap_err(), PasswordRuleError::Length);
        assert_eq!(NewPassword::parse("abcdefghij", &s).unwrap_err(), PasswordRuleError::Composition);
        assert_eq!(NewPassword::parse("12345678", &s).unwrap_err(), PasswordRuleError::Composition);
        assert_eq!(NewPassword::parse("2021010101a", &s).map(|_| ()), Ok(()));
        assert_eq!(NewPassword::parse("620102199903151235", &s).unwrap_err(), PasswordRuleError::Composition);
        let mut other = s.clone();
        other.id_card = IdCardNo::parse("11010519491231002X").unwrap();
        assert_eq!(NewPassword::parse("1231002x", &other).unwrap_err(), PasswordRuleError::Guessable);
    }
}
