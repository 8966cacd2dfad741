//! Lambda entry point: builds the clients once per cold start, then handles events.

lambda_adapter::event_main!(sweeper::handle, sweeper::USES);
