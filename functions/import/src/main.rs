//! Lambda entry point: builds the clients once per cold start, then imports the file of every
//! event (an S3 upload under `imports/`, or a console test event).

lambda_adapter::event_main!(import::handle, import::USES);
