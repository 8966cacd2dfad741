//! Lambda entry point: builds the clients once per cold start, then serves console events.

shared::event_main!(refund::handle);
