//! Lambda entry point: builds the clients once per cold start, then handles stream batches.

shared::event_main!(outbox::handle);
