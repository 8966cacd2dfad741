//! Reconciliation: our paid attempts of one Beijing day matched with a gateway's statement of
//! the same day, by out-trade-no and amount. See `docs/operators-design.md` ("Reconciliation").

use super::money::Fen;
use super::order::Channel;
use chrono::{DateTime, NaiveDate, Utc};

/// One difference between our records and the statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceKind {
    /// Paid by our records, not in the statement.
    OursOnly,
    /// In the statement, not paid by our records (repaired when it is one of our attempts with
    /// the same amount).
    TheirsOnly,
    /// In both, with different amounts: reported, never repaired.
    AmountDiffers,
    /// A duplicate payment of ours (重复支付待退款) still not refunded a day after it was
    /// recorded: a person must look at it.
    DuplicateUnrefunded,
}

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OursOnly => "ours_only",
            Self::TheirsOnly => "theirs_only",
            Self::AmountDiffers => "amount_differs",
            Self::DuplicateUnrefunded => "duplicate_unrefunded",
        }
    }
}

/// What was done about a difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DifferenceAction {
    /// Left for a person: the alarm is raised.
    Reported,
    /// Recorded as paid through the normal payment path (receipt, SMS, audit).
    Repaired,
}

impl DifferenceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reported => "reported",
            Self::Repaired => "repaired",
        }
    }
}

/// One line of the difference report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub out_trade_no: String,
    pub ours: Option<Fen>,
    pub theirs: Option<Fen>,
    pub action: DifferenceAction,
}

/// The summary of one channel's reconciliation of one day (`RECON#<day>` / `<channel>`),
/// replaced by a re-run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconSummary {
    pub day: NaiveDate,
    pub channel: Channel,
    pub matched: u64,
    pub ours_only: u64,
    pub theirs_only: u64,
    pub amount_differs: u64,
    /// Duplicate payments of this channel still unrefunded a day after they were recorded.
    pub duplicates_unrefunded: u64,
    /// "Theirs only" payments recorded by this run (counted in `theirs_only` too).
    pub repaired: u64,
    /// Statement rows that are not payments (refunds, …), not matched.
    pub skipped: u64,
    pub run_at: DateTime<Utc>,
    /// `reconciliation` (the schedule) or `operator:<name>`.
    pub run_by: String,
    pub request_id: Option<String>,
    /// S3 keys of the report and the raw statement.
    pub report_key: String,
    pub raw_key: String,
}

impl ReconSummary {
    /// Differences left for a person: everything not repaired.
    pub fn open_differences(&self) -> u64 {
        self.ours_only + self.theirs_only + self.amount_differs + self.duplicates_unrefunded - self.repaired
    }
}
