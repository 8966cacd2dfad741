//! Login, password and security-question changes (recovery: `recovery.rs`).

use super::verification::{COLLEGE_PHONES, CodeFor, account_notice};
use crate::app::App;
use crate::domain::{AccountKind, AuditAction, AuditSubject, IdCardNo, NewPassword, PasswordRuleError, Student, StudentNo};
use crate::error::AppError;
use crate::service::Authed;
use crate::store::dynamo::hashed_key;
use crate::store::{Credential, CredentialStore, OutboxStore, Password, ResetCodeStore, SessionStore, StudentStore, ThrottleStore};

/// Everything the store must offer for account use cases (the outbox carries the notices).
pub trait AccountStores: StudentStore + CredentialStore + ThrottleStore + SessionStore + ResetCodeStore + OutboxStore {}
impl<T: StudentStore + CredentialStore + ThrottleStore + SessionStore + ResetCodeStore + OutboxStore> AccountStores for T {}

/// A first-login code is bound to the session that asked for it.
fn activation_context(session_id: &str) -> String {
    format!("ACTIVATE:{session_id}")
}

pub const PASSWORD_RULE: &str = "新密码为8-32位，须同时包含字母和数字，不能与初始密码（身份证号后8位或姓名）或学号相同";

/// The outcome of a successful login.
pub struct LoggedIn {
    pub student: Student,
    pub must_change_password: bool,
    pub cookie: String,
}

fn account_key(username: &str) -> String {
    hashed_key("THR#ACCT", &crate::domain::typed::half_width(username).to_uppercase())
}
/// A client's failure count: an IPv6 client's whole /64 counts as one.
pub(super) fn client_key(ip: &str) -> String {
    hashed_key("THR#IP", &crate::domain::client::throttle_bucket(ip))
}

/// Security answers are compared case- and space-insensitively.
pub(super) fn normalise_answer(a: &str) -> String {
    a.split_whitespace().collect::<String>().to_lowercase()
}

pub(super) fn rule_message(e: PasswordRuleError) -> String {
    let why = match e {
        PasswordRuleError::Length => "长度应为8-32位",
        PasswordRuleError::Composition => "须同时包含字母和数字",
        PasswordRuleError::Guessable => "不能与初始密码（身份证号后8位或姓名）或学号相同",
    };
    format!("新密码{why}。规则：{PASSWORD_RULE}")
}

impl<S: AccountStores> App<S> {
    pub(super) async fn is_locked(&self, key: &str) -> Result<bool, AppError> {
        let now = self.clock.now();
        Ok(self.store.get_failures(key).await?.locked_until.is_some_and(|t| t > now))
    }

    /// Counts a failure against `key`; true when that locked it.
    pub(super) async fn fail(&self, key: &str, lock_after: u32) -> Result<bool, AppError> {
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
        // The initial password (guessable by whoever knows the ID number) opens only the first
        // login, which proves the phone on file; after its expiry, recovery is the way in.
        if let Err(refused) = self.first_login_possible(&student, &cred) {
            let reason = if matches!(refused, AppError::InitialPasswordExpired) { "initial password expired" } else { "no phone on file" };
            tracing::warn!(event = "login_refused", student_no = student.student_no.as_str(), client = client_ip, reason, "login refused");
            return Err(refused);
        }
        self.store.clear_failures(&acct).await?;
        if let Some(own) = &own {
            self.store.clear_failures(own).await?;
        }
        // Only while the password checked is still the password: a change or reset a moment ago
        // ended every session, and must end this one too.
        let cookie = match self.start_session(&student.student_no, &student.name, cred.must_change, cred.version).await {
            Err(AppError::Store(crate::store::StoreError::Conflict)) => return Err(AppError::InvalidCredentials),
            other => other?,
        };
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
            Password::Initial { .. } => self.hasher.verify_derived(typed, student.initial_password().to_owned()).await,
        }
    }

    /// While the account is on its initial password: refused once it expired, or when there is
    /// no phone on file to prove at the first login.
    fn first_login_possible(&self, student: &Student, cred: &Credential) -> Result<(), AppError> {
        match cred.password {
            Password::Initial { expires_at } if expires_at <= self.clock.now() => Err(AppError::InitialPasswordExpired),
            Password::Initial { .. } if student.contact.phone.is_none() => Err(AppError::NoPhoneForFirstLogin),
            _ => Ok(()),
        }
    }

    /// 首次登录验证: sends a code to the phone on file, for the first login's password change;
    /// returns the phone masked.
    pub async fn send_activation_code(&self, who: &Authed, client_ip: &str) -> Result<String, AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        if !cred.is_initial() {
            return Err(AppError::BadRequest("the account is already activated".into()));
        }
        self.first_login_possible(&student, &cred)?;
        let phone = student.contact.phone.clone().ok_or(AppError::NoPhoneForFirstLogin)?;
        let what = CodeFor { action: "首次登录验证", context: activation_context(&who.session_id) };
        self.send_code(&student.student_no, &phone, what, client_ip).await?;
        Ok(phone.masked())
    }

    pub(super) async fn account(&self, no: &StudentNo) -> Result<(Student, Credential), AppError> {
        let student = self.store.get_student(no).await?.ok_or(AppError::Unauthenticated)?;
        let cred = self.store.get_credential(no).await?.ok_or(AppError::Unauthenticated)?;
        Ok((student, cred))
    }

    /// Re-checks the logged-in user's password (for changes that need it). Failures count
    /// toward the same lock as login.
    pub(super) async fn check_password(
        &self,
        student: &Student,
        cred: &Credential,
        password: &str,
        field: &'static str,
    ) -> Result<(), AppError> {
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

    /// 密码修改. At the first login (the initial password) it also needs `code`, the SMS code
    /// sent to the phone on file ([`Self::send_activation_code`]): that is the activation.
    /// Every other session of the student ends; the phone on file is told by SMS. Returns the
    /// session cookie re-issued without the forced-change flag.
    pub async fn change_password(&self, who: &Authed, old: &str, new: &str, code: Option<&str>) -> Result<String, AppError> {
        let (student, cred) = self.account(&who.student_no).await?;
        self.first_login_possible(&student, &cred)?;
        self.check_password(&student, &cred, &typed_initial(&student, &cred, old), "old_password").await?;
        let new = NewPassword::parse(new, &student).map_err(|e| AppError::field("new_password", rule_message(e)))?;
        if old == new.expose() {
            return Err(AppError::field("new_password", "新密码不能与原密码相同"));
        }
        let activation = cred.is_initial();
        if activation {
            let code = code.map(str::trim).filter(|c| !c.is_empty()).ok_or_else(|| AppError::field("code", "请输入短信验证码"))?;
            self.use_code(&student.student_no, &activation_context(&who.session_id), code).await?;
        }
        let now = self.clock.now();
        let notice = account_notice(&student.student_no, student.contact.phone.as_ref(), now, |time| {
            if activation {
                format!("【校园统一支付平台】您的账户已于{time}完成首次登录验证并设置了新密码。如非本人操作，请立即联系{COLLEGE_PHONES}。")
            } else {
                format!("【校园统一支付平台】您的账户密码已于{time}修改。如非本人操作，请立即通过“忘记密码”找回或联系{COLLEGE_PHONES}。")
            }
        });
        let next = Credential {
            password: Password::Hash(self.hasher.hash(new.expose().to_owned()).await),
            must_change: false,
            version: cred.version + 1,
            ..cred.clone()
        };
        let audit = who.by(now).entry(AuditAction::PasswordChanged, AuditSubject::Student, &student.student_no).reason(if activation {
            "首次登录：验证预留手机并修改初始密码"
        } else {
            "密码修改"
        });
        self.store.replace_credential(&student.student_no, cred.version, &next, &audit, notice.as_ref()).await?;
        // Whoever else held a session (the one who knew the old password) is out now.
        let ended = self.store.end_sessions(&student.student_no, Some(&who.session_id)).await?;
        let record = self.store.get_session(&student.student_no, &who.session_id).await?.ok_or(AppError::Unauthenticated)?;
        tracing::info!(other_sessions_ended = ended, activation, "password changed");
        self.notify_now(notice.as_ref()).await;
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
        // Two characters at least: a one-character answer is one guess in a few thousand.
        if !(2..=50).contains(&answer.chars().count()) || answer.chars().any(char::is_control) {
            errs.add("answer", "密保答案应为2-50个字");
        }
        errs.finish()?;
        self.check_password(&student, &cred, password, "password").await?;
        let next = Credential {
            security_question: Some(question.to_owned()),
            security_answer_hash: Some(self.hasher.hash(answer).await),
            version: cred.version + 1,
            ..cred.clone()
        };
        let now = self.clock.now();
        let audit = who.by(now).entry(AuditAction::SecurityQuestionChanged, AuditSubject::Student, &student.student_no);
        let notice = account_notice(&student.student_no, student.contact.phone.as_ref(), now, |time| {
            format!("【校园统一支付平台】您的账户密保问题已于{time}修改。如非本人操作，请立即修改密码或联系{COLLEGE_PHONES}。")
        });
        self.store.replace_credential(&student.student_no, cred.version, &next, &audit, notice.as_ref()).await?;
        tracing::info!("security question changed");
        self.notify_now(notice.as_ref()).await;
        Ok(())
    }
}

/// The initial password is the ID suffix with an upper-case X; a typed lower-case x is taken
/// as X while that initial password is still in use.
fn typed_initial(student: &Student, cred: &Credential, password: &str) -> String {
    if !cred.is_initial() {
        return password.to_owned();
    }
    // The initial password is part of an ID number (or a name): as a phone may type it.
    let password = crate::domain::typed::half_width(password);
    match password.strip_suffix('x') {
        Some(head) if student.kind == AccountKind::Student => format!("{head}X"),
        _ => password,
    }
}
