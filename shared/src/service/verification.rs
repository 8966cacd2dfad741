//! SMS verification codes and account notices, shared by recovery (`recovery.rs`), the first
//! login and the phone change (`accounts.rs`, `profile.rs`).
//!
//! A student has at most one code outstanding. Each code is bound to what it verifies (its
//! *context*: a recovery ticket, a session, a session and a new phone number), so a code sent
//! for one purpose never verifies another. The limits (issue #12, docs/security.md):
//! * every wrong code — and every other recovery failure — counts toward one per-student lock
//!   over a day (`recovery_lock_after`, 10), across resends; once locked no code is sent or
//!   accepted;
//! * codes are sent at most once a minute, and at most `sms_per_student_per_day` to a student
//!   and `sms_per_client_per_day` from a client address a day;
//! * each code allows `reset_code_tries` tries and lives `reset_code_ttl`.

use super::accounts::AccountStores;
use crate::app::App;
use crate::auth::{constant_time_eq, random_id};
use crate::domain::{Phone, StudentNo};
use crate::error::AppError;
use crate::store::dynamo::hashed_key;
use crate::store::{OutboxSms, ResetCode, StoreError};
use sha2::{Digest, Sha256};

/// The per-student failure count of recovery and verification.
fn failures_key(no: &StudentNo) -> String {
    hashed_key("THR#RESET", no.as_str())
}
/// Codes sent to a student today.
fn sms_student_key(no: &StudentNo) -> String {
    hashed_key("THR#SMS", no.as_str())
}
/// Codes asked for from a client address today (an IPv6 client's whole /64 as one).
fn sms_client_key(ip: &str) -> String {
    hashed_key("THR#SMSIP", &crate::domain::client::throttle_bucket(ip))
}

fn code_hash(context: &str, code: &str) -> String {
    hex::encode(Sha256::digest(format!("{context}:{code}").as_bytes()))
}

/// What a code is sent for: the words of its SMS and the context it is bound to.
pub(super) struct CodeFor {
    /// "找回密码", "首次登录验证", "更换绑定手机".
    pub action: &'static str,
    pub context: String,
}

/// Where a student who did not make a change an SMS reports turns to.
pub(super) const COLLEGE_PHONES: &str = "学院电话 2755282、2973633";

/// The SMS telling `phone` (none without one) about a change to the account made at `at`:
/// `words` gets the Beijing time ("12月07日 21:40") and gives the text. It is queued in the
/// outbox in the same write as the change it reports, and sent from there (retried, at most
/// once).
pub(super) fn account_notice(
    no: &StudentNo,
    phone: Option<&Phone>,
    at: chrono::DateTime<chrono::Utc>,
    words: impl FnOnce(String) -> String,
) -> Option<OutboxSms> {
    let text = words(at.with_timezone(&crate::clock::beijing()).format("%m月%d日 %H:%M").to_string());
    Some(OutboxSms::pending(&format!("ACCT-{}-{}", no.as_str(), random_id()), phone?, &text, at))
}

impl<S: AccountStores> App<S> {
    /// Counts one use of `key` within the recovery window (a day); `true` once `limit` is
    /// reached, and then for the rest of the window.
    pub(super) async fn count_today(&self, key: &str, limit: u32) -> Result<bool, AppError> {
        let (now, day) = (self.clock.now(), self.settings.recovery_window);
        let state = self.store.record_failure(key, now, day, limit, day).await?;
        Ok(state.locked_until.is_some_and(|t| t > now))
    }

    /// Whether `no` has failed recovery or verification too often today.
    pub(super) async fn verification_locked(&self, no: &StudentNo) -> Result<bool, AppError> {
        self.is_locked(&failures_key(no)).await
    }

    /// One recovery or verification failure of `no`: `Locked` once the day's count is
    /// reached, else `otherwise`.
    pub(super) async fn verification_failed(&self, no: &StudentNo, otherwise: AppError) -> AppError {
        match self.count_today(&failures_key(no), self.settings.recovery_lock_after).await {
            Ok(true) => AppError::Locked,
            Ok(false) => otherwise,
            Err(e) => e,
        }
    }

    /// Sends a fresh 6-digit code to `to` for `what`, within the limits above; `to` is the
    /// phone on file, or the new phone being verified.
    pub(super) async fn send_code(&self, no: &StudentNo, to: &Phone, what: CodeFor, client_ip: &str) -> Result<(), AppError> {
        if self.verification_locked(no).await? {
            return Err(AppError::Locked);
        }
        let (per_student, per_client) = (sms_student_key(no), sms_client_key(client_ip));
        if self.is_locked(&per_student).await? || self.is_locked(&per_client).await? {
            tracing::warn!(event = "code_sms_capped", student_no = no.as_str(), client = client_ip, "code SMS refused: daily cap");
            return Err(AppError::TooManyRequests);
        }
        let now = self.clock.now();
        let code = format!("{:06}", rand::random_range(0..1_000_000u32));
        let record = ResetCode {
            code_hash: code_hash(&what.context, &code),
            sent_at: now,
            expires_at: now + self.settings.reset_code_ttl,
            tries_left: self.settings.reset_code_tries,
        };
        match self.store.put_reset_code(no, &record, now - self.settings.sms_cooldown).await {
            Err(StoreError::Conflict) => return Err(AppError::TooManyRequests),
            other => other?,
        }
        let text = format!(
            "【校园统一支付平台】您正在{}，验证码{code}，{}分钟内有效。如非本人操作请忽略。",
            what.action,
            self.settings.reset_code_ttl.num_minutes()
        );
        let sent = match self.sms() {
            Ok(sms) => sms.send(to, &text).await,
            Err(none) => Err(none),
        };
        if let Err(e) = sent {
            // Nothing was sent, so the student may ask again at once.
            self.store.delete_reset_code(no).await?;
            return Err(AppError::Sms(e.0));
        }
        self.count_today(&per_student, self.settings.sms_per_student_per_day).await?;
        self.count_today(&per_client, self.settings.sms_per_client_per_day).await?;
        tracing::info!(action = what.action, "verification code sent");
        Ok(())
    }

    /// Sends a queued account notice now, once (the outbox function and the sweeper send it
    /// otherwise: it is in the outbox already, so nothing is lost if this does not get through).
    pub(super) async fn notify_now(&self, notice: Option<&OutboxSms>) {
        let Some(m) = notice.filter(|_| self.sms.is_some()) else { return };
        if let Err(e) = self.deliver_sms(&m.id).await {
            tracing::warn!(error = %e, sms_id = %m.id, "account notice left to the outbox");
        }
    }

    /// The code the student typed, against the one last sent for `context`: every wrong code
    /// counts toward the day's lock, and each code allows only a few tries. A right code is
    /// used up.
    pub(super) async fn use_code(&self, no: &StudentNo, context: &str, code: &str) -> Result<(), AppError> {
        if self.verification_locked(no).await? {
            return Err(AppError::Locked);
        }
        let stored = self.store.get_reset_code(no).await?.ok_or(AppError::CodeExpired)?;
        if stored.expires_at <= self.clock.now() {
            return Err(AppError::CodeExpired);
        }
        match self.store.take_reset_try(no).await {
            Err(StoreError::Conflict) => return Err(AppError::CodeExpired),
            other => other?,
        };
        let given = code_hash(context, &crate::domain::typed::half_width(code));
        if !constant_time_eq(given.as_bytes(), stored.code_hash.as_bytes()) {
            return Err(self.verification_failed(no, AppError::CodeInvalid).await);
        }
        self.store.delete_reset_code(no).await?;
        Ok(())
    }
}
