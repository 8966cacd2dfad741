//! Sessions: issuing the cookie at login, checking it on every request, sliding renewal, logout.

use crate::app::App;
use crate::auth::{self, Claims, Purpose};
use crate::domain::{PersonName, StudentNo};
use crate::error::AppError;
use crate::store::{SessionRecord, SessionStore};

/// A request whose session checked out.
#[derive(Debug, Clone)]
pub struct Authed {
    pub student_no: StudentNo,
    /// The student's name as of login (`None` for a session started before it was kept).
    pub name: Option<PersonName>,
    pub session_id: String,
    pub must_change_password: bool,
    /// A fresh cookie when the token is past half its life (sliding expiry).
    pub renewed_cookie: Option<String>,
}

impl Authed {
    /// The student as the actor of a change they make now.
    pub fn by(&self, at: chrono::DateTime<chrono::Utc>) -> crate::domain::By {
        crate::domain::By::new(crate::domain::Actor::Student(self.student_no.clone()), at)
    }
}

impl Authed {
    /// Refuses everything but the password change while the initial password is in use.
    pub fn require_ready(&self) -> Result<(), AppError> {
        if self.must_change_password { Err(AppError::PasswordChangeRequired) } else { Ok(()) }
    }
}

impl<S: SessionStore> App<S> {
    /// Starts a session for `no` (named `name`), whose password was checked at credential
    /// version `credential_version`; returns the `Set-Cookie` value. `Store(Conflict)` when the
    /// credential changed since (the session is not opened).
    pub async fn start_session(
        &self,
        no: &StudentNo,
        name: &PersonName,
        must_change: bool,
        credential_version: u64,
    ) -> Result<String, AppError> {
        // Without the key no cookie could be signed: nothing is stored.
        self.keys()?;
        let now = self.clock.now();
        let record = SessionRecord {
            session_id: auth::random_id(),
            student_no: no.clone(),
            created_at: now,
            expires_at: now + self.settings.session_max,
            name: Some(name.clone()),
        };
        self.store.create_session(&record, credential_version).await?;
        self.session_cookie(&record, must_change)
    }

    /// A cookie for an existing session: valid for the idle period, never past the session's end.
    pub fn session_cookie(&self, record: &SessionRecord, must_change: bool) -> Result<String, AppError> {
        let now = self.clock.now();
        let exp = (now + self.settings.session_idle).min(record.expires_at);
        let token = self.keys()?.issue(&Claims {
            sub: record.student_no.as_str().to_owned(),
            sid: record.session_id.clone(),
            purpose: Purpose::Session,
            pwc: must_change,
            iat: now.timestamp(),
            exp: exp.timestamp(),
            data: None,
        });
        Ok(auth::session_cookie(&token, (exp - now).num_seconds().max(0), self.settings.cookie_secure))
    }

    /// The session key, which a function that serves no sessions (`Uses::sessions`) does not have.
    pub(crate) fn keys(&self) -> Result<&crate::auth::TokenKeys, AppError> {
        self.tokens.as_ref().ok_or(AppError::NoSessions)
    }

    /// Checks the session cookie's value (`token`; `auth::session_cookie_name`): signature, expiry,
    /// and that the session still exists.
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Authed, AppError> {
        let now = self.clock.now();
        let token = token.ok_or(AppError::Unauthenticated)?;
        let claims = self.keys()?.verify(token, Purpose::Session, now).ok_or(AppError::Unauthenticated)?;
        let student = StudentNo::parse(&claims.sub).map_err(|_| AppError::Unauthenticated)?;
        let record = self.store.get_session(&student, &claims.sid).await?.ok_or(AppError::Unauthenticated)?;
        if record.expires_at <= now || record.student_no.as_str() != claims.sub {
            return Err(AppError::Unauthenticated);
        }
        let half_life = self.settings.session_idle.num_seconds() / 2;
        let renewed_cookie = (claims.exp - now.timestamp() < half_life && record.expires_at > now)
            .then(|| self.session_cookie(&record, claims.pwc))
            .transpose()?;
        Ok(Authed {
            student_no: record.student_no,
            name: record.name,
            session_id: record.session_id,
            must_change_password: claims.pwc,
            renewed_cookie,
        })
    }

    /// Ends the session named by the cookie's value, if any; returns the clearing `Set-Cookie`
    /// value.
    pub async fn logout(&self, token: Option<&str>) -> Result<String, AppError> {
        // An expired token still names a session worth deleting, so decode without the clock.
        if let Some(token) = token
            && let Some(claims) = self.keys()?.verify(token, Purpose::Session, chrono::DateTime::UNIX_EPOCH)
            && let Ok(student) = StudentNo::parse(&claims.sub)
        {
            self.store.delete_session(&student, &claims.sid).await?;
        }
        Ok(auth::clear_session_cookie(self.settings.cookie_secure))
    }
}
