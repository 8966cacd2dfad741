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
use crate::app::App;
use crate::auth::{Claims, Purpose, constant_time_eq, random_id};
use crate::domain::{AuditAction, AuditSubject, IdCardNo, NewPassword, PersonName, Student, StudentNo};
use crate::error::AppError;
use crate::store::dynamo::hashed_key;
use crate::store::{Credential, Password, ResetCode, StoreError};
use sha2::{Digest, Sha256};

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

/// The per-student recovery failure count.
fn reset_key(no: &StudentNo) -> String {
    hashed_key("THR#RESET", no.as_str())
}
/// Recovery SMS sent to a student today.
fn sms_student_key(no: &StudentNo) -> String {
    hashed_key("THR#SMS", no.as_str())
}
/// Recovery SMS asked for from a client address today.
fn sms_client_key(ip: &str) -> String {
    hashed_key("THR#SMSIP", ip)
}

fn code_hash(ticket_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{ticket_id}:{code}").as_bytes()))
}

impl<S: AccountStores> App<S> {
    /// Counts one use of `key` within the recovery window (a day); `true` once `limit` is
    /// reached, and then for the rest of the window.
    async fn count_today(&self, key: &str, limit: u32) -> Result<bool, AppError> {
        let (now, day) = (self.clock.now(), self.settings.recovery_window);
        let state = self.store.record_failure(key, now, day, limit, day).await?;
        Ok(state.locked_until.is_some_and(|t| t > now))
    }

    /// One recovery failure of `no`: `Locked` once the day's count is reached, else `otherwise`.
    async fn recovery_failed(&self, no: &StudentNo, otherwise: AppError) -> AppError {
        match self.count_today(&reset_key(no), self.settings.recovery_lock_after).await {
            Ok(true) => AppError::Locked,
            Ok(false) => otherwise,
            Err(e) => e,
        }
    }

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
        if self.is_locked(&reset_key(&no)).await? {
            return Err(AppError::Locked);
        }
        let found = match self.store.get_student(&no).await? {
            Some(s) if s.id_card == id && s.name == name => self.store.get_credential(&no).await?.map(|c| (s, c)),
            _ => None,
        };
        // Right or wrong, an identity check costs the client the same.
        self.fail(&client, self.settings.client_lock_after).await?;
        let Some((student, cred)) = found else {
            return Err(self.recovery_failed(&no, AppError::IdentityMismatch).await);
        };
        let now = self.clock.now();
        let ticket = self.keys()?.issue(&Claims {
            sub: no.as_str().to_owned(),
            sid: format!("{}.{}", random_id(), cred.version),
            purpose: Purpose::Reset,
            pwc: false,
            iat: now.timestamp(),
            exp: (now + self.settings.reset_ticket_ttl).timestamp(),
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

    /// 忘记密码, SMS route: sends a 6-digit code to the registered phone — one a minute, and at
    /// most `sms_per_student_per_day` to the student and `sms_per_client_per_day` from the
    /// client address a day; none once recovery is locked.
    pub async fn forgot_send_code(&self, ticket: &str, client_ip: &str) -> Result<String, AppError> {
        let (student, _, ticket_id) = self.open_ticket(ticket).await?;
        let no = &student.student_no;
        if self.is_locked(&reset_key(no)).await? {
            return Err(AppError::Locked);
        }
        let phone = student.contact.phone.clone().ok_or(AppError::NoPhone)?;
        let (per_student, per_client) = (sms_student_key(no), sms_client_key(client_ip));
        if self.is_locked(&per_student).await? || self.is_locked(&per_client).await? {
            tracing::warn!(event = "recovery_sms_capped", student_no = no.as_str(), client = client_ip, "recovery SMS refused: daily cap");
            return Err(AppError::TooManyRequests);
        }
        let now = self.clock.now();
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let record = ResetCode {
            code_hash: code_hash(&ticket_id, &code),
            sent_at: now,
            expires_at: now + self.settings.reset_code_ttl,
            tries_left: self.settings.reset_code_tries,
        };
        match self.store.put_reset_code(no, &record, now - self.settings.sms_cooldown).await {
            Err(StoreError::Conflict) => return Err(AppError::TooManyRequests),
            other => other?,
        }
        let text = format!(
            "【校园统一支付平台】您正在找回密码，验证码{code}，{}分钟内有效。如非本人操作请忽略。",
            self.settings.reset_code_ttl.num_minutes()
        );
        let sent = match self.sms() {
            Ok(sms) => sms.send(&phone, &text).await,
            Err(none) => Err(none),
        };
        if let Err(e) = sent {
            // Nothing was sent, so the student may ask again at once.
            self.store.delete_reset_code(no).await?;
            return Err(AppError::Sms(e.0));
        }
        self.count_today(&per_student, self.settings.sms_per_student_per_day).await?;
        self.count_today(&per_client, self.settings.sms_per_client_per_day).await?;
        tracing::info!("reset code sent");
        Ok(phone.masked())
    }

    /// The SMS code the student typed, against the one last sent for this ticket: every wrong
    /// code counts toward the day's recovery lock, and each code allows only a few tries. A
    /// right code is used up.
    async fn use_code(&self, no: &StudentNo, ticket_id: &str, code: &str) -> Result<(), AppError> {
        let stored = self.store.get_reset_code(no).await?.ok_or(AppError::CodeExpired)?;
        if stored.expires_at <= self.clock.now() {
            return Err(AppError::CodeExpired);
        }
        match self.store.take_reset_try(no).await {
            Err(StoreError::Conflict) => return Err(AppError::CodeExpired),
            other => other?,
        };
        let given = code_hash(ticket_id, code.trim());
        if !constant_time_eq(given.as_bytes(), stored.code_hash.as_bytes()) {
            return Err(self.recovery_failed(no, AppError::CodeInvalid).await);
        }
        self.store.delete_reset_code(no).await?;
        Ok(())
    }

    /// 忘记密码, last step: prove control (the SMS code, or the security answer — with the code
    /// when there is a phone on file) and set a new password.
    pub async fn forgot_reset(&self, ticket: &str, proof: ResetProof, new_password: &str) -> Result<(), AppError> {
        let (student, cred, ticket_id) = self.open_ticket(ticket).await?;
        let no = &student.student_no;
        let new = NewPassword::parse(new_password, &student).map_err(|e| AppError::field("new_password", rule_message(e)))?;
        if self.is_locked(&reset_key(no)).await? {
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
                    return Err(self.recovery_failed(no, AppError::WrongAnswer).await);
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
        let audit = crate::domain::By::new(crate::domain::Actor::Student(no.clone()), self.clock.now())
            .entry(AuditAction::PasswordChanged, AuditSubject::Student, no)
            .reason(route);
        match self.store.replace_credential(no, cred.version, &next, &audit).await {
            Err(StoreError::Conflict) => return Err(AppError::TicketExpired),
            other => other?,
        }
        // Recovery ends every session: whoever was logged in with the forgotten password is out.
        let ended = self.store.end_sessions(no, None).await?;
        tracing::info!(sessions_ended = ended, "password reset");
        Ok(())
    }
}
