//! Operational metrics as CloudWatch embedded metric format (EMF) lines on stdout. In Lambda,
//! CloudWatch Logs turns each line into a metric in namespace `CampusPay` with the dimension
//! `Stage` (and the extra dimensions given, e.g. `Channel`); the template's alarms and
//! dashboard read them. Locally the lines are printed like any other log line.
//!
//! Only names, counts and low-cardinality labels go here: never personal data or identifiers.

use std::io::Write;

/// The metric namespace (the template's alarms use the same).
pub const NAMESPACE: &str = "CampusPay";

/// A gateway notification was not acknowledged (unverifiable, unknown, mismatched). Dimension `Channel`.
pub const NOTIFY_REJECTED: &str = "notify_rejected";
/// Work items one sweep found due (attempts to query + expired open orders). At
/// `SWEEP_BATCH` per kind the sweeper is behind. Emitted on every sweep, so silence means the
/// sweeper is not running.
pub const SWEEP_BACKLOG: &str = "sweep_backlog";
/// Items one sweep could not settle (a gateway did not answer); retried next minute.
pub const SWEEP_DEFERRED: &str = "sweep_deferred";
/// An SMS could not be sent (one refused send; the receipt outbox tries again).
pub const SMS_FAILED: &str = "sms_failed";
/// A receipt SMS was given up after its last try (or its sender vanished mid-send): the
/// student has the receipt on the site but no SMS.
pub const SMS_GIVEN_UP: &str = "sms_given_up";
/// A refund that cannot finish without a person: the gateway took it but could not return it
/// to the payer (WeChat Pay `ABNORMAL`: settle it on the merchant platform), or no gateway send
/// of it arrived after `MAX_REFUND_SENDS` sends. Emitted each time the refund is looked at
/// (notification or the sweeper's query), so the alarm stays raised until it is settled.
/// Dimension `Channel`.
pub const REFUND_NEEDS_OPERATOR: &str = "refund_needs_operator";
/// Differences one reconciliation run found (ours only + theirs only + amount differs). For
/// the reconciliation job; the alarm is in the template already.
pub const RECONCILE_DIFFERENCES: &str = "reconcile_differences";

/// `STAGE` (`dev`, `prod`; `local` when unset), read once.
fn stage() -> &'static str {
    static STAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    STAGE.get_or_init(|| std::env::var("STAGE").unwrap_or_else(|_| "local".into()))
}

/// The EMF document for `name` = `value` (unit `Count`) at `timestamp_ms`. One dimension set is
/// `[Stage]`; with `dimensions`, a second one `[Stage, …]` carries them too.
pub fn emf_line(name: &str, value: f64, dimensions: &[(&str, &str)], stage: &str, timestamp_ms: i64) -> String {
    let mut sets = vec![serde_json::json!(["Stage"])];
    if !dimensions.is_empty() {
        let mut keys = vec!["Stage"];
        keys.extend(dimensions.iter().map(|(k, _)| *k));
        sets.push(serde_json::json!(keys));
    }
    let mut doc = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": sets,
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
        "Stage": stage,
        "metric": name,
    });
    let root = doc.as_object_mut().expect("an object");
    root.insert(name.to_owned(), serde_json::json!(value));
    for (k, v) in dimensions {
        root.insert((*k).to_owned(), serde_json::json!(v));
    }
    doc.to_string()
}

/// Where the lines go instead of stdout, when set (tests that read the metrics).
type Sink = Box<dyn Fn(&str) + Send + Sync>;
static SINK: std::sync::OnceLock<Sink> = std::sync::OnceLock::new();

/// Sends every line to `sink` instead of stdout, for the rest of the process. False if a sink
/// was set already.
pub fn set_sink(sink: impl Fn(&str) + Send + Sync + 'static) -> bool {
    SINK.set(Box::new(sink)).is_ok()
}

/// Emits `name` = `value` now (one stdout line, written whole).
pub fn count(name: &str, value: u64, dimensions: &[(&str, &str)]) {
    let line = emf_line(name, value as f64, dimensions, stage(), chrono::Utc::now().timestamp_millis());
    if let Some(sink) = SINK.get() {
        return sink(&line);
    }
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(format!("{line}\n").as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_line_is_an_emf_document_cloudwatch_can_extract() {
        let v: Value = serde_json::from_str(&emf_line(NOTIFY_REJECTED, 1.0, &[("Channel", "wechat")], "prod", 1_700_000_000_000)).unwrap();
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
        assert_eq!(directive["Namespace"], "CampusPay");
        assert_eq!(directive["Dimensions"], serde_json::json!([["Stage"], ["Stage", "Channel"]]));
        assert_eq!(directive["Metrics"], serde_json::json!([{"Name": "notify_rejected", "Unit": "Count"}]));
        // Every referenced member is on the root, as the specification requires.
        assert_eq!((v["notify_rejected"].as_f64(), v["Stage"].as_str(), v["Channel"].as_str()), (Some(1.0), Some("prod"), Some("wechat")));
        assert!(!emf_line(SWEEP_BACKLOG, 0.0, &[], "dev", 0).contains('\n'));
        let plain: Value = serde_json::from_str(&emf_line(SWEEP_BACKLOG, 7.0, &[], "dev", 0)).unwrap();
        assert_eq!(plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Stage"]]));
        assert_eq!(plain["sweep_backlog"].as_f64(), Some(7.0));
    }
}
