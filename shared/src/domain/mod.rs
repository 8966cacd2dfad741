//! Domain types. Each parses its input once; holding one means the value is valid.

pub mod academic_year;
pub mod audit;
pub mod capital;
pub mod contact;
pub mod fee;
pub mod import;
pub mod ids;
pub mod money;
pub mod order;
pub mod order_no;
pub mod password;
pub mod records;
pub mod receipt;
pub mod refund;
pub mod reconcile;
pub mod student;

pub use audit::{Actor, By, AuditAction, AuditEntry, AuditSubject, OperatorName, OperatorNameError};
pub use academic_year::{AcademicYear, AcademicYearError};
pub use contact::{Address, ContactError, Email, Phone, Postcode};
pub use fee::{ChargeStatus, FeeItem, FeeType, ItemId, NotPayable};
pub use ids::{Gender, IdCardNo, IdError, StudentNo};
pub use money::{Fen, MoneyError};
pub use order::{
    item_set, Attempt, AttemptState, Channel, ConfirmedPayment, Order, OrderLine, OrderState, OutTradeNo, OutTradeNoError, PaymentOutcome,
};
pub use order_no::{OrderNo, OrderNoError, OrderType, Serial, UnitId};
pub use password::{NewPassword, PasswordRuleError};
pub use records::{
    Announcement, Enrolment, OfflineMethod, OfflineOutcome, OfflinePayment, PaidRecordId, PaymentRef, StudyLevel, StudyMode, TransactionStatus,
};
pub use reconcile::{Difference, DifferenceAction, DifferenceKind, ReconSummary};
pub use receipt::{LinkToken, Receipt, ReceiptIssue, ReceiptNo};
pub use refund::{Refund, RefundCommand, RefundCommandError, RefundNo, RefundState};
pub use student::{AccountKind, Contact, NameError, PersonName, Student};
