//! Storage of fee-bill imports: the manifest that makes an import happen once (`IMPORT#<sha256>`)
//! and the writes that apply a fee bill, each with its audit entry in the same transaction.
//! Keys and conditions: `docs/data-model.md`.

use super::{Credential, StoreError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::import::{ImportId, ImportKind, ImportState, ImportSummary};
use domain::{AuditEntry, By, FeeItem, Student, StudentNo};

/// Where one file (one content) stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportManifest {
    pub id: ImportId,
    /// The S3 key it was last validated from.
    pub key: String,
    pub state: ImportState,
    /// Known once the header was read.
    pub kind: Option<ImportKind>,
    /// Data rows, and bad ones at the last validation.
    pub rows: usize,
    pub errors: usize,
    /// Validations started: each claims the file, and only the latest may move it on.
    pub attempt: u64,
    /// The actor label of whoever last moved it (`operator:张敏`).
    pub by: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set when applied.
    pub summary: Option<ImportSummary>,
}

/// One write of a fee bill, for one student.
#[derive(Debug, Clone)]
pub enum BillWrite {
    /// A new student with their initial credential (`row`: the file row it came from).
    CreateStudent {
        student: Box<Student>,
        credential: Credential,
        row: usize,
    },
    CreateItem {
        item: FeeItem,
        row: usize,
    },
    /// The file gives a phone for an existing student with none on file (who could not make
    /// the first login without one). Never replaces a phone: that is the student's own,
    /// changed only through the verified phone change.
    AddPhone {
        phone: domain::Phone,
        row: usize,
    },
    /// `before` as read at `version`; `after` keeps `before.paid`.
    UpdateItem {
        before: FeeItem,
        version: u64,
        after: FeeItem,
        row: usize,
    },
}

/// What a rejected validation of a file found: the attempt it was, what kind of file, how many
/// rows and how many bad ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportRejection {
    pub attempt: u64,
    pub kind: Option<ImportKind>,
    pub rows: usize,
    pub errors: usize,
}

#[async_trait]
pub trait ImportStore: Send + Sync {
    async fn get_import(&self, id: &ImportId) -> Result<Option<ImportManifest>, StoreError>;
    /// Claims a file for validation: creates its manifest `validating` (attempt 1), or moves a
    /// `validating` or `rejected` one to `validating` with the next attempt, which it returns.
    /// `Conflict` if the file is being applied or was applied.
    async fn begin_import_validation(&self, id: &ImportId, key: &str, by: &By) -> Result<u64, StoreError>;
    /// `validating` (at `attempt`) → `rejected`, with the `import.rejected` entry (`Conflict` if
    /// another validation claimed the file since).
    async fn reject_import(&self, id: &ImportId, r: &ImportRejection, by: &By) -> Result<(), StoreError>;
    /// `validating` (at `attempt`) → `applying` (`Conflict` if another validation claimed it).
    async fn start_applying_import(&self, id: &ImportId, attempt: u64, kind: ImportKind, rows: usize, by: &By) -> Result<(), StoreError>;
    /// `applying` → `applied` with the summary and the `import.applied` entry; `Conflict` if it
    /// is not applying (already applied by a concurrent run).
    async fn finish_import(&self, id: &ImportId, summary: &ImportSummary, by: &By) -> Result<(), StoreError>;
    /// A student's fee items with the version each was read at.
    async fn fee_items_versioned(&self, no: &StudentNo) -> Result<Vec<(FeeItem, u64)>, StoreError>;
    /// Applies one student's writes, each with its audit entry (reason: the file and row), in
    /// as few transactions as the 100-item limit allows (the student's creation in the
    /// first). Creations are `attribute_not_exists`; an update is conditional on the version
    /// read, on `paid_fen` not exceeding the new amount and, when the amount changes, on no
    /// open order holding the item. `Conflict`: re-read and decide again.
    async fn apply_bill_writes(&self, no: &StudentNo, writes: &[BillWrite], id: &ImportId, file: &str, by: &By) -> Result<(), StoreError>;
    /// The entries about the file as a whole (rejections, completion), oldest first.
    async fn audit_for_import(&self, id: &ImportId) -> Result<Vec<AuditEntry>, StoreError>;
}
