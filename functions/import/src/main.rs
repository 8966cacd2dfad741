//! Lambda entry point: builds the clients once per cold start, then imports the file of every
//! event (an S3 upload under `imports/`, or a console test event).

shared::event_main!(import::handle);
