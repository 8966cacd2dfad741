//! The daily order-serial counter in DynamoDB (moto): concurrent allocations never collide,
//! days and units count separately, and the counter stops at 999999.

use chrono::NaiveDate;
use integration_tests::*;
use shared::domain::{OrderNo, OrderType, Serial, UnitId};
use shared::store::{SerialCounter, StoreError};
use std::collections::HashSet;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_allocations_give_five_hundred_distinct_serials() {
    let t = spawn().await;
    let unit = UnitId::parse("LUTAU").unwrap();
    let day = NaiveDate::from_ymd_opt(2020, 5, 10).unwrap();
    let tasks: Vec<_> = (0..500)
        .map(|_| {
            let app = Arc::clone(&t.app);
            tokio::spawn(async move { app.store.next_serial(OrderType::TUITION, day, unit).await.unwrap() })
        })
        .collect();
    let serials: Vec<Serial> = futures::future::join_all(tasks).await.into_iter().map(Result::unwrap).collect();
    let distinct: HashSet<u32> = serials.iter().map(|s| s.get()).collect();
    assert_eq!(distinct.len(), 500);
    assert_eq!((distinct.iter().min(), distinct.iter().max()), (Some(&1), Some(&500)), "no gaps");
    let first = OrderNo::new(OrderType::TUITION, day, unit, Serial::new(1).unwrap()).unwrap();
    assert_eq!(first.to_string(), "XF200510LUTAU000001");

    // Another day and another unit start again at 1.
    let next_day = day.succ_opt().unwrap();
    assert_eq!(t.app.store.next_serial(OrderType::TUITION, next_day, unit).await.unwrap().get(), 1);
    assert_eq!(t.app.store.next_serial(OrderType::TUITION, day, UnitId::parse("LUTAV").unwrap()).await.unwrap().get(), 1);
    assert_eq!(t.app.store.next_serial(OrderType::TUITION, day, unit).await.unwrap().get(), 501);
}

#[tokio::test]
async fn the_counter_stops_at_999999() {
    let t = spawn().await;
    let unit = UnitId::parse("LUTAU").unwrap();
    let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    // Bring the day's counter to 999998 directly in the table.
    t.app
        .store
        .client()
        .put_item()
        .table_name(&t.table)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("SEQ#XF#261126#LUTAU".into()))
        .item("sk", aws_sdk_dynamodb::types::AttributeValue::S("SEQ".into()))
        .item("seq", aws_sdk_dynamodb::types::AttributeValue::N("999998".into()))
        .send()
        .await
        .unwrap();
    assert_eq!(t.app.store.next_serial(OrderType::TUITION, day, unit).await.unwrap().get(), 999_999);
    assert!(matches!(t.app.store.next_serial(OrderType::TUITION, day, unit).await, Err(StoreError::SerialExhausted)));
    assert!(matches!(t.app.store.next_serial(OrderType::TUITION, day, unit).await, Err(StoreError::SerialExhausted)));
}
