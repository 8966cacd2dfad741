//! 个人信息: who is logged in, and the contact details they maintain.

use super::accounts::AccountStores;
use super::verification::{COLLEGE_PHONES, CodeFor, account_notice};
use crate::app::App;
use crate::domain::{Address, AuditAction, AuditSubject, Contact, Email, Phone, Postcode, Student};
use crate::error::{AppError, FieldErrors};
use crate::service::Authed;
use crate::store::{CredentialStore, StoreError, StudentStore};
use serde::Serialize;

/// The user bar: 编号, 姓名, 性别, 身份证号 (masked), 部门, 班级.
#[derive(Debug, Serialize)]
pub struct MeView {
    pub student_no: String,
    pub name: String,
    pub gender: &'static str,
    pub id_card_masked: String,
    pub department: String,
    pub class_name: String,
    pub kind: &'static str,
    pub must_change_password: bool,
}

impl MeView {
    pub fn new(s: &Student, must_change_password: bool) -> Self {
        Self {
            student_no: s.student_no.as_str().to_owned(),
            name: s.name.as_str().to_owned(),
            gender: s.gender.as_str(),
            id_card_masked: s.id_card.masked(),
            department: s.department.clone(),
            class_name: s.class_name.clone(),
            kind: s.kind.as_str(),
            must_change_password,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProfileView {
    #[serde(flatten)]
    pub me: MeView,
    pub phone_masked: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub address: Option<String>,
}

impl ProfileView {
    pub fn new(s: &Student, must_change_password: bool) -> Self {
        let c = &s.contact;
        Self {
            me: MeView::new(s, must_change_password),
            phone_masked: c.phone.as_ref().map(Phone::masked),
            email: c.email.as_ref().map(|e| e.as_str().to_owned()),
            postcode: c.postcode.as_ref().map(|p| p.as_str().to_owned()),
            address: c.address.as_ref().map(|a| a.as_str().to_owned()),
        }
    }
}

/// A requested change: `None` keeps a field, `Some("")` clears it (not allowed for the phone,
/// which receives the e-receipts).
#[derive(Debug, Default)]
pub struct ContactChange {
    pub phone: Option<String>,
    pub email: Option<String>,
    pub postcode: Option<String>,
    pub address: Option<String>,
}

pub const PHONE_MESSAGE: &str = "请输入11位中国大陆手机号码，例如 13912345678";
pub const EMAIL_MESSAGE: &str = "邮箱格式不正确，例如 name@example.com";
pub const POSTCODE_MESSAGE: &str = "邮编应为6位数字，例如 730050";
pub const ADDRESS_MESSAGE: &str = "地址不能超过100个字，且不能包含特殊控制字符";
/// The phone receives recovery codes: it changes only through [`App::change_phone`].
pub const PHONE_CHANGE_MESSAGE: &str = "更换手机号码须验证登录密码和新号码的短信验证码，请使用“更换手机号码”";

/// A phone-change code is bound to the session that asked for it and to the new number.
fn phone_context(session_id: &str, phone: &Phone) -> String {
    format!("PHONE:{session_id}:{}", phone.expose())
}

/// Applies a change to the current contact details, reporting every invalid field at once.
pub fn apply_change(current: &Contact, change: &ContactChange) -> Result<Contact, AppError> {
    fn optional<T, E>(
        errs: &mut FieldErrors,
        field: &'static str,
        raw: &Option<String>,
        keep: &Option<T>,
        parse: impl Fn(&str) -> Result<T, E>,
        msg: &str,
    ) -> Option<T>
    where
        T: Clone,
    {
        match raw.as_deref().map(str::trim) {
            None => keep.clone(),
            Some("") => None,
            Some(v) => errs.check(field, parse(v), msg),
        }
    }
    let mut errs = FieldErrors::default();
    let phone = match change.phone.as_deref().map(str::trim) {
        None => current.phone.clone(),
        Some("") => {
            errs.add("phone", "手机号码是接收电子票据的唯一依据，不能为空");
            None
        }
        Some(v) => errs.check("phone", Phone::parse(v), PHONE_MESSAGE),
    };
    let email = optional(&mut errs, "email", &change.email, &current.email, Email::parse, EMAIL_MESSAGE);
    let postcode = optional(&mut errs, "postcode", &change.postcode, &current.postcode, Postcode::parse, POSTCODE_MESSAGE);
    let address = optional(&mut errs, "address", &change.address, &current.address, Address::parse, ADDRESS_MESSAGE);
    errs.finish()?;
    Ok(Contact { phone, email, postcode, address })
}

impl<S: StudentStore + CredentialStore> App<S> {
    /// Stores the student's contact details with the change's audit entry (and a notice); a
    /// student no longer there is no longer logged in.
    async fn save_contact(
        &self,
        no: &crate::domain::StudentNo,
        contact: &Contact,
        audit: &crate::domain::AuditEntry,
        notice: Option<&crate::store::OutboxSms>,
    ) -> Result<(), AppError> {
        self.store.update_contact(no, contact, audit, notice).await.map_err(|e| match e {
            StoreError::NotFound => AppError::Unauthenticated,
            other => other.into(),
        })
    }

    pub async fn me(&self, who: &Authed) -> Result<MeView, AppError> {
        let s = self.store.get_student(&who.student_no).await?.ok_or(AppError::Unauthenticated)?;
        Ok(MeView::new(&s, who.must_change_password))
    }

    pub async fn profile(&self, who: &Authed) -> Result<ProfileView, AppError> {
        let s = self.store.get_student(&who.student_no).await?.ok_or(AppError::Unauthenticated)?;
        Ok(ProfileView::new(&s, who.must_change_password))
    }

    /// 个人信息修改: validates every field, then stores them together.
    pub async fn update_profile(&self, who: &Authed, change: &ContactChange) -> Result<ProfileView, AppError> {
        let mut s = self.store.get_student(&who.student_no).await?.ok_or(AppError::Unauthenticated)?;
        let contact = apply_change(&s.contact, change)?;
        if contact.phone != s.contact.phone {
            return Err(AppError::field("phone", PHONE_CHANGE_MESSAGE));
        }
        let audit = who
            .by(self.clock.now())
            .entry(AuditAction::ContactChanged, AuditSubject::Student, &s.student_no)
            .change(Some(&s.contact.audit_summary()), &contact.audit_summary());
        self.save_contact(&s.student_no, &contact, &audit, None).await?;
        s.contact = contact;
        tracing::info!("profile updated");
        Ok(ProfileView::new(&s, who.must_change_password))
    }
}

fn new_phone(raw: &str, current: Option<&Phone>) -> Result<Phone, AppError> {
    let phone = Phone::parse(raw.trim()).map_err(|_| AppError::field("phone", PHONE_MESSAGE))?;
    if current == Some(&phone) {
        return Err(AppError::field("phone", "新手机号码与当前绑定的号码相同"));
    }
    Ok(phone)
}

impl<S: AccountStores> App<S> {
    /// 更换手机号码, step 1: the current password, then a code sent to the new number. Returns
    /// the new number masked.
    pub async fn send_phone_code(&self, who: &Authed, phone: &str, password: &str, client_ip: &str) -> Result<String, AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        let phone = new_phone(phone, student.contact.phone.as_ref())?;
        self.check_password(&student, &cred, password, "password").await?;
        let what = CodeFor { action: "更换绑定手机", context: phone_context(&who.session_id, &phone) };
        self.send_code(&student.student_no, &phone, what, client_ip).await?;
        Ok(phone.masked())
    }

    /// 更换手机号码, step 2: the code sent to the new number. The replaced number is told by
    /// SMS (masked numbers only), queued with the change.
    pub async fn change_phone(&self, who: &Authed, phone: &str, code: &str) -> Result<ProfileView, AppError> {
        let mut s = self.store.get_student(&who.student_no).await?.ok_or(AppError::Unauthenticated)?;
        let phone = new_phone(phone, s.contact.phone.as_ref())?;
        if code.trim().is_empty() {
            return Err(AppError::field("code", "请输入短信验证码"));
        }
        self.use_code(&s.student_no, &phone_context(&who.session_id, &phone), code).await?;
        let contact = Contact { phone: Some(phone.clone()), ..s.contact.clone() };
        let now = self.clock.now();
        let audit = who
            .by(now)
            .entry(AuditAction::ContactChanged, AuditSubject::Student, &s.student_no)
            .change(Some(&s.contact.audit_summary()), &contact.audit_summary())
            .reason("更换手机号码（已验证登录密码和新号码）");
        let old = s.contact.phone.as_ref();
        let notice = account_notice(&s.student_no, old, now, |time| {
            let (from, to) = (old.map(Phone::masked).unwrap_or_default(), phone.masked());
            format!("【校园统一支付平台】您账户绑定的手机号码已于{time}由{from}更换为{to}。如非本人操作，请立即联系{COLLEGE_PHONES}。")
        });
        self.save_contact(&s.student_no, &contact, &audit, notice.as_ref()).await?;
        tracing::info!("phone changed");
        self.notify_now(notice.as_ref()).await;
        s.contact = contact;
        Ok(ProfileView::new(&s, who.must_change_password))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_keeps_clears_and_reports_all_fields() {
        let current = Contact {
            phone: Some(Phone::parse("18712346579").unwrap()),
            email: Some(Email::parse("a@b.cn").unwrap()),
            ..Default::default()
        };
        let kept = apply_change(&current, &ContactChange::default()).unwrap();
        assert_eq!(kept, current);
        let cleared =
            apply_change(&current, &ContactChange { email: Some(" ".into()), postcode: Some("730050".into()), ..Default::default() })
                .unwrap();
        assert_eq!(cleared.email, None);
        assert_eq!(cleared.postcode.unwrap().as_str(), "730050");
        let err = apply_change(
            &current,
            &ContactChange { phone: Some("123".into()), postcode: Some("12ab".into()), email: Some("x".into()), address: None },
        )
        .unwrap_err();
        let fields = err.fields().unwrap();
        assert_eq!(fields.len(), 3);
        assert_eq!(fields["postcode"], POSTCODE_MESSAGE);
        assert!(apply_change(&current, &ContactChange { phone: Some(String::new()), ..Default::default() }).is_err());
    }
}
