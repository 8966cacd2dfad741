//! The daily reconciliation (issue 5, item 4; plan in `docs/operators-design.md`): for each
//! configured gateway, its statement of one Beijing day is matched with our attempts paid that
//! day, by out-trade-no and amount.
//!
//! * matched: in both with the same amount;
//! * theirs only: in the statement, not paid by us. When it is one of our attempts, on the same
//!   channel, with the same amount and still awaiting payment, the gateway is asked by a
//!   signed query first — a statement file is unsigned (Alipay's) or only as good as its
//!   download — and only a signed paid state of the same amount is **repaired** through the
//!   normal payment path (`record_confirmed_payment`: order paid, receipt, SMS, audit — actor
//!   `reconciliation`) with a `reconciliation.repaired` audit entry naming who ran it. A query
//!   that does not confirm it leaves it reported. Anything else (an unknown out-trade-no) is
//!   reported, never repaired;
//! * amount differs: reported, never repaired;
//! * ours only: paid by us, not in the statement: reported.
//!
//! Output per channel: the raw statement `reconcile/<day>/<channel>.raw` and the report
//! `reconcile/<day>/<channel>.csv` (UTF-8 with BOM: kind, out_trade_no, ours_fen, theirs_fen,
//! action) in the operators' bucket, the summary item `RECON#<day>` / `<channel>`, and the
//! metric `reconcile_differences` = differences left after repair (the alarm). A re-run of the
//! same day repairs nothing twice (the repaired payments are ours now) and replaces the files
//! and the summary.

use crate::app::App;
use crate::clock::{beijing, beijing_date};
use crate::domain::{
    Actor, Attempt, AuditAction, AuditEntry, AuditSubject, Channel, ConfirmedPayment, Difference, DifferenceAction, DifferenceKind,
    OutTradeNo, PaymentOutcome, ReconSummary,
};
use crate::gateway::statement::{Statement, StatementRow};
use crate::gateway::{TradeRef, TradeState};
use crate::service::payments::PaymentStores;
use crate::store::{AuditStore, ReconcileStore, StoreError};
use chrono::{NaiveDate, TimeZone};
use std::collections::HashMap;

/// Everything the reconciliation needs from the store.
pub trait ReconcileStores: PaymentStores + ReconcileStore + AuditStore + crate::store::SweepStore {}
impl<T: PaymentStores + ReconcileStore + AuditStore + crate::store::SweepStore> ReconcileStores for T {}

/// One channel's result: its summary and differences, or why it could not be reconciled.
#[derive(Debug)]
pub enum ChannelResult {
    Done { summary: ReconSummary, differences: Vec<Difference> },
    Failed { channel: Channel, reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("OPS_BUCKET is not configured")]
    NoBucket,
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("S3: {0}")]
    S3(String),
}

/// The report's lines as CSV: UTF-8 with a BOM (so spreadsheet programs read it as UTF-8).
pub fn report_csv(differences: &[Difference]) -> Vec<u8> {
    let mut out = String::from("\u{feff}kind,out_trade_no,ours_fen,theirs_fen,action\n");
    let fen = |f: Option<crate::domain::Fen>| f.map(|f| f.get().to_string()).unwrap_or_default();
    for d in differences {
        // Out-trade-nos from a statement are not ours to trust: keep them CSV-safe.
        let no: String = d.out_trade_no.chars().filter(|c| c.is_ascii_alphanumeric() || "_-|*".contains(*c)).take(64).collect();
        let no = crate::domain::spreadsheet::cell(&no);
        out.push_str(&format!("{},{no},{},{},{}\n", d.kind.as_str(), fen(d.ours), fen(d.theirs), d.action.as_str()));
    }
    out.into_bytes()
}

/// The S3 keys of one day and channel.
pub fn report_key(day: NaiveDate, channel: Channel) -> String {
    format!("reconcile/{day}/{}.csv", channel.as_str())
}
pub fn raw_key(day: NaiveDate, channel: Channel) -> String {
    format!("reconcile/{day}/{}.raw", channel.as_str())
}

impl<S: ReconcileStores> App<S> {
    /// Reconciles `day` on every configured channel. `run_by` is the schedule
    /// (`Actor::Reconciliation`) or the operator who ran it; `request_id` the invocation's.
    /// A channel whose statement cannot be had is `Failed` (the others still run).
    pub async fn reconcile_day(
        &self,
        day: NaiveDate,
        run_by: &Actor,
        request_id: Option<&str>,
    ) -> Result<Vec<ChannelResult>, ReconcileError> {
        let bucket = self.settings.ops_bucket.clone().ok_or(ReconcileError::NoBucket)?;
        let mut results = Vec::new();
        for channel in self.payments.channels() {
            let gateway = self.payments.get(channel).expect("a configured channel");
            let statement = match gateway.statement(day, self.clock.now()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(channel = channel.as_str(), %day, error = %e, "statement not available");
                    results.push(ChannelResult::Failed { channel, reason: e.to_string() });
                    continue;
                }
            };
            let ours = self.store.paid_attempts_on(channel, day).await?;
            let mut differences = self.compare(&statement, ours, run_by, request_id).await?;
            differences.extend(self.unrefunded_duplicates(channel).await?);
            let summary = self.publish(&bucket, &statement, &differences, run_by, request_id).await?;
            results.push(ChannelResult::Done { summary, differences });
        }
        Ok(results)
    }

    /// Duplicate payments of `channel` still unrefunded a day after they were recorded (the
    /// automatic refund's list: refused, above the school's amount, or the policy off).
    async fn unrefunded_duplicates(&self, channel: Channel) -> Result<Vec<Difference>, ReconcileError> {
        let day_ago = self.clock.now() - chrono::Duration::days(1);
        let listed = self.store.duplicates_paid_before(day_ago, 500).await?;
        Ok(listed
            .into_iter()
            .filter(|a| a.channel == channel && a.state == crate::domain::AttemptState::DuplicatePaid)
            .map(|a| Difference {
                kind: DifferenceKind::DuplicateUnrefunded,
                out_trade_no: a.out_trade_no.as_str().to_owned(),
                ours: Some(a.amount),
                theirs: None,
                action: DifferenceAction::Reported,
            })
            .collect())
    }

    /// Matches, repairs what may be repaired, and returns every difference (matched rows are
    /// counted by [`Self::publish`] from the statement size).
    async fn compare(
        &self,
        st: &Statement,
        ours: Vec<Attempt>,
        run_by: &Actor,
        request_id: Option<&str>,
    ) -> Result<Vec<Difference>, ReconcileError> {
        let mut ours: HashMap<String, Attempt> = ours.into_iter().map(|a| (a.out_trade_no.as_str().to_owned(), a)).collect();
        let mut out = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for row in &st.rows {
            let diff =
                |kind, ours, action| Difference { kind, out_trade_no: row.out_trade_no.clone(), ours, theirs: Some(row.amount), action };
            if !seen.insert(row.out_trade_no.as_str()) {
                // Listed twice: the second is money we cannot account for.
                out.push(diff(DifferenceKind::TheirsOnly, None, DifferenceAction::Reported));
                continue;
            }
            if let Some(a) = ours.remove(&row.out_trade_no) {
                if a.amount != row.amount {
                    out.push(diff(DifferenceKind::AmountDiffers, Some(a.amount), DifferenceAction::Reported));
                }
                continue;
            }
            match self.theirs_only(st, row, run_by, request_id).await? {
                Found::Unknown => out.push(diff(DifferenceKind::TheirsOnly, None, DifferenceAction::Reported)),
                Found::OtherAmount(fen) => out.push(diff(DifferenceKind::AmountDiffers, Some(fen), DifferenceAction::Reported)),
                Found::Repaired(fen) => out.push(diff(DifferenceKind::TheirsOnly, Some(fen), DifferenceAction::Repaired)),
                Found::NotRepaired(fen) => out.push(diff(DifferenceKind::TheirsOnly, Some(fen), DifferenceAction::Reported)),
                Found::RecordedOtherDay => {}
            }
        }
        let mut left: Vec<Attempt> = ours.into_values().collect();
        left.sort_by(|a, b| a.out_trade_no.as_str().cmp(b.out_trade_no.as_str()));
        for a in left {
            out.push(Difference {
                kind: DifferenceKind::OursOnly,
                out_trade_no: a.out_trade_no.as_str().to_owned(),
                ours: Some(a.amount),
                theirs: None,
                action: DifferenceAction::Reported,
            });
        }
        Ok(out)
    }

    /// A statement row we do not list as paid that day: what it is, repaired if it may be.
    async fn theirs_only(
        &self,
        st: &Statement,
        row: &StatementRow,
        run_by: &Actor,
        request_id: Option<&str>,
    ) -> Result<Found, ReconcileError> {
        let Ok(no) = OutTradeNo::parse(&row.out_trade_no) else { return Ok(Found::Unknown) };
        let Some(a) = self.store.get_attempt(&no).await? else { return Ok(Found::Unknown) };
        if a.channel != st.channel {
            return Ok(Found::Unknown);
        }
        if a.amount != row.amount {
            return Ok(Found::OtherAmount(a.amount));
        }
        if !a.state.awaits_payment() {
            // Recorded already, under another Beijing day (its own payment time): not a
            // difference of the money, only of the day boundary.
            tracing::info!(out_trade_no = %no, "statement row recorded by us on another day");
            return Ok(Found::RecordedOtherDay);
        }
        // The file alone never credits money: the gateway's signed answer must say paid, and
        // for the same amount.
        let Some(gateway) = self.payments.get(a.channel) else { return Ok(Found::NotRepaired(a.amount)) };
        let (gateway_trade_no, paid_at) = match gateway.query(&TradeRef::from(&a), self.clock.now()).await {
            Ok(TradeState::Paid { gateway_trade_no, amount, paid_at }) if amount == row.amount => (gateway_trade_no, paid_at),
            other => {
                let said = other.map(|s| format!("{s:?}")).unwrap_or_else(|e| e.to_string());
                tracing::warn!(out_trade_no = %no, said, "statement row not confirmed by the gateway's signed query; reported, not repaired");
                return Ok(Found::NotRepaired(a.amount));
            }
        };
        let in_day = |t: &chrono::DateTime<chrono::Utc>| beijing_date(*t) == st.day;
        let p = ConfirmedPayment {
            out_trade_no: no.clone(),
            channel: st.channel,
            gateway_trade_no,
            amount: row.amount,
            // Within the statement's day, so the payment is listed under it (a re-run matches it).
            paid_at: Some(paid_at).filter(in_day).or(row.paid_at.filter(in_day)).unwrap_or_else(|| noon(st.day)),
        };
        match self.record_confirmed_payment(&p, &Actor::Reconciliation).await {
            Ok(PaymentOutcome::AlreadyRecorded) => Ok(Found::RecordedOtherDay),
            Ok(outcome) => {
                let entry = AuditEntry::new(
                    self.clock.now(),
                    run_by,
                    AuditAction::ReconciliationRepaired,
                    AuditSubject::Order(a.order_no),
                    &a.student_no,
                )
                .target(no.as_str())
                .change(Some(a.state.as_str()), outcome_state(outcome))
                .reason(format!(
                    "{} statement of {} lists it paid (trade {}, amount_fen={})",
                    st.channel.as_str(),
                    st.day,
                    row.gateway_trade_no,
                    row.amount.get()
                ))
                .request_id(request_id);
                self.store.append_audit(&entry).await?;
                tracing::warn!(out_trade_no = %no, channel = st.channel.as_str(), ?outcome, "payment repaired from the statement");
                Ok(Found::Repaired(a.amount))
            }
            Err(e) => {
                tracing::error!(out_trade_no = %no, error = %e, "statement payment could not be recorded");
                Ok(Found::NotRepaired(a.amount))
            }
        }
    }

    /// Raw file and report to S3, the summary item, the metric.
    async fn publish(
        &self,
        bucket: &str,
        st: &Statement,
        differences: &[Difference],
        run_by: &Actor,
        request_id: Option<&str>,
    ) -> Result<ReconSummary, ReconcileError> {
        if let Some(w) = &st.warning {
            tracing::warn!(channel = st.channel.as_str(), day = %st.day, warning = w.as_str(), "statement to be read with care");
        }
        let (report, raw) = (report_key(st.day, st.channel), raw_key(st.day, st.channel));
        self.put_object(bucket, &raw, st.raw.clone(), "application/octet-stream").await?;
        self.put_object(bucket, &report, report_csv(differences), "text/csv; charset=utf-8").await?;
        let count = |k: DifferenceKind| differences.iter().filter(|d| d.kind == k).count() as u64;
        let (amount_differs, theirs_only) = (count(DifferenceKind::AmountDiffers), count(DifferenceKind::TheirsOnly));
        let repaired = differences.iter().filter(|d| d.action == DifferenceAction::Repaired).count() as u64;
        let summary = ReconSummary {
            day: st.day,
            channel: st.channel,
            // Every statement row is matched, theirs only, or of another amount.
            matched: (st.rows.len() as u64).saturating_sub(theirs_only + amount_differs),
            ours_only: count(DifferenceKind::OursOnly),
            theirs_only,
            amount_differs,
            duplicates_unrefunded: count(DifferenceKind::DuplicateUnrefunded),
            repaired,
            skipped: st.skipped as u64,
            run_at: self.clock.now(),
            run_by: run_by.label(),
            request_id: request_id.map(str::to_owned),
            report_key: report,
            raw_key: raw,
        };
        self.store.put_recon_summary(&summary).await?;
        crate::metrics::count(crate::metrics::RECONCILE_DIFFERENCES, summary.open_differences(), &[("Channel", st.channel.as_str())]);
        tracing::info!(channel = st.channel.as_str(), day = %st.day, matched = summary.matched, ours_only = summary.ours_only,
            theirs_only = summary.theirs_only, amount_differs = summary.amount_differs, repaired = summary.repaired, "reconciled");
        Ok(summary)
    }

    async fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>, content_type: &str) -> Result<(), ReconcileError> {
        let s3 = self.s3.as_ref().ok_or(ReconcileError::NoBucket)?;
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(aws_sdk_s3::primitives::ByteStream::from(body))
            .send()
            .await
            .map_err(|e| ReconcileError::S3(format!("put {key}: {}", aws_sdk_s3::error::DisplayErrorContext(&e))))?;
        Ok(())
    }
}

enum Found {
    Unknown,
    OtherAmount(crate::domain::Fen),
    Repaired(crate::domain::Fen),
    NotRepaired(crate::domain::Fen),
    RecordedOtherDay,
}

fn outcome_state(o: PaymentOutcome) -> &'static str {
    match o {
        PaymentOutcome::DuplicatePaid => "duplicate_paid",
        _ => "paid",
    }
}

/// 12:00 Beijing of `day`.
fn noon(day: NaiveDate) -> chrono::DateTime<chrono::Utc> {
    beijing()
        .from_local_datetime(&day.and_hms_opt(12, 0, 0).expect("valid time"))
        .single()
        .expect("fixed offset")
        .with_timezone(&chrono::Utc)
}

/// The Beijing day before the one `now` falls in: what the daily schedule reconciles.
pub fn previous_beijing_day(now: chrono::DateTime<chrono::Utc>) -> NaiveDate {
    beijing_date(now).pred_opt().expect("a day before")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Fen;

    #[test]
    fn the_report_is_utf8_with_a_bom_and_one_line_per_difference() {
        let d = |kind, no: &str, ours: Option<i64>, theirs: Option<i64>, action| Difference {
            kind,
            out_trade_no: no.into(),
            ours: ours.map(Fen::new),
            theirs: theirs.map(Fen::new),
            action,
        };
        let csv = report_csv(&[
            d(DifferenceKind::OursOnly, "XF261129LUTAU000001A01", Some(400_000), None, DifferenceAction::Reported),
            d(DifferenceKind::TheirsOnly, "XF261129LUTAU000002A01", Some(100), Some(100), DifferenceAction::Repaired),
            d(DifferenceKind::AmountDiffers, "X,\"Y\n", Some(1), Some(2), DifferenceAction::Reported),
            // A statement's trade number that Excel would run as a formula: shown as text.
            d(DifferenceKind::TheirsOnly, "-A1|cmd", None, Some(1), DifferenceAction::Reported),
        ]);
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(
            text,
            "\u{feff}kind,out_trade_no,ours_fen,theirs_fen,action\nours_only,XF261129LUTAU000001A01,400000,,reported\ntheirs_only,XF261129LUTAU000002A01,100,100,repaired\namount_differs,XY,1,2,reported\ntheirs_only,'-A1|cmd,,1,reported\n"
        );
        assert_eq!(previous_beijing_day("2026-11-30T02:30:00Z".parse().unwrap()).to_string(), "2026-11-29");
        assert_eq!(previous_beijing_day("2026-11-29T16:30:00Z".parse().unwrap()).to_string(), "2026-11-29");
    }
}
