//! Lambda entry point: builds the clients once per cold start, then serves events.

shared::http_main!(notify::handle);
