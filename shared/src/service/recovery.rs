//! 忘记密码 (forgotten-password recovery): prove who you are (student number, full ID-card
//! number, name), then control of the account — the SMS code sent to the phone on file, or the
//! security answer — then set a new password. Every session of the student ends with it.
//!
//! Abuse limits (issue #12, item 4; docs/security.md):
//! * every recovery failure of a student — an identity that does not match, a wrong answer, a
//!   wrong code — counts toward one per-student lock over a day, across code resends
//!   (`recovery_lock_after`, 10): about 10 guesses a day, not 5 per resend;
//! * SMS codes are capped per student and per client address per day, besides the one-a-minute
//!   cooldown;
//! * a successful identity check counts toward the client's throttle like a failed one, so
//!   probing which identities are right costs the same;
//! * the security answer alone is not enough for a student with a phone on file: it must come
//!   with the SMS code (ASVS 5.0 6.4.2 advises against security questions; the reference keeps
//!   them, so they remain only where there is no phone, as the reference's only route).

use super::accounts::{AccountStores, client_key, normalise_answer, rule_message};
use super::verification::{COLLEGE_PHONES, CodeFor, account_notice};
use crate::app::App;
use crate::auth::{Claims, Purpose, random_id};
use crate::domain::{AuditAction, AuditSubject, IdCardNo, NewPassword, PersonName, Student, StudentNo};
use crate::error::AppError;
use crate::store::{Credential, Password, StoreError};

/// What step 1 of the forgotten-password flow reveals to someone who proved who they are.
pub struct ResetTicket {
    pub ticket: String,
    pub question: Option<String>,
    pub phone_masked: Option<String>,
}

/// How the student proves control of the account.
pub enum ResetProof {
    /// The security answer; for a student with a phone on file, together with the SMS code.
    Answer {
        answer: String,
        code: Option<String>,
    },
    SmsCode(String),
}

impl<S: AccountStores> App<S> {
    /// 忘记密码, step 1: student number + full ID-card number + name. The ticket is bound to the
    /// credential version, so it stops working once the password changes.
    pub async fn forgot_start(&self, student_no: &str, id_card: &str, name: &str, client_ip: &str) -> Result<ResetTicket, AppError> {
        let client = client_key(client_ip);
        if self.is_locked(&client).await? {
            return Err(AppError::TooManyRequests);
        }
        let mut errs = crate::error::FieldErrors::default();
        let no = errs.check("student_no", StudentNo::parse(student_no), "请输入学号（4-20位字母或数字）");
        let id = errs.check("id_card", IdCardNo::parse(id_card), "身份证号应为18位，最后一位可为数字或X，请核对");
        let name = errs.check("name", PersonName::parse(name), "请输入身份证上的姓名");
        errs.finish()?;
        let (no, id, name) = (no.expect("checked"), id.expect("checked"), name.expect("checked"));
        if self.verification_locked(&no).await? {
            return Err(AppError::Locked);
        }
        let found = match self.store.get_student(&no).await? {
            Some(s) if s.id_card == id && s.name == name => self.store.get_credential(&no).await?.map(|c| (s, c)),
            _ => None,
        };
        // Right or wrong, an identity check costs the client the same.
        self.fail(&client, self.settings.client_lock_after).await?;
        let Some((student, cred)) = found else {
            return Err(self.verification_failed(&no, AppError::IdentityMismatch).await);
        };
        let now = self.clock.now();
        let ticket = self.keys()?.issue(&Claims {
            sub: no.as_str().to_owned(),
            sid: format!("{}.{}", random_id(), cred.version),
            purpose: Purpose::Reset,
            pwc: false,
            iat: now.timestamp(),
            exp: (now + self.settings.reset_ticket_ttl).timestamp(),
            data: None,
        });
        Ok(ResetTicket {
            ticket,
            question: cred.security_question.clone(),
            phone_masked: student.contact.phone.as_ref().map(|p| p.masked()),
        })
    }

    /// Checks a reset ticket: valid signature, unexpired, and the credential unchanged since.
    async fn open_ticket(&self, ticket: &str) -> Result<(Student, Credential, String), AppError> {
        let claims = self.keys()?.verify(ticket, Purpose::Reset, self.clock.now()).ok_or(AppError::TicketExpired)?;
        let no = StudentNo::parse(&claims.sub).map_err(|_| AppError::TicketExpired)?;
        let (student, cred) = self.account(&no).await.map_err(|e| match e {
            AppError::Unauthenticated => AppError::TicketExpired,
            other => other,
        })?;
        let version_ok = claims.sid.rsplit_once('.').is_some_and(|(_, v)| v == cred.version.to_string());
        if !version_ok {
            return Err(AppError::TicketExpired);
        }
        Ok((student, cred, claims.sid))
    }

    /// 忘记密码, SMS route: sends a 6-digit code to the registered phone, within the limits of
    /// every verification code (`verification.rs`).
    pub async fn forgot_send_code(&self, ticket: &str, client_ip: &str) -> Result<String, AppError> {
        let (student, _, ticket_id) = self.open_ticket(ticket).await?;
        let phone = student.contact.phone.clone().ok_or(AppError::NoPhone)?;
        self.send_code(&student.student_no, &phone, CodeFor { action: "找回密码", context: ticket_id }, client_ip).await?;
        Ok(phone.masked())
    }

    /// 忘记密码, last step: prove control (the SMS code, or the security answer — with the code
    /// when there is a phone on file) and set a new password.
    pub async fn forgot_reset(&self, ticket: &str, proof: ResetProof, new_password: &str) -> Result<(), AppError> {
        let (student, cred, ticket_id) = self.open_ticket(ticket).await?;
        let no = &student.student_no;
        let new = NewPassword::parse(new_password, &student).map_err(|e| AppError::field("new_password", rule_message(e)))?;
        if self.verification_locked(no).await? {
            return Err(AppError::Locked);
        }
        let route = match proof {
            ResetProof::Answer { answer, code } => {
                let hash = cred.security_answer_hash.clone().ok_or(AppError::NoSecurityQuestion)?;
                let code = match (&student.contact.phone, code) {
                    (Some(_), None) => return Err(AppError::field("code", "该账户已绑定手机，使用密保问题找回时还须输入短信验证码")),
                    (_, code) => code,
                };
                if !self.hasher.verify(normalise_answer(&answer), Some(hash)).await {
                    return Err(self.verification_failed(no, AppError::WrongAnswer).await);
                }
                if let Some(code) = code {
                    self.use_code(no, &ticket_id, &code).await?;
                }
                "忘记密码：密保问题重置"
            }
            ResetProof::SmsCode(code) => {
                self.use_code(no, &ticket_id, &code).await?;
                "忘记密码：短信验证码重置"
            }
        };
        let next = Credential {
            password: Password::Hash(self.hasher.hash(new.expose().to_owned()).await),
            must_change: false,
            version: cred.version + 1,
            ..cred.clone()
        };
        let now = self.clock.now();
        let audit = crate::domain::By::new(crate::domain::Actor::Student(no.clone()), now)
            .entry(AuditAction::PasswordChanged, AuditSubject::Student, no)
            .reason(route);
        let notice = account_notice(no, student.contact.phone.as_ref(), now, |time| {
            format!("【校园统一支付平台】您的账户密码已于{time}通过“忘记密码”重置。如非本人操作，请立即联系{COLLEGE_PHONES}。")
        });
        match self.store.replace_credential(no, cred.version, &next, &audit, notice.as_ref()).await {
            Err(StoreError::Conflict) => return Err(AppError::TicketExpired),
            other => other?,
        }
        // Recovery ends every session: whoever was logged in with the forgotten password is out.
        let ended = self.store.end_sessions(no, None).await?;
        tracing::info!(sessions_ended = ended, "password reset");
        self.notify_now(notice.as_ref()).await;
        Ok(())
    }
}
