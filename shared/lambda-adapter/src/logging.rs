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
