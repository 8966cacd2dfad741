//! Demo data for the local platform: students with valid ID numbers, fee items around today.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use shared::App;
use shared::clock::beijing;
use shared::domain::*;
use shared::service::records::{OfflineItem, OfflineRejected, OfflineSubmission};
use shared::store::{AnnouncementStore, Credential, EnrolmentStore, FeeStore, StoreError, StudentStore};

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
    DemoLogin { username: "2021010104", password: "04120030", who: "孙七 — 两个学年的学费（银联演示）" },
    DemoLogin {
        username: "U0001", password: "赵六", who: "赵六 — 其他用户（也可用身份证号 620502198501010023 登录）"
    },
    DemoLogin {
        username: "2021010105", password: "05054523", who: "周八 — 去年学费已线下缴清，欠本学年学费和教材费"
    },
    DemoLogin { username: "2021010106", password: "05201232", who: "吴九 — 欠本学年学费和考试费（电子票据演示）" },
    DemoLogin { username: "2021010107", password: "02182716", who: "郑十 — 未登记手机号码：首次登录被请联系学院" },
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
    DemoStudent {
        no: "2021010101",
        name: "张三",
        id: "620102199903151235",
        class: "2021级土木工程(专升本)函授",
        kind: AccountKind::Student,
        phone: Some("18712346579"),
    },
    DemoStudent {
        no: "2021010102",
        name: "李四",
        id: "62010220000708456X",
        class: "2021级会计学(高起专)业余",
        kind: AccountKind::Student,
        phone: Some("13912345678"),
    },
    DemoStudent {
        no: "2021010103",
        name: "王五",
        id: "620105199811227895",
        class: "2022级机械设计制造及其自动化(专升本)函授",
        kind: AccountKind::Student,
        phone: Some("13893112345"),
    },
    DemoStudent {
        no: "2021010104",
        name: "孙七",
        id: "620102199704120030",
        class: "2023级法学(专升本)函授",
        kind: AccountKind::Student,
        phone: Some("15193112345"),
    },
    DemoStudent {
        no: "U0001",
        name: "赵六",
        id: "620502198501010023",
        class: "2025级培训班",
        kind: AccountKind::Other,
        phone: Some("13609311234"),
    },
    DemoStudent {
        no: "2021010105",
        name: "周八",
        id: "620103200005054523",
        class: "2023级会计学(高起专)业余",
        kind: AccountKind::Student,
        phone: Some("13512345678"),
    },
    DemoStudent {
        no: "2021010106",
        name: "吴九",
        id: "620102199905201232",
        class: "2021级会计学(专升本)函授",
        kind: AccountKind::Student,
        phone: Some("13919312345"),
    },
    // No phone on file: the first login cannot prove one, so it is refused with the college's
    // numbers (issue #12); the import fills the phone in once the college has it.
    DemoStudent {
        no: "2021010107",
        name: "郑十",
        id: "620102199602182716",
        class: "2024级土木工程(专升本)函授",
        kind: AccountKind::Student,
        phone: None,
    },
];

/// The academic year running on `today`: it starts on 1 September.
pub fn current_academic_year(today: NaiveDate) -> u16 {
    (if today.month() >= 9 { today.year() } else { today.year() - 1 }) as u16
}

fn ay(start: u16) -> AcademicYear {
    AcademicYear::parse(&format!("{start}-{}", start + 1)).expect("valid year")
}

#[allow(clippy::too_many_arguments)] // one row of the demo table
fn fee(
    year: u16,
    id: &str,
    name: &str,
    fee_type: FeeType,
    due: i64,
    paid: i64,
    window: (NaiveDate, NaiveDate),
    status: ChargeStatus,
) -> FeeItem {
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
        "2021010104" => vec![
            fee(cur - 1, "TUITION", "学费", Tuition, 300_000, 0, open(cur - 1), Charging),
            fee(cur, "TUITION", "学费", Tuition, 300_000, 0, open(cur), Charging),
            fee(cur, "EXAM", "考试费", Other, 8_000, 0, open(cur), Charging),
        ],
        "U0001" => vec![fee(cur, "TRAINING", "培训费", Other, 150_000, 0, open(cur), Charging)],
        "2021010107" => vec![fee(cur, "TUITION", "学费", Tuition, 320_000, 0, open(cur), Charging)],
        // Last year's tuition was paid at the bank: the offline payment below credits it.
        "2021010105" => vec![
            fee(cur - 1, "TUITION", "学费", Tuition, 260_000, 0, open(cur - 1), Charging),
            fee(cur, "TUITION", "学费", Tuition, 260_000, 0, open(cur), Charging),
            fee(cur, "BOOKS", "教材费", Other, 35_000, 0, open(cur), Charging),
        ],
        "2021010106" => vec![
            fee(cur, "TUITION", "学费", Tuition, 300_000, 0, open(cur), Charging),
            fee(cur, "EXAM", "考试费", Other, 12_050, 0, open(cur), Charging),
        ],
        _ => vec![],
    }
}

/// 报名信息 of the demo students (the "other" user 赵六 has none).
fn enrolment_of(no: &str) -> Option<Enrolment> {
    let (year, level, major, mode, centre) = match no {
        "2021010101" => (2021, "专升本", "土木工程", "函授", "兰州理工大学继续教育学院（本部）"),
        "2021010102" => (2021, "高起专", "会计学", "业余", "兰州理工大学继续教育学院（本部）"),
        "2021010103" => (2022, "专升本", "机械设计制造及其自动化", "函授", "天水函授站"),
        "2021010104" => (2023, "专升本", "法学", "函授", "兰州函授站"),
        "2021010105" => (2023, "高起专", "会计学", "业余", "白银学习中心"),
        _ => return None,
    };
    Some(Enrolment::parse(year, level, major, mode, centre).expect("valid demo enrolment"))
}

/// An instant on a Beijing calendar day.
fn beijing_at(day: NaiveDate, hour: u32, minute: u32) -> DateTime<Utc> {
    beijing().from_local_datetime(&day.and_hms_opt(hour, minute, 0).expect("time")).single().expect("no DST in Beijing").with_timezone(&Utc)
}

/// 系统公告 around `today`: a notice, an important one (it pops up before 学费缴费), and an
/// expired one that is no longer shown.
fn announcements(today: NaiveDate) -> Vec<Announcement> {
    let cur = current_academic_year(today);
    let end_of_year = NaiveDate::from_ymd_opt(i32::from(cur) + 1, 9, 1).expect("date");
    let a = |id: &str, title: &str, body: &str, from: DateTime<Utc>, until: DateTime<Utc>, important| Announcement {
        id: id.into(),
        title: title.into(),
        body: body.into(),
        publish_at: from,
        expire_at: Some(until),
        important,
    };
    vec![
        a(
            "payment-notes",
            "缴费重要提示",
            "1. 学费缴费收款单位名称为：甘肃省财政厅，支付前请核对收款名称。\n\
             2. 支付完成后如页面显示未成功，请先到网上银行（或支付宝、微信账单）查询是否已扣款；如已扣款切勿重复缴费，请在缴费单页面点击「我已支付」查询。\n\
             3. 本系统不会要求您提供银行卡密码，请勿将个人银行信息透露给他人。",
            beijing_at(today - Duration::days(1), 8, 0),
            beijing_at(today + Duration::days(365), 0, 0),
            true,
        ),
        a(
            &format!("tuition-{cur}"),
            &format!("关于{cur}-{}学年学费缴纳的通知", cur + 1),
            &format!(
                "各位同学：{cur}-{}学年学费缴纳工作已开始，请在【学费缴费】中选择学年和缴费项目，通过支付宝、微信或银联卡在线缴纳。\n\
                 缴费前请先在【个人信息】中核对个人信息及接收电子票据的手机号码。如有疑问请联系学院电话 2973633、2755282，财务处 2973882、2973305。",
                cur + 1
            ),
            beijing_at(today - Duration::days(7), 9, 0),
            beijing_at(end_of_year, 0, 0),
            false,
        ),
        a(
            "maintenance",
            "系统维护通知",
            "本平台曾于维护期间暂停服务，现已恢复。",
            beijing_at(today - Duration::days(60), 9, 0),
            beijing_at(today - Duration::days(30), 0, 0),
            false,
        ),
    ]
}

/// The one offline payment of the demo: 周八 paid last year's tuition by bank transfer.
fn offline_payments(today: NaiveDate) -> Vec<OfflineSubmission> {
    let cur = current_academic_year(today);
    vec![OfflineSubmission {
        reference: format!("CW{}-000123", cur - 1),
        student_no: "2021010105".into(),
        items: vec![OfflineItem { academic_year: format!("{}-{cur}", cur - 1), item_id: "TUITION".into(), amount: Fen::new(260_000) }],
        method: "bank_transfer".into(),
        paid_at: beijing_at(NaiveDate::from_ymd_opt(i32::from(cur) - 1, 9, 10).expect("date"), 10, 30),
        receipt_no: Some(format!("GS{}0012345", cur - 1)),
        recorded_by: "seed".into(),
    }]
}

/// Creates the demo students (initial password, forced change), their fee items and
/// enrolment, the announcements and the offline payment.
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
        let credential = Credential::initial(app.clock.now() + app.settings.initial_password_ttl);
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
        if let Some(e) = enrolment_of(d.no) {
            match app.store.create_enrolment(&student.student_no, &e).await {
                Ok(()) | Err(StoreError::Conflict) => {}
                Err(e) => return Err(e),
            }
        }
    }
    for a in announcements(today) {
        match app.store.create_announcement(&a).await {
            Ok(()) | Err(StoreError::Conflict) => {}
            Err(e) => return Err(e),
        }
    }
    for p in offline_payments(today) {
        match app.record_offline_payment(&p, &shared::domain::By::new(shared::domain::Actor::Seed, app.clock.now())).await {
            // Recorded, or recorded by an earlier run.
            Ok(_) => {}
            Err(OfflineRejected::Store(e)) => return Err(e),
            Err(e) => panic!("demo offline payment {}: {e}", p.reference),
        }
    }
    Ok(())
}
