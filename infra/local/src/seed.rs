//! Demo data for the local platform: students with valid ID numbers, fee items around today.

use chrono::{Datelike, Duration, NaiveDate};
use shared::App;
use shared::domain::*;
use shared::store::{Credential, FeeStore, StoreError, StudentStore};

/// One demo login, printed at start-up.
pub struct DemoLogin {
    pub username: &'static str,
    pub password: &'static str,
    pub who: &'static str,
}

pub const DEMO_LOGINS: &[DemoLogin] = &[
    DemoLogin { username: "2021010101", password: "03151235", who: "张三 — 欠三个学年的费用" },
    DemoLogin { username: "2021010102", password: "0708456X", who: "李四 — 没有欠费" },
    DemoLogin { username: "2021010103", password: "11227895", who: "王五 — 一项停止收费、一项不在收费时间内" },
    DemoLogin { username: "U0001", password: "赵六", who: "赵六 — 其他用户（也可用身份证号 620502198501010023 登录）" },
    DemoLogin { username: "2021010104", password: "05201232", who: "孙七 — 欠本学年学费和考试费（电子票据演示）" },
];

struct DemoStudent {
    no: &'static str,
    name: &'static str,
    id: &'static str,
    class: &'static str,
    kind: AccountKind,
    phone: Option<&'static str>,
}

const STUDENTS: &[DemoStudent] = &[
    DemoStudent { no: "2021010101", name: "张三", id: "620102199903151235", class: "2021级土木工程(专升本)函授", kind: AccountKind::Student, phone: Some("18712346579") },
    DemoStudent { no: "2021010102", name: "李四", id: "62010220000708456X", class: "2021级会计学(高起专)业余", kind: AccountKind::Student, phone: Some("13912345678") },
    DemoStudent { no: "2021010103", name: "王五", id: "620105199811227895", class: "2022级机械设计制造及其自动化(专升本)函授", kind: AccountKind::Student, phone: None },
    DemoStudent { no: "U0001", name: "赵六", id: "620502198501010023", class: "2025级培训班", kind: AccountKind::Other, phone: Some("13609311234") },
    DemoStudent { no: "2021010104", name: "孙七", id: "620102199905201232", class: "2021级会计学(专升本)函授", kind: AccountKind::Student, phone: Some("13919312345") },
];

/// The academic year running on `today`: it starts on 1 September.
pub fn current_academic_year(today: NaiveDate) -> u16 {
    (if today.month() >= 9 { today.year() } else { today.year() - 1 }) as u16
}

fn ay(start: u16) -> AcademicYear {
    AcademicYear::parse(&format!("{start}-{}", start + 1)).expect("valid year")
}

#[allow(clippy::too_many_arguments)] // one row of the demo table
fn fee(year: u16, id: &str, name: &str, fee_type: FeeType, due: i64, paid: i64, window: (NaiveDate, NaiveDate), status: ChargeStatus) -> FeeItem {
    FeeItem {
        academic_year: ay(year),
        item_id: ItemId::parse(id).expect("valid id"),
        name: name.into(),
        fee_type,
        due: Fen::new(due),
        paid: Fen::new(paid),
        window_start: window.0,
        window_end: window.1,
        status,
    }
}

/// Fee items per demo student, relative to `today` so the demo stays meaningful.
fn fees_for(no: &str, today: NaiveDate) -> Vec<FeeItem> {
    let cur = current_academic_year(today);
    let sep1 = |y: u16| NaiveDate::from_ymd_opt(i32::from(y), 9, 1).expect("date");
    // Arrears stay payable until the end of the current academic year.
    let open = |y: u16| (sep1(y), NaiveDate::from_ymd_opt(i32::from(cur) + 1, 8, 31).expect("date"));
    use ChargeStatus::*;
    use FeeType::*;
    match no {
        "2021010101" => vec![
            fee(cur - 2, "TUITION", "学费", Tuition, 350_000, 200_000, open(cur - 2), Charging),
            fee(cur - 1, "TUITION", "学费", Tuition, 350_000, 0, open(cur - 1), Charging),
            fee(cur - 1, "BOOKS", "教材费", Other, 42_050, 0, open(cur - 1), Charging),
            fee(cur, "TUITION", "学费", Tuition, 380_000, 0, open(cur), Charging),
            fee(cur, "EXAM", "考试费", Other, 12_000, 0, open(cur), Charging),
        ],
        "2021010102" => vec![
            fee(cur - 1, "TUITION", "学费", Tuition, 280_000, 280_000, open(cur - 1), Charging),
            fee(cur, "TUITION", "学费", Tuition, 280_000, 280_000, open(cur), Charging),
        ],
        "2021010103" => vec![
            fee(cur, "TUITION", "学费", Tuition, 400_000, 0, open(cur), Charging),
            fee(cur, "BOOKS", "教材费", Other, 38_000, 0, open(cur), Stopped),
            fee(cur - 1, "RESIT", "补考费", Other, 5_000, 0, (sep1(cur - 1), today - Duration::days(30)), Charging),
        ],
        "U0001" => vec![fee(cur, "TRAINING", "培训费", Other, 150_000, 0, open(cur), Charging)],
        "2021010104" => vec![
            fee(cur, "TUITION", "学费", Tuition, 300_000, 0, open(cur), Charging),
            fee(cur, "EXAM", "考试费", Other, 12_050, 0, open(cur), Charging),
        ],
        _ => vec![],
    }
}

/// Creates the demo students (initial password, forced change) and their fee items.
/// Safe to run twice: what exists is left alone.
pub async fn seed(app: &App, today: NaiveDate) -> Result<(), StoreError> {
    for d in STUDENTS {
        let id = IdCardNo::parse(d.id).expect("demo ID numbers are valid");
        let student = Student {
            student_no: StudentNo::parse(d.no).expect("valid"),
            name: PersonName::parse(d.name).expect("valid"),
            gender: id.gender(),
            id_card: id,
            department: "继续教育学院".into(),
            class_name: d.class.into(),
            kind: d.kind,
            contact: Contact { phone: d.phone.map(|p| Phone::parse(p).expect("valid")), ..Contact::default() },
        };
        let credential = Credential {
            password_hash: app.hasher.hash(student.initial_password().to_owned()).await,
            must_change: true,
            security_question: None,
            security_answer_hash: None,
            version: 1,
        };
        match app.store.create_student(&student, &credential).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
        for item in fees_for(d.no, today) {
            match app.store.create_fee_item(&student.student_no, &item).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}
