//! Lambda entry point: builds the clients once per cold start, then serves console events.

lambda_adapter::event_main!(refund::handle, refund::USES);
