//! An application on the in-memory store, as the service tests build it.
#![allow(dead_code)] // each test binary uses its own part

use shared::App;
use shared::auth::TokenKeys;
use shared::clock::{Clock, ShiftedClock};
use shared::domain::*;
use shared::store::memory::MemStore;
use std::sync::Arc;

pub const ITEMS: [(&str, i64); 3] = [("TUITION", 392_000), ("BOOKS", 28_000), ("EXAM", 12_000)];
pub const YEAR: &str = "2025-2026";

pub fn student_no() -> StudentNo {
    StudentNo::parse("2021010101").unwrap()
}

/// One student (2021010101, 李四) owing [`ITEMS`], the clock frozen, sessions keyed.
pub async fn app() -> App<MemStore> {
    app_and_clock().await.0
}

/// [`app`] with its clock, to move time on.
pub async fn app_and_clock() -> (App<MemStore>, Arc<ShiftedClock>) {
    let clock = Arc::new(ShiftedClock::default());
    clock.freeze();
    let store = MemStore::interleaving();
    let no = student_no();
    let student = Student {
        student_no: no.clone(),
        name: PersonName::parse("李四").unwrap(),
        gender: Gender::Male,
        id_card: IdCardNo::parse("620102199903151235").unwrap(),
        department: "继续教育学院".into(),
        class_name: "2021级会计".into(),
        kind: AccountKind::Student,
        contact: Contact { phone: Some(Phone::parse("13800138000").unwrap()), ..Contact::default() },
    };
    use shared::store::{FeeStore, StudentStore};
    store.create_student(&student, &shared::store::Credential::initial(chrono::Utc::now() + chrono::Duration::days(30))).await.unwrap();
    let today = shared::clock::beijing_date(clock.now());
    for (id, due) in ITEMS {
        let item = FeeItem {
            academic_year: AcademicYear::parse(YEAR).unwrap(),
            item_id: ItemId::parse(id).unwrap(),
            name: id.into(),
            fee_type: FeeType::Tuition,
            due: Fen::new(due),
            paid: Fen::new(0),
            window_start: today - chrono::Duration::days(30),
            window_end: today + chrono::Duration::days(30),
            status: ChargeStatus::Charging,
        };
        store.create_fee_item(&no, &item).await.unwrap();
    }
    let app = App::builder(store).sessions(TokenKeys::from_secret(&[7; 32]).unwrap()).clock(clock.clone()).build();
    (app, clock)
}
