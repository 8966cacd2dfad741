//! Lambda entry point: builds the clients once per cold start, then serves events.

lambda_adapter::http_main!(profile::handle, profile::USES);
