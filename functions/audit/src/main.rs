//! Lambda entry point: builds the clients once per cold start, then handles events.

shared::event_main!(audit::handle);
