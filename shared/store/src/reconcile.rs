//! Reconciliation's reads and its summary item (`docs/data-model.md`).

use super::StoreError;
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::{Attempt, Channel, ReconSummary};

#[async_trait]
pub trait ReconcileStore: Send + Sync {
    /// Our attempts of `channel` paid on Beijing day `day` (paid or duplicate paid, or refunded
    /// since), as the payment transition listed them in gsi1 under `PAID#<channel>#<day>`.
    async fn paid_attempts_on(&self, channel: Channel, day: NaiveDate) -> Result<Vec<Attempt>, StoreError>;
    /// Writes the run's summary, replacing an earlier run's of the same day and channel.
    async fn put_recon_summary(&self, summary: &ReconSummary) -> Result<(), StoreError>;
    async fn get_recon_summary(&self, day: NaiveDate, channel: Channel) -> Result<Option<ReconSummary>, StoreError>;
}
