//! Login, password and security-question changes, and forgotten-password recovery.

use crate::app::App;
use crate::auth::{Claims, Purpose, constant_time_eq, random_id};
use crate::domain::{AccountKind, AuditAction, AuditSubject, IdCardNo, NewPassword, PasswordRuleError, PersonName, Student, StudentNo};
use crate::error::AppError;
use crate::service::Authed;
use crate::store::dynamo::hashed_key;
use crate::store::{
    Credential, CredentialStore, Password, ResetCode, ResetCodeStore, SessionStore, StoreError, StudentStore, ThrottleStore,
};
use sha2::{Digest, Sha256};

/// Everything the store must offer for account use cases.
pub trait AccountStores: StudentStore + CredentialStore + ThrottleStore + SessionStore + ResetCodeStore {}
impl<T: StudentStore + CredentialStore + ThrottleStore + SessionStore + ResetCodeStore> AccountStores for T {}

pub const PASSWORD_RULE: &str = "新密码为8-32位，须同时包含字母和数字，不能与初始密码（身份证号后8位或姓名）或学号相同";

/// The outcome of a successful login.
pub struct LoggedIn {
    pub student: Student,
    pub must_change_password: bool,
    pub cookie: String,
}

/// What step 1 of the forgotten-password flow reveals to someone who proved who they are.
pub struct ResetTicket {
    pub ticket: String,
    pub question: Option<String>,
    pub phone_masked: Option<String>,
}

pub enum ResetProof {
    Answer(String),
    SmsCode(String),
}

fn account_key(username: &str) -> String {
    hashed_key("THR#ACCT", &username.trim().to_uppercase())
}
fn client_key(ip: &str) -> String {
    hashed_key("THR#IP", ip)
}
fn reset_key(no: &StudentNo) -> String {
    hashed_key("THR#RESET", no.as_str())
}

/// Security answers are compared case- and space-insensitively.
fn normalise_answer(a: &str) -> String {
    a.split_whitespace().collect::<String>().to_lowercase()
}

fn code_hash(ticket_id: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{ticket_id}:{code}").as_bytes()))
}

fn rule_message(e: PasswordRuleError) -> String {
    let why = match e {
        PasswordRuleError::Length => "长度应为8-32位",
        PasswordRuleError::Composition => "须同时包含字母和数字",
        PasswordRuleError::Guessable => "不能与初始密码（身份证号后8位或姓名）或学号相同",
    };
    format!("新密码{why}。规则：{PASSWORD_RULE}")
}

impl<S: AccountStores> App<S> {
    async fn is_locked(&self, key: &str) -> Result<bool, AppError> {
        let now = self.clock.now();
        Ok(self.store.get_failures(key).await?.locked_until.is_some_and(|t| t > now))
    }

    /// Counts a failure against `key`; true when that locked it.
    async fn fail(&self, key: &str, lock_after: u32) -> Result<bool, AppError> {
        let s = &self.settings;
        let now = self.clock.now();
        let state = self.store.record_failure(key, now, s.failure_window, lock_after, s.lock_for).await?;
        Ok(state.locked_until.is_some_and(|t| t > now))
    }

    async fn resolve_account(&self, username: &str) -> Result<Option<(Student, Credential)>, AppError> {
        let student = match StudentNo::parse(username) {
            Ok(no) => self.store.get_student(&no).await?,
            Err(_) => None,
        };
        let student = match (student, IdCardNo::parse(username)) {
            (Some(s), _) => Some(s),
            // Other users may log in with their ID-card number.
            (None, Ok(id)) => match self.store.find_by_id_card(&id).await? {
                Some(no) => self.store.get_student(&no).await?.filter(|s| s.kind == AccountKind::Other),
                None => None,
            },
            (None, Err(_)) => None,
        };
        let Some(student) = student else { return Ok(None) };
        Ok(self.store.get_credential(&student.student_no).await?.map(|c| (student, c)))
    }

    /// Logs in with user name and password. Unknown users and wrong passwords take the same
    /// time and get the same answer; repeated failures lock the name and throttle the client.
    pub async fn login(&self, username: &str, password: &str, client_ip: &str) -> Result<LoggedIn, AppError> {
        let (acct, client) = (account_key(username), client_key(client_ip));
        if self.is_locked(&client).await? {
            tracing::warn!(event = "login_refused", client = client_ip, reason = "client throttled", "login refused");
            return Err(AppError::TooManyRequests);
        }
        if self.is_locked(&acct).await? {
            tracing::warn!(event = "login_refused", client = client_ip, reason = "account locked", "login refused");
            return Err(AppError::Locked);
        }
        let found = self.resolve_account(username).await?;
        // The same account may be typed as a user number or an ID-card number: its own key
        // counts too, so alternating names buys no extra tries.
        let own = found.as_ref().map(|(s, _)| account_key(s.student_no.as_str())).filter(|k| *k != acct);
        if let Some(own) = &own
            && self.is_locked(own).await?
        {
            return Err(AppError::Locked);
        }
        let password = match &found {
            Some((s, c)) => typed_initial(s, c, password),
            None => password.to_owned(),
        };
        let ok = match &found {
            Some((s, c)) => self.password_matches(password, s, c).await,
            None => self.hasher.verify(password, None).await,
        };
        // The authentication event names the account's student number, never the typed name
        // (which may be an ID-card number), and the client's address.
        let account_no = found.as_ref().map(|(s, _)| s.student_no.clone());
        let Some((student, cred)) = found.filter(|_| ok) else {
            let no = account_no.as_ref().map_or("", StudentNo::as_str);
            tracing::warn!(event = "login_failed", student_no = no, client = client_ip, "login failed");
            let client_locked = self.fail(&client, self.settings.client_lock_after).await?;
            let mut account_locked = self.fail(&acct, self.settings.account_lock_after).await?;
            if let Some(own) = &own {
                account_locked |= self.fail(own, self.settings.account_lock_after).await?;
            }
            return Err(if account_locked {
                AppError::Locked
            } else if client_locked {
                AppError::TooManyRequests
            } else {
                AppError::InvalidCredentials
            });
        };
        self.store.clear_failures(&acct).await?;
        if let Some(own) = &own {
            self.store.clear_failures(own).await?;
        }
        let cookie = self.start_session(&student.student_no, &student.name, cred.must_change).await?;
        tracing::info!(
            event = "login_succeeded",
            student_no = student.student_no.as_str(),
            client = client_ip,
            kind = student.kind.as_str(),
            must_change = cred.must_change,
            "login succeeded"
        );
        Ok(LoggedIn { student, must_change_password: cred.must_change, cookie })
    }

    /// Whether `typed` is the account's password: its hash, or while it is still the initial
    /// password, the one derived from the profile — at the same cost either way.
    async fn password_matches(&self, typed: String, student: &Student, cred: &Credential) -> bool {
        match &cred.password {
            Password::Hash(phc) => self.hasher.verify(typed, Some(phc.clone())).await,
            Password::Initial => self.hasher.verify_derived(typed, student.initial_password().to_owned()).await,
        }
    }

    async fn account(&self, no: &StudentNo) -> Result<(Student, Credential), AppError> {
        let student = self.store.get_student(no).await?.ok_or(AppError::Unauthenticated)?;
        let cred = self.store.get_credential(no).await?.ok_or(AppError::Unauthenticated)?;
        Ok((student, cred))
    }

    /// Re-checks the logged-in user's password (for changes that need it). Failures count
    /// toward the same lock as login.
    async fn check_password(&self, student: &Student, cred: &Credential, password: &str, field: &'static str) -> Result<(), AppError> {
        let key = account_key(student.student_no.as_str());
        if self.is_locked(&key).await? {
            return Err(AppError::Locked);
        }
        if self.password_matches(password.to_owned(), student, cred).await {
            return Ok(());
        }
        if self.fail(&key, self.settings.account_lock_after).await? {
            return Err(AppError::Locked);
        }
        Err(AppError::field(field, if field == "old_password" { "原密码不正确" } else { "密码不正确" }))
    }

    /// 密码修改. Ends a forced change; returns the session cookie re-issued without the flag.
    pub async fn change_password(&self, who: &Authed, old: &str, new: &str) -> Result<String, AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        self.check_password(&student, &cred, &typed_initial(&student, &cred, old), "old_password").await?;
        let new = NewPassword::parse(new, &student).map_err(|e| AppError::field("new_password", rule_message(e)))?;
        if old == new.expose() {
            return Err(AppError::field("new_password", "新密码不能与原密码相同"));
        }
        let next = Credential {
            password: Password::Hash(self.hasher.hash(new.expose().to_owned()).await),
            must_change: false,
            version: cred.version + 1,
            ..cred.clone()
        };
        let audit = who
            .by(self.clock.now())
            .entry(AuditAction::PasswordChanged, AuditSubject::Student, &student.student_no)
            .reason(if cred.must_change { "首次登录修改初始密码" } else { "密码修改" });
        self.store.replace_credential(&student.student_no, cred.version, &next, &audit).await?;
        // Whoever else held a session (the one who knew the old password) is out now.
        let ended = self.store.end_sessions(&student.student_no, Some(&who.session_id)).await?;
        let record = self.store.get_session(&student.student_no, &who.session_id).await?.ok_or(AppError::Unauthenticated)?;
        tracing::info!(other_sessions_ended = ended, "password changed");
        self.session_cookie(&record, false)
    }

    pub async fn security_question(&self, who: &Authed) -> Result<Option<String>, AppError> {
        let (_, cred) = self.account(&who.student_no).await?;
        Ok(cred.security_question)
    }

    /// 密保修改, step 1: re-enter the password.
    pub async fn verify_password(&self, who: &Authed, password: &str) -> Result<(), AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        self.check_password(&student, &cred, password, "password").await
    }

    /// 密保修改, step 2: set question and answer (answer stored as an argon2id hash).
    pub async fn set_security_question(&self, who: &Authed, password: &str, question: &str, answer: &str) -> Result<(), AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        let mut errs = crate::error::FieldErrors::default();
        let question = question.trim();
        let answer = normalise_answer(answer);
        if !(2..=50).contains(&question.chars().count()) || question.chars().any(char::is_control) {
            errs.add("question", "密保问题应为2-50个字");
        }
        if !(1..=50).contains(&answer.chars().count()) || answer.chars().any(char::is_control) {
            errs.add("answer", "密保答案应为1-50个字");
        }
        errs.finish()?;
        self.check_password(&student, &cred, password, "password").await?;
        let next = Credential {
            security_question: Some(question.to_owned()),
            security_answer_hash: Some(self.hasher.hash(answer).await),
            version: cred.version + 1,
            ..cred.clone()
        };
        let audit = who.by(self.clock.now()).entry(AuditAction::SecurityQuestionChanged, AuditSubject::Student, &student.student_no);
        self.store.replace_credential(&student.student_no, cred.version, &next, &audit).await?;
        tracing::info!("security question changed");
        Ok(())
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
        let Some((student, cred)) = found else {
            self.fail(&client, self.settings.client_lock_after).await?;
            return Err(if self.fail(&reset_key(&no), self.settings.account_lock_after).await? {
                AppError::Locked
            } else {
                AppError::IdentityMismatch
            });
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

    /// 忘记密码, SMS route: sends a 6-digit code to the registered phone (one a minute).
    pub async fn forgot_send_code(&self, ticket: &str) -> Result<String, AppError> {
        let (student, _, ticket_id) = self.open_ticket(ticket).await?;
        let phone = student.contact.phone.clone().ok_or(AppError::NoPhone)?;
        let now = self.clock.now();
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let record = ResetCode {
            code_hash: code_hash(&ticket_id, &code),
            sent_at: now,
            expires_at: now + self.settings.reset_code_ttl,
            tries_left: self.settings.reset_code_tries,
        };
        match self.store.put_reset_code(&student.student_no, &record, now - self.settings.sms_cooldown).await {
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
            self.store.delete_reset_code(&student.student_no).await?;
            return Err(AppError::Sms(e.0));
        }
        tracing::info!("reset code sent");
        Ok(phone.masked())
    }

    /// 忘记密码, last step: prove control (security answer or SMS code) and set a new password.
    pub async fn forgot_reset(&self, ticket: &str, proof: ResetProof, new_password: &str) -> Result<(), AppError> {
        let (student, cred, ticket_id) = self.open_ticket(ticket).await?;
        let no = &student.student_no;
        let new = NewPassword::parse(new_password, &student).map_err(|e| AppError::field("new_password", rule_message(e)))?;
        let route = match &proof {
            ResetProof::Answer(_) => "忘记密码：密保问题重置",
            ResetProof::SmsCode(_) => "忘记密码：短信验证码重置",
        };
        match proof {
            ResetProof::Answer(answer) => {
                let hash = cred.security_answer_hash.clone().ok_or(AppError::NoSecurityQuestion)?;
                if self.is_locked(&reset_key(no)).await? {
                    return Err(AppError::Locked);
                }
                if !self.hasher.verify(normalise_answer(&answer), Some(hash)).await {
                    return Err(if self.fail(&reset_key(no), self.settings.account_lock_after).await? {
                        AppError::Locked
                    } else {
                        AppError::WrongAnswer
                    });
                }
            }
            ResetProof::SmsCode(code) => {
                let stored = self.store.get_reset_code(no).await?.ok_or(AppError::CodeExpired)?;
                if stored.expires_at <= self.clock.now() {
                    return Err(AppError::CodeExpired);
                }
                match self.store.take_reset_try(no).await {
                    Err(StoreError::Conflict) => return Err(AppError::CodeExpired),
                    other => other?,
                };
                let given = code_hash(&ticket_id, code.trim());
                if !constant_time_eq(given.as_bytes(), stored.code_hash.as_bytes()) {
                    return Err(AppError::CodeInvalid);
                }
                self.store.delete_reset_code(no).await?;
            }
        }
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

/// The initial password is the ID suffix with an upper-case X; a typed lower-case x is taken
/// as X while that initial password is still in use.
fn typed_initial(student: &Student, cred: &Credential, password: &str) -> String {
    match password.strip_suffix('x') {
        Some(head) if cred.must_change && student.kind == AccountKind::Student => format!("{head}X"),
        _ => password.to_owned(),
    }
}
