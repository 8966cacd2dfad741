//! The floor under every figure in docs/measurements.md: our CPU for one store call through the
//! AWS SDK, with nothing else around it (run by `scripts/bench`, section `payments`).
//! - a `GetItem` of a student (the read most handlers start with), through `DynamoStore`;
//! - the same `GetItem` through the bare SDK client;
//! - an SNS `Publish` (the receipt SMS).
//!
//! One thread (a current-thread runtime), so the thread's CPU clock around a call is its cost;
//! moto answers from its own process. Needs MOTO_ENDPOINT (scripts/bench starts moto).
//! N (default 2000) calls per case after 200 warm-up calls.

use integration_tests::*;
use shared::domain::StudentNo;
use shared::store::StudentStore;

/// Median and p90 of `n` runs of `call`, in microseconds of this thread's CPU.
async fn measure<F, Fut>(name: &str, n: usize, mut call: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..200 {
        call().await;
    }
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let t0 = cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID);
        call().await;
        us.push((cpu_ms(libc::CLOCK_THREAD_CPUTIME_ID) - t0) * 1000.0);
    }
    us.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!("{name}: {:.0} µs CPU median, p90 {:.0} µs, over {n} calls", us[n / 2], us[n * 9 / 10]);
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: usize = std::env::var("N").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let t = spawn().await;
    let cfg = local::sdk_config(&t.endpoint).await;
    let no = StudentNo::parse("2021010101").unwrap();
    measure("GetItem (student) through DynamoStore", n, || async {
        t.app.store.get_student(&no).await.unwrap().expect("seeded student");
    })
    .await;
    let client = aws_sdk_dynamodb::Client::new(&cfg);
    let key = aws_sdk_dynamodb::types::AttributeValue::S("STU#2021010101".into());
    measure("GetItem (student) through the bare SDK client", n, || async {
        let out = client
            .get_item()
            .table_name(&t.table)
            .key("pk", key.clone())
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("PROFILE".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        assert!(out.item.is_some(), "seeded student");
    })
    .await;
    let sns = aws_sdk_sns::Client::new(&cfg);
    measure("SNS Publish (one SMS)", n, || async {
        sns.publish().phone_number("+8613800000000").message("campus-pay bench").send().await.unwrap();
    })
    .await;
}
