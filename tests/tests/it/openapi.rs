//! docs/openapi.yaml kept true: its routes are the SAM template's, its error catalogue is
//! `AppError`'s, its request schemas are as strict as the server, and every answer the running
//! platform gives (status, media type, code, message, body shape, Set-Cookie, Cache-Control) is
//! one the document lists.
//!
//! The gateway callbacks (operations with `x-caller`) speak the calling gateway's formats, not
//! ours: for them every answer's status, media type and body are checked against the documented
//! response (the exact acknowledgement text, or no body at all), and they are driven with
//! notifications signed as the sandbox gateways sign them (each checked against the documented
//! request first), as well as forged ones.
//!
//! The pages (operations with `x-page`: the printable e-receipt) answer HTML, errors included:
//! every answer's status and media type are checked against the document, with no error code.
//!
//! Requests name concrete paths (`/api/orders/XF261126LUTAU000001`); the harness finds the
//! documented path (`/api/orders/{order_no}`) they are an instance of.

use integration_tests::*;
use reqwest::Client;
use serde_json::{Value, json};
use shared::AppError;
use shared::clock::{Clock, beijing_date};
use shared::domain::{AttemptState, Channel, Fen};
use shared::gateway::{Device, PaymentAction, alipay, wechat};
use shared::service::checkout::AttemptView;
use shared::store::StoreError;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

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
        let methods = |item: &Value| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                .cloned()
                .collect::<Vec<_>>()
        };
        self.0["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(p, item)| methods(item).into_iter().map(|m| (m.to_uppercase(), p.clone())))
            .collect()
    }
    fn op(&self, m: &str, p: &str) -> &Value {
        let op = &self.0["paths"][p][m.to_lowercase()];
        assert!(op.is_object(), "{m} {p} is not in docs/openapi.yaml");
        op
    }
    /// The gateway that calls this route (`x-caller`): a gateway callback, whose request and
    /// answers are in that gateway's formats. `None`: a route of the site's, in ours.
    fn caller(&self, m: &str, p: &str) -> Option<&str> {
        self.op(m, p).get("x-caller").map(|c| c.as_str().unwrap_or_else(|| panic!("{m} {p}: x-caller is not a string")))
    }
    /// An HTML page (`x-page`): every answer, errors included, is a page, not JSON.
    fn page(&self, m: &str, p: &str) -> bool {
        self.op(m, p)["x-page"] == true
    }
    /// The code an answer of this operation carries in place of `code`: none ("") for the
    /// pages and the gateway callbacks, whose answers are not our `Error`.
    fn coded<'a>(&self, m: &str, p: &str, code: &'a str) -> &'a str {
        if self.page(m, p) || self.caller(m, p).is_some() { "" } else { code }
    }
    /// The documented (status, code) pairs of an operation; a success status, and any answer of
    /// a gateway callback or a page (whose body the schema of its status decides), has code "".
    fn outcomes(&self, m: &str, p: &str) -> BTreeSet<(u16, String)> {
        let callback = self.caller(m, p).is_some() || self.page(m, p);
        let mut out = BTreeSet::new();
        for (status, resp) in self.op(m, p)["responses"].as_object().expect("responses") {
            let s: u16 = status.parse().unwrap_or_else(|_| panic!("{m} {p}: status {status}"));
            let all = self.resolve(resp)["content"]["application/json"]["schema"]["allOf"].as_array();
            if callback {
                assert!(
                    all.is_none_or(|a| a[0]["$ref"] != ERROR_REF),
                    "{m} {p} {s}: a gateway callback or a page answers in its own format, not Error"
                );
                out.insert((s, String::new()));
                continue;
            }
            if s < 400 {
                out.insert((s, String::new()));
                continue;
            }
            let all = all.unwrap_or_else(|| panic!("{m} {p} {s}: schema is not allOf [Error, code enum]"));
            assert_eq!(all[0]["$ref"], ERROR_REF, "{m} {p} {s}");
            let codes = all[1]["properties"]["code"]["enum"].as_array().unwrap_or_else(|| panic!("{m} {p} {s}: no code enum"));
            out.extend(codes.iter().map(|c| (s, c.as_str().unwrap().to_owned())));
        }
        out
    }
    /// The documented request body: its one media type and its schema.
    fn request_body(&self, m: &str, p: &str) -> Option<(&str, &Value)> {
        let content = self.resolve(self.op(m, p).get("requestBody")?)["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{m} {p}: request body without content"));
        assert_eq!(content.len(), 1, "{m} {p}: one request media type");
        let (media, c) = content.iter().next().unwrap();
        assert!(c["schema"].is_object(), "{m} {p}: the {media} request has no schema");
        Some((media.as_str(), self.resolve(&c["schema"])))
    }
    /// The JSON request schema of a route of the site's (a gateway callback's request is the
    /// gateway's format: see `request_body`).
    fn request_schema(&self, m: &str, p: &str) -> Option<&Value> {
        if self.caller(m, p).is_some() {
            return None;
        }
        let (media, schema) = self.request_body(m, p)?;
        assert_eq!(media, "application/json", "{m} {p}: the site sends JSON");
        Some(schema)
    }
    /// A body made of every request property's `example`.
    fn example(&self, m: &str, p: &str) -> Option<Value> {
        Some(self.example_of(self.request_schema(m, p)?, &format!("{m} {p}")))
    }
    /// The schema's `example`; else, for an object, every property's; for an array, one item's.
    fn example_of(&self, schema: &Value, at: &str) -> Value {
        let s = self.resolve(schema);
        if let Some(e) = s.get("example") {
            return e.clone();
        }
        match s["type"].as_str() {
            Some("object") => {
                let props = s["properties"].as_object().unwrap_or_else(|| panic!("{at}: no properties"));
                Value::Object(props.iter().map(|(k, ps)| (k.clone(), self.example_of(ps, &format!("{at}.{k}")))).collect())
            }
            Some("array") => json!([self.example_of(&s["items"], &format!("{at}[0]"))]),
            _ => panic!("{at} has no example"),
        }
    }
    /// The operation's path parameters (resolved), by name.
    fn path_params(&self, m: &str, p: &str) -> BTreeMap<String, &Value> {
        [&self.0["paths"][p]["parameters"], &self.op(m, p)["parameters"]]
            .into_iter()
            .flat_map(|l| l.as_array().into_iter().flatten())
            .map(|x| self.resolve(x))
            .filter(|x| x["in"] == "path")
            .map(|x| (x["name"].as_str().expect("parameter name").to_owned(), x))
            .collect()
    }
    /// The documented path `concrete` is an instance of, and its path parameters' values. Literal
    /// segments win over parameters, as at API Gateway.
    fn route(&self, m: &str, concrete: &str) -> (String, BTreeMap<String, String>) {
        let segs: Vec<&str> = concrete.split('/').collect();
        let mut found: Vec<(usize, String, BTreeMap<String, String>)> = self
            .ops()
            .into_iter()
            .filter(|(om, _)| om == m)
            .filter_map(|(_, p)| {
                let ps: Vec<&str> = p.split('/').collect();
                if ps.len() != segs.len() {
                    return None;
                }
                let mut values = BTreeMap::new();
                for (a, b) in ps.iter().zip(&segs) {
                    match a.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                        Some(name) if !b.is_empty() => {
                            values.insert(name.to_owned(), (*b).to_owned());
                        }
                        None if a == b => {}
                        _ => return None,
                    }
                }
                Some((values.len(), p, values))
            })
            .collect();
        found.sort_by_key(|f| f.0);
        let (_, p, values) = found.into_iter().next().unwrap_or_else(|| panic!("{m} {concrete} is not in docs/openapi.yaml"));
        (p, values)
    }
    /// `p` with each `{name}` replaced by its value in `given`, or else by the parameter's example.
    fn fill(&self, m: &str, p: &str, given: &[(&str, &str)]) -> String {
        let params = self.path_params(m, p);
        let seg = |s: &str| match s.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
            Some(name) => match given.iter().find(|(k, _)| *k == name) {
                Some((_, v)) => (*v).to_owned(),
                None => params
                    .get(name)
                    .and_then(|x| x["example"].as_str())
                    .unwrap_or_else(|| panic!("{m} {p}: {{{name}}} has no example"))
                    .to_owned(),
            },
            None => s.to_owned(),
        };
        p.split('/').map(seg).collect::<Vec<_>>().join("/")
    }
    /// Needs the session cookie (not just accepts it).
    fn authenticated(&self, m: &str, p: &str) -> bool {
        let sec = self.op(m, p).get("security").unwrap_or(&self.0["security"]).as_array().unwrap();
        !sec.is_empty() && sec.iter().all(|r| r.get("cookieAuth").is_some())
    }
    fn code_info(&self, code: &str) -> &Value {
        &self.0["components"]["schemas"]["Error"]["x-codes"][code]
    }
    /// Checks `message` reads as `code`'s `x-codes` message, each `{name}` in it filled in by a
    /// value of the schema `params.name`; returns those values.
    fn fill_ins(&self, code: &str, message: &str, at: &str) -> BTreeMap<String, String> {
        let info = self.code_info(code);
        let template = info["message"].as_str().unwrap_or_else(|| panic!("{at}: x-codes.{code} has no message"));
        let values =
            fill_ins(template, message).unwrap_or_else(|| panic!("{at}: message {message:?} is not x-codes.{code}.message {template:?}"));
        let declared: BTreeSet<&str> = info["params"].as_object().into_iter().flatten().map(|(k, _)| k.as_str()).collect();
        assert_eq!(values.keys().map(String::as_str).collect::<BTreeSet<_>>(), declared, "{at}: x-codes.{code}: placeholders vs params");
        for (k, v) in &values {
            self.check_shape(&info["params"][k], &json!(v), &format!("{at}: {{{k}}}"));
        }
        values
    }

    /// Light structural check: types, enums, nullability, required and undocumented properties,
    /// array lengths, and tagged unions (`oneOf` with a `discriminator`).
    fn check_shape(&self, schema: &Value, v: &Value, at: &str) {
        let s = self.resolve(schema);
        if v.is_null() {
            assert_eq!(s["nullable"], true, "{at}: null, but the document does not allow it");
            return;
        }
        if let Some(alternatives) = s.get("oneOf") {
            // The tag names the one alternative the value must be.
            let d = &s["discriminator"];
            let prop = d["propertyName"].as_str().unwrap_or_else(|| panic!("{at}: oneOf without a discriminator: teach check_shape"));
            let tag = v[prop].as_str().unwrap_or_else(|| panic!("{at}: {v} has no {prop} tag"));
            let target =
                d["mapping"][tag].as_str().unwrap_or_else(|| panic!("{at}: {prop} {tag:?} is not one of the documented {}", d["mapping"]));
            assert!(alternatives.as_array().unwrap().iter().any(|a| a["$ref"] == target), "{at}: {target} is not one of the oneOf");
            return self.check_shape(&json!({"$ref": target}), v, &format!("{at}<{tag}>"));
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
            Some("array") => {
                let a = v.as_array().unwrap_or_else(|| panic!("{at}: {v} is not an array"));
                let n = a.len() as u64;
                assert!(s["minItems"].as_u64().is_none_or(|min| n >= min), "{at}: {n} items, fewer than {}", s["minItems"]);
                assert!(s["maxItems"].as_u64().is_none_or(|max| n <= max), "{at}: {n} items, more than {}", s["maxItems"]);
                a.iter().enumerate().for_each(|(i, x)| self.check_shape(&s["items"], x, &format!("{at}[{i}]")));
            }
            Some("string") => {
                let t = v.as_str().unwrap_or_else(|| panic!("{at}: {v} is not a string"));
                if s["format"] == "date" {
                    assert!(chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d").is_ok(), "{at}: {t} is not YYYY-MM-DD");
                }
                if s["format"] == "date-time" {
                    assert!(
                        chrono::DateTime::parse_from_rfc3339(t).is_ok() && t.ends_with('Z'),
                        "{at}: {t} is not an RFC 3339 UTC timestamp"
                    );
                }
                if let Some(p) = s["pattern"].as_str() {
                    assert!(pattern_ok(p, t), "{at}: {t} does not match {p}");
                }
                let n = t.chars().count() as u64;
                assert!(s["minLength"].as_u64().is_none_or(|min| n >= min), "{at}: {t} is shorter than {}", s["minLength"]);
                assert!(s["maxLength"].as_u64().is_none_or(|max| n <= max), "{at}: {t} is longer than {}", s["maxLength"]);
            }
            Some("boolean") => assert!(v.is_boolean(), "{at}: {v} is not a boolean"),
            Some("integer") => {
                let n = v.as_i64().unwrap_or_else(|| panic!("{at}: {v} is not an integer"));
                assert!(s["minimum"].as_i64().is_none_or(|min| n >= min), "{at}: {n} is below {}", s["minimum"]);
            }
            _ => {}
        }
    }

    /// Every object in a request schema is closed.
    fn assert_closed(&self, schema: &Value, at: &str) {
        let s = self.resolve(schema);
        match s["type"].as_str() {
            Some("object") => {
                assert_eq!(s["additionalProperties"], false, "{at}: request schema must be closed");
                for (k, ps) in s["properties"].as_object().into_iter().flatten() {
                    self.assert_closed(ps, &format!("{at}.{k}"));
                }
            }
            Some("array") => self.assert_closed(&s["items"], &format!("{at}[]")),
            _ => {}
        }
    }

    /// The variants of a valid request value `v` (at JSON pointer `at`) its schema decides: for
    /// an object, an unknown property and, per property, a wrong type, a value outside its enum,
    /// null, absence; for an array, the same for its first item; all the way down.
    fn variants(&self, schema: &Value, v: &Value, at: &str, out: &mut Vec<Variant>) {
        let s = self.resolve(schema);
        match s["type"].as_str() {
            Some("object") => {
                out.push(Variant {
                    what: "an unknown property".into(),
                    at: format!("{at}/x_unknown"),
                    value: Some(json!(1)),
                    refused: true,
                });
                let required: Vec<&str> = s["required"].as_array().into_iter().flatten().map(|r| r.as_str().unwrap()).collect();
                for (k, ps) in s["properties"].as_object().unwrap_or_else(|| panic!("{at}: no properties")) {
                    let here = format!("{at}/{k}");
                    let x = v.get(k).unwrap_or_else(|| panic!("{here}: missing from the example"));
                    self.value_variants(ps, x, &here, out);
                    out.push(Variant { what: "missing".into(), at: here, value: None, refused: required.contains(&k.as_str()) });
                }
            }
            Some("array") => {
                let first = v.get(0).unwrap_or_else(|| panic!("{at}: the example array is empty"));
                self.value_variants(&s["items"], first, &format!("{at}/0"), out);
            }
            _ => {}
        }
    }
    /// A wrong type, a value outside the enum, null; then the value's own variants.
    fn value_variants(&self, schema: &Value, v: &Value, at: &str, out: &mut Vec<Variant>) {
        let s = self.resolve(schema);
        let t = s["type"].as_str().unwrap_or_default();
        let wrong = match t {
            "string" => json!(12345),
            "array" | "object" | "integer" | "boolean" => json!("x"),
            _ => panic!("{at}: this test does not know request values of type {:?}", s["type"]),
        };
        out.push(Variant { what: format!("{wrong} for a {t}"), at: at.to_owned(), value: Some(wrong), refused: true });
        if s.get("enum").is_some() {
            out.push(Variant { what: "outside its enum".into(), at: at.to_owned(), value: Some(json!("not-in-the-enum")), refused: true });
        }
        out.push(Variant { what: "null".into(), at: at.to_owned(), value: Some(Value::Null), refused: s["nullable"] != true });
        self.variants(s, v, at, out);
    }
}

/// A request body with the value at `at` (a JSON pointer) replaced, or removed (`None`), and
/// whether the server must refuse it as malformed (400 `BAD_REQUEST`).
struct Variant {
    what: String,
    at: String,
    value: Option<Value>,
    refused: bool,
}

impl Variant {
    fn apply(&self, body: &Value) -> Value {
        let mut b = body.clone();
        let (parent, key) = self.at.rsplit_once('/').expect("a pointer");
        match (b.pointer_mut(parent).unwrap_or_else(|| panic!("{}: no {parent}", self.at)), &self.value) {
            (Value::Object(o), Some(v)) => {
                o.insert(key.to_owned(), v.clone());
            }
            (Value::Object(o), None) => {
                o.remove(key);
            }
            (Value::Array(a), Some(v)) => a[key.parse::<usize>().unwrap()] = v.clone(),
            (x, _) => panic!("{}: cannot edit {x}", self.at),
        }
        b
    }
}

/// The `{name}` values that make `template` read `message`; `None` when nothing does.
fn fill_ins(template: &str, message: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let (mut t, mut m) = (template, message);
    while let Some(open) = t.find('{') {
        m = m.strip_prefix(&t[..open])?;
        let close = open + t[open..].find('}')?;
        let name = &t[open + 1..close];
        t = &t[close + 1..];
        // The value runs to the next literal text, or to the end.
        let next = &t[..t.find('{').unwrap_or(t.len())];
        let end = if next.is_empty() { m.len() } else { m.find(next)? };
        if end == 0 {
            return None;
        }
        out.insert(name.to_owned(), m[..end].to_owned());
        m = &m[end..];
    }
    (t == m).then_some(out)
}

const ORDER_NO: &str = "^[A-Z]{2}[0-9]{6}[A-Z0-9]{5}[0-9]{6}$";

/// The document's patterns, checked without a regex engine.
fn pattern_ok(pattern: &str, s: &str) -> bool {
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    match pattern {
        r"^-?[0-9]+\.[0-9]{2}$" => {
            s.strip_prefix('-').unwrap_or(s).split_once('.').is_some_and(|(a, b)| digits(a) && digits(b) && b.len() == 2)
        }
        "^[0-9]{4}-[0-9]{4}$" => s.split_once('-').is_some_and(|(a, b)| digits(a) && digits(b) && a.len() == 4 && b.len() == 4),
        ORDER_NO => {
            s.len() == 19
                && s.bytes().enumerate().all(|(i, b)| match i {
                    0..=1 => b.is_ascii_uppercase(),
                    2..=7 | 13..=18 => b.is_ascii_digit(),
                    _ => b.is_ascii_uppercase() || b.is_ascii_digit(),
                })
        }
        "^[A-Z]{2}[0-9]{6}[A-Z0-9]{5}[0-9]{6}[AWU][0-9]{2}$" => {
            s.len() == 22
                && s.is_ascii()
                && pattern_ok(ORDER_NO, &s[..19])
                && matches!(s.as_bytes()[19], b'A' | b'W' | b'U')
                && digits(&s[20..])
        }
        _ => panic!("tests/tests/openapi.rs cannot check the pattern {pattern}: teach pattern_ok"),
    }
}

/// Every error the code can give. The match has no wildcard: a new variant stops this file
/// compiling until the document (and this list) know it.
fn every_error() -> Vec<AppError> {
    use AppError::*;
    let all = vec![
        BadRequest("x".into()),
        PayloadTooLarge,
        UnsupportedMediaType,
        CrossSite,
        AppError::field("f", "m"),
        Unauthenticated,
        InvalidCredentials,
        PasswordChangeRequired,
        Locked,
        TooManyRequests,
        IdentityMismatch,
        TicketExpired,
        WrongAnswer,
        CodeInvalid,
        CodeExpired,
        NoSecurityQuestion,
        NoPhone,
        DailyOrderLimit,
        InitialPasswordExpired,
        NoPhoneForFirstLogin,
        NotFound,
        OrderInProgress("XF261126LUTAU000001".into()),
        OrderNotOpen,
        Sms("x".into()),
        ChannelUnavailable,
        ClientAddressUnknown,
        PayerRequired,
        ReceiptMismatch,
        GatewayUnavailable,
        Store(StoreError::Conflict),
        Store(StoreError::Unavailable("x".into())),
        StillPayable { channel: shared::domain::Channel::Unionpay, until: chrono::Utc::now() },
        NoSessions,
    ];
    for e in &all {
        match e {
            BadRequest(_)
            | PayloadTooLarge
            | UnsupportedMediaType
            | CrossSite
            | Validation(_)
            | Unauthenticated
            | InvalidCredentials
            | PasswordChangeRequired
            | InitialPasswordExpired
            | NoPhoneForFirstLogin
            | Locked
            | TooManyRequests
            | DailyOrderLimit
            | IdentityMismatch
            | TicketExpired
            | WrongAnswer
            | CodeInvalid
            | CodeExpired
            | NoSecurityQuestion
            | NoPhone
            | NotFound
            | OrderInProgress(_)
            | OrderNotOpen
            | Sms(_)
            | ChannelUnavailable
            | ClientAddressUnknown
            | PayerRequired
            | ReceiptMismatch
            | GatewayUnavailable
            | Store(_)
            | StillPayable { .. }
            | NoSessions => {}
        }
    }
    all
}

/// Every attempt state, device and payment action the code can give, for the enums and the
/// union only some of which a run meets (no match has a wildcard: a new variant stops this file
/// compiling until the document, and these lists, know it).
fn every_attempt_state() -> Vec<AttemptState> {
    use AttemptState::*;
    let all = vec![Created, Paid, Closed, DuplicatePaid, Refunding, Refunded];
    for s in &all {
        match s {
            Created | Paid | Closed | DuplicatePaid | Refunding | Refunded => {}
        }
    }
    all
}
fn every_device() -> Vec<Device> {
    let all = vec![Device::Pc, Device::Phone, Device::Wechat];
    for d in &all {
        match d {
            Device::Pc | Device::Phone | Device::Wechat => {}
        }
    }
    all
}
fn every_action() -> Vec<PaymentAction> {
    let all = vec![
        PaymentAction::Qr { content: "https://qr.alipay.com/bax08431yjxuw0zrsdeg0068".into() },
        PaymentAction::Redirect { url: "https://openapi.alipay.com/gateway.do?x=1".into() },
        PaymentAction::Form {
            action: "https://gateway.95516.com/gateway/api/frontTransReq.do".into(),
            fields: vec![("version".into(), "5.1.0".into())],
        },
        PaymentAction::Jsapi {
            params: shared::gateway::wechat::JsapiParams {
                app_id: "wxd678efh567hg6787".into(),
                time_stamp: "1796688000".into(),
                nonce_str: "5K8264ILTKCH16CQ2502SI8ZNMTM67VS".into(),
                package: "prepay_id=wx26112221580621e9b071c00d9e093b0000".into(),
                sign_type: "RSA".into(),
                pay_sign: "c2lnbmF0dXJl".into(),
            },
        },
    ];
    for a in &all {
        match a {
            PaymentAction::Qr { .. } | PaymentAction::Redirect { .. } | PaymentAction::Form { .. } | PaymentAction::Jsapi { .. } => {}
        }
    }
    all
}

/// A request body as sent: its media type, its text, and any headers that go with it.
struct Payload {
    media: &'static str,
    text: String,
    headers: Vec<(String, String)>,
}

impl Payload {
    fn json(text: String) -> Self {
        Payload { media: "application/json", text, headers: Vec::new() }
    }
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

    /// Sends a request with a JSON body (or none) to the concrete `path` and checks the answer
    /// against the document; returns (status, code or "", body).
    async fn call(&self, c: &Client, m: &str, path: &str, body: Option<String>) -> (u16, String, Value) {
        self.send(c, m, path, body.map(Payload::json)).await
    }

    /// Like `call` with any body. The body read back is JSON, or a plain-text answer as a JSON
    /// string, or null when there is none; its media type must be one the document lists for the
    /// status, and the body that media type's schema (our `Error` for the site's errors).
    async fn send(&self, c: &Client, m: &str, path: &str, body: Option<Payload>) -> (u16, String, Value) {
        // The query string is no part of the documented path.
        let (p, values) = self.doc.route(m, path.split('?').next().unwrap_or(path));
        let p = p.as_str();
        let mut req = c.request(m.parse().unwrap(), self.t.url(path));
        if self.doc.caller(m, p).is_none() && m != "GET" {
            // As our pages send a change (static-site/js/api.js): from our own origin, and JSON
            // even without a body — or the cross-site guard answers 403 / 415 first.
            req = req.header("origin", &self.t.base);
            if body.is_none() {
                req = req.header("content-type", "application/json");
            }
        }
        if let Some(b) = body {
            req = req.header("content-type", b.media).body(b.text);
            for (name, value) in &b.headers {
                req = req.header(name, value);
            }
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let header = |name: &str| r.headers().get(name).map(|v| v.to_str().expect("a visible-ASCII header").to_owned());
        let cookie = header("set-cookie").is_some();
        let media = header("content-type").map(|t| t.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        let cache = header("cache-control");
        let text = r.text().await.unwrap();
        let v: Value = match media.as_deref() {
            _ if text.is_empty() => Value::Null,
            Some("application/json") => {
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{m} {path} → {status}: not JSON ({e}): {text}"))
            }
            Some("text/plain" | "text/html") => Value::String(text.clone()),
            other => panic!("{m} {path} → {status}: a body of media type {other:?}, which this test cannot read: {text}"),
        };
        let callback = self.doc.caller(m, p).is_some();
        // Our `Error` bodies: the site's JSON routes only.
        let coded = !callback && !self.doc.page(m, p);
        let code = if status >= 400 && coded { v["code"].as_str().unwrap_or_default().to_owned() } else { String::new() };
        let at = format!("{m} {path} → {status} {code}");
        assert!(self.doc.outcomes(m, p).contains(&(status, code.clone())), "{at}: not documented for this operation ({text})");
        let resp = self.doc.resolve(&self.doc.op(m, p)["responses"][status.to_string()]);
        let declared = resp["headers"].get("Set-Cookie").map(|h| self.doc.resolve(h));
        assert!(!cookie || declared.is_some(), "{at}: Set-Cookie sent but not documented");
        assert!(cookie || declared.is_none_or(|h| h["required"] != true), "{at}: documented Set-Cookie missing");
        if !callback {
            assert_eq!(cache.as_deref(), Some("no-store"), "{at}: every answer of the site's functions carries Cache-Control: no-store");
        }
        // The media type is one documented for the status; without documented content, no body.
        let schema = match resp.get("content").and_then(Value::as_object) {
            Some(types) => {
                let media = media.as_deref().unwrap_or_else(|| panic!("{at}: no Content-Type ({text:?})"));
                let documented = types
                    .get(media)
                    .unwrap_or_else(|| panic!("{at}: answered {media}, the document lists {:?}", types.keys().collect::<Vec<_>>()));
                Some(&documented["schema"])
            }
            None => {
                assert!(text.is_empty() && media.is_none(), "{at}: body {text:?} ({media:?}) but the document has none");
                None
            }
        };
        if status >= 400 && coded {
            self.doc.check_shape(&json!({"$ref": ERROR_REF}), &v, &at);
            self.doc.fill_ins(&code, v["message"].as_str().unwrap_or_default(), &at);
            assert_eq!(v.get("fields").is_some(), code == "VALIDATION", "{at}: fields go with VALIDATION only");
        } else if let Some(schema) = schema {
            self.doc.check_shape(schema, &v, &at);
        }
        if status < 400 {
            // A success names something real: its path parameters are as documented.
            let params = self.doc.path_params(m, p);
            for (name, value) in &values {
                self.doc.check_shape(&params[name]["schema"], &json!(value), &format!("{at}: {{{name}}}"));
            }
        }
        self.seen.lock().unwrap().insert((m.to_owned(), p.to_owned(), status, code.clone()));
        (status, code, v)
    }

    /// Like `call` with a JSON body (or none), and asserts the outcome.
    async fn expect(&self, c: &Client, m: &str, path: &str, body: Option<Value>, want: (u16, &str)) -> Value {
        self.expect_sent(c, m, path, body.map(|b| Payload::json(b.to_string())), want).await
    }

    /// Like `send`, and asserts the outcome.
    async fn expect_sent(&self, c: &Client, m: &str, path: &str, body: Option<Payload>, want: (u16, &str)) -> Value {
        let (status, code, v) = self.send(c, m, path, body).await;
        assert_eq!((status, code.as_str()), want, "{m} {path}: {v}");
        v
    }

    /// Reads the order (every answer checked) until it is paid.
    async fn until_paid(&self, c: &Client, no: &str) -> Value {
        for _ in 0..100 {
            let o = self.expect(c, "GET", &format!("/api/orders/{no}"), None, (200, "")).await;
            if o["state"] == "paid" {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("order {no} never turned paid");
    }

    /// A paid notification for the attempt, as the sandbox Alipay sends it (signed with the key
    /// this process's sandbox signs with), after checking it is what the document describes.
    fn alipay_paid(&self, out_trade_no: &str, total: &str) -> Payload {
        let keys = local::keys::local_keys();
        let gateway = alipay::Sandbox::new(&alipay::SandboxSettings {
            app_id: local::payments::ALIPAY_APP_ID.into(),
            seller_id: local::payments::ALIPAY_SELLER_ID.into(),
            app_public_key: keys.alipay_app.public_pem.clone(),
            alipay_private_key: keys.alipay_gateway.private_pem.clone(),
        })
        .expect("the sandbox Alipay's settings");
        let now = self.t.clock.now();
        let text = gateway.paid_notification(&alipay::PaidTrade {
            out_trade_no,
            trade_no: "2026112622001400000000000001",
            notify_id: &shared::auth::random_id(),
            subject: "甘肃省财政厅 学费缴费",
            total: Fen::parse_yuan(total).expect("an amount"),
            created_at: now,
            paid_at: now,
            notified_at: now,
        });
        let (media, schema) = self.doc.request_body("POST", "/api/notify/alipay").expect("the notification is documented");
        assert_eq!(alipay::FORM_CONTENT_TYPE.split(';').next(), Some(media), "POST /api/notify/alipay: the media type Alipay sends");
        let form = shared::gateway::form::parse(text.as_bytes()).expect("a form").into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        self.doc.check_shape(schema, &Value::Object(form), "the sandbox Alipay's notification");
        Payload { media: alipay::FORM_CONTENT_TYPE, text, headers: Vec::new() }
    }

    /// A `TRANSACTION.SUCCESS` notification for the attempt, as the sandbox WeChat Pay sends it
    /// (signed and encrypted with this process's sandbox keys), after checking its body and
    /// headers are what the document describes.
    fn wechat_paid(&self, out_trade_no: &str, total: &str) -> Payload {
        let keys = local::keys::local_keys();
        let gateway = wechat::Sandbox::new(&wechat::SandboxSettings {
            mchid: local::payments::WECHAT_MCHID.into(),
            appid: local::payments::WECHAT_APPID.into(),
            merchant_serial_no: local::payments::WECHAT_MERCHANT_SERIAL.into(),
            merchant_public_key_pem: keys.wechat_merchant.public_pem.clone(),
            key_id: local::payments::WECHAT_KEY_ID.into(),
            private_key_pem: keys.wechat_platform.private_pem.clone(),
            api_v3_key: keys.wechat_api_v3_key.clone(),
        })
        .expect("the sandbox WeChat Pay's settings");
        let now = self.t.clock.now();
        let tx = wechat::SandboxTransaction {
            out_trade_no: out_trade_no.into(),
            transaction_id: Some("4200000000202611260000000001".into()),
            trade_type: "NATIVE".into(),
            trade_state: wechat::TradeStatus::Success,
            total: Fen::parse_yuan(total).expect("an amount"),
            success_time: Some(now),
        };
        let n = gateway.payment_notification(&tx, &shared::auth::random_id(), now).expect("a notification");
        let (m, p) = ("POST", "/api/notify/wechat");
        let (media, schema) = self.doc.request_body(m, p).expect("the notification is documented");
        assert_eq!(n.headers.get("content-type"), Some(media), "{m} {p}: the media type WeChat Pay sends");
        self.doc.check_shape(schema, &serde_json::from_str(&n.body).expect("JSON"), "the sandbox WeChat Pay's notification");
        let params: Vec<&Value> = self.doc.op(m, p)["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|x| self.doc.resolve(x))
            .filter(|x| x["in"] == "header")
            .collect();
        for param in &params {
            let name = param["name"].as_str().unwrap();
            match n.headers.get(name) {
                Some(value) => self.doc.check_shape(&param["schema"], &json!(value), &format!("{m} {p}: header {name}")),
                None => assert_ne!(param["required"], true, "{m} {p}: the sandbox sends no {name}"),
            }
        }
        let headers: Vec<(String, String)> =
            n.headers.iter().filter(|(k, _)| !k.eq_ignore_ascii_case("content-type")).map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        for (k, _) in &headers {
            assert!(
                params.iter().any(|x| x["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(k))),
                "{m} {p}: header {k} is not documented"
            );
        }
        Payload { media: "application/json", text: n.body, headers }
    }

    /// A paid-consume backUrl notification for the attempt, as the test app's sandbox UnionPay
    /// signs it (its own chain), after checking its form is what the document describes.
    fn unionpay_paid(&self, out_trade_no: &str, txn_time: &str, total: &str) -> Payload {
        let text = integration_tests::notifications::unionpay_paid(
            &self.t.sandboxes.unionpay_chain,
            local::payments::UNIONPAY_MER_ID,
            out_trade_no,
            txn_time,
            Fen::parse_yuan(total).expect("an amount"),
            self.t.clock.now(),
        );
        let (media, schema) = self.doc.request_body("POST", "/api/notify/unionpay").expect("the notification is documented");
        assert_eq!(
            shared::gateway::unionpay::FORM_CONTENT_TYPE.split(';').next(),
            Some(media),
            "POST /api/notify/unionpay: the media type UnionPay sends"
        );
        let form = shared::gateway::form::parse(text.as_bytes()).expect("a form").into_iter().map(|(k, v)| (k, Value::String(v))).collect();
        self.doc.check_shape(schema, &Value::Object(form), "the sandbox UnionPay's notification");
        Payload { media: shared::gateway::unionpay::FORM_CONTENT_TYPE, text, headers: Vec::new() }
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
        let code = self.first_login_code(&c).await;
        let change = json!({"old_password": initial, "new_password": new, "code": code});
        self.expect(&c, "POST", "/api/password", Some(change), (204, "")).await;
        c
    }

    /// The first login's SMS code, asked for in the session of `c`.
    async fn first_login_code(&self, c: &Client) -> String {
        let sent = self.expect(c, "POST", "/api/password/code", None, (200, "")).await;
        let masked = sent["phone_masked"].as_str().unwrap();
        self.t.sms.last_code("首次登录验证", &masked[masked.len() - 4..]).expect("the code SMS")
    }

    /// The demo data's current academic year starts in this year (see infra/local/src/seed.rs).
    fn year(&self) -> u16 {
        local::seed::current_academic_year(beijing_date(self.t.clock.now()))
    }
}

/// What a student does at a sandbox gateway: open the QR link or the H5 page (scan), press 支付.
async fn pay_at_sandbox(base: &str, page_url: &str, out_trade_no: &str) {
    let plain = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = plain.get(page_url).send().await.unwrap();
    assert!(page.status().is_success(), "{page_url}: {}", page.status());
    let r = plain.post(format!("{base}/cashier/{out_trade_no}/pay")).send().await.unwrap();
    assert!(r.status().is_success() || r.status().is_redirection(), "pressing 支付 at {base}: {}", r.status());
}

/// One picked fee item of a `POST /api/orders` body.
fn pick(start: u16, item_id: &str) -> Value {
    json!({"academic_year": format!("{start}-{}", start + 1), "item_id": item_id})
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
    let catalogue: BTreeSet<&str> =
        doc.0["components"]["schemas"]["Error"]["x-codes"].as_object().unwrap().keys().map(String::as_str).collect();
    let enumerated: BTreeSet<&str> = doc.0["components"]["schemas"]["Error"]["properties"]["code"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(catalogue, codes, "Error.x-codes vs AppError::code");
    assert_eq!(enumerated, codes, "Error.code enum vs AppError::code");
    for e in &errors {
        let info = doc.code_info(e.code());
        assert_eq!(info["status"], e.status().as_u16(), "x-codes.{}.status", e.code());
        let values = doc.fill_ins(e.code(), &e.message(), &format!("x-codes.{}.message", e.code()));
        if let AppError::OrderInProgress(no) = e {
            assert_eq!(values.get("order_no"), Some(no), "x-codes.ORDER_IN_PROGRESS: {{order_no}} is the blocking order");
        }
    }
    for (m, p) in doc.ops() {
        let outcomes = doc.outcomes(&m, &p);
        let has = |s: u16, c: &str| outcomes.contains(&(s, c.to_owned()));
        if let Some(caller) = doc.caller(&m, &p) {
            // A gateway callback: no session; the gateway's request; an acknowledgement, and an
            // answer for a store failure (the gateway then sends it again); each answer with its
            // media type and schema, or none at all.
            assert!(["alipay", "wechat", "unionpay"].contains(&caller), "{m} {p}: x-caller {caller} is no gateway this platform knows");
            assert_eq!(doc.op(&m, &p)["security"], json!([]), "{m} {p}: the gateway has no session");
            assert!(doc.request_body(&m, &p).is_some(), "{m} {p}: what the gateway sends is documented");
            assert!(outcomes.iter().any(|(s, _)| (200..300).contains(s)), "{m} {p}: no acknowledgement documented");
            assert!(has(500, ""), "{m} {p}: a store failure has its answer");
            for (status, resp) in doc.op(&m, &p)["responses"].as_object().unwrap() {
                for (media, c) in doc.resolve(resp)["content"].as_object().into_iter().flatten() {
                    assert!(
                        ["application/json", "text/plain"].contains(&media.as_str()),
                        "{m} {p} {status}: this test cannot read {media} answers"
                    );
                    assert!(c["schema"].is_object(), "{m} {p} {status}: {media} without a schema");
                }
            }
        } else if doc.page(&m, &p) {
            // A page: read with the browser's own request (no body); every answer an HTML page —
            // the receipt, or one saying what went wrong — and a store failure has its page too.
            assert!(doc.request_body(&m, &p).is_none(), "{m} {p}: a page is fetched, not posted to");
            assert!(has(200, ""), "{m} {p}: no page documented");
            let stateless = doc.op(&m, &p)["x-stateless"] == true;
            assert_eq!(has(500, ""), !stateless, "{m} {p}: any page using the store can fail with 500, and only those");
            for (status, resp) in doc.op(&m, &p)["responses"].as_object().unwrap() {
                let content =
                    doc.resolve(resp)["content"].as_object().unwrap_or_else(|| panic!("{m} {p} {status}: a page answers with a page"));
                assert_eq!(content.keys().collect::<Vec<_>>(), ["text/html"], "{m} {p} {status}: pages are text/html");
                assert_eq!(content["text/html"]["schema"]["type"], "string", "{m} {p} {status}");
            }
        } else {
            for (status, code) in outcomes.iter().filter(|(s, _)| *s >= 400) {
                assert_eq!(doc.code_info(code)["status"], *status, "{m} {p} lists {code} under {status}");
            }
            // A route that never touches the store (`x-stateless`) has nothing to fail with.
            let stateless = doc.op(&m, &p)["x-stateless"] == true;
            assert_eq!(has(500, "INTERNAL"), !stateless, "{m} {p}: any route using the store can fail with 500 INTERNAL, and only those");
            if let Some(schema) = doc.request_schema(&m, &p) {
                doc.assert_closed(schema, &format!("{m} {p}"));
                assert!(has(400, "BAD_REQUEST") && has(413, "PAYLOAD_TOO_LARGE"), "{m} {p}: a JSON body can be malformed or too large");
            }
        }
        assert_eq!(
            doc.authenticated(&m, &p),
            has(401, doc.coded(&m, &p, "UNAUTHENTICATED")),
            "{m} {p}: 401 UNAUTHENTICATED iff the cookie is required"
        );
        // Path parameters: each `{name}` documented, required, with an example of its schema; what
        // a parameter names may not exist (404).
        let named: BTreeSet<String> = p.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).map(str::to_owned).collect();
        let params = doc.path_params(&m, &p);
        assert_eq!(params.keys().cloned().collect::<BTreeSet<_>>(), named, "{m} {p}: documented path parameters vs the path");
        for (name, param) in &params {
            assert_eq!(param["required"], true, "{m} {p}: path parameter {name} must be required");
            assert!(param["example"].is_string(), "{m} {p}: path parameter {name} needs an example");
            doc.check_shape(&param["schema"], &param["example"], &format!("{m} {p}: {{{name}}} example"));
        }
        assert!(
            params.is_empty() || has(404, doc.coded(&m, &p, "NOT_FOUND")),
            "{m} {p}: what a path parameter names may not exist: 404 NOT_FOUND"
        );
        assert_eq!(doc.route(&m, &doc.fill(&m, &p, &[])).0, p, "{m} {p}: its example path is another route's");
    }
}

#[test]
fn the_payment_enums_and_union_are_the_codes() {
    let doc = Doc::load();
    let schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    let documented = |name: &str, prop: &str| -> BTreeSet<String> {
        let s = doc.resolve(&doc.0["components"]["schemas"][name]);
        let s = if prop.is_empty() { s } else { doc.resolve(&s["properties"][prop]) };
        s["enum"].as_array().unwrap_or_else(|| panic!("{name}.{prop}: no enum")).iter().map(|e| e.as_str().unwrap().to_owned()).collect()
    };
    // Every channel and attempt state as `GET /api/orders/{order_no}` writes it (a run meets
    // only some of them): each attempt valid, and together exactly the documented enums.
    let mut seen: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for channel in Channel::ALL {
        for state in every_attempt_state() {
            let a = AttemptView {
                out_trade_no: format!("XF261126LUTAU000001{}01", channel.letter()),
                channel,
                channel_label: channel.label(),
                amount: Fen::new(380000),
                state,
                state_label: state.label(),
                created_at: chrono::Utc::now(),
                paid_at: matches!(
                    state,
                    AttemptState::Paid | AttemptState::DuplicatePaid | AttemptState::Refunding | AttemptState::Refunded
                )
                .then(chrono::Utc::now),
            };
            let v = serde_json::to_value(&a).unwrap();
            doc.check_shape(&schema("Attempt"), &v, &format!("Attempt {channel:?} {state:?}"));
            for prop in ["channel", "channel_label", "state", "state_label"] {
                seen.entry(prop).or_default().insert(v[prop].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(seen["channel"], documented("Channel", ""), "Channel enum vs shared::domain::Channel");
    for prop in ["channel_label", "state", "state_label"] {
        assert_eq!(seen[prop], documented("Attempt", prop), "Attempt.{prop} enum vs the code");
    }
    let devices: BTreeSet<String> = every_device().iter().map(|d| serde_json::to_value(d).unwrap().as_str().unwrap().to_owned()).collect();
    assert_eq!(devices, documented("Device", ""), "Device enum vs shared::gateway::Device");
    // The tagged unions: mapping and oneOf agree, each alternative's tag is exactly its key.
    for (name, s) in doc.0["components"]["schemas"].as_object().unwrap() {
        let Some(d) = s.get("discriminator") else { continue };
        let prop = d["propertyName"].as_str().unwrap();
        let mapping = d["mapping"].as_object().unwrap_or_else(|| panic!("{name}: a discriminator needs its mapping"));
        let alternatives: BTreeSet<&str> = s["oneOf"].as_array().unwrap().iter().map(|a| a["$ref"].as_str().unwrap()).collect();
        assert_eq!(
            mapping.values().map(|t| t.as_str().unwrap()).collect::<BTreeSet<_>>(),
            alternatives,
            "{name}: discriminator mapping vs oneOf"
        );
        for (tag, target) in mapping {
            let alt = doc.0.pointer(&target.as_str().unwrap()[1..]).unwrap_or_else(|| panic!("dangling {target}"));
            assert!(alt["required"].as_array().unwrap().contains(&json!(prop)), "{name}: {target} must require {prop}");
            assert_eq!(alt["properties"][prop]["enum"], json!([tag]), "{name}: {target}.{prop} must be exactly {tag:?}");
        }
    }
    // Every payment action the code can give, as it writes it (only qr and redirect are offered).
    for a in every_action() {
        doc.check_shape(&schema("PaymentAction"), &serde_json::to_value(&a).unwrap(), &format!("{a:?}"));
    }
}

#[test]
fn the_record_enums_are_the_codes() {
    use shared::domain::{OfflineMethod, StudyLevel, StudyMode, TransactionStatus};
    let doc = Doc::load();
    let documented = |name: &str, prop: &str| -> BTreeSet<String> {
        let s = doc.resolve(&doc.0["components"]["schemas"][name]["properties"][prop]);
        let s = if s["type"] == "array" { doc.resolve(&s["items"]) } else { s };
        s["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}.{prop}: no enum"))
            .iter()
            .filter_map(|e| e.as_str().map(str::to_owned))
            .collect()
    };
    fn code<T: serde::Serialize>(v: &T) -> Option<String> {
        serde_json::to_value(v).ok()?.as_str().map(str::to_owned)
    }
    // No wildcard: a new status stops this compiling until the document knows it.
    for s in TransactionStatus::ALL {
        match s {
            TransactionStatus::Success
            | TransactionStatus::Failed
            | TransactionStatus::Processing
            | TransactionStatus::Closed
            | TransactionStatus::DuplicatePendingRefund
            | TransactionStatus::Refunding
            | TransactionStatus::Refunded => {}
        }
    }
    let statuses: BTreeSet<String> = TransactionStatus::ALL.iter().map(|s| code(s).unwrap()).collect();
    assert_eq!(statuses, documented("Transaction", "status"), "Transaction.status vs TransactionStatus");
    let labels: BTreeSet<String> = TransactionStatus::ALL.iter().map(|s| s.label().to_owned()).collect();
    assert_eq!(labels, documented("Transaction", "status_label"));
    // 缴费方式: every channel's and every offline method's label, and the fallback.
    let methods: BTreeSet<String> = Channel::ALL
        .iter()
        .map(|c| c.label())
        .chain(OfflineMethod::ALL.iter().map(|m| m.label()))
        .chain(["网上支付"])
        .map(str::to_owned)
        .collect();
    assert_eq!(methods, documented("PaidRecord", "method_label"));
    assert_eq!(documented("PaidRecord", "method_label"), documented("PaidDetail", "method_label"));
    let levels: BTreeSet<String> = StudyLevel::ALL.iter().map(|l| code(l).unwrap()).collect();
    assert_eq!(levels, documented("Enrolment", "level"));
    let modes: BTreeSet<String> = StudyMode::ALL.iter().map(|m| code(m).unwrap()).collect();
    assert_eq!(modes, documented("Enrolment", "study_mode"));
    // PaidDetail is PaidRecord plus its own three properties.
    let props = |name: &str| doc.0["components"]["schemas"][name]["properties"].as_object().unwrap().clone();
    let (record, detail) = (props("PaidRecord"), props("PaidDetail"));
    for (k, v) in &record {
        assert_eq!(detail.get(k), Some(v), "PaidDetail.{k} differs from PaidRecord.{k}");
    }
    assert_eq!(detail.len(), record.len() + 3);
}

#[tokio::test]
async fn request_schemas_are_exactly_as_strict_as_the_server() {
    let api = Api::new().await;
    let c = api.ready("2021010101", "03151235", "Campus2026a").await;
    // Path parameters name real things, so that a well-formed body gets past the lookup.
    let order = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(api.year(), "EXAM")]})), (201, "")).await;
    let given = [("order_no", order["order_no"].as_str().unwrap())];
    for (m, p) in api.doc.ops() {
        let Some(schema) = api.doc.request_schema(&m, &p) else { continue };
        let path = api.doc.fill(&m, &p, &given);
        let full = api.doc.example(&m, &p).unwrap();
        let malformed = async |body: &Value| {
            let (status, code, _) = api.call(&c, &m, &path, Some(body.to_string())).await;
            (status, code.as_str()) == (400, "BAD_REQUEST")
        };
        assert!(!malformed(&full).await, "{m} {p}: the document's example (every property) is refused");
        let mut variants = Vec::new();
        api.doc.variants(schema, &full, "", &mut variants);
        for v in &variants {
            let refused = malformed(&v.apply(&full)).await;
            let says = if v.refused { "refused" } else { "accepted" };
            assert_eq!(refused, v.refused, "{m} {p}: {} at {}: the document says {says}", v.what, v.at);
        }
        let mut big = full.clone();
        big["x_padding"] = json!("a".repeat(65 * 1024));
        assert_eq!(api.call(&c, &m, &path, Some(big.to_string())).await.1, "PAYLOAD_TOO_LARGE", "{m} {p}: over 64 KiB");
    }
}

#[tokio::test]
async fn every_route_answers_only_what_the_document_lists() {
    let api = Api::new().await;
    let ops = api.doc.ops();
    let body = |m: &str, p: &str| api.doc.example(m, p);

    let path = |m: &str, p: &str| api.doc.fill(m, p, &[]);

    // No session: 401 exactly where the document requires the cookie.
    for (m, p) in ops.iter().filter(|(m, p)| api.doc.authenticated(m, p)) {
        api.expect(&Client::new(), m, &path(m, p), body(m, p), (401, api.doc.coded(m, p, "UNAUTHENTICATED"))).await;
    }
    api.expect(&Client::new(), "POST", "/api/logout", None, (204, "")).await;

    // A forced password change: 403 exactly where the document lists it.
    let forced = browser();
    assert_eq!(api.login(&forced, "2021010103", "11227895").await["must_change_password"], true);
    for (m, p) in ops.iter().filter(|(m, p)| api.doc.authenticated(m, p)) {
        let lists_403 = api.doc.outcomes(m, p).contains(&(403, api.doc.coded(m, p, "PASSWORD_CHANGE_REQUIRED").into()));
        let (status, ..) = api.call(&forced, m, &path(m, p), body(m, p).map(|b| b.to_string())).await;
        assert_eq!(status == 403, lists_403, "{m} {p} during a forced change");
    }
    assert_eq!(api.expect(&forced, "GET", "/api/me", None, (200, "")).await["must_change_password"], true);
    api.expect(
        &forced,
        "POST",
        "/api/password",
        Some(json!({"old_password": "11227895", "new_password": "abcdefgh"})),
        (400, "VALIDATION"),
    )
    .await;
    // The first login proves the phone on file: no code, a wrong one, then the one sent.
    let first = |code: Option<&str>| Some(json!({"old_password": "11227895", "new_password": "Campus2026w", "code": code}));
    api.expect(&forced, "POST", "/api/password", first(None), (400, "VALIDATION")).await;
    // (The round of every route above asked for a code already: a minute later, a fresh one.)
    api.t.clock.advance(61);
    let code = api.first_login_code(&forced).await;
    api.expect(&forced, "POST", "/api/password/code", None, (429, "TOO_MANY_REQUESTS")).await;
    let wrong = if code == "000000" { "111111" } else { "000000" };
    api.expect(&forced, "POST", "/api/password", first(Some(wrong)), (400, "CODE_INVALID")).await;
    api.expect(&forced, "POST", "/api/password", first(Some(&code)), (204, "")).await;
    api.expect(&forced, "POST", "/api/password/code", None, (400, "BAD_REQUEST")).await;
    // No phone on file: no first login (郑十).
    let v = api
        .expect(
            &browser(),
            "POST",
            "/api/login",
            Some(json!({"username": "2021010107", "password": "02182716"})),
            (403, "NO_PHONE_FOR_FIRST_LOGIN"),
        )
        .await;
    assert!(v["message"].as_str().unwrap().contains("2755282"));
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
    // 更换手机号码: not through the profile; the password, then the code to the new number.
    let v = api.expect(&c, "PUT", "/api/profile", Some(json!({"phone": "13987650003"})), (400, "VALIDATION")).await;
    assert!(v["fields"]["phone"].is_string());
    let ask = |password: &str| Some(json!({"phone": "13987650003", "password": password}));
    api.expect(&c, "POST", "/api/profile/phone/code", ask("Wrong2026x"), (400, "VALIDATION")).await;
    api.expect(&c, "PUT", "/api/profile/phone", Some(json!({"phone": "13987650003", "code": "123456"})), (400, "CODE_EXPIRED")).await;
    api.t.clock.advance(61);
    assert_eq!(api.expect(&c, "POST", "/api/profile/phone/code", ask("Campus2026a"), (200, "")).await["phone_masked"], "139****0003");
    let phone_code = api.t.sms.last_code("更换绑定手机", "0003").unwrap();
    let wrong = if phone_code == "000000" { "111111" } else { "000000" };
    api.expect(&c, "PUT", "/api/profile/phone", Some(json!({"phone": "13987650003", "code": wrong})), (400, "CODE_INVALID")).await;
    api.expect(&c, "PUT", "/api/profile/phone", Some(json!({"phone": "1398765000", "code": wrong})), (400, "VALIDATION")).await;
    let p = api.expect(&c, "PUT", "/api/profile/phone", Some(json!({"phone": "13987650003", "code": phone_code})), (200, "")).await;
    assert_eq!(p["phone_masked"], "139****0003");
    api.expect(&c, "POST", "/api/password", Some(json!({"old_password": "Campus2026a", "new_password": "Campus2026b"})), (204, "")).await;

    // 学费缴费 (张三): a new order, the same items reused (any listing order, a new phone), an
    // overlapping pick refused naming the order, the phone, cancelling; then the items are free.
    let y = api.year();
    let order = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(y, "TUITION"), pick(y, "EXAM")]})), (201, "")).await;
    let no = order["order_no"].as_str().unwrap().to_owned();
    let what = |o: &Value| {
        (
            o["state"].as_str().map(str::to_owned),
            o["total"].as_str().map(str::to_owned),
            o["receipt_phone_masked"].as_str().map(str::to_owned),
        )
    };
    let some = |state: &str, total: &str, masked: &str| (Some(state.to_owned()), Some(total.to_owned()), Some(masked.to_owned()));
    assert_eq!(what(&order), some("open", "3920.00", "139****0003"));
    let again = json!({"items": [pick(y, "EXAM"), pick(y, "TUITION")], "phone": "13800001111"});
    let again = api.expect(&c, "POST", "/api/orders", Some(again), (200, "")).await;
    assert_eq!((again["order_no"].as_str(), what(&again)), (Some(no.as_str()), some("open", "3920.00", "138****1111")));
    let busy = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(y, "TUITION")]})), (409, "ORDER_IN_PROGRESS")).await;
    let named = api.doc.fill_ins("ORDER_IN_PROGRESS", busy["message"].as_str().unwrap(), "ORDER_IN_PROGRESS");
    assert_eq!(named["order_no"], no, "the message names the blocking order");
    let v = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(y, "EXAM"), pick(y, "EXAM")]})), (400, "VALIDATION")).await;
    assert!(v["fields"]["items"].is_string(), "{v}");
    let (get, phone, cancel) = (format!("/api/orders/{no}"), format!("/api/orders/{no}/phone"), format!("/api/orders/{no}/cancel"));
    assert_eq!(what(&api.expect(&c, "GET", &get, None, (200, "")).await), some("open", "3920.00", "138****1111"));
    let v = api.expect(&c, "PUT", &phone, Some(json!({"phone": "123"})), (400, "VALIDATION")).await;
    assert!(v["fields"]["phone"].is_string(), "{v}");
    let changed = api.expect(&c, "PUT", &phone, Some(json!({"phone": "139 0000 2222"})), (200, "")).await;
    assert_eq!(what(&changed), some("open", "3920.00", "139****2222"));
    let closed = api.expect(&c, "POST", &cancel, None, (200, "")).await;
    assert_eq!((what(&closed), closed["seconds_left"].as_i64()), (some("closed", "3920.00", "139****2222"), Some(0)));
    api.expect(&c, "POST", &cancel, None, (409, "ORDER_NOT_OPEN")).await;
    api.expect(&c, "PUT", &phone, Some(json!({"phone": "13900003333"})), (409, "ORDER_NOT_OPEN")).await;
    assert_eq!(api.expect(&c, "GET", &get, None, (200, "")).await["state"], "closed");
    let fresh = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(y, "TUITION")]})), (201, "")).await;
    let fresh = fresh["order_no"].as_str().unwrap().to_owned();
    assert_ne!(fresh, no, "a new order, a new number");
    // 王五: an item 暂停收费 cannot be ordered; a receipt phone must be a mobile number; 张三's
    // order does not exist for him, nor does an unknown or malformed number.
    let v = api
        .expect(&forced, "POST", "/api/orders", Some(json!({"items": [pick(y, "BOOKS")], "phone": "13912345678"})), (400, "VALIDATION"))
        .await;
    assert!(v["fields"]["items"].as_str().is_some_and(|m| m.contains("暂停收费")), "{v}");
    let v =
        api.expect(&forced, "POST", "/api/orders", Some(json!({"items": [pick(y, "TUITION")], "phone": "123"})), (400, "VALIDATION")).await;
    assert!(v["fields"]["phone"].is_string(), "{v}");
    for other in [fresh.as_str(), "XF200101LUTAU999999", "NOT-AN-ORDER", "xf261126lutau000001"] {
        api.expect(&forced, "GET", &format!("/api/orders/{other}"), None, (404, "NOT_FOUND")).await;
        api.expect(&forced, "PUT", &format!("/api/orders/{other}/phone"), Some(json!({"phone": "13912345678"})), (404, "NOT_FOUND")).await;
        api.expect(&forced, "POST", &format!("/api/orders/{other}/cancel"), None, (404, "NOT_FOUND")).await;
        api.expect(
            &forced,
            "POST",
            &format!("/api/orders/{other}/pay"),
            Some(json!({"channel": "alipay", "device": "pc"})),
            (404, "NOT_FOUND"),
        )
        .await;
        api.expect(&forced, "POST", &format!("/api/orders/{other}/check"), None, (404, "NOT_FOUND")).await;
    }
    assert_eq!(
        what(&api.expect(&c, "GET", &format!("/api/orders/{fresh}"), None, (200, "")).await),
        some("open", "3800.00", "139****0003")
    );

    // 选择缴费方式 (张三's `fresh` order): each channel offered, on a PC (a QR code) and on a phone
    // (the H5 cashier); each new attempt closes the one before at its gateway. (UnionPay: below.)
    let (get, pay, check) = (format!("/api/orders/{fresh}"), format!("/api/orders/{fresh}/pay"), format!("/api/orders/{fresh}/check"));
    let o = api.expect(&c, "GET", &get, None, (200, "")).await;
    assert_eq!((&o["attempts"], &o["channels"]), (&json!([]), &json!(["alipay", "wechat", "unionpay"])));
    // 微信内支付: inside WeChat (device wechat) the payer is named by WeChat's OAuth first
    // (tests/tests/it/wechat_jsapi.rs goes all the way; here every answer against the document).
    api.expect(&c, "POST", &pay, Some(json!({"channel": "wechat", "device": "wechat"})), (409, "PAYER_REQUIRED")).await;
    let payer = format!("/api/orders/{fresh}/payer");
    api.expect(&c, "POST", &payer, Some(json!({"channel": "alipay"})), (409, "CHANNEL_UNAVAILABLE")).await;
    let to = api.expect(&c, "POST", &payer, Some(json!({"channel": "wechat"})), (200, "")).await;
    assert!(to["authorize_url"].as_str().unwrap().contains("scope=snsapi_base"), "{to}");
    let no_redirects = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    api.expect(&no_redirects, "GET", "/api/wechat/payer?code=061abc&state=forged", None, (302, "")).await;
    let mut started = Vec::new();
    for (channel, device, action) in
        [("alipay", "pc", "qr"), ("wechat", "pc", "qr"), ("alipay", "phone", "redirect"), ("wechat", "phone", "redirect")]
    {
        let v = api.expect(&c, "POST", &pay, Some(json!({"channel": channel, "device": device})), (200, "")).await;
        let got = (v["channel"].as_str(), v["device"].as_str(), v["action"]["type"].as_str(), v["qr_svg"].is_string());
        assert_eq!(got, (Some(channel), Some(device), Some(action), action == "qr"), "{v}");
        started.push(v);
    }
    let o = api.expect(&c, "GET", &get, None, (200, "")).await;
    // Listed as documented (oldest first, by `created_at`, then out-trade-no); compared here by
    // out-trade-no (the attempts above may or may not fall in one second).
    let attempts = |o: &Value| {
        let list = o["attempts"].as_array().unwrap();
        let order: Vec<(&str, &str)> =
            list.iter().map(|a| (a["created_at"].as_str().unwrap(), a["out_trade_no"].as_str().unwrap())).collect();
        assert!(order.is_sorted(), "attempts oldest first, then by out-trade-no: {order:?}");
        list.iter()
            .map(|a| (a["out_trade_no"].as_str().unwrap().to_owned(), a["state"].as_str().unwrap().to_owned()))
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect::<Vec<_>>()
    };
    let otns: Vec<String> = started.iter().map(|v| v["out_trade_no"].as_str().unwrap().to_owned()).collect();
    let states = |s: [&str; 4]| otns.iter().cloned().zip(s.map(str::to_owned)).collect::<BTreeMap<_, _>>().into_iter().collect::<Vec<_>>();
    assert_eq!(attempts(&o), states(["closed", "closed", "closed", "created"]));
    assert!(o["attempts"][3]["paid_at"].is_null());
    // 「我已支付」 before paying: the gateways asked, the order still open.
    assert_eq!(api.expect(&c, "POST", &check, None, (200, "")).await["state"], "open");
    // The student pays on the WeChat H5 cashier; the sandbox's signed notification pays the order.
    let wx = &otns[3];
    pay_at_sandbox(&api.t.sandboxes.wechat_base, started[3]["action"]["url"].as_str().unwrap(), wx).await;
    let o = api.until_paid(&c, &fresh).await;
    assert_eq!(attempts(&o), states(["closed", "closed", "closed", "paid"]));
    assert_eq!((o["attempts"][3]["state_label"].as_str(), o["attempts"][3]["paid_at"].is_string()), (Some("成功"), true));
    // The acknowledgement follows the commit (by the receipt SMS's one send): wait for it.
    eventually(|| api.t.sandboxes.wechat.notifications_acked(wx) > 0).await;
    assert_eq!(api.t.sandboxes.wechat.notifications_acked(wx), 1, "the sandbox's notification was acknowledged");
    // Paid: 「我已支付」 says so; neither a new attempt nor cancelling.
    assert_eq!(attempts(&api.expect(&c, "POST", &check, None, (200, "")).await), states(["closed", "closed", "closed", "paid"]));
    api.expect(&c, "POST", &pay, Some(json!({"channel": "alipay", "device": "pc"})), (409, "ORDER_NOT_OPEN")).await;
    api.expect(&c, "POST", &format!("/api/orders/{fresh}/cancel"), None, (409, "ORDER_NOT_OPEN")).await;
    // WeChat Pay's callback: a repeat of that notification (as when an acknowledgement is lost) is
    // acknowledged again and changes nothing; one without signature headers or body is refused.
    let gateway = Client::new();
    api.expect_sent(&gateway, "POST", "/api/notify/wechat", Some(api.wechat_paid(wx, "3800.00")), (204, "")).await;
    let v = api.expect_sent(&gateway, "POST", "/api/notify/wechat", None, (400, "")).await;
    assert_eq!(v["code"], "FAIL");
    assert_eq!(attempts(&api.expect(&c, "GET", &get, None, (200, "")).await), states(["closed", "closed", "closed", "paid"]));

    // 电子票据 of the paid order: 票据查询, the printable page (its payer's only), and the link
    // its SMS carries (to 张三's phone; the newest such SMS from this platform), which works
    // without a session; a link never issued shows no receipt.
    let receipts = api.expect(&c, "GET", "/api/receipts", None, (200, "")).await;
    assert_eq!(receipts["receipts"][0]["order_no"], fresh.as_str());
    api.expect(&c, "GET", &format!("/receipts/{fresh}"), None, (200, "")).await;
    api.expect(&forced, "GET", &format!("/receipts/{fresh}"), None, (404, "")).await;
    api.expect(&forced, "GET", "/api/receipts", None, (200, "")).await;
    // 票据查验, by anyone: the right pair, and a wrong one.
    let (rno, code) = (receipts["receipts"][0]["receipt_no"].clone(), receipts["receipts"][0]["check_code"].clone());
    let checked =
        api.expect(&browser(), "POST", "/api/receipts/check", Some(json!({"receipt_no": rno, "check_code": code})), (200, "")).await;
    assert_eq!((checked["status"].as_str(), checked["payer_masked"].as_str()), (Some("valid"), Some("张*")), "{checked}");
    let wrong = json!({"receipt_no": rno, "check_code": "WRONGCODE2345"});
    api.expect(&browser(), "POST", "/api/receipts/check", Some(wrong), (404, "RECEIPT_MISMATCH")).await;
    let ours = format!("{}/r/", api.t.base);
    api.t.stream.drained().await;
    let sms = api.t.sms.texts();
    let link = sms.iter().rev().find(|m| m.contains(fresh.as_str()) && m.contains(&ours)).expect("the receipt SMS");
    let link = &link[link.find(&ours).unwrap() + api.t.base.len()..];
    api.expect(&Client::new(), "GET", link, None, (200, "")).await;
    api.expect(&Client::new(), "GET", &format!("/r/{}", shared::domain::LinkToken::generate().expose()), None, (404, "")).await;

    // Alipay's callback (a new order for 考试费, paid on the PC QR code while the sandbox's
    // notifications are lost): forged, tampered and foreign notifications get `fail` and change
    // nothing; the signed one gets `success`, and the order is paid by then.
    let exam = api.expect(&c, "POST", "/api/orders", Some(json!({"items": [pick(y, "EXAM")]})), (201, "")).await;
    let (exam_no, exam_total) = (exam["order_no"].as_str().unwrap().to_owned(), exam["total"].as_str().unwrap().to_owned());
    // First UnionPay (a form to auto-submit); UnionPay cannot close it, so switching channel and
    // cancelling wait for its payTimeout, 15 minutes on.
    let up = api
        .expect(&c, "POST", &format!("/api/orders/{exam_no}/pay"), Some(json!({"channel": "unionpay", "device": "pc"})), (200, ""))
        .await;
    assert_eq!((up["action"]["type"].as_str(), up["qr_svg"].is_null()), (Some("form"), true), "{up}");
    let up_otn = up["out_trade_no"].as_str().unwrap().to_owned();
    let up_txn = up["action"]["fields"].as_array().unwrap().iter().find(|kv| kv[0] == "txnTime").unwrap()[1].as_str().unwrap().to_owned();
    let still = api
        .expect(
            &c,
            "POST",
            &format!("/api/orders/{exam_no}/pay"),
            Some(json!({"channel": "alipay", "device": "pc"})),
            (409, "PAYMENT_STILL_OPEN"),
        )
        .await;
    assert_eq!(api.doc.fill_ins("PAYMENT_STILL_OPEN", still["message"].as_str().unwrap(), "PAYMENT_STILL_OPEN")["channel"], "银联在线支付");
    api.expect(&c, "POST", &format!("/api/orders/{exam_no}/cancel"), None, (409, "PAYMENT_STILL_OPEN")).await;
    api.t.clock.advance(17 * 60);
    let ali =
        api.expect(&c, "POST", &format!("/api/orders/{exam_no}/pay"), Some(json!({"channel": "alipay", "device": "pc"})), (200, "")).await;
    let ali_otn = ali["out_trade_no"].as_str().unwrap().to_owned();
    api.t.sandboxes.alipay.set_deliver_notifications(false);
    pay_at_sandbox(&api.t.sandboxes.alipay_base, ali["action"]["content"].as_str().unwrap(), &ali_otn).await;
    let forged = format!(
        "out_trade_no={ali_otn}&trade_status=TRADE_SUCCESS&total_amount={exam_total}&app_id={}&sign_type=RSA2&sign=AAAA",
        local::payments::ALIPAY_APP_ID
    );
    let form = |text: String| Some(Payload { media: alipay::FORM_CONTENT_TYPE, text, headers: Vec::new() });
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/alipay", form(forged), (400, "")).await, "fail");
    let tampered = api.alipay_paid(&ali_otn, "0.01");
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/alipay", Some(tampered), (400, "")).await, "fail");
    let foreign = api.alipay_paid("XF200101LUTAU999999A01", &exam_total);
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/alipay", Some(foreign), (400, "")).await, "fail");
    assert_eq!(api.expect(&c, "GET", &format!("/api/orders/{exam_no}"), None, (200, "")).await["state"], "open");
    let signed = api.alipay_paid(&ali_otn, &exam_total);
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/alipay", Some(signed), (200, "")).await, "success");
    let o = api.expect(&c, "GET", &format!("/api/orders/{exam_no}"), None, (200, "")).await;
    let state_of = |o: &Value, otn: &str| {
        o["attempts"].as_array().unwrap().iter().find(|a| a["out_trade_no"] == otn).unwrap()["state"].as_str().unwrap().to_owned()
    };
    assert_eq!((o["state"].as_str(), state_of(&o, &ali_otn), state_of(&o, &up_otn)), (Some("paid"), "paid".into(), "closed".into()));
    // UnionPay's callback: a tampered notification gets `fail`; a genuine one for the closed
    // UnionPay attempt (the student paid there too) is acknowledged and kept as a duplicate.
    let tampered = api.unionpay_paid(&up_otn, &up_txn, &exam_total);
    let tampered = Payload { text: tampered.text.replacen("txnAmt=", "txnAmt=1", 1), ..tampered };
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/unionpay", Some(tampered), (400, "")).await, "fail");
    let genuine = api.unionpay_paid(&up_otn, &up_txn, &exam_total);
    assert_eq!(api.expect_sent(&gateway, "POST", "/api/notify/unionpay", Some(genuine), (200, "")).await, "ok");
    assert_eq!(state_of(&api.expect(&c, "GET", &format!("/api/orders/{exam_no}"), None, (200, "")).await, &up_otn), "duplicate_paid");
    // The browser's return from UnionPay's cashier goes on to the order page.
    let no_redirects = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let back =
        Payload { media: shared::gateway::unionpay::FORM_CONTENT_TYPE, text: format!("orderId={up_otn}&respCode=00"), headers: Vec::new() };
    api.expect_sent(&no_redirects, "POST", "/api/return/unionpay", Some(back), (303, "")).await;

    // 交易查询 (张三): every attempt above is in 银行交易记录; the two orders paid above are in
    // 已缴费信息, each with 明细; a fee type filters them; 王五 finds none of them.
    let tx = api.expect(&c, "GET", "/api/transactions", None, (200, "")).await;
    let labels: BTreeSet<&str> = tx["transactions"].as_array().unwrap().iter().map(|x| x["status_label"].as_str().unwrap()).collect();
    assert_eq!(labels, BTreeSet::from(["成功", "已关闭", "重复支付待退款"]), "{tx}");
    let paid = api.expect(&c, "GET", "/api/paid", None, (200, "")).await;
    let ids: BTreeSet<&str> = paid["records"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from([fresh.as_str(), exam_no.as_str()]));
    let other = api.expect(&c, "GET", "/api/paid?type=%E5%85%B6%E4%BB%96", None, (200, "")).await;
    assert_eq!((other["records"].as_array().unwrap().len(), other["total"].as_str()), (1, Some(exam_total.as_str())));
    api.expect(&c, "GET", "/api/paid?type=x", None, (400, "VALIDATION")).await;
    let detail = api.expect(&c, "GET", &format!("/api/paid/{exam_no}"), None, (200, "")).await;
    assert_eq!((detail["out_trade_no"].as_str(), detail["lines"][0]["item_id"].as_str()), (Some(ali_otn.as_str()), Some("EXAM")));
    api.expect(&forced, "GET", &format!("/api/paid/{exam_no}"), None, (404, "NOT_FOUND")).await;
    api.expect(&c, "GET", "/api/paid/offline-NOT-HERE", None, (404, "NOT_FOUND")).await;
    api.expect(&c, "GET", "/api/enrolment", None, (200, "")).await;
    let site = api.expect(&Client::new(), "GET", "/api/site", None, (200, "")).await;
    assert_eq!(site["url"], format!("{}/", api.t.base));
    assert!(site["qr_svg"].as_str().unwrap().contains("<svg"), "{site}");
    let notices = api.expect(&Client::new(), "GET", "/api/announcements", None, (200, "")).await;
    assert!(notices["announcements"].as_array().unwrap().iter().any(|a| a["important"] == true));
    // An offline payment (周八's, in the demo data) as a paid record and its 明细.
    let zhou = api.ready("2021010105", "05054523", "Campus2026s").await;
    let paid = api.expect(&zhou, "GET", "/api/paid", None, (200, "")).await;
    let offline = paid["records"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!((paid["records"][0]["source"].as_str(), offline.starts_with("offline-")), (Some("offline"), true));
    api.expect(&zhou, "GET", &format!("/api/paid/{offline}"), None, (200, "")).await;

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
    // 张三 has a phone on file: the answer alone is not enough, it comes with the SMS code.
    api.expect(&c, "POST", r, reset("answer", json!({"answer": "七里河小学"}), "Found2026c"), (400, "VALIDATION")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": ticket})), (200, "")).await;
    let zhang_code = api.t.sms.last_code("找回密码", "0003").expect("an SMS to 张三's phone");
    let with_code = |answer: &str| json!({"answer": answer, "code": zhang_code});
    api.expect(&c, "POST", r, reset("answer", with_code("兰州小学"), "Found2026c"), (400, "WRONG_ANSWER")).await;
    api.expect(&c, "POST", r, reset("answer", with_code("七里河 小学"), "Found2026c"), (204, "")).await;
    api.expect(&c, "POST", r, reset("answer", with_code("七里河小学"), "Again2026d"), (401, "TICKET_EXPIRED")).await;

    // 忘记密码 without a phone or a question (郑十), and by SMS (赵六).
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("2021010107", "620102199602182716", "郑十"), (200, "")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": step1["ticket"]})), (409, "NO_PHONE")).await;
    let no_q = json!({"ticket": step1["ticket"], "method": "answer", "answer": "x", "new_password": "Found2026c"});
    api.expect(&c, "POST", r, Some(no_q), (409, "NO_SECURITY_QUESTION")).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("U0001", "620502198501010023", "赵六"), (200, "")).await;
    let t6 = || Some(json!({"ticket": step1["ticket"]}));
    api.expect(&c, "POST", "/api/password/forgot/sms", t6(), (200, "")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", t6(), (429, "TOO_MANY_REQUESTS")).await;
    let code = api.t.sms.last_code("找回密码", "1234").expect("an SMS to 赵六");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let by_sms = |code: &str| Some(json!({"ticket": step1["ticket"], "method": "sms", "code": code, "new_password": "Found2026e"}));
    api.expect(&c, "POST", r, by_sms(wrong), (400, "CODE_INVALID")).await;
    api.expect(&c, "POST", r, by_sms(&code), (204, "")).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("U0001", "620502198501010023", "赵六"), (200, "")).await;
    let used = json!({"ticket": step1["ticket"], "method": "sms", "code": code, "new_password": "Found2026f"});
    api.expect(&c, "POST", r, Some(used), (400, "CODE_EXPIRED")).await;
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": "forged"})), (401, "TICKET_EXPIRED")).await;

    // Locks: five failures for one name lock its login and password re-check; ten recovery
    // failures of one student in a day (identities, answers, codes alike) lock its recovery.
    api.until(&c, "POST", "/api/login", |_| Some(json!({"username": "2099999998", "password": "x"})), "LOCKED", 5).await;
    api.until(&c, "POST", "/api/password/forgot", |_| forgot("2099999998", "620102199903151235", "张三"), "LOCKED", 10).await;
    let step1 = api.expect(&c, "POST", "/api/password/forgot", forgot("2021010101", "620102199903151235", "张三"), (200, "")).await;
    api.t.clock.advance(61);
    api.expect(&c, "POST", "/api/password/forgot/sms", Some(json!({"ticket": step1["ticket"]})), (200, "")).await;
    let code = api.t.sms.last_code("找回密码", "0003").unwrap();
    let wrong = json!({"ticket": step1["ticket"], "method": "answer", "answer": "兰州小学", "code": code, "new_password": "Found2026h"});
    api.until(&c, "POST", r, |_| Some(wrong.clone()), "LOCKED", 10).await;
    let z6 = browser();
    api.login(&z6, "U0001", "Found2026e").await;
    api.until(&z6, "POST", "/api/security-question/verify", |_| Some(json!({"password": "Wrong2026x"})), "LOCKED", 5).await;
    api.expect(&z6, "POST", "/api/password", Some(json!({"old_password": "Found2026e", "new_password": "Found2026g"})), (429, "LOCKED"))
        .await;
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
        // Malformed and oversized bodies and store failures are driven by the other tests.
        let elsewhere =
            ["BAD_REQUEST", "PAYLOAD_TOO_LARGE", "INTERNAL"].contains(&code.as_str()) || (status == 500 && api.doc.caller(m, p).is_some());
        if !hit && !elsewhere {
            eprintln!("not exercised here: {m} {p} {status} {code}");
        }
    }
}

#[tokio::test]
async fn a_store_outage_gets_documented_answers() {
    let api = Api::new().await;
    let c = browser();
    api.login(&c, "2021010102", "0708456X").await;
    let step1 = api
        .expect(
            &c,
            "POST",
            "/api/password/forgot",
            Some(json!({"student_no": "2021010102", "id_card": "62010220000708456X", "name": "李四"})),
            (200, ""),
        )
        .await;
    api.t.app.store.client().delete_table().table_name(&api.t.table).send().await.expect("delete the table");
    for (m, p) in api.doc.ops() {
        let mut body = api.doc.example(&m, &p);
        if let Some(Value::Object(b)) = body.as_mut().filter(|_| p.starts_with("/api/password/forgot/")) {
            b.insert("ticket".into(), step1["ticket"].clone());
        }
        // The gateways' notifications are genuine ones, so that they get as far as the store.
        let body = match api.doc.caller(&m, &p) {
            Some("alipay") => Some(api.alipay_paid("XF261126LUTAU000001A01", "3800.00")),
            Some("wechat") => Some(api.wechat_paid("XF261126LUTAU000001W01", "3800.00")),
            Some("unionpay") => Some(api.unionpay_paid("XF261126LUTAU000001U01", "20261126120000", "3800.00")),
            Some(other) => panic!("{m} {p}: no notification from {other}"),
            None => body.map(|b| Payload::json(b.to_string())),
        };
        if api.doc.op(&m, &p)["x-stateless"] == true {
            let no_redirects = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let (status, _, v) = api.send(&no_redirects, &m, &api.doc.fill(&m, &p, &[]), body).await;
            assert!(status < 400, "{m} {p} never touches the store, so answers as usual: {status} {v}");
            continue;
        }
        let (status, code, v) = api.send(&c, &m, &api.doc.fill(&m, &p, &[]), body).await;
        // Every route, reset tickets included, reports the outage as such; the callbacks in
        // their gateway's format, so that it sends the notification again; the pages as a page.
        let want = (500, api.doc.coded(&m, &p, "INTERNAL"));
        assert_eq!((status, code.as_str()), want, "{m} {p} with the store down: {v}");
    }
}
