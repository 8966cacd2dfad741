//! Sessions, failure throttles and password-reset codes.

use super::*;

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create_session(&self, sess: &SessionRecord, credential_version: u64) -> Result<(), StoreError> {
        let mut item = key(session_pk(&sess.student_no), &session_sk(&sess.session_id));
        item.insert("student_no".into(), s(sess.student_no.as_str()));
        item.insert("created_at".into(), n(sess.created_at.timestamp()));
        item.insert("expires_at".into(), n(sess.expires_at.timestamp()));
        item.insert(TTL.into(), n(sess.expires_at.timestamp()));
        if let Some(name) = &sess.name {
            item.insert("name".into(), s(name.as_str()));
        }
        let unchanged = built(
            aws_sdk_dynamodb::types::ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(key(student_pk(&sess.student_no), "CRED")))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(credential_version))
                .build(),
        )?;
        match self.transact(vec![self.put_new(item)?, TransactWriteItem::builder().condition_check(unchanged).build()]).await {
            Err(StoreError::Conflict) => {}
            other => return other,
        }
        // Cancelled: the credential changed since the login checked it, or (never expected,
        // and not the user's doing) a 128-bit random id collided.
        match self.get_consistent(student_pk(&sess.student_no), "CRED").await? {
            Some(cred) if get_i64(&cred, "version")? == credential_version as i64 => {
                Err(StoreError::Unavailable("session id collision".into()))
            }
            _ => Err(StoreError::Conflict),
        }
    }

    async fn get_session(&self, student: &StudentNo, session_id: &str) -> Result<Option<SessionRecord>, StoreError> {
        let item = self.get_consistent(session_pk(student), &session_sk(session_id)).await?;
        item.as_ref().map(|item| parse_session(session_id, item)).transpose()
    }

    async fn delete_session(&self, student: &StudentNo, session_id: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(session_pk(student), &session_sk(session_id))))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn end_sessions(&self, student: &StudentNo, keep: Option<&str>) -> Result<usize, StoreError> {
        let keep = keep.map(session_sk);
        let mut ended = 0;
        for item in self.query_prefix(session_pk(student), SESSION_PREFIX, true).await? {
            let sk = get_s(&item, "sk")?;
            if Some(sk) != keep.as_deref() {
                let id = sk.strip_prefix(SESSION_PREFIX).unwrap_or(sk).to_owned();
                self.delete_session(student, &id).await?;
                ended += 1;
            }
        }
        Ok(ended)
    }
}

fn parse_session(session_id: &str, item: &Item) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        session_id: session_id.to_owned(),
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        created_at: instant(get_i64(item, "created_at")?)?,
        expires_at: instant(get_i64(item, "expires_at")?)?,
        name: get_opt_s(item, "name").map(PersonName::parse).transpose().map_err(corrupt("name"))?,
    })
}

// ---------- throttling ----------

pub(super) fn parse_failures(item: Option<&Item>) -> Result<FailureState, StoreError> {
    let Some(item) = item else { return Ok(FailureState::default()) };
    Ok(FailureState {
        failures: get_opt_i64(item, "failures")?.unwrap_or(0).max(0) as u32,
        window_start: get_opt_i64(item, "window_start")?.map(instant).transpose()?,
        locked_until: get_opt_i64(item, "locked_until")?.map(instant).transpose()?,
    })
}

#[async_trait]
impl ThrottleStore for DynamoStore {
    async fn get_failures(&self, k: &str) -> Result<FailureState, StoreError> {
        let item = self.get_consistent(k.to_owned(), "THR").await?;
        parse_failures(item.as_ref())
    }

    async fn record_failure(
        &self,
        k: &str,
        now: DateTime<Utc>,
        window: chrono::Duration,
        lock_after: u32,
        lock_for: chrono::Duration,
    ) -> Result<FailureState, StoreError> {
        let cutoff = (now - window).timestamp();
        let ttl = (now + window.max(lock_for) + chrono::Duration::days(1)).timestamp();
        let mut state = None;
        let at = [(":one", 1), (":now", now.timestamp()), (":cutoff", cutoff), (":ttl", ttl)];
        for _ in 0..4 {
            // Count inside the current window …
            let count =
                "SET failures = if_not_exists(failures, :zero) + :one, window_start = if_not_exists(window_start, :now), #ttl = :ttl";
            let in_window = "attribute_not_exists(window_start) OR window_start > :cutoff";
            state = self.throttle_step(k, count, in_window, &[&at[..], &[(":zero", 0)]].concat()).await?;
            if state.is_some() {
                break;
            }
            // … or restart a stale window at 1 (only if it is still stale).
            let restart = "SET failures = :one, window_start = :now, #ttl = :ttl";
            state = self.throttle_step(k, restart, "window_start <= :cutoff", &at).await?;
            if state.is_some() {
                break;
            }
        }
        // Four lost races in a row: the key is under heavy contention; report it as a store fault.
        let state = state.ok_or_else(|| StoreError::Unavailable("failure counter contended".into()))?;
        if state.failures < lock_after {
            return Ok(state);
        }
        let until = now + lock_for;
        let locked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(k.to_owned(), "THR")))
            .update_expression("SET locked_until = :until, failures = :zero REMOVE window_start")
            .condition_expression("failures >= :limit")
            .expression_attribute_values(":until", n(until.timestamp()))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":limit", n(lock_after))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match locked {
            Ok(out) => parse_failures(out.attributes()),
            // A concurrent failure already locked it.
            Err(e) => match map_err(e) {
                StoreError::Conflict => self.get_failures(k).await,
                other => Err(other),
            },
        }
    }

    async fn clear_failures(&self, k: &str) -> Result<(), StoreError> {
        // Success clears the count but never an active lock.
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(k.to_owned(), "THR")))
            .update_expression("REMOVE failures, window_start")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map(|_| ())
            .or_else(|e| match map_err(e) {
                StoreError::Conflict => Ok(()),
                other => Err(other),
            })
    }
}

// ---------- password-reset codes ----------

#[async_trait]
impl ResetCodeStore for DynamoStore {
    async fn get_reset_code(&self, no: &StudentNo) -> Result<Option<ResetCode>, StoreError> {
        let item = self.get_consistent(student_pk(no), "RESET").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(ResetCode {
            code_hash: get_s(item, "code_hash")?.to_owned(),
            sent_at: instant(get_i64(item, "sent_at")?)?,
            expires_at: instant(get_i64(item, "expires_at")?)?,
            tries_left: get_i64(item, "tries_left")?.max(0) as u32,
        }))
    }

    async fn put_reset_code(&self, no: &StudentNo, c: &ResetCode, cooldown_before: DateTime<Utc>) -> Result<(), StoreError> {
        let mut item = key(student_pk(no), "RESET");
        item.insert("code_hash".into(), s(&c.code_hash));
        item.insert("sent_at".into(), n(c.sent_at.timestamp()));
        item.insert("expires_at".into(), n(c.expires_at.timestamp()));
        item.insert("tries_left".into(), n(c.tries_left));
        item.insert(TTL.into(), n(c.expires_at.timestamp()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR sent_at < :cool")
            .expression_attribute_values(":cool", n(cooldown_before.timestamp()))
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn take_reset_try(&self, no: &StudentNo) -> Result<u32, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(student_pk(no), "RESET")))
            .update_expression("SET tries_left = tries_left - :one")
            .condition_expression("tries_left > :zero")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":zero", n(0))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(map_err)?;
        let attrs = out.attributes().ok_or_else(|| StoreError::Corrupt("no attributes".into()))?;
        Ok(get_i64(attrs, "tries_left")?.max(0) as u32)
    }

    async fn delete_reset_code(&self, no: &StudentNo) -> Result<(), StoreError> {
        self.client.delete_item().table_name(&self.table).set_key(Some(key(student_pk(no), "RESET"))).send().await.map_err(map_err)?;
        Ok(())
    }
}

impl DynamoStore {
    /// One conditional update of a throttle counter (`THR`): `Some(state)` when applied, `None`
    /// when its condition failed (a concurrent request moved the window first).
    async fn throttle_step(
        &self,
        k: &str,
        update: &str,
        condition: &str,
        values: &[(&str, i64)],
    ) -> Result<Option<FailureState>, StoreError> {
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(k.to_owned(), "THR")))
            .update_expression(update)
            .condition_expression(condition)
            .expression_attribute_names("#ttl", TTL);
        for (name, v) in values {
            req = req.expression_attribute_values(*name, n(*v));
        }
        match req.return_values(ReturnValue::AllNew).send().await {
            Ok(out) => parse_failures(out.attributes()).map(Some),
            Err(e) => match map_err(e) {
                StoreError::Conflict => Ok(None),
                other => Err(other),
            },
        }
    }
}
