//! Students' profiles and credentials (`STU#<no>` / `PROFILE`, `CRED`).

use super::*;

pub(super) fn student_item(st: &Student) -> Item {
    let mut item = key(student_pk(&st.student_no), "PROFILE");
    item.insert(GSI1_PK.into(), s(hashed_key("IDC", st.id_card.expose())));
    item.insert(GSI1_SK.into(), s(student_pk(&st.student_no)));
    item.insert("student_no".into(), s(st.student_no.as_str()));
    item.insert("name".into(), s(st.name.as_str()));
    item.insert("gender".into(), s(st.gender.as_str()));
    item.insert("id_card".into(), s(st.id_card.expose()));
    item.insert("department".into(), s(&st.department));
    item.insert("class_name".into(), s(&st.class_name));
    item.insert("kind".into(), s(st.kind.as_str()));
    let c = &st.contact;
    for (k, v) in [
        ("phone", c.phone.as_ref().map(|p| p.expose().to_owned())),
        ("email", c.email.as_ref().map(|e| e.as_str().to_owned())),
        ("postcode", c.postcode.as_ref().map(|p| p.as_str().to_owned())),
        ("address", c.address.as_ref().map(|a| a.as_str().to_owned())),
    ] {
        if let Some(v) = v {
            item.insert(k.into(), s(v));
        }
    }
    item
}

pub(super) fn parse_student(item: &Item) -> Result<Student, StoreError> {
    Ok(Student {
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        name: PersonName::parse(get_s(item, "name")?).map_err(corrupt("name"))?,
        gender: Gender::parse(get_s(item, "gender")?).ok_or_else(|| StoreError::Corrupt("gender".into()))?,
        id_card: IdCardNo::parse(get_s(item, "id_card")?).map_err(corrupt("id_card"))?,
        department: get_s(item, "department")?.to_owned(),
        class_name: get_s(item, "class_name")?.to_owned(),
        kind: AccountKind::parse(get_s(item, "kind")?).ok_or_else(|| StoreError::Corrupt("kind".into()))?,
        contact: Contact {
            phone: get_opt_s(item, "phone").map(Phone::parse).transpose().map_err(corrupt("phone"))?,
            email: get_opt_s(item, "email").map(Email::parse).transpose().map_err(corrupt("email"))?,
            postcode: get_opt_s(item, "postcode").map(Postcode::parse).transpose().map_err(corrupt("postcode"))?,
            address: get_opt_s(item, "address").map(Address::parse).transpose().map_err(corrupt("address"))?,
        },
    })
}

pub(super) fn credential_item(no: &StudentNo, c: &Credential) -> Item {
    let mut item = key(student_pk(no), "CRED");
    match &c.password {
        Password::Hash(phc) => item.insert("password_hash".into(), s(phc)),
        Password::Initial { expires_at } => {
            item.insert("initial_until".into(), n(expires_at.timestamp()));
            item.insert("initial_password".into(), AttributeValue::Bool(true))
        }
    };
    item.insert("must_change".into(), AttributeValue::Bool(c.must_change));
    if let Some(q) = &c.security_question {
        item.insert("security_question".into(), s(q));
    }
    if let Some(a) = &c.security_answer_hash {
        item.insert("security_answer_hash".into(), s(a));
    }
    item.insert("version".into(), n(c.version));
    item
}

#[async_trait]
impl StudentStore for DynamoStore {
    async fn get_student(&self, no: &StudentNo) -> Result<Option<Student>, StoreError> {
        let item = self.get_consistent(student_pk(no), "PROFILE").await?;
        item.as_ref().map(parse_student).transpose()
    }

    async fn get_students(&self, nos: &[StudentNo]) -> Result<HashMap<StudentNo, Student>, StoreError> {
        let items = self.get_many_consistent(nos.iter().map(|no| key(student_pk(no), "PROFILE")).collect()).await?;
        items.iter().map(|it| parse_student(it).map(|s| (s.student_no.clone(), s))).collect()
    }

    async fn find_by_id_card(&self, id: &IdCardNo) -> Result<Option<StudentNo>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(GSI1)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", GSI1_PK)
            .expression_attribute_values(":pk", s(hashed_key("IDC", id.expose())))
            .limit(2)
            .send()
            .await
            .map_err(map_err)?;
        match out.items() {
            [item] => Ok(Some(StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?)),
            // Two accounts on one ID number: ambiguous, so nobody logs in by ID number.
            _ => Ok(None),
        }
    }

    async fn create_student(&self, student: &Student, credential: &Credential) -> Result<(), StoreError> {
        let mut profile = student_item(student);
        profile.insert("version".into(), n(1));
        self.transact(vec![self.put_new(profile)?, self.put_new(credential_item(&student.student_no, credential))?]).await
    }

    async fn update_contact(
        &self,
        no: &StudentNo,
        c: &Contact,
        audit: &crate::domain::AuditEntry,
        notice: Option<&OutboxSms>,
    ) -> Result<(), StoreError> {
        let mut sets = vec!["version = version + :one".to_owned()];
        let mut removes = vec![];
        let mut values: Item = HashMap::from([(":one".to_owned(), n(1))]);
        for (k, v) in [
            ("phone", c.phone.as_ref().map(|p| p.expose().to_owned())),
            ("email", c.email.as_ref().map(|e| e.as_str().to_owned())),
            ("postcode", c.postcode.as_ref().map(|p| p.as_str().to_owned())),
            ("address", c.address.as_ref().map(|a| a.as_str().to_owned())),
        ] {
            match v {
                Some(v) => {
                    sets.push(format!("{k} = :{k}"));
                    values.insert(format!(":{k}"), s(v));
                }
                None => removes.push(k),
            }
        }
        let mut expr = format!("SET {}", sets.join(", "));
        if !removes.is_empty() {
            expr.push_str(&format!(" REMOVE {}", removes.join(", ")));
        }
        let update = built(
            aws_sdk_dynamodb::types::Update::builder()
                .table_name(&self.table)
                .set_key(Some(key(student_pk(no), "PROFILE")))
                .update_expression(expr)
                .condition_expression("attribute_exists(pk)")
                .set_expression_attribute_values(Some(values))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().update(update).build(), self.audit_put(audit)?];
        items.extend(notice.map(|m| self.outbox_put(m)).transpose()?);
        self.transact(items).await.map_err(|e| match e {
            StoreError::Conflict => StoreError::NotFound,
            other => other,
        })?;
        Ok(())
    }
}

#[async_trait]
impl CredentialStore for DynamoStore {
    async fn get_credential(&self, no: &StudentNo) -> Result<Option<Credential>, StoreError> {
        let item = self.get_consistent(student_pk(no), "CRED").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(Credential {
            password: match get_opt_s(item, "password_hash") {
                Some(phc) => Password::Hash(phc.to_owned()),
                // Without its date an initial password is taken as expired (fail closed).
                None if get_bool(item, "initial_password") => Password::Initial {
                    expires_at: get_opt_i64(item, "initial_until")?.map(instant).transpose()?.unwrap_or(DateTime::UNIX_EPOCH),
                },
                None => return Err(StoreError::Corrupt("credential without a password".into())),
            },
            must_change: get_bool(item, "must_change"),
            security_question: get_opt_s(item, "security_question").map(str::to_owned),
            security_answer_hash: get_opt_s(item, "security_answer_hash").map(str::to_owned),
            version: get_i64(item, "version")? as u64,
        }))
    }

    async fn replace_credential(
        &self,
        no: &StudentNo,
        expected_version: u64,
        next: &Credential,
        audit: &crate::domain::AuditEntry,
        notice: Option<&OutboxSms>,
    ) -> Result<(), StoreError> {
        debug_assert_eq!(next.version, expected_version + 1);
        let put = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(credential_item(no, next)))
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(expected_version))
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build(), self.audit_put(audit)?];
        items.extend(notice.map(|m| self.outbox_put(m)).transpose()?);
        self.transact(items).await
    }
}
