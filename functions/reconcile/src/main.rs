//! Lambda entry point: builds the clients once per cold start, then reconciles on every event
//! (the daily schedule, or an operator's console test event).

lambda_adapter::event_main!(reconcile::handle, reconcile::USES);
