//! `campus-local`: creates the table from the SAM template in moto, seeds demo data, and serves
//! every function on its template route plus the static site on one port.
//!
//! Usage: campus-local [--port 3000] [--endpoint http://127.0.0.1:4566] [--table campus-pay-local] [--seed-only]
//!
//! Operators' commands, against the running platform (same code as the console invocations):
//!   campus-local invoke <function> ['<event JSON>'] [--port 3000]
//!   campus-local refund <out_trade_no> --operator NAME [--reason TEXT] [--amount YUAN] [--port 3000]
//!   campus-local import <file.csv> [--operator NAME] [--port 3000] [--endpoint …] [--table …]
//!   campus-local reconcile [<yyyy-MM-dd>] [--operator NAME] [--port 3000]
//!   campus-local audit (--order <order no> | --student <student no>) [--port 3000]

use local::seed::{DEMO_LOGINS, seed};
use local::template::Template;
use shared::clock::{Clock, SystemClock, beijing_date};
use std::net::SocketAddr;
use std::sync::Arc;

/// Subcommands that talk to a running platform instead of starting one.
const OPERATOR_COMMANDS: &[&str] = &["invoke", "reconcile", "audit", "refund", "import"];

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1).cloned())
}

/// The operators' commands: each sends its event to the running platform and prints the answer.
async fn operator_command(command: &str, port: u16) -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(2).filter(|a| !a.starts_with("--")).collect();
    // Values of `--flag value` pairs are not positional arguments.
    let flagged: Vec<String> =
        std::env::args().collect::<Vec<_>>().windows(2).filter(|w| w[0].starts_with("--")).map(|w| w[1].clone()).collect();
    let positional: Vec<&String> = args.iter().filter(|a| !flagged.contains(a)).collect();
    let (function, event) = match command {
        "invoke" => {
            let function = positional.first().ok_or("usage: campus-local invoke <function> ['<event JSON>']")?;
            let event: serde_json::Value = match positional.get(1) {
                Some(raw) => serde_json::from_str(raw).map_err(|e| format!("the event is not JSON: {e}"))?,
                None => serde_json::json!({}),
            };
            (function.to_string(), event)
        }
        "refund" => {
            let otn =
                positional.first().ok_or("usage: campus-local refund <out_trade_no> --operator NAME [--reason TEXT] [--amount YUAN]")?;
            let mut event = serde_json::json!({ "out_trade_no": otn, "operator": arg("--operator").unwrap_or_default() });
            for (flag, field) in [("--reason", "reason"), ("--amount", "amount")] {
                if let Some(v) = arg(flag) {
                    event[field] = v.into();
                }
            }
            ("refund".to_owned(), event)
        }
        // `campus-local reconcile [<yyyy-MM-dd>] [--operator NAME]` (default: the previous Beijing day).
        "reconcile" => {
            let operator = arg("--operator").or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "local".into());
            let mut event = serde_json::json!({ "operator": operator });
            if let Some(date) = positional.first() {
                event["date"] = serde_json::json!(date);
            }
            ("reconcile".to_owned(), event)
        }
        "audit" => {
            let event = match (arg("--order"), arg("--student")) {
                (Some(o), None) => serde_json::json!({ "order_no": o }),
                (None, Some(s)) => serde_json::json!({ "student_no": s }),
                _ => return Err("usage: campus-local audit (--order <order no> | --student <student no>)".into()),
            };
            ("audit".to_owned(), event)
        }
        "import" => {
            let file =
                positional.first().ok_or("usage: campus-local import <file.csv> [--operator NAME] [--endpoint URL] [--table NAME]")?;
            let endpoint =
                arg("--endpoint").or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).unwrap_or_else(|| "http://127.0.0.1:4566".into());
            let table = arg("--table").unwrap_or_else(|| "campus-pay-local".into());
            let operator = arg("--operator").or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "local-operator".into());
            let base = format!("http://127.0.0.1:{port}");
            return Ok(local::invoke::import_command(&base, &endpoint, &table, std::path::Path::new(file.as_str()), &operator).await?);
        }
        _ => unreachable!("dispatched on known commands"),
    };
    let base = format!("http://127.0.0.1:{port}");
    match local::invoke::invoke_command(&base, &function, event).await {
        Ok(answer) => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        Err(e) => {
            eprintln!("{function} failed: {e}");
            std::process::exit(1);
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    lambda_adapter::logging::tune_allocator();
    lambda_adapter::logging::init_local_tracing();
    let port: u16 = arg("--port").or_else(|| std::env::var("PORT").ok()).unwrap_or_else(|| "3000".into()).parse()?;
    if let Some(command) = std::env::args().nth(1).filter(|c| OPERATOR_COMMANDS.contains(&c.as_str())) {
        if let Err(e) = operator_command(&command, port).await {
            // Usage and argument errors: said plainly, exit status 2.
            eprintln!("{e}");
            std::process::exit(2);
        }
        return Ok(());
    }
    let endpoint = arg("--endpoint").or_else(|| std::env::var("AWS_ENDPOINT_URL").ok()).unwrap_or_else(|| "http://127.0.0.1:4566".into());
    let table = arg("--table").unwrap_or_else(|| "campus-pay-local".into());
    // A fresh signing key per run: sessions do not outlive the platform.
    let secret = std::env::var("JWT_SECRET").unwrap_or_else(|_| format!("{}{}", shared::auth::random_id(), shared::auth::random_id()));

    let template = Template::load_default()?;
    let cfg = local::sdk_config(&endpoint).await;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    let site_base = format!("http://127.0.0.1:{port}");
    // Real retry schedules unless told otherwise (SANDBOX_RETRY_SCALE=0.01 makes 4 min 2.4 s).
    let retry_scale: f64 = std::env::var("SANDBOX_RETRY_SCALE").ok().and_then(|v| v.parse().ok()).unwrap_or(1.0);
    // A channel whose settings JSON is in the environment (ALIPAY_MERCHANT, …) uses that gateway.
    let sandboxes = local::payments::start(&site_base, retry_scale, clock.clone(), &local::payments::configured_in_env).await;
    for channel in &sandboxes.configured {
        println!("[支付] {} 使用已配置的支付网关（非本地沙箱）", channel.as_str());
    }
    let mut app = local::build_app(&cfg, &table, secret.as_bytes(), clock.clone(), sandboxes.payments.clone());
    // The receipt SMS links back to this platform.
    app.settings.public_base_url = site_base.clone();
    // As deployed, a client address may ask for SMS_PER_CLIENT_PER_DAY codes a day (the benches,
    // whose students all come from 127.0.0.1, raise it).
    if let Ok(v) = std::env::var("SMS_PER_CLIENT_PER_DAY") {
        app.settings.sms_per_client_per_day = shared::app::sms_per_client_per_day(&v)?;
    }
    // SMS are shown here as the phones would show them (codes, receipt links).
    app.sms = app.sms.take().map(|sns| Arc::new(local::phone::TerminalPhones { sns }) as Arc<dyn shared::sms::SmsSender>);
    let app = Arc::new(app);
    let exists = app.store.client().describe_table().table_name(&table).send().await.is_ok();
    if !exists {
        template.create_table(app.store.client(), &table).await?;
    }
    // The table's stream to its trigger (the outbox function), as Lambda polls it when deployed.
    let poll_ms: u64 = std::env::var("STREAM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let _stream = local::streams::start(Arc::clone(&app), &cfg, &table, &template, std::time::Duration::from_millis(poll_ms)).await?;
    seed(&app, beijing_date(clock.now())).await?;
    local::ensure_ops_bucket(&app).await?;
    if std::env::args().any(|a| a == "--seed-only") {
        println!("table {table} ready with demo data at {endpoint}");
        return Ok(());
    }

    // The scheduled sweeper, as the template's rate(1 minute) schedule runs it.
    let every: u64 = std::env::var("SWEEP_EVERY_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60);
    let sweeping = Arc::clone(&app);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
        loop {
            tick.tick().await;
            if let Err(e) = sweeping.sweep().await {
                tracing::warn!(error = %e, "sweep failed");
            }
        }
    });
    // Where the sandboxes are, for the browser tests (the harness puts the sandbox WeChat's
    // JSAPI bridge into pages as WeChat's browser would). Local only, as every /_local route.
    let bases = serde_json::json!({
        "alipay": sandboxes.alipay_base, "wechat": sandboxes.wechat_base, "unionpay": sandboxes.unionpay_base,
    })
    .to_string();
    let router = local::router(app, &template, &local::default_static_dir()).route(
        "/_local/sandboxes",
        axum::routing::get(move || async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], bases) }),
    );
    println!("\ncampus-pay local platform: http://127.0.0.1:{port}/");
    println!("  sweeper every {every} s (SWEEP_EVERY_SECS); the table's stream read every {poll_ms} ms (STREAM_POLL_MS)");
    println!(
        "  sandbox Alipay {}, WeChat Pay {} and UnionPay {} (test keys made for this run)",
        sandboxes.alipay_base, sandboxes.wechat_base, sandboxes.unionpay_base
    );
    println!("  {} routes from infra/template.yaml, table {table} at {endpoint}", template.routes.len());
    println!("  demo logins (the first login asks for the SMS code, shown here, and a new password):");
    for d in DEMO_LOGINS {
        println!("    {:<12} {:<10} {}", d.username, d.password, d.who);
    }
    println!("  Ctrl-C stops everything.\n");
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
