//! docs/openapi.yaml kept true: its routes are the SAM template's, its error catalogue is
//! `AppError`'s, its request schemas are as strict as the server, and every answer the running
//! platform gives (status, code, success body shape, Set-Cookie) is one the document lists.

use integration_tests::*;
use reqwest::Client;
use serde_json::{Map, Value, json};
use shared::AppError;
use shared::store::StoreError;
use std::collections::BTreeSet;
use std::sync::Mutex;

const ERROR_REF: &str = "#/components/schemas/Error";

struct Doc(Value);

impl Doc {
    fn load() -> Self {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/openapi.yaml");
        Doc(serde_yaml::from_str(&std::fs::read_to_string(path).expect("read docs/openapi.yaml")).expect("openapi.yaml parses"))
    }
    fn resolve<'a>(&'a self, v: &'a Value) -> &'a Value {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => self.resolve(self.0.pointer(&r[1..]).unwrap_or_else(|| panic!("dangling $ref {r}"))),
            None => v,
        }
    }
    /// Every (METHOD, path) the document describes.
    fn ops(&self) -> BTreeSet<(String, String)> {
        let methods = |item: &Value| item.as_object().unwrap().keys().filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str())).cloned().collect::<Vec<_>>();
        self.0["paths"].as_object().expect("paths").iter().flat_map(|(p, item)| methods(item).into_iter().map(|m| (m.to_uppercase(), p.clone()))).collect()
    }
    fn op(&self, m: &str, p: &str) -> &Value {
        let op = &self.0["paths"][p][m.to_lowercase()];
        assert!(op.is_object(), "{m} {p} is not in docs/openapi.yaml");
        op
    }
    /// The documented (status, code) pairs of an operation; a success status has code "".
    fn outcomes(&self, m: &str, p: &str) -> BTreeSet<(u16, String)> {
        let mut out = BTreeSet::new();
        for (status, resp) in self.op(m, p)["responses"].as_object().expect("responses") {
            let s: u16 = status.parse().unwrap_or_else(|_| panic!("{m} {p}: status {status}"));
            if s < 400 {
                out.insert((s, String::new()));
                continue;
            }
            let all = self.resolve(resp)["content"]["application/json"]["schema"]["allOf"].as_array();
            let all = all.unwrap_or_else(|| panic!("{m} {p} {s}: schema is not allOf [Error, code enum]"));
            assert_eq!(all[0]["$ref"], ERROR_REF, "{m} {p} {s}");
            let codes = all[1]["properties"]["code"]["enum"].as_array().unwrap_or_else(|| panic!("{m} {p} {s}: no code enum"));
            out.extend(codes.iter().map(|c| (s, c.as_str().unwrap().to_owned())));
        }
        out
    }
    fn request_schema(&self, m: &str, p: &str) -> Option<&Value> {
        self.op(m, p).get("requestBody").map(|b| self.resolve(&self.resolve(b)["content"]["application/json"]["schema"]))
    }
    /// A body made of every request property's `example`.
    fn example(&self, m: &str, p: &str) -> Option<Value> {
        let props = self.request_schema(m, p)?["properties"].as_object().expect("request properties");
        let ex = props.iter().map(|(k, s)| (k.clone(), s.get("example").unwrap_or_else(|| panic!("{m} {p}: {k} has no example")).clone()));
        Some(Value::Object(ex.collect()))
    }
    /// Needs the session cookie (not just accepts it).
    fn authenticated(&self, m: &str, p: &str) -> bool {
        let sec = self.op(m, p).get("security").unwrap_or(&self.0["security"]).as_array().unwrap();
        !sec.is_empty() && sec.iter().all(|r| r.get("cookieAuth").is_some())
    }
    fn code_info(&self, code: &str) -> &Value {
        &self.0["components"]["schemas"]["Error"]["x-codes"][code]
    }

    /// Light structural check: types, enums, nullability, required and undocumented properties.
    fn check_shape(&self, schema: &Value, v: &Value, at: &str) {
        let s = self.resolve(schema);
        if v.is_null() {
            assert_eq!(s["nullable"], true, "{at}: null, but the document does not allow it");
            return;
        }
        if let Some(e) = s["enum"].as_array() {
            assert!(e.contains(v), "{at}: {v} is not one of {e:?}");
        }
        match s["type"].as_str() {
            Some("object") => {
                let o = v.as_object().unwrap_or_else(|| panic!("{at}: {v} is not an object"));
                for r in s["required"].as_array().into_iter().flatten() {
                    assert!(o.contains_key(r.as_str().unwrap()), "{at}: required property {r} missing in {v}");
                }
                for (k, x) in o {
                    match s["properties"].get(k) {
                        Some(ps) => self.check_shape(ps, x, &format!("{at}.{k}")),
                        None if s["additionalProperties"] == false => panic!("{at}: undocumented property {k}"),
                        None => self.check_shape(&s["additionalProperties"], x, &format!("{at}.{k}")),
                    }
                }
            }
            Some("array") => v.as_array().unwrap_or_else(|| panic!("{at}: {v} is not an array")).iter().enumerate()
                .for_each(|(i, x)| self.check_shape(&s["items"], x, &format!("{at}[{i}]"))),
            Some("string") => {
                let t = v.as_str().unwrap_or_else(|| panic!("{at}: {v} is not a string"));
                if s["format"] == "date" {
                    assert!(chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok(), "{at}: {t} is not YYYY-MM-DD");
                }
                if let Some(p) = s["pattern"].as_str() {
                    assert!(pattern_ok(p, t), "{at}: {t} does not match {p}");
                }
            }
            Some("boolean") => assert!(v.is_boolean(), "{at}: {v} is not a boolean"),
            Some("integer") => assert!(v.is_i64() || v.is_u64(), "{at}: {v} is not an integer"),
            _ => {}
        }
    }
}

/// The document's patterns, checked without a regex engine.
fn pattern_ok(pattern: &str, s: &str) -> bool {
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    match pattern {
        r"^-?[0-9]+\.[0-9]{2}$" => s.strip_prefix('-').unwrap_or(s).split_once('.').is_some_and(|(a, b)| digits(a) && digits(b) && b.len() == 2),
        "^[0-9]{4}-[0-9]{4}$" => s.split_once('-').is_some_and(|(a, b)| digits(a) && digits(b) && a.len() == 4 && b.len() == 4),
        _ => panic!("tests/tests/openapi.rs cannot check the pattern {pattern}: teach pattern_ok"),
    }
}

/// Every error the code can give. The match has no wildcard: a new variant stops this file
/// compiling until the document (and this list) know it.
fn every_error() -> Vec<AppError> {
    use AppError::*;
    let all = vec![BadRequest("x".into()), PayloadTooLarge, AppError::field("f", "m"), Unauthenticated, InvalidCredentials, PasswordChangeRequired,
        Locked, TooManyRequests, IdentityMismatch, TicketExpired, WrongAnswer, CodeInvalid, CodeExpired, NoSecurityQuestion, NoPhone, NotFound,
        Sms("x".into()), Store(StoreError::Conflict), Store(StoreError::Unavailable("x".into()))];
    for e in &all {
        match e {
            BadRequest(_) | PayloadTooLarge | Validation(_) | Unauthenticated | InvalidCredentials | PasswordChangeRequired | Locked | TooManyRequests
            | IdentityMismatch | TicketExpired | WrongAnswer | CodeInvalid | CodeExpired | NoSecurityQuestion | NoPhone | NotFound | Sms(_) | Store(_) => {}
        }
    }
    all
}

/// The platform, the document, and every (method, path, status, code) seen so far.
struct Api {
    t: TestApp,
    doc: Doc,
    seen: Mutex<BTreeSet<(String, String, u16, String)>>,
}

impl Api {
    async fn new() -> Self {
        Api { t: spawn().await, doc: Doc::load(), seen: Mutex::default() }
    }

    /// Sends a request and checks the answer against the document; returns (status, code or "", body).
    async fn call(&self, c: &Client, m: &str, p: &str, body: Option<String>) -> (u16, String, Value) {
        let mut req = c.request(m.parse().unwrap(), self.t.url(p));
        if let Some(b) = body {
            req = req.header("content-type", "application/json").body(b);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let cookie = r.headers().get("set-cookie").is_some();
        let text = r.text().await.unwrap();
        let v: Value = if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("JSON answer") };
        let code = if status >= 400 { v["code"].as_str().unwrap_or_default().to_owned() } else { String::new() };
        let at = format!("{m} {p} → {status} {code}");
        assert!(self.doc.outcomes(m, p).contains(&(status, code.clone())), "{at}: not documented for this operation ({text})");
        let resp = self.doc.resolve(&self.doc.op(m, p)["responses"][status.to_string()]);
        let declared = resp["headers"].get("Set-Cookie").map(|h| self.doc.resolve(h));
        assert!(!cookie || declared.is_some(), "{at}: Set-Cookie sent but not documented");
        assert!(cookie || declared.is_none_or(|h| h["required"] != true), "{at}: documented Set-Cookie missing");
        if status >= 400 {
            self.doc.check_shape(&json!({"$ref": ERROR_REF}), &v, &at);
            assert_eq!(v["message"], self.doc.code_info(&code)["message"], "{at}: message differs from x-codes");
            assert_eq!(v.get("fields").is_some(), code == "VALIDATION", "{at}: fields go with VALIDATION only");
        } else {
            match resp["content"]["application/json"].get("schema") {
                Some(schema) => self.doc.check_shape(schema, &v, &at),
                None => assert!(text.is_empty(), "{at}: body {text} but the document has none"),
            }
        }
        self.seen.lock().unwrap().insert((m.to_owned(), p.to_owned(), status, code.clone()));
        (status, code, v)
    }

    /// Like `call` with a JSON body (or none), and asserts the outcome.
    async fn expect(&self, c: &Client, m: &str, p: &str, body: Option<Value>, want: (u16, &str)) -> Value {
        let (status, code, v) = self.call(c, m, p, body.map(|b| b.to_string())).await;
        assert_eq!((status, code.as_str()), want, "{m} {p}: {v}");
        v
    }

    /// Repeats a request until it answers `code`, at most `max` times (every answer checked).
    async fn until(&self, c: &Client, m: &str, p: &str, body: impl Fn(u32) -> Option<Value>, code: &str, max: u32) {
        for i in 0..max {
            if self.call(c, m, p, body(i).map(|b| b.to_string())).await.1 == code {
                return;
            }
        }
        panic!("{m} {p}: no {code} after {max} tries");
    }

    async fn login(&self, c: &Client, user: &str, password: &str) -> Value {
        self.expect(c, "POST", "/api/login", Some(json!({"username": user, "password": password})), (200, "")).await
    }

    async fn ready(&self, user: &str, initial: &str, new: &str) -> Client {
        let c = browser();
        self.login(&c, user, initial).await;
        self.expect(&c, "POST", "/api/password", Some(json!({"old_password": initial, "new_password": new})), (204, "")).await;
        c
    }
}

#[test]
fn documented_routes_are_exactly_the_sam_templates() {
    let template = local::template::Template::load_default().expect("template");
    let routes: BTreeSet<(String, String)> = template.routes.iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(Doc::load().ops(), routes, "docs/openapi.yaml paths vs infra/template.yaml HttpApi events");
}

#[test]
fn the_error_catalogue_is_the_codes_and_every_operation_lists_the_common_errors() {
    let doc = Doc::load();
    let errors = every_error();
    let codes: BTreeSet<&str> = errors.iter().map(AppError::code).collect();
    let catalogue: BTreeSet<&str> = doc.0["components"]["schemas"]["Error"]["x-codes"].as_object().unwrap().keys().map(String::as_str).collect();
    let enumerated: BTreeSet<&str> = doc.0["components"]["schemas"]["Error"]["properties"]["code"]["enum"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
    assert_eq!(catalogue, codes, "Error.x-codes vs AppError::code");
    assert_eq!(enumerated, codes, "Error.code enum vs AppError::code");
    for e in &errors {
        let info = doc.code_info(e.code());
        assert_eq!(info["status"], e.status().as_u16(), "x-codes.{}.status", e.code());
        assert_eq!(info["message"], e.message(), "x-codes.{}.message", e.code());
    }
    for (m, p) in doc.ops() {
        let outcomes = doc.outcomes(&m, &p);
        for (status, code) in outcomes.iter().filter(|(s, _)| *s >= 400) {
            assert_eq!(doc.code_info(code)["status"], *status, "{m} {p} lists {code} under {status}");
        }
        let has = |s: u16, c: &str| outcomes.contains(&(s, c.to_owned()));
        assert!(has(500, "INTERNAL"), "{m} {p}: any route can fail with 500 INTERNAL");
        if let Some(schema) = doc.request_schema(&m, &p) {
            assert_eq!(schema["additionalProperties"], false, "{m} {p}: request schema must be closed");
            assert!(has(400, "BAD_REQUEST") && has(413, "PAYLOAD_TOO_LARGE"), "{m} {p}: a JSON body can be malformed or too large");
        }
        assert_eq!(doc.authenticated(&m, &p), has(401, "UNAUTHENTICATED"), "{m} {p}: 401 UNAUTHENTICATED iff the cookie is required");
    }
}

#[tokio::test]
async fn request_schemas_are_exactly_as_strict_as_the_server() {
    let api = Api::new().await;
    let c = api.ready("2021010101", "03151235", "Campus2026a").await;
    for (m, p) in api.doc.ops() {
        let Some(schema) = api.doc.request_schema(&m, &p) else { continue };
        assert_eq!(schema["additionalProperties"], false, "{m} {p}");
        let full = api.doc.example(&m, &p).unwrap();
        // The example with one property changed (`None`: removed); true when refused as malformed.
        let refused = async |k: &str, v: Option<Value>| {
            let mut b: Map<String, Value> = full.as_object().unwrap().clone();
            match v {
                Some(v) => b.insert(k.to_owned(), v),
                None => b.remove(k),
            };
            let (status, code, _) = api.call(&c, &m, &p, Some(Value::Object(b).to_string())).await;
            (status, code.as_str()) == (400, "BAD_REQUEST")
        };
        assert!(!refused("", None).await, "{m} {p}: the document's example (every property) is refused");
        assert!(refused("x_unknown", Some(json!(1))).await, "{m} {p}: an unknown property is accepted");
        let required: Vec<&str> = schema["required"].as_array().into_iter().flatten().map(|r| r.as_str().unwrap()).collect();
        for (k, prop) in schema["properties"].as_object().unwrap() {
            assert_eq!(prop["type"], "string", "{m} {p}: {k}: this test only knows string properties");
            assert!(refused(k, Some(json!(12345))).await, "{m} {p}: {k} as a number is accepted");
            assert!(prop.get("enum").is_none() || refused(k, Some(json!("not-in-the-enum"))).await, "{m} {p}: {k} outside its enum");
            assert_eq!(refused(k, Some(Value::Null)).await, prop["nullable"] != true, "{m} {p}: {k} null vs nullable");
            assert_eq!(refused(k, None).await, required.contains(&k.as_str()), "{m} {p}: {k} missing vs required");
        }
        let mut big = full.clone();
        big["x_padding"] = json!("a".repeat(65 * 1024));
        assert_eq!(api.call(&c, &m, &p, Some(big.to_string())).await.1, "PAYLOAD_TOO_LARGE", "{m} {p}: over 64 KiB");
    }
}

#[tokio::test]
async fn every_route_answers_only_what_the_document_lists() {
    let api = Api::new().await;
    let ops = api.doc.ops();
    let body = |m: &str, p: &str| api.doc.example(m, p);

    // No session: 401 exactly where the document requires the cookie.
    for (m, p) in ops.iter().filter(|(m, p)| api.doc.authenticated(m, p)) {
        api.expect(&Client::new(), m, p, body(m, p), (401, "UNAUTHENTICATED")).await;
    }
    api.expect(&Client::new(), "POST", "/api/logout", None, (204, "")).await;

    // A forced password change: 403 exactly where the document lists it.
    let forced = browser();
    assert_eq!(api.login(&forced, "2021010103", "11227895").await["must_change_password"], true);
    for (m, p) in ops.iter().filter(|(m, p)| api.doc.authenticated(m, p)) {
        let lists_403 = api.doc.outcomes(m, p).contains(&(403, "PASSWORD_CHANGE_REQUIRED".into()));
        let (status, ..) = api.call(&forced, m, p, body(m, p).map(|b| b.to_string())).await;
        assert_eq!(status == 403, lists_403, "{m} {p} during a forced change");
    }
    assert_eq!(api.expect(&forced, "GET", "/api/me", None, (200, "")).await["must_change_password"], true);
    api.expect(&forced, "POST", "/api/password", Some(json!({"old_password": "11227895", "new_password": "abcdefgh"})), (400, "VALIDATION")).await;
    api.expect(&forced, "POST", "/api/password", Some(json!({"old_password": "11227895", "new_password": "Campus2026w"})), (204, "")).await;
    let fees = api.expect(&forced, "GET", "/api/fees", None, (200, "")).await;
    assert!(fees.to_string().contains("暂停收费") && fees.to_string().contains("不在收费时间内"));

    // A ready session: every profile and fees route succeeds and validates.
    let c = api.ready("2021010101", "03151235", "Campus2026a").await;
    api.expect(&c, "GET", "/api/me", None, (200, "")).await;
    api.expect(&c, "GET", "/api/fees", None, (200, "")).await;
    api.expect(&c, "GET", "/api/profile", None, (200, "")).await;
    let p = api.expect(&c, "PUT", "/api/profile", Some(json!({"email": "zs@lut.edu.cn", "postcode": "730050"})), (200, "")).await;
    assert_eq!((p["email"].as_str(), p["phone_masked"].as_str()), (Some("zs@lut.edu.cn"), Some("187****6579")));
    let v = api.expect(&c, "PUT", "/api/profile", Some(json!({"phone": "", "email": "x", "postcode": "1"})), (400, "VALIDATION")).await;
    assert_eq!(v["fields"].as_object().unwrap().len(), 3);
    api.expect(&c, "GET", "/api/security-question", None, (200, "")).await;
    api.expect(&c, "POST", "/api/security-question/verify", Some(json!({"password": "Wrong2026x"})), (400, "VALIDATION")).await;
    api.expect(&c, "POST", "/api/security-question/verify", Some(json!({"password": "Campus2026a"})), (204, "")).await;
    let q = json!({"password": "Campus2026a", "question": "?", "answer": "七里河小学"});
    api.expect(&c, "PUT", "/api/security-question", Some(q), (400, "VALIDATION")).await;
    let q = json!({"password": "Campus2026a", "question": "我的小学名称？", "answer": "七里河小学"});
    api.expect(&c, "PUT", "/api/security-question", Some(q), (204, "")).await;
    assert_eq!(api.expect(&c, "GET", "/api/security-question", None, (200, "")).await["question"], "我的小学名称？");
    api.expect(&c, "POST", "/api/password", Some(json!({"old_password": "Campus2026a", "new_password": "Campus2026b"})), (204, "")).await;

    // 忘记密码 by security answer.
    let forgot = |no: &str, id: &str, name: &str| Some(json!({"student_no": no, "id_card": id, "name": name}));
    api.expect(&c, "POST", "/api/password/forgot", forgot("1", "620102", "3"), (400, "VALIDATION")).await;
    api.expect(&c, "POST", "/api/password/forgot", forgot("2021010101", "620102199903151235", "张四"), (400, "IDENTITY_MISMATCH")).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("2021010101", "620102199903151235", "张三"), (200, "")).await;
    let ticket = step1["ticket"].as_str().unwrap().to_owned();
    let reset = |method: &str, proof: Value, new: &str| {
        let mut b = json!({"ticket": ticket, "method": method, "new_password": new});
        b.as_object_mut().unwrap().extend(proof.as_object().unwrap().clone());
        Some(b)
    };
    let r = "/api/password/forgot/reset";
    api.expect(&c, "POST", r, reset("answer", json!({}), "Found2026c"), (400, "VALIDATION")).await;
    api.expect(&c, "POST", r, reset("answer", json!({"answer": "七里河小学"}), "short"), (400, "VALIDATION")).await;
    api.expect(&c, "POST", r, reset("answer", json!({"answer": "兰州小学"}), "Found2026c"), (400, "WRONG_ANSWER")).await;
    api.expect(&c, "POST", r, reset("answer", json!({"answer": "七里河 小学"}), "Found2026c"), (204, "")).await;
    api.expect(&c, "POST", r, reset("answer", json!({"answer": "七里河小学"}), "Again2026d"), (401, "TICKET_EXPIRED")).await;

    // 忘记密码 without a phone or a question (王五), and by SMS (赵六).
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("2021010103", "620105199811227895", "王五"), (200, "")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": step1["ticket"]})), (409, "NO_PHONE")).await;
    let no_q = json!({"ticket": step1["ticket"], "method": "answer", "answer": "x", "new_password": "Found2026c"});
    api.expect(&c, "POST", r, Some(no_q), (409, "NO_SECURITY_QUESTION")).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("U0001", "620502198501010023", "赵六"), (200, "")).await;
    let t6 = || Some(json!({"ticket": step1["ticket"]}));
    api.expect(&c, "POST", "/api/password/forgot/sms", t6(), (200, "")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", t6(), (429, "TOO_MANY_REQUESTS")).await;
    let sms = api.t.sms_sent_to("+8613609311234").await;
    let code: String = sms.last().expect("an SMS to 赵六").chars().filter(char::is_ascii_digit).take(6).collect();
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let by_sms = |code: &str| Some(json!({"ticket": step1["ticket"], "method": "sms", "code": code, "new_password": "Found2026e"}));
    api.expect(&c, "POST", r, by_sms(wrong), (400, "CODE_INVALID")).await;
    api.expect(&c, "POST", r, by_sms(&code), (204, "")).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("U0001", "620502198501010023", "赵六"), (200, "")).await;
    let used = json!({"ticket": step1["ticket"], "method": "sms", "code": code, "new_password": "Found2026f"});
    api.expect(&c, "POST", r, Some(used), (400, "CODE_EXPIRED")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": "forged"})), (401, "TICKET_EXPIRED")).await;

    // Locks: five failures for one name lock it (login, recovery, and the password re-check).
    api.until(&c, "POST", "/api/login", |_| Some(json!({"username": "2099999998", "password": "x"})), "LOCKED", 5).await;
    api.until(&c, "POST", "/api/password/forgot", |_| forgot("2099999998", "620102199903151235", "张三"), "LOCKED", 5).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("2021010101", "620102199903151235", "张三"), (200, "")).await;
    let wrong = json!({"ticket": step1["ticket"], "method": "answer", "answer": "兰州小学", "new_password": "Found2026h"});
    api.until(&c, "POST", r, |_| Some(wrong.clone()), "LOCKED", 5).await;
    let z6 = browser();
    api.login(&z6, "U0001", "Found2026e").await;
    api.until(&z6, "POST", "/api/security-question/verify", |_| Some(json!({"password": "Wrong2026x"})), "LOCKED", 5).await;
    api.expect(&z6, "POST", "/api/password", Some(json!({"old_password": "Found2026e", "new_password": "Found2026g"})), (429, "LOCKED")).await;
    let q = json!({"password": "Found2026e", "question": "我的小学名称？", "answer": "七里河小学"});
    api.expect(&z6, "PUT", "/api/security-question", Some(q), (429, "LOCKED")).await;
    // One client guessing across many names is throttled (last: it blocks this client's logins).
    let many = |i: u32| forgot(&format!("20980{i:05}"), "620102199903151235", "张三");
    api.until(&c, "POST", "/api/password/forgot", many, "TOO_MANY_REQUESTS", api.t.app.settings.client_lock_after + 1).await;
    api.expect(&c, "POST", "/api/login", Some(json!({"username": "2021010102", "password": "0708456X"})), (429, "TOO_MANY_REQUESTS")).await;

    // Logout ends the session.
    api.expect(&c, "POST", "/api/logout", None, (204, "")).await;
    api.expect(&c, "GET", "/api/me", None, (401, "UNAUTHENTICATED")).await;

    // Every documented success was seen; errors not driven by any test here are listed.
    let seen = api.seen.lock().unwrap().clone();
    for ((m, p), (status, code)) in ops.iter().flat_map(|(m, p)| api.doc.outcomes(m, p).into_iter().map(move |o| ((m, p), o))) {
        let hit = seen.contains(&(m.clone(), p.clone(), status, code.clone()));
        assert!(hit || status >= 400, "{m} {p}: documented success {status} never observed");
        if !hit && !["BAD_REQUEST", "PAYLOAD_TOO_LARGE", "INTERNAL"].contains(&code.as_str()) {
            eprintln!("not exercised here: {m} {p} {status} {code}");
        }
    }
}

#[tokio::test]
async fn a_store_outage_gets_documented_answers() {
    let api = Api::new().await;
    let c = browser();
    api.login(&c, "2021010102", "0708456X").await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", Some(json!({"student_no": "2021010102", "id_card": "62010220000708456X", "name": "李四"})), (200, "")).await;
    api.t.app.store.client().delete_table().table_name(&api.t.table).send().await.expect("delete the table");
    for (m, p) in api.doc.ops() {
        let mut body = api.doc.example(&m, &p);
        if let Some(Value::Object(b)) = body.as_mut().filter(|_| p.starts_with("/api/password/forgot/")) {
            b.insert("ticket".into(), step1["ticket"].clone());
        }
        let (status, code, _) = api.call(&c, &m, &p, body.map(|b| b.to_string())).await;
        // Every route, reset tickets included, reports the outage as such.
        let want: &[(u16, &str)] = &[(500, "INTERNAL")];
        assert!(want.contains(&(status, code.as_str())), "{m} {p} with the store down: {status} {code}");
    }
}
