//! Students (and "other users") and their maintained contact details.

use super::contact::{Address, Email, Phone, Postcode};
use super::ids::{Gender, IdCardNo, StudentNo};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("name must be 1-30 characters without digits or symbols")]
pub struct NameError;

/// A person's name as registered (姓名): 1-30 characters, letters (any script), `·` and spaces.
#[derive(Clone, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, NameError> {
        let s = raw.trim();
        let n = s.chars().count();
        if (1..=30).contains(&n) && s.chars().all(|c| c.is_alphabetic() || matches!(c, '·' | '•' | ' ' | '.')) {
            Ok(Self(s.to_owned()))
        } else {
            Err(NameError)
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Personal data: only the length reaches logs.
        write!(f, "PersonName({} chars)", self.0.chars().count())
    }
}

/// Students log in with the last 8 ID characters; other users (用户编号) with a password whose
/// initial value is their name, or with their ID-card number as the user name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Student,
    Other,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Student => "student",
            AccountKind::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "student" => Some(Self::Student),
            "other" => Some(Self::Other),
            _ => None,
        }
    }
}

/// The contact details a student maintains (个人信息修改).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    pub phone: Option<Phone>,
    pub email: Option<Email>,
    pub postcode: Option<Postcode>,
    pub address: Option<Address>,
}

impl Contact {
    /// Which details are set, for the audit log: the phone masked, the others only as 已填写.
    pub fn audit_summary(&self) -> String {
        let set = |present: bool| if present { "已填写" } else { "未填写" };
        format!(
            "phone={} email={} postcode={} address={}",
            self.phone.as_ref().map_or_else(|| "未填写".to_owned(), |p| p.masked()),
            set(self.email.is_some()),
            set(self.postcode.is_some()),
            set(self.address.is_some()),
        )
    }
}

/// A student record (编号, 姓名, 性别, 身份证号, 部门, 班级 and contact details).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Student {
    pub student_no: StudentNo,
    pub name: PersonName,
    pub gender: Gender,
    pub id_card: IdCardNo,
    pub department: String,
    pub class_name: String,
    pub kind: AccountKind,
    pub contact: Contact,
}

impl Student {
    /// The password a new account starts with (and must change at first login).
    pub fn initial_password(&self) -> &str {
        match self.kind {
            AccountKind::Student => self.id_card.last8(),
            AccountKind::Other => self.name.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names() {
        assert_eq!(PersonName::parse(" 张三 ").unwrap().as_str(), "张三");
        assert!(PersonName::parse("买买提·艾力").is_ok());
        assert!(PersonName::parse("").is_err());
        assert!(PersonName::parse("张3").is_err());
        assert!(PersonName::parse("<script>").is_err());
        assert_eq!(format!("{:?}", PersonName::parse("张三").unwrap()), "PersonName(2 chars)");
    }
}
