//! Metrics as CloudWatch Embedded Metric Format (EMF) log lines: one JSON object per line on
//! stdout, which CloudWatch Logs turns into a metric in namespace [`NAMESPACE`] without any API
//! call (alarms in `infra/template.yaml` watch them). Never put personal data in a dimension.

/// The namespace of every metric the functions emit.
pub const NAMESPACE: &str = "campus-pay";

/// The EMF line counting one `name` event at `at`, with `dimensions` (name, value).
pub fn count_line(name: &str, dimensions: &[(&str, &str)], at: chrono::DateTime<chrono::Utc>) -> String {
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": at.timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": [{"Name": name, "Unit": "Count"}],
            }],
        },
    });
    let root = line.as_object_mut().expect("an object");
    for (k, v) in dimensions {
        root.insert((*k).to_owned(), serde_json::Value::String((*v).to_owned()));
    }
    root.insert(name.to_owned(), serde_json::json!(1));
    line.to_string()
}

/// Emits one count of `name` (see [`count_line`]) on stdout, where Lambda's log capture reads it.
pub fn count(name: &str, dimensions: &[(&str, &str)]) {
    println!("{}", count_line(name, dimensions, chrono::Utc::now()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_lines_declare_their_metric() {
        let at = chrono::DateTime::from_timestamp(1_795_000_000, 0).unwrap();
        let v: serde_json::Value = serde_json::from_str(&count_line("sms_failed", &[("reason", "exhausted")], at)).unwrap();
        assert_eq!(v["_aws"]["Timestamp"], 1_795_000_000_000i64);
        let m = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(m["Namespace"], "campus-pay");
        assert_eq!(m["Dimensions"], serde_json::json!([["reason"]]));
        assert_eq!(m["Metrics"], serde_json::json!([{"Name": "sms_failed", "Unit": "Count"}]));
        assert_eq!((v["sms_failed"].as_i64(), v["reason"].as_str()), (Some(1), Some("exhausted")));
    }
}
