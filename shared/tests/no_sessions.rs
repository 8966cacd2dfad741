//! A function that serves no sessions (`Uses::sessions` false: notifications, the sweeper, the
//! operators' functions) has no key at all: it can neither open a session nor accept one. (It
//! used to invent a random key, with which it would have signed sessions nobody could check.)

mod common;

use http::StatusCode;
use shared::domain::PersonName;
use shared::error::AppError;

#[tokio::test]
async fn without_the_session_key_no_session_is_opened_or_accepted() {
    let mut app = common::app().await;
    let (no, name) = (common::student_no(), PersonName::parse("李四").unwrap());
    // With the key: a session is opened and its cookie accepted.
    let cookie = app.start_session(&no, &name, false, 1).await.expect("opens with the key");
    let token = cookie.split(';').next().unwrap().split_once('=').unwrap().1.to_owned();
    assert_eq!(app.authenticate(Some(&token)).await.unwrap().student_no, no);
    assert_eq!(app.store.session_count(), 1);

    // The same application without it: the valid cookie is not accepted, no session is opened
    // (and none stored), and the caller sees a server error, not a login failure.
    app.tokens = None;
    assert!(matches!(app.authenticate(Some(&token)).await, Err(AppError::NoSessions)));
    assert!(matches!(app.start_session(&no, &name, false, 1).await, Err(AppError::NoSessions)));
    assert_eq!(app.store.session_count(), 1);
    assert_eq!(AppError::NoSessions.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
