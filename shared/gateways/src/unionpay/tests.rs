//! Known answers (gateways.md §7: D3, V10, V11), then behaviour against our own test chain.
//!
//! The UnionPay keys and certificates here are TEST-ONLY material published in public
//! repositories (sources in `shared/gateways/tests/fixtures/unionpay/README.md`); never configure them.

use super::sandbox::{Ca, new_key};
use super::*;
use crate::domain::{Fen, OutTradeNo};
use crate::{Device, PaymentAction, TradeState, form};
use chrono::Duration;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use std::sync::OnceLock;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/unionpay/", $name))
    };
}
const ACP_CERT_ID: &str = "69903319369";
const ACP_MER_ID: &str = "777290058165621";

const D3_CONTENT: &str = "accessType=0&backUrl=https://pay.example.edu.cn/notify/unionpay&bizType=000201&certId=69903319369&channelType=07&currencyCode=156&encoding=UTF-8&frontUrl=https://pay.example.edu.cn/return/unionpay&merId=777290058165621&orderId=T20240901120000ABCD1234&payTimeout=20240901123000&signMethod=01&txnAmt=500000&txnSubType=01&txnTime=20240901120000&txnType=01&version=5.1.0";
const D3_DIGEST: &str = "c948bde0559219dcd92975fe024e36b05e4487b2b45ebc1aa43dbdb1376b58c4";
const D3_SIGNATURE: &str = "RfYHMgJyZTaCq2efCe2blM+ywitMubls6Xg7GOp/YMKN8y12N34+ANWJ6hT7mOF0dqYHSfJXcvcrJuGJtziJS1pEbQ5FABCXBiOe83qwjQQqMVghTvy+Uvfs+3WRUFzuzLivSdX7wlLzZedoDPaWmGl2H+qZCDhuzYQ7DkavT2dXGuvnIJrH4wTncdkBqDv9Wr3TH/1N3JDbAV6SHjhQ4XHjmyEtRyrXUKgEOB9uxRQVDEZz2sRw8ZvQWa+IzURDq13JFyaU+Rlb4kfHAR8Eqc2ltZjEzo+OCCDmppecskzGs5adD7G0IyxhoAiWkMAh4dNy0Q6Ad4rT33KY7SdYWA==";

/// yansongda/pay `testVerifyUnipaySign` (V10): a real test-environment notification.
const V10_SIGNATURE: &str = "JeA4S2+6TbGo9yjXDUvV5A2E3oJbunoCcZ66exN6xR3OH/5PNDK1VSV1Mq7XhVdxzkTeREUveiOYHalqoagRkh71nsHVvruwGbk6azygXSaawuO5tF67UIqNd4Mbufwh1KhbVpEkKbOETUvRhFcdon0fulE97I83eMSk52INHt8E1xk8NdbhyUadSlp+Uv30AKx70PpQbTGmVS3PJfd+Whj0b7LnvZKeC+BS1kUOtIKlcZO+gBoTigvCIJqj51kBrcBCs+x+VaeGm7EYBBhGSERpfQhQ4n+eJBwLdBeZ0/dNbo3iELjvVMx0n9KoW4klvUJhaH5LALA8pV02SbZv4Q==";

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}
fn now() -> DateTime<Utc> {
    utc("2026-09-01T04:00:00Z")
}
fn out(s: &str) -> OutTradeNo {
    OutTradeNo::parse(s).unwrap()
}

/// The V10 fields; the fixture keeps the PEM with `\n`, the wire had `\r\n` (§3.6 pitfall 2).
fn v10_fields(eol: &str) -> BTreeMap<String, String> {
    let content = fixture!("v10_notify_content.txt").trim_end().replace('\n', eol);
    let mut p: BTreeMap<String, String> =
        content.split('&').map(|kv| kv.split_once('=').unwrap()).map(|(k, v)| (k.into(), v.into())).collect();
    p.insert("signature".into(), V10_SIGNATURE.into());
    p
}

fn encode(p: &BTreeMap<String, String>) -> String {
    form::encode(p.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn settings(mer_id: &str, root: &str, middle: &str, allow_sha1_chain: bool) -> MerchantSettings {
    let gw = "https://gateway.test.95516.com/gateway/api";
    MerchantSettings {
        front_url: format!("{gw}/frontTransReq.do"),
        back_url: format!("{gw}/backTransReq.do"),
        query_url: format!("{gw}/queryTrans.do"),
        mer_id: mer_id.into(),
        sign_key_pem: chain().merchant_key.clone(),
        sign_cert_serial: chain().merchant_cert_id.clone(),
        root_cert_pem: root.into(),
        middle_cert_pem: middle.into(),
        back_notify_url: "https://pay.example.edu.cn/notify/unionpay".into(),
        front_return_url: "https://pay.example.edu.cn/return/unionpay".into(),
        allow_sha1_chain,
        file_url: None,
        signer_names: Vec::new(),
    }
}

/// Our test chain: root and middle, and one signing key with a good, a wrong-CN and an expired
/// certificate. Issued once (RSA key generation is slow).
struct Chain {
    root: String,
    middle: String,
    key: String,
    good: String,
    wrong_cn: String,
    /// Field [2] is UnionPay's name, in a CN of three fields (the SDK checks field [2] only).
    three_fields: String,
    /// UnionPay's test environment's signer name.
    test_signer: String,
    /// UnionPay's name, but not in field [2].
    name_elsewhere: String,
    expired: String,
    /// The merchant's own signing key and certificate (made here: published merchant keys are
    /// not kept in the repository).
    merchant_key: String,
    merchant_cert: String,
    merchant_cert_id: String,
}

fn chain() -> &'static Chain {
    static CHAIN: OnceLock<Chain> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let root = Ca::root(new_key().unwrap(), "CN=Test Root,O=Test,C=CN", now()).unwrap();
        let middle = root.sub_ca(new_key().unwrap(), "CN=Test OCA,O=Test,C=CN", now()).unwrap();
        let key = new_key().unwrap();
        let public = rsa::RsaPublicKey::from(&key);
        let leaf = |cn: &str, from, until| middle.leaf(&public, cn, from, until).unwrap().to_pem("\n");
        let (from, until) = (now() - Duration::days(1), now() + Duration::days(365));
        let merchant_key = new_key().unwrap();
        let merchant_cert = middle.leaf(&rsa::RsaPublicKey::from(&merchant_key), "777290058165621:SIGN", from, until).unwrap().to_pem("\n");
        let merchant_cert_id = Cert::from_pem(&merchant_cert).unwrap().serial_decimal();
        Chain {
            merchant_key: merchant_key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            merchant_cert,
            merchant_cert_id,
            root: root.cert.to_pem("\n"),
            middle: middle.cert.to_pem("\n"),
            key: key.to_pkcs8_pem(LineEnding::LF).unwrap().to_string(),
            good: leaf(&format!("041@8310000000000001@{UNIONPAY_ORG}@00000001"), from, until),
            wrong_cn: leaf("041@8310000000000001@Some Other Company@00000001", from, until),
            three_fields: leaf(&format!("042@8310000000000001@{UNIONPAY_ORG}"), from, until),
            test_signer: leaf(&format!("041@8310000000000001@{TEST_ENVIRONMENT_SIGNER}@00000001"), from, until),
            name_elsewhere: leaf(&format!("{UNIONPAY_ORG}@8310000000000001@041@00000001"), from, until),
            expired: leaf(&format!("041@8310000000000001@{UNIONPAY_ORG}@00000001"), from - Duration::days(800), from),
        }
    })
}

fn sandbox_with(mer_id: &str, sign_cert_pem: &str) -> Sandbox {
    let c = chain();
    let chain = SandboxChain {
        root_cert_pem: c.root.clone(),
        middle_cert_pem: c.middle.clone(),
        sign_cert_pem: sign_cert_pem.into(),
        sign_key_pem: c.key.clone(),
    };
    let s = SandboxSettings {
        mer_id: mer_id.into(),
        merchant_cert_id: c.merchant_cert_id.clone(),
        merchant_cert_pem: c.merchant_cert.clone(),
        chain: Some(chain),
    };
    Sandbox::new(&s, now()).unwrap()
}

fn sandbox() -> Sandbox {
    sandbox_with(ACP_MER_ID, &chain().good)
}

fn merchant() -> Merchant {
    Merchant::new(&settings(ACP_MER_ID, &chain().root, &chain().middle, false)).unwrap()
}

fn paid_trade(query_id: &str) -> SandboxTrade<'_> {
    SandboxTrade {
        order_id: "T20240901120000ABCD1234",
        txn_time: "20260901120000",
        txn_amt: Fen::new(500_000),
        query_id,
        progress: TradeProgress::Paid { at: now() + Duration::minutes(2) },
    }
}

fn is_sig_err<T: fmt::Debug>(r: Result<T, GatewayError>, needle: &str) -> bool {
    matches!(&r, Err(GatewayError::Signature(m)) if m.contains(needle)) || {
        eprintln!("unexpected: {r:?}");
        false
    }
}

#[test]
fn d3_front_consume_matches_the_published_vector() {
    // D3's canonical string and digest. Its signature needs the published merchant key, which
    // is not kept in this repository: the signature is checked by the round-trip tests instead.
    let settings = MerchantSettings { sign_cert_serial: ACP_CERT_ID.into(), ..settings(ACP_MER_ID, &chain().root, &chain().middle, false) };
    let m = Merchant::new(&settings).unwrap();
    let order = ConsumeRequest {
        out_trade_no: &out("T20240901120000ABCD1234"),
        amount: Fen::new(500_000),
        device: Device::Pc,
        pay_timeout: utc("2024-09-01T04:30:00Z"),
    };
    let form = m.front_consume(&order, utc("2024-09-01T04:00:00Z")).unwrap();
    assert_eq!(canonical(&form.fields), D3_CONTENT);
    assert_eq!(digest_hex(D3_CONTENT), D3_DIGEST);
    assert_eq!(form.fields["signature"].len(), D3_SIGNATURE.len(), "an RSA-2048 signature, Base64");
    assert_eq!(form.txn_time(), "20240901120000");
    assert!(form.url.ends_with("/frontTransReq.do"));
    // The same key as PKCS#1 signs identically.
    let pkcs1 = <rsa::RsaPrivateKey as rsa::pkcs8::DecodePrivateKey>::from_pkcs8_pem(&chain().merchant_key)
        .unwrap()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(SignKey::parse(&pkcs1).unwrap().sign(form.fields.clone())["signature"], form.fields["signature"]);
    let phone = m.front_consume(&ConsumeRequest { device: Device::Phone, ..order }, utc("2024-09-01T04:00:00Z"));
    assert_eq!(phone.unwrap().fields["channelType"], "08");
}

#[test]
fn v10_real_notification_signature_verifies_with_its_certificate() {
    // The real notification's double-hash signature, with the key of the signPubKeyCert it
    // carries. (Its CFCA TEST chain is not kept in this repository; chain and CN checks are
    // covered with the chain the tests issue.)
    let fields = v10_fields("\r\n");
    let leaf = Cert::from_pem(&fields["signPubKeyCert"]).unwrap();
    assert_eq!(leaf.serial_decimal(), "69678957876");
    assert!(leaf.common_name().unwrap().contains(UNIONPAY_ORG));
    let key = leaf.public_key().unwrap();
    assert!(verify_signature(&fields, &key).is_ok());
    // `\n` instead of `\r\n` changes the signed content.
    assert!(verify_signature(&v10_fields("\n"), &key).is_err());
    let mut tampered = fields.clone();
    tampered.insert("txnAmt".into(), "2".into());
    assert!(verify_signature(&tampered, &key).is_err());
}

#[test]
fn response_parser_keeps_nesting_and_raw_values() {
    let p = parse_response("a=1&reqReserved={x=1&y=[2&3]}&c=%41+b&e=&pem=-----BEGIN\r\nX==\r\n-----END").unwrap();
    assert_eq!(p["reqReserved"], "{x=1&y=[2&3]}");
    assert_eq!((p["c"].as_str(), p["e"].as_str()), ("%41+b", ""));
    assert_eq!(p["pem"], "-----BEGIN\r\nX==\r\n-----END");
    assert_eq!(parse_response("a=1}&b=[2]").unwrap()["b"], "[2]", "a stray closer is text");
    for bad in ["a=1&a=2", "a=1&b", "a={1&b=2", "=1", ""] {
        assert!(parse_response(bad).is_err(), "{bad}");
    }
}

#[test]
fn front_consume_form_verifies_on_the_sandbox() {
    let (m, sb) = (merchant(), sandbox());
    let order = ConsumeRequest {
        out_trade_no: &out("T20260901120000ABCD1234"),
        amount: Fen::new(350_000),
        device: Device::Phone,
        pay_timeout: now() + Duration::minutes(15),
    };
    let form = m.front_consume(&order, now()).unwrap();
    let got = sb.verify_front_consume(form.body().as_bytes(), now()).unwrap();
    assert_eq!((got.order_id.as_str(), got.txn_amt, got.channel_type.as_str()), (order.out_trade_no.as_str(), Fen::new(350_000), "08"));
    assert_eq!((got.txn_time.as_str(), got.pay_timeout), ("20260901120000", Some(order.pay_timeout)));
    assert_eq!(got.back_url, "https://pay.example.edu.cn/notify/unionpay");
    // payTimeout enforced; tampered fields and foreign certIds refused.
    let late = sb.verify_front_consume(form.body().as_bytes(), order.pay_timeout);
    assert!(matches!(late, Err(GatewayError::Refused { .. })));
    for (k, v) in [("txnAmt", "1"), ("orderId", "T20260901120000ABCD9999"), ("certId", "1")] {
        let mut f = form.fields.clone();
        f.insert(k.into(), v.into());
        assert!(matches!(sb.verify_front_consume(encode(&f).as_bytes(), now()), Err(GatewayError::Signature(_))));
    }
    let PaymentAction::Form { action, fields } = form.clone().into_action() else { panic!() };
    assert_eq!((action, fields.len()), (form.url, form.fields.len()));
}

#[test]
fn query_round_trip_maps_to_trade_states() {
    let (m, sb) = (merchant(), sandbox());
    let no = out("T20240901120000ABCD1234");
    let q = m.query(&no, "20260901120000").unwrap();
    assert!(q.url.ends_with("/queryTrans.do"));
    let (order_id, txn_time) = sb.verify_query(q.body().as_bytes()).unwrap();
    let query_id = Sandbox::new_query_id(now());
    let answer = |progress| {
        let trade = SandboxTrade { progress, ..paid_trade(&query_id) };
        sb.query_response(&order_id, &txn_time, Some(&trade))
    };
    let parse = |body: &str| m.parse_query_response(&no, "20260901120000", body.as_bytes(), now());
    let paid = answer(TradeProgress::Paid { at: now() + Duration::minutes(2) });
    assert!(paid.contains("signPubKeyCert=-----BEGIN CERTIFICATE-----\r\n"), "raw, CRLF PEM");
    let expected =
        TradeState::Paid { gateway_trade_no: query_id.clone(), amount: Fen::new(500_000), paid_at: now() + Duration::minutes(2) };
    assert_eq!(parse(&paid), Ok(expected));
    assert_eq!(parse(&answer(TradeProgress::Processing)), Ok(TradeState::Pending));
    assert_eq!(parse(&answer(TradeProgress::Failed)), Ok(TradeState::Closed));
    assert_eq!(parse(&sb.query_response(&order_id, &txn_time, None)), Ok(TradeState::NotFound));
    // Tampered, unsigned, or about another transaction: refused.
    assert!(is_sig_err(parse(&paid.replace("txnAmt=500000", "txnAmt=1")), "does not verify"));
    let unsigned: Vec<&str> = paid.split('&').filter(|kv| !kv.starts_with("signature=")).collect();
    assert!(is_sig_err(parse(&unsigned.join("&")), "signature missing"));
    let other = m.parse_query_response(&no, "20260901120001", paid.as_bytes(), now());
    assert!(matches!(other, Err(GatewayError::Malformed(_))));
    // A query-level failure is no answer.
    let mut f = parse_response(&paid).unwrap();
    f.insert("respCode".into(), "10".into());
    let refused = sb.sign(f).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    assert!(matches!(parse(&refused), Err(GatewayError::Refused { code, .. }) if code == "10"));
}

#[test]
fn notification_round_trip_and_attempt_check() {
    let (m, sb) = (merchant(), sandbox());
    let body = sb.paid_notification(&paid_trade("782609011202000000001")).unwrap();
    let n = m.parse_notification(body.as_bytes(), now()).unwrap();
    assert!(!n.raw().contains_key("reqReserved"), "an empty field is not part of the signed content");
    let no = out("T20240901120000ABCD1234");
    let wrong = n.clone().check(&no, Fen::new(499_999));
    assert!(matches!(wrong, Err(Mismatch::Amount { .. })));
    assert!(matches!(n.clone().check(&out("T20240901120000ABCD9999"), Fen::new(500_000)), Err(Mismatch::Trade { .. })));
    let n = n.check(&no, Fen::new(500_000)).unwrap();
    assert!(n.is_paid());
    assert_eq!((n.query_id.as_str(), n.txn_amt, n.trace_time.as_deref()), ("782609011202000000001", Fen::new(500_000), Some("0901120200")));
    let unpaid = SandboxTrade { progress: TradeProgress::Processing, ..paid_trade("1") };
    assert!(sb.paid_notification(&unpaid).is_err());
}

/// The official BackRcvResponse demo drops empty-valued fields before verifying: a
/// notification that carries one (`reqReserved=`) verifies, and still reads the same.
#[test]
fn a_notification_with_an_empty_field_verifies_without_it() {
    let m = merchant();
    let body = sandbox().paid_notification(&paid_trade("1")).unwrap();
    assert!(body.contains("reqReserved=&") || body.ends_with("reqReserved="), "the sandbox sends one: {body}");
    for extra in ["", "reserved=&", "reserved=&reqAddition=&"] {
        let with_empty = format!("{extra}{body}");
        let n = m.parse_notification(with_empty.as_bytes(), now()).expect("verifies without its empty fields");
        assert_eq!(n.0.order_id, m.parse_notification(body.as_bytes(), now()).unwrap().0.order_id);
    }
    // Only empty ones: a field with a value is signed, and changes the signature.
    assert!(is_sig_err(m.parse_notification(body.replace("reqReserved=", "reqReserved=x").as_bytes(), now()), "verify"));
}

/// A signed notification or answer in another currency than yuan (156) is not acted on.
#[test]
fn only_yuan_is_accepted() {
    let (m, sb) = (merchant(), sandbox());
    let body = sb.paid_notification(&paid_trade("782609011202000000001")).unwrap();
    let mut fields = form::parse(body.as_bytes()).unwrap();
    fields.retain(|k, v| !v.is_empty() && !["signature", "signPubKeyCert", "version", "encoding", "signMethod"].contains(&k.as_str()));
    for (k, v) in [("currencyCode", "840"), ("settleCurrencyCode", "344")] {
        let mut f = fields.clone();
        f.insert(k.into(), v.into());
        let r = m.parse_notification(encode(&sb.sign(f)).as_bytes(), now());
        assert!(matches!(&r, Err(GatewayError::Malformed(e)) if e.contains("currency")), "{k}: {r:?}");
    }
    let mut no_currency = fields.clone();
    no_currency.remove("currencyCode");
    assert!(m.parse_notification(encode(&sb.sign(no_currency)).as_bytes(), now()).is_err(), "a notification names its currency");
    assert!(m.parse_notification(encode(&sb.sign(fields.clone())).as_bytes(), now()).is_ok());
    // A query answer in dollars.
    let otn = out("T20240901120000ABCD1234");
    let answer = sb.query_response(otn.as_str(), "20240901120000", Some(&paid_trade("1"))).replace("currencyCode=156", "currencyCode=840");
    let resigned =
        sb.sign(crate::unionpay::parse_response(&answer).unwrap()).iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let r = m.parse_query_response(&otn, "20240901120000", resigned.as_bytes(), now());
    assert!(matches!(&r, Err(GatewayError::Malformed(e)) if e.contains("currency")), "{r:?}");
}

#[test]
fn tampered_notifications_are_refused() {
    let (m, sb) = (merchant(), sandbox());
    let body = sb.paid_notification(&paid_trade("782609011202000000001")).unwrap();
    let fields = form::parse(body.as_bytes()).unwrap();
    for (k, v) in [("txnAmt", "1"), ("orderId", "T20240901120000ABCD9999"), ("signature", &fields["txnAmt"])] {
        let mut f = fields.clone();
        f.insert(k.into(), v.into());
        assert!(matches!(m.parse_notification(encode(&f).as_bytes(), now()), Err(GatewayError::Signature(_))), "{k}");
    }
    let mut f = fields.clone();
    f.insert("signature".into(), fields["signature"].replace('A', "B"));
    assert!(matches!(m.parse_notification(encode(&f).as_bytes(), now()), Err(GatewayError::Signature(_))));
}

#[test]
fn untrusted_signing_certificates_are_refused() {
    let m = merchant();
    let notify = |sb: &Sandbox| m.parse_notification(sb.paid_notification(&paid_trade("1")).unwrap().as_bytes(), now());
    assert!(is_sig_err(notify(&sandbox_with(ACP_MER_ID, &chain().wrong_cn)), "CN"));
    assert!(is_sig_err(notify(&sandbox_with(ACP_MER_ID, &chain().expired)), "not valid now"));
    // A chain the sandbox issued itself is not the one we trust...
    let s = SandboxSettings {
        mer_id: ACP_MER_ID.into(),
        merchant_cert_id: chain().merchant_cert_id.clone(),
        merchant_cert_pem: chain().merchant_cert.clone(),
        chain: None,
    };
    let foreign = Sandbox::new(&s, now()).unwrap();
    assert!(is_sig_err(notify(&foreign), "issued by another CA"));
    // ...until the platform is configured with its root and middle.
    let trusting = Merchant::new(&settings(ACP_MER_ID, foreign.root_cert_pem(), foreign.middle_cert_pem(), false));
    let body = foreign.paid_notification(&paid_trade("1")).unwrap();
    assert!(trusting.unwrap().parse_notification(body.as_bytes(), now()).is_ok());
    // merId of another merchant.
    let r = notify(&sandbox_with("777290058100000", &chain().good));
    assert!(matches!(r, Err(GatewayError::Malformed(m)) if m.contains("merId")));
}

/// The ACP SDK's `CertUtil` checks field [2] of the CN against 中国银联股份有限公司 (and, with
/// `ifValidateCNName=false`, `00040000:SIGN`): so do we, with the names configurable.
#[test]
fn the_signing_certificate_is_unionpays_by_field_two_of_its_cn() {
    let notify = |m: &Merchant, cert: &str| {
        m.parse_notification(sandbox_with(ACP_MER_ID, cert).paid_notification(&paid_trade("1")).unwrap().as_bytes(), now())
    };
    let production = merchant();
    assert!(notify(&production, &chain().good).is_ok());
    assert!(notify(&production, &chain().three_fields).is_ok(), "field [2] is what counts, not the number of fields");
    assert!(is_sig_err(notify(&production, &chain().test_signer), "CN"));
    assert!(is_sig_err(notify(&production, &chain().name_elsewhere), "CN"));
    let names = vec![UNIONPAY_ORG.to_owned(), TEST_ENVIRONMENT_SIGNER.to_owned()];
    let test_env =
        Merchant::new(&MerchantSettings { signer_names: names, ..settings(ACP_MER_ID, &chain().root, &chain().middle, false) }).unwrap();
    assert!(notify(&test_env, &chain().test_signer).is_ok());
    assert!(notify(&test_env, &chain().good).is_ok());
    assert!(is_sig_err(notify(&test_env, &chain().wrong_cn), "CN"));
    let bad = MerchantSettings { signer_names: vec!["a@b".into()], ..settings(ACP_MER_ID, &chain().root, &chain().middle, false) };
    assert!(Merchant::new(&bad).is_err());
}

#[test]
fn configuration_is_validated() {
    let c = chain();
    let ok = settings(ACP_MER_ID, &c.root, &c.middle, false);
    let bad = [
        MerchantSettings { back_notify_url: "https://pay.example.edu.cn/n?x=1".into(), ..ok.clone() },
        MerchantSettings { query_url: "ftp://x".into(), ..ok.clone() },
        MerchantSettings { sign_cert_serial: "0x1046900149".into(), ..ok.clone() },
        MerchantSettings { mer_id: "7772-9005".into(), ..ok.clone() },
        MerchantSettings { sign_key_pem: "nonsense".into(), ..ok.clone() },
        MerchantSettings { root_cert_pem: c.middle.clone(), middle_cert_pem: c.good.clone(), ..ok.clone() },
    ];
    for s in bad {
        assert!(matches!(Merchant::new(&s), Err(GatewayError::Key(_))), "{s:?}");
    }
    let m = Merchant::new(&ok).unwrap();
    let sb = SandboxSettings {
        mer_id: ACP_MER_ID.into(),
        merchant_cert_id: "1".into(),
        merchant_cert_pem: chain().merchant_cert.clone(),
        chain: Some(sandbox().chain().clone()),
    };
    assert!(matches!(Sandbox::new(&sb, now()), Err(GatewayError::Key(_))), "certId is not the cert's serial");
    assert!(!format!("{ok:?} {m:?} {sb:?} {:?}", sandbox()).contains("PRIVATE"));
    assert!(m.query(&out("T20240901120000ABCD1234"), "2026-09-01").is_err());
    let order = ConsumeRequest { out_trade_no: &out("T2024090112"), amount: Fen::new(1), device: Device::Pc, pay_timeout: now() };
    assert!(m.front_consume(&order, now()).is_err(), "payTimeout not in the future");
    assert!(m.front_consume(&ConsumeRequest { amount: Fen::ZERO, pay_timeout: now() + Duration::hours(1), ..order }, now()).is_err());
}

#[test]
fn times_are_beijing_and_trace_time_crosses_new_year() {
    assert_eq!(format_time(utc("2024-12-31T16:30:00Z")), "20250101003000");
    assert_eq!(parse_time("20250101003000"), Some(utc("2024-12-31T16:30:00Z")));
    assert_eq!(parse_time("2025010100300"), None);
    let paid = merchant::paid_at("20241231235900", Some("0101000100")).unwrap();
    assert_eq!(paid, utc("2024-12-31T16:01:00Z"));
    assert_eq!(merchant::paid_at("20241231235900", None).unwrap(), utc("2024-12-31T15:59:00Z"));
}

#[test]
fn only_a_refusal_code_refuses_a_refund_every_other_answer_is_asked_about() {
    use crate::RefundOutcome;
    use crate::unionpay::RefundAsked;
    let txn_time = format_time(now());
    let asked = RefundAsked {
        order_id: "RXF261126LUTAU000001A2".into(),
        txn_time: txn_time.clone(),
        orig_qry_id: "782209081322060674028".into(),
        txn_amt: crate::domain::Fen::new(400_000),
        back_url: None,
    };
    let outcome = |code: &str, msg: &str| {
        let body = sandbox().refund_response(&asked, code, msg);
        merchant().verified_answer(&asked.order_id, &txn_time, body.as_bytes(), now()).unwrap().refund_outcome()
    };
    // Accepted, unknown, duplicate, an invalid txnTime (10), busy, and a code we do not know:
    // none of them says nothing was refunded, so each is asked about before anything is concluded.
    for (code, msg) in [
        ("00", "成功"),
        ("04", "交易状态未明"),
        ("12", "重复交易"),
        ("10", "报文格式错误[txnTime无效]"),
        ("37", "操作过于频繁"),
        ("99", "?"),
    ] {
        assert_eq!(outcome(code, msg), RefundOutcome::Pending, "{code}");
    }
    assert_eq!(
        outcome("35", "原交易不存在或状态不正确"),
        RefundOutcome::Refused { code: "35".into(), message: "原交易不存在或状态不正确".into() }
    );
}
