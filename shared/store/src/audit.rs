//! The audit log's reads, and the append of an entry that accompanies no other write (an
//! operator action that changed nothing, such as a rejected import). Entries describing a change
//! are written by the store inside that change's own transaction.

use super::StoreError;
use async_trait::async_trait;
use domain::{AuditEntry, OrderNo, StudentNo};

#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one entry on its own (never overwrites: each has a unique key).
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Every entry about an order, oldest first.
    async fn audit_for_order(&self, no: &OrderNo) -> Result<Vec<AuditEntry>, StoreError>;
    /// Every entry concerning a student (their orders' and their own), oldest first.
    async fn audit_for_student(&self, no: &StudentNo) -> Result<Vec<AuditEntry>, StoreError>;
}
