//! Lambda entry point: builds the clients once per cold start, then handles events.

lambda_adapter::event_main!(audit::handle, audit::USES);
