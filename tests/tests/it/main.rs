//! The integration tests, one binary: each module is one area, run against moto over HTTP
//! with the local platform spawned in-process (`integration_tests::spawn`). `logs` and
//! `metrics` stay binaries of their own: each installs a process-wide sink (the tracing
//! subscriber, the metrics sink) that would capture every other test here.

mod audit;
mod bad_input;
mod counter;
mod csrf;
mod duplicates;
mod fees;
mod first_login;
mod gateways;
mod import;
mod login;
mod notifications;
mod openapi;
mod orders;
mod outbox;
mod payments;
mod phone_change;
mod profile;
mod receipt_check;
mod receipts;
mod reconcile;
mod records;
mod recovery;
mod refunds;
mod secrets;
mod sessions;
mod site;
mod sweeper;
mod typed;
mod unionpay;
mod wechat_jsapi;
