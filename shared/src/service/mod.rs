//! Use cases. Each takes parsed input, talks to the stores through their traits, and returns a
//! view or an [`AppError`](crate::error::AppError). Handlers only parse and map.

pub mod accounts;
pub mod audit;
pub mod checkout;
pub mod duplicates;
pub mod fees;
pub mod import;
pub mod notify;
pub mod orders;
pub mod outbox;
pub mod payer;
pub mod payments;
pub mod profile;
pub mod receipt_check;
pub mod receipts;
pub mod reconcile;
pub mod records;
pub mod recovery;
pub mod refunds;
pub mod session;
pub mod site;
mod verification;

pub use session::Authed;
