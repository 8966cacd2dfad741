//! Logs as JSON lines with the body-logging crates capped, and the allocator tuned: the first
//! things every function's `main` does.

/// Crates that log request and response bodies (ID numbers, phones) below `info`: capped at
/// `info` whatever `RUST_LOG` says.
const BODY_LOGGING_CRATES: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http",
    "aws_smithy_http_client",
    "aws_sdk_dynamodb",
    "aws_sdk_sns",
    "aws_sdk_secretsmanager",
    "aws_sdk_s3",
    "aws_runtime",
    "aws_config",
    "hyper",
    "hyper_util",
    "h2",
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
];

/// The log filter for `base` directives (e.g. `RUST_LOG`), with the body-logging crates capped.
pub fn log_filter(base: &str) -> tracing_subscriber::EnvFilter {
    let mut filter = tracing_subscriber::EnvFilter::try_new(base).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    for krate in BODY_LOGGING_CRATES {
        filter = filter.add_directive(format!("{krate}=info").parse().expect("valid directive"));
    }
    filter
}

/// Keeps glibc's mmap threshold at its default (128 KiB) instead of letting it climb. glibc
/// raises the threshold to the size of the largest mmapped block freed (up to 32 MiB), so after
/// the first argon2id run (19 MiB of blocks) later runs take their blocks from a thread's heap
/// and keep them there, one heap per blocking thread: `profile` grew from 39 MiB to 153 MiB over
/// five password changes (docs/measurements.md, "Cold start, size and memory"). With the
/// threshold fixed, argon2's blocks are mapped for the run and unmapped after it. Called first
/// in every function's `main`.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter, under glibc's own arena lock.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
}

/// Logs as JSON lines (CloudWatch-friendly), level from `RUST_LOG` (default `info`).
pub fn init_tracing() {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().json().with_env_filter(log_filter(&base)).with_current_span(false).without_time().try_init();
}

/// The local platform on a terminal (`scripts/dev`): one readable line per event — Beijing
/// time, level, message, fields — instead of JSON, and metrics only when they say something
/// (a non-zero count, in a short line) instead of an EMF document every sweep. Anywhere else
/// (a pipe, a file, `CAMPUS_LOG_JSON=1`): exactly as deployed.
pub fn init_local_tracing() {
    use std::io::IsTerminal;
    let readable = std::io::stdout().is_terminal() && std::env::var_os("CAMPUS_LOG_JSON").is_none();
    if !readable {
        return init_tracing();
    }
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().compact().with_target(false).with_timer(BeijingClock).with_env_filter(log_filter(&base)).try_init();
    shared::metrics::set_sink(|line| {
        if let Some(text) = readable_metric(line) {
            println!("{text}");
        }
    });
}

/// `HH:MM:SS` in Beijing time.
struct BeijingClock;

impl tracing_subscriber::fmt::time::FormatTime for BeijingClock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", chrono::Utc::now().with_timezone(&shared::clock::beijing()).format("%H:%M:%S"))
    }
}

/// An EMF metric line as `指标 name=value (dimension=value …)`, or nothing for a zero count.
pub fn readable_metric(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let name = v["metric"].as_str()?;
    let value = v[name].as_f64()?;
    if value == 0.0 {
        return None;
    }
    let dims: Vec<String> = v["_aws"]["CloudWatchMetrics"][0]["Dimensions"]
        .as_array()
        .and_then(|sets| sets.last())
        .and_then(|set| set.as_array())
        .map(|keys| {
            keys.iter()
                .filter_map(|k| k.as_str())
                .filter(|k| *k != "Stage")
                .map(|k| format!("{k}={}", v[k].as_str().unwrap_or("?")))
                .collect()
        })
        .unwrap_or_default();
    let dims = if dims.is_empty() { String::new() } else { format!(" ({})", dims.join(" ")) };
    Some(format!("指标 {name}={value}{dims}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_line_reads_as_one_short_line_and_zero_counts_are_quiet() {
        let line = shared::metrics::emf_line("notify_rejected", 1.0, &[("Channel", "wechat")], "local", 0);
        assert_eq!(readable_metric(&line).as_deref(), Some("指标 notify_rejected=1 (Channel=wechat)"));
        assert_eq!(readable_metric(&shared::metrics::emf_line("sweep_backlog", 0.0, &[], "local", 0)), None);
        assert_eq!(
            readable_metric(&shared::metrics::emf_line("sweep_backlog", 3.0, &[], "local", 0)).as_deref(),
            Some("指标 sweep_backlog=3")
        );
        assert_eq!(readable_metric("not json"), None);
    }
}
