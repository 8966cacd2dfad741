//! campus-pay's domain: types that parse their input once (holding one means the value is
//! valid), the states of orders, attempts, refunds and imports and their transitions, receipts
//! and their texts. No AWS, HTTP or Lambda here: this crate's dependencies are the proof.

pub mod academic_year;
pub mod audit;
pub mod capital;
pub mod client;
pub mod contact;
pub mod entries;
pub mod expiry;
pub mod fee;
#[cfg(test)]
mod fixtures;
pub mod ids;
pub mod import;
pub mod money;
pub mod order;
pub mod order_no;
pub mod password;
pub mod payment;
pub mod receipt;
pub mod reconcile;
pub mod records;
pub mod refund;
pub mod refunding;
pub mod spreadsheet;
pub mod student;
pub mod time;
pub mod typed;

pub use academic_year::{AcademicYear, AcademicYearError};
pub use audit::{Actor, AuditAction, AuditEntry, AuditSubject, By, OperatorName, OperatorNameError};
pub use contact::{Address, ContactError, Email, Phone, Postcode};
pub use expiry::Expiry;
pub use fee::{ChargeStatus, FeeItem, FeeType, ItemId, NotPayable};
pub use ids::{Gender, IdCardNo, IdError, StudentNo};
pub use money::{Fen, MoneyError};
pub use order::{
    Attempt, AttemptState, Channel, ConfirmedPayment, Order, OrderLine, OrderState, OutTradeNo, OutTradeNoError, PaymentOutcome, item_set,
};
pub use order_no::{OrderNo, OrderNoError, OrderType, Serial, UnitId};
pub use password::{NewPassword, PasswordRuleError};
pub use payment::{AttemptPaid, DuplicatePaid, OrderPaid, PaymentMismatch, PaymentTransition};
pub use receipt::{LinkToken, Receipt, ReceiptIssue, ReceiptNo};
pub use reconcile::{Difference, DifferenceAction, DifferenceKind, ReconSummary};
pub use records::{
    Announcement, Enrolment, OfflineMethod, OfflineOutcome, OfflinePayment, PaidRecordId, PaymentRef, StudyLevel, StudyMode,
    TransactionStatus,
};
pub use refund::{MAX_REFUND_SENDS, Refund, RefundCommand, RefundCommandError, RefundNo, RefundState};
pub use refunding::{RefundOutcome, RefundRefused, RefundSettlement, RefundStart};
pub use student::{AccountKind, Contact, NameError, PersonName, Student};
