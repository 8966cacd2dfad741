//! `PAID#<channel>#<day>` in gsi1 (set by the payment transition) and the run summary
//! `RECON#<day>` / `<channel>`.

use super::*;
use crate::domain::{Attempt, Channel, ReconSummary};
use store::ReconcileStore;

fn recon_pk(day: NaiveDate) -> String {
    format!("RECON#{day}")
}

fn count(item: &Item, name: &str) -> Result<u64, StoreError> {
    u64::try_from(get_i64(item, name)?).map_err(|_| StoreError::Corrupt(format!("recon {name}")))
}

#[async_trait]
impl ReconcileStore for DynamoStore {
    async fn paid_attempts_on(&self, channel: Channel, day: NaiveDate) -> Result<Vec<Attempt>, StoreError> {
        let items = self.query_index(GSI1, GSI1_PK, &paid_day_pk(channel, day)).await?;
        items.iter().map(parse_attempt).collect()
    }

    async fn put_recon_summary(&self, r: &ReconSummary) -> Result<(), StoreError> {
        let mut item = key(recon_pk(r.day), r.channel.as_str());
        item.insert("day".into(), s(r.day.to_string()));
        item.insert("channel".into(), s(r.channel.as_str()));
        for (name, v) in [
            ("matched", r.matched),
            ("ours_only", r.ours_only),
            ("theirs_only", r.theirs_only),
            ("amount_differs", r.amount_differs),
            ("duplicates_unrefunded", r.duplicates_unrefunded),
            ("repaired", r.repaired),
            ("skipped", r.skipped),
        ] {
            item.insert(name.into(), n(v));
        }
        item.insert("run_at".into(), n(r.run_at.timestamp()));
        item.insert("run_by".into(), s(&r.run_by));
        if let Some(id) = &r.request_id {
            item.insert("request_id".into(), s(id));
        }
        item.insert("report_key".into(), s(&r.report_key));
        item.insert("raw_key".into(), s(&r.raw_key));
        // A report, not a state: a re-run of the day replaces it (no condition by design).
        self.client.put_item().table_name(&self.table).set_item(Some(item)).send().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_recon_summary(&self, day: NaiveDate, channel: Channel) -> Result<Option<ReconSummary>, StoreError> {
        let Some(item) = self.get_consistent(recon_pk(day), channel.as_str()).await? else { return Ok(None) };
        Ok(Some(ReconSummary {
            day,
            channel,
            matched: count(&item, "matched")?,
            ours_only: count(&item, "ours_only")?,
            theirs_only: count(&item, "theirs_only")?,
            amount_differs: count(&item, "amount_differs")?,
            // Summaries written before the field counted none.
            duplicates_unrefunded: if item.contains_key("duplicates_unrefunded") { count(&item, "duplicates_unrefunded")? } else { 0 },
            repaired: count(&item, "repaired")?,
            skipped: count(&item, "skipped")?,
            run_at: instant(get_i64(&item, "run_at")?)?,
            run_by: get_s(&item, "run_by")?.to_owned(),
            request_id: get_opt_s(&item, "request_id").map(str::to_owned),
            report_key: get_s(&item, "report_key")?.to_owned(),
            raw_key: get_s(&item, "raw_key")?.to_owned(),
        }))
    }
}
