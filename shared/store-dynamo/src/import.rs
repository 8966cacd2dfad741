//! Fee-bill imports: the manifest `IMPORT#<sha256>` / `MANIFEST` and the fee-bill writes, each
//! with its audit entry in the same transaction (see `docs/data-model.md`).

use super::*;
use crate::domain::import::{ImportId, ImportKind, ImportState, ImportSummary};
use crate::domain::{AuditAction, AuditEntry, AuditSubject, By};
use aws_sdk_dynamodb::types::{ConditionCheck, Update};
use store::import::{BillWrite, ImportManifest, ImportRejection, ImportStore};

const MANIFEST: &str = "MANIFEST";
/// DynamoDB's limit of items in one transaction.
const MAX_TRANSACTION_ITEMS: usize = 100;

fn manifest_key(id: &ImportId) -> Item {
    key(import_pk(id), MANIFEST)
}

fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Unavailable(e.to_string()))
}

fn count(item: &Item, name: &str) -> Result<usize, StoreError> {
    Ok(get_opt_i64(item, name)?.unwrap_or(0).max(0) as usize)
}

fn parse_manifest(item: &Item) -> Result<ImportManifest, StoreError> {
    let summary = match item.get("summary") {
        Some(AttributeValue::M(m)) => Some(ImportSummary {
            rows: count(m, "rows")?,
            students_created: count(m, "students_created")?,
            phones_added: count(m, "phones_added")?,
            items_created: count(m, "items_created")?,
            items_updated: count(m, "items_updated")?,
            items_unchanged: count(m, "items_unchanged")?,
            offline_recorded: count(m, "offline_recorded")?,
            offline_already_recorded: count(m, "offline_already_recorded")?,
        }),
        _ => None,
    };
    Ok(ImportManifest {
        id: ImportId::parse(get_s(item, "import_id")?).ok_or_else(|| StoreError::Corrupt("import_id".into()))?,
        key: get_s(item, "file_key")?.to_owned(),
        state: ImportState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("import state".into()))?,
        kind: get_opt_s(item, "kind").map(|k| ImportKind::parse(k).ok_or_else(|| StoreError::Corrupt("import kind".into()))).transpose()?,
        rows: count(item, "row_count")?,
        errors: count(item, "error_count")?,
        attempt: get_i64(item, "attempt")?.max(0) as u64,
        by: get_s(item, "actor")?.to_owned(),
        created_at: instant(get_i64(item, "created_at")?)?,
        updated_at: instant(get_i64(item, "updated_at")?)?,
        summary,
    })
}

fn summary_value(s: &ImportSummary) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("rows".to_owned(), n(s.rows)),
        ("students_created".to_owned(), n(s.students_created)),
        ("phones_added".to_owned(), n(s.phones_added)),
        ("items_created".to_owned(), n(s.items_created)),
        ("items_updated".to_owned(), n(s.items_updated)),
        ("items_unchanged".to_owned(), n(s.items_unchanged)),
        ("offline_recorded".to_owned(), n(s.offline_recorded)),
        ("offline_already_recorded".to_owned(), n(s.offline_already_recorded)),
    ]))
}

/// A fee item as an audit entry describes it (no personal data in it).
fn describe(f: &FeeItem) -> String {
    format!(
        "name={} type={} due_fen={} paid_fen={} window={}..{} status={}",
        f.name,
        f.fee_type.as_str(),
        f.due.get(),
        f.paid.get(),
        f.window_start,
        f.window_end,
        f.status.as_str()
    )
}

impl DynamoStore {
    /// A manifest change conditional on its state (and attempt).
    fn manifest_update(
        &self,
        id: &ImportId,
        set: &str,
        from: ImportState,
        attempt: Option<u64>,
        now: DateTime<Utc>,
        actor: &str,
    ) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        let mut u = Update::builder()
            .table_name(&self.table)
            .set_key(Some(manifest_key(id)))
            .update_expression(format!("SET #state = :to, updated_at = :now, actor = :actor, {set}"))
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":from", s(from.as_str()))
            .expression_attribute_values(":now", n(now.timestamp()))
            .expression_attribute_values(":actor", s(actor));
        u = match attempt {
            Some(a) => u.condition_expression("#state = :from AND attempt = :attempt").expression_attribute_values(":attempt", n(a)),
            None => u.condition_expression("#state = :from"),
        };
        u
    }

    /// The transactional writes of one fee-bill write, with its audit entry.
    fn bill_write_items(
        &self,
        no: &StudentNo,
        w: &BillWrite,
        id: &ImportId,
        file_key: &str,
        by: &By,
    ) -> Result<Vec<TransactWriteItem>, StoreError> {
        let reason = |row: usize| format!("import {file_key} row {row} (sha256 {})", id.short());
        let entry = |action, row| by.entry(action, AuditSubject::Student, no).reason(reason(row));
        Ok(match w {
            BillWrite::CreateStudent { student, credential, row } => {
                let mut profile = student_item(student);
                profile.insert("version".into(), n(1));
                profile.insert("last_import".into(), s(id.as_str()));
                let audit = entry(AuditAction::StudentImported, *row)
                    .target(no.as_str())
                    .change(None, &format!("created id={} must_change_password={}", student.id_card.masked(), credential.must_change));
                vec![self.put_new(profile)?, self.put_new(credential_item(no, credential))?, self.audit_put(&audit)?]
            }
            BillWrite::AddPhone { phone, row } => {
                let update = built(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(student_pk(no), "PROFILE")))
                        .update_expression("SET phone = :phone, version = version + :one, last_import = :import")
                        .condition_expression("attribute_exists(pk) AND attribute_not_exists(phone)")
                        .expression_attribute_values(":phone", s(phone.expose()))
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":import", s(id.as_str()))
                        .build(),
                )?;
                let audit = entry(AuditAction::ContactChanged, *row)
                    .target(no.as_str())
                    .change(Some("phone=none"), &format!("phone={}", phone.masked()));
                vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&audit)?]
            }
            BillWrite::CreateItem { item, row } => {
                let mut fee = fee_item_item(no, item);
                fee.insert("last_import".into(), s(id.as_str()));
                let audit = entry(AuditAction::FeeItemImported, *row)
                    .target(format!("{}#{}", item.academic_year, item.item_id.as_str()))
                    .change(None, &describe(item));
                vec![self.put_new(fee)?, self.audit_put(&audit)?]
            }
            BillWrite::UpdateItem { before, version, after, row } => {
                let item_key = format!("{}#{}", after.academic_year, after.item_id.as_str());
                let update = built(
                    Update::builder()
                        .table_name(&self.table)
                        .set_key(Some(key(student_pk(no), &fee_sk(&after.item_key()))))
                        .update_expression(
                            "SET #name = :name, fee_type = :type, due_fen = :due, window_start = :ws, window_end = :we, #status = :status, \
                             version = version + :one, last_import = :import",
                        )
                        // Never below what is paid; never over a change made since it was read.
                        .condition_expression("version = :v AND paid_fen <= :due")
                        .expression_attribute_names("#name", "name")
                        .expression_attribute_names("#status", "status")
                        .expression_attribute_values(":name", s(&after.name))
                        .expression_attribute_values(":type", s(after.fee_type.as_str()))
                        .expression_attribute_values(":due", n(after.due.get()))
                        .expression_attribute_values(":ws", s(after.window_start.to_string()))
                        .expression_attribute_values(":we", s(after.window_end.to_string()))
                        .expression_attribute_values(":status", s(after.status.as_str()))
                        .expression_attribute_values(":one", n(1))
                        .expression_attribute_values(":import", s(id.as_str()))
                        .expression_attribute_values(":v", n(*version))
                        .build(),
                )?;
                let audit =
                    entry(AuditAction::FeeItemUpdated, *row).target(item_key.clone()).change(Some(&describe(before)), &describe(after));
                let mut items = vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&audit)?];
                if before.due != after.due {
                    // An open order was made for the old amount: the amount waits until it ends.
                    let unlocked = built(
                        ConditionCheck::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(lock_pk(no, &item_key), "LOCK")))
                            .condition_expression("attribute_not_exists(pk)")
                            .build(),
                    )?;
                    items.push(TransactWriteItem::builder().condition_check(unlocked).build());
                }
                items
            }
        })
    }
}

#[async_trait]
impl ImportStore for DynamoStore {
    async fn get_import(&self, id: &ImportId) -> Result<Option<ImportManifest>, StoreError> {
        let item = self.get_consistent(import_pk(id), MANIFEST).await?;
        item.as_ref().map(parse_manifest).transpose()
    }

    async fn begin_import_validation(&self, id: &ImportId, file_key: &str, by: &By) -> Result<u64, StoreError> {
        let mut item = manifest_key(id);
        item.insert("import_id".into(), s(id.as_str()));
        item.insert("file_key".into(), s(file_key));
        item.insert("state".into(), s(ImportState::Validating.as_str()));
        item.insert("attempt".into(), n(1));
        item.insert("actor".into(), s(by.actor.label()));
        item.insert("created_at".into(), n(by.at.timestamp()));
        item.insert("updated_at".into(), n(by.at.timestamp()));
        match self.create_item(item).await {
            Ok(()) => return Ok(1),
            Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // Validated before: again, unless it is being or was applied.
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(manifest_key(id)))
            .update_expression("SET #state = :validating, attempt = attempt + :one, file_key = :key, actor = :actor, updated_at = :now")
            .condition_expression("#state IN (:validating, :rejected)")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":validating", s(ImportState::Validating.as_str()))
            .expression_attribute_values(":rejected", s(ImportState::Rejected.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":key", s(file_key))
            .expression_attribute_values(":actor", s(by.actor.label()))
            .expression_attribute_values(":now", n(by.at.timestamp()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(map_err)?;
        let attrs = out.attributes.unwrap_or_default();
        Ok(get_i64(&attrs, "attempt")?.max(0) as u64)
    }

    async fn reject_import(&self, id: &ImportId, r: &ImportRejection, by: &By) -> Result<(), StoreError> {
        let ImportRejection { attempt, kind, rows, errors } = *r;
        let set = if kind.is_some() {
            "row_count = :rows, error_count = :errors, kind = :kind"
        } else {
            "row_count = :rows, error_count = :errors"
        };
        let mut update = self
            .manifest_update(id, set, ImportState::Validating, Some(attempt), by.at, &by.actor.label())
            .expression_attribute_values(":to", s(ImportState::Rejected.as_str()))
            .expression_attribute_values(":rows", n(rows))
            .expression_attribute_values(":errors", n(errors));
        if let Some(k) = kind {
            update = update.expression_attribute_values(":kind", s(k.as_str()));
        }
        let entry = by
            .import_entry(AuditAction::ImportRejected, id)
            .change(Some(ImportState::Validating.as_str()), &format!("rejected rows={rows} bad_rows={errors}"));
        self.transact(vec![TransactWriteItem::builder().update(built(update.build())?).build(), self.audit_put(&entry)?]).await
    }

    async fn start_applying_import(&self, id: &ImportId, attempt: u64, kind: ImportKind, rows: usize, by: &By) -> Result<(), StoreError> {
        let update = self
            .manifest_update(
                id,
                "row_count = :rows, error_count = :zero, kind = :kind",
                ImportState::Validating,
                Some(attempt),
                by.at,
                &by.actor.label(),
            )
            .expression_attribute_values(":to", s(ImportState::Applying.as_str()))
            .expression_attribute_values(":rows", n(rows))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":kind", s(kind.as_str()));
        self.client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(built(update.build())?).build())
            .send()
            .await
            .map_err(map_err)?;
        Ok(())
    }

    async fn finish_import(&self, id: &ImportId, summary: &ImportSummary, by: &By) -> Result<(), StoreError> {
        let update = self
            .manifest_update(id, "summary = :summary", ImportState::Applying, None, by.at, &by.actor.label())
            .expression_attribute_values(":to", s(ImportState::Applied.as_str()))
            .expression_attribute_values(":summary", summary_value(summary));
        let entry = by.import_entry(AuditAction::ImportApplied, id).change(
            Some(ImportState::Applying.as_str()),
            &format!(
                "applied rows={} students_created={} phones_added={} items_created={} items_updated={} items_unchanged={} offline_recorded={} offline_already_recorded={}",
                summary.rows,
                summary.students_created,
                summary.phones_added,
                summary.items_created,
                summary.items_updated,
                summary.items_unchanged,
                summary.offline_recorded,
                summary.offline_already_recorded
            ),
        );
        self.transact(vec![TransactWriteItem::builder().update(built(update.build())?).build(), self.audit_put(&entry)?]).await
    }

    async fn fee_items_versioned(&self, no: &StudentNo) -> Result<Vec<(FeeItem, u64)>, StoreError> {
        self.query_prefix(student_pk(no), FEE_PREFIX, true)
            .await?
            .iter()
            .map(|it| Ok((parse_fee(it)?, get_i64(it, "version")?.max(0) as u64)))
            .collect()
    }

    async fn apply_bill_writes(&self, no: &StudentNo, writes: &[BillWrite], id: &ImportId, file: &str, by: &By) -> Result<(), StoreError> {
        let mut batches: Vec<Vec<TransactWriteItem>> = vec![vec![]];
        for w in writes {
            let items = self.bill_write_items(no, w, id, file, by)?;
            if batches.last().is_some_and(|b| b.len() + items.len() > MAX_TRANSACTION_ITEMS) {
                batches.push(vec![]);
            }
            batches.last_mut().expect("one batch at least").extend(items);
        }
        for batch in batches.into_iter().filter(|b| !b.is_empty()) {
            self.client.transact_write_items().set_transact_items(Some(batch)).send().await.map_err(map_err)?;
        }
        Ok(())
    }

    async fn audit_for_import(&self, id: &ImportId) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_under(import_pk(id)).await
    }
}
