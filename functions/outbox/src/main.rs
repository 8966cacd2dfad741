//! Lambda entry point: builds the clients once per cold start, then handles stream batches.

lambda_adapter::event_main!(outbox::handle, outbox::USES);
