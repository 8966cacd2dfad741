//! Known-answer tests with the vectors of gateways.md §7 (D1, D2, V7, V8), then behaviour.
//!
//! The keys are TEST-ONLY material published in public repositories (sources in
//! `shared/gateways/tests/fixtures/alipay/README.md`); they must never appear in configuration.

use super::*;
use crate::domain::{Channel, Fen};
use crate::{RefundOutcome, form};
use chrono::Duration;
use serde_json::{Value, json};
use std::fmt;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/alipay/", $name))
    };
}
/// fzlee/alipay `tests/certs/app/`: the platform's ("app") pair.
const APP_PRIVATE: &str = fixture!("app_private_key.pem");
const APP_PRIVATE_PKCS8: &str = fixture!("app_private_key_pkcs8.pem");
const APP_PUBLIC: &str = fixture!("app_public_key.pem");
/// fzlee/alipay `tests/certs/ali/`: the sandbox's ("Alipay") pair.
const ALI_PRIVATE: &str = fixture!("ali_private_key.pem");
const ALI_PUBLIC: &str = fixture!("ali_public_key.pem");
/// alipay/alipay-sdk-java-all `appCertPublicKey_2019091767145019.crt` (V7), as SPKI PEM.
const V7_PUBLIC: &str = fixture!("v7_app_cert_public_key.pem");
/// yansongda/pay `tests/Cert/alipayPublicCert.crt` (V8), as the console's bare Base64 SPKI.
const V8_PUBLIC_B64: &str = fixture!("v8_alipay_public_key.b64");

const D1_CONTENT: &str = r#"app_id=2021000000000001&biz_content={"out_trade_no":"T20240901120000ABCD1234","total_amount":"5000.00","subject":"2024学年学费","timeout_express":"30m"}&charset=utf-8&format=JSON&method=alipay.trade.precreate&notify_url=https://pay.example.edu.cn/notify/alipay&sign_type=RSA2&timestamp=2024-09-01 12:00:00&version=1.0"#;
const D1_SIGN: &str = "RmkLBJCCBLbfKVI+zbwIfUFpi021hV0ArbiN73S5TkhZ1NWWfDTUenJLxhk5LqkjmzBwHDgjIOCaQZkxx0NFjiZhl9K6WwHlOiT9CsfFC1xtvTyYHsZ+VPsMMZnxRLOFv1mQYo93KRdDlFabckqvX1ZnsJLPv1jqU8HXYf3Q0gofak+0mrTvU95WWGO0MbW6QMFMpgUlU4D6qGBEgAcYL3apumv+m6L9d/Zp+mM5M9W7JVfm8U1Lf72KmnrEkaD51m/xj5fvbmkM/wCVrZT1VcWVopsWdWSifrY+NvoMbMXqWBC/549BCoQc0c8vg/mPQHbIQ+8jVxmRJ4LYmTg6nw==";
const D2_CONTENT: &str = "app_id=2021000000000001&auth_app_id=2021000000000001&buyer_pay_amount=5000.00&charset=utf-8&gmt_create=2024-09-01 12:00:05&gmt_payment=2024-09-01 12:00:09&notify_id=2024090100222120009000000000000001&notify_time=2024-09-01 12:00:10&notify_type=trade_status_sync&out_trade_no=T20240901120000ABCD1234&receipt_amount=5000.00&seller_id=2088000000000001&subject=2024学年学费&total_amount=5000.00&trade_no=2024090122001400000000000001&trade_status=TRADE_SUCCESS&version=1.0";
const D2_SIGN: &str = "CaIDWySTWBg8Vs2G2GEJLuz1hxEJ9eOcnfYJkGuwCxiQYzObPcxFqGdWdWnj/Gc3qvLBIp1x8q2jAfg07DAXBsxiwqA/0LCjir/JuGAj/FaYAzo0WVdWz4EPAaHJTg0tk8Fa4cgPWAqrksKS9d8OcazIxFI8KNZe0K+XbQQrNoCFB97A5R9hs7P/DksuoXXbv5wz4ax+ZCOsTsvTvnFiAGZpp4AxjnSl9+QWfe9PUMWC2RtMjvztzHFlSQjHqzMpjkKkpHNkaY+xpJudI1sm7purnTqfE+DJSpES/B38RxzH268M59KaZVFB8W5AoyehUKiNdxe2aHjPHKYbim+O8g==";
const OUT: &str = "T20240901120000ABCD1234";

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn map<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}

/// Splits a canonical string back into its pairs (first `=` splits).
fn pairs_of(content: &str) -> BTreeMap<String, String> {
    map(content.split('&').map(|kv| kv.split_once('=').unwrap()))
}

fn settings(app_id: &str, seller_id: &str, alipay_public_key: &str) -> MerchantSettings {
    MerchantSettings {
        gateway_url: "https://openapi-sandbox.example/gateway.do".into(),
        app_id: app_id.into(),
        seller_id: seller_id.into(),
        app_private_key: APP_PRIVATE.into(),
        alipay_public_key: alipay_public_key.into(),
        notify_url: "https://pay.example.edu.cn/notify/alipay".into(),
        return_url: "https://pay.example.edu.cn/return/alipay".into(),
        bill_hosts: Vec::new(),
    }
}

fn merchant() -> Merchant {
    Merchant::new(&settings("2021000000000001", "2088000000000001", ALI_PUBLIC)).unwrap()
}

fn sandbox_for(app_id: &str, seller_id: &str) -> Sandbox {
    let s = SandboxSettings {
        app_id: app_id.into(),
        seller_id: seller_id.into(),
        app_public_key: APP_PUBLIC.into(),
        alipay_private_key: ALI_PRIVATE.into(),
    };
    Sandbox::new(&s).unwrap()
}

fn sandbox() -> Sandbox {
    sandbox_for("2021000000000001", "2088000000000001")
}

/// The D2 trade: paid 2024-09-01 12:00:09 Beijing.
fn d2_trade() -> PaidTrade<'static> {
    PaidTrade {
        out_trade_no: OUT,
        trade_no: "2024090122001400000000000001",
        notify_id: "2024090100222120009000000000000001",
        subject: "2024学年学费",
        total: Fen::new(500_000),
        created_at: utc("2024-09-01T04:00:05Z"),
        paid_at: utc("2024-09-01T04:00:09Z"),
        notified_at: utc("2024-09-01T04:00:10Z"),
    }
}

/// [`OUT`] as the out-trade-no it is.
static OUT_NO: std::sync::LazyLock<crate::domain::OutTradeNo> = std::sync::LazyLock::new(|| crate::domain::OutTradeNo::parse(OUT).unwrap());

fn order() -> OrderRequest<'static> {
    OrderRequest { out_trade_no: &OUT_NO, amount: Fen::new(500_000), subject: "2024学年学费", time_expire: utc("2024-09-01T04:30:00Z") }
}

fn bare(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn is_malformed(r: Result<impl fmt::Debug, GatewayError>, needle: &str) -> bool {
    matches!(r, Err(GatewayError::Malformed(m)) if m.contains(needle))
}

#[test]
fn d1_request_signature_matches_the_published_vector() {
    let mut params = pairs_of(D1_CONTENT);
    params.insert("sign".into(), "ignored".into());
    params.insert("return_url".into(), String::new()); // empty values are left out
    assert_eq!(sign_content(&params), D1_CONTENT);
    for pem in [APP_PRIVATE, APP_PRIVATE_PKCS8] {
        assert_eq!(rsa2_sign(D1_CONTENT, &PrivateKey::parse(pem).unwrap()), D1_SIGN);
    }
    assert_eq!(rsa2_sign(D1_CONTENT, &PrivateKey::parse(&bare(APP_PRIVATE_PKCS8)).unwrap()), D1_SIGN);
    for public in [APP_PUBLIC.to_owned(), bare(APP_PUBLIC)] {
        assert_eq!(rsa2_verify(D1_CONTENT, D1_SIGN, &PublicKey::parse(&public).unwrap()), Ok(()));
    }
    // The sandbox accepts it as a GET with everything in the query (sign_type signed too).
    params.insert("sign".into(), D1_SIGN.into());
    let query = form::encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let req = sandbox().verify_request(query.as_bytes(), b"").unwrap();
    assert_eq!(req.method, "alipay.trade.precreate");
    assert_eq!(req.biz["timeout_express"], "30m");
}

#[test]
fn d2_sandbox_notification_matches_the_published_vector_and_verifies() {
    let body = sandbox().paid_notification(&d2_trade());
    let params = form::parse(body.as_bytes()).unwrap();
    assert_eq!(notification_content(&params), D2_CONTENT);
    assert_eq!(params["sign"], D2_SIGN);
    assert_eq!(params["sign_type"], "RSA2");

    let unchecked = merchant().verify_notification(body.as_bytes()).unwrap();
    assert_eq!(unchecked.out_trade_no(), OUT);
    let n = unchecked.check(OUT, Fen::new(500_000)).unwrap();
    assert_eq!(n.notify_id, "2024090100222120009000000000000001");
    assert_eq!(n.trade_no, "2024090122001400000000000001");
    assert_eq!(n.trade_status, TradeStatus::TradeSuccess);
    assert_eq!(n.gmt_payment, Some(utc("2024-09-01T04:00:09Z")));
    assert_eq!(n.raw["subject"], "2024学年学费");
    assert!(n.is_paid() && !n.is_refund());
}

#[test]
fn v7_java_sdk_signatures_include_sign_type() {
    let key = PublicKey::parse(V7_PUBLIC).unwrap();
    let sign = concat!(
        "JzoDc8VxY1/w6yN9WdWV10aipS3YcRpK+jw4xfLybf90ZK9L3AHLUJbNLWVnHW3IuLoJbBeSGVxSbPBhe4ggPklcYUkPowgtlZ6Ylth",
        "uQDtjF23h2obXuXkQRd+RPbDWvOA5AYQjsKH8uSHil5aRARewPIPhukl9Mn4HEovUccsBR/RirQFSGmGYiMM0zvhVSR7pXZDEhiADzvz",
        "AkvVVTI1/HbNqcoBU4ctSPAGsuDPO/mah1+IwGQAuPP6xoEPL+3zQ0wztQCwHT2o8aQmxFJ9a09q8ybRprHaNjCgTaLDeTWE0o1pllZIE",
        "8c7wnG3cOuj6quYjTcQyLm6P4M87Zw=="
    );
    let mut params = map([("method", "koubei.marketing.data.indicator.query"), ("app_id", "2019090366875133"), ("sign_type", "RSA2")]);
    assert_eq!(rsa2_verify(&sign_content(&params), sign, &key), Ok(()));
    assert!(rsa2_verify(&notification_content(&params), sign, &key).is_err());

    let chinese = "KrRGUY3/2JX3KtlLgus8CbK0xuUIBDCpOdJkVzJDefez6HvlA8RA6uCVj2rrMd7DgVfarG5SROdSnkZbf8MLKHbVoFqi9w0QCvto9mc8n3ezfWejZECJVCZhbJ3OslB+4gij9+F70usrnCNEJZm02ntyNdVzcqMbgdRMB93BJIRC1jjmCotpXgXWrRdTb/SfhIAkoHqgGi2aCUHuLDInLGZCn8NeziGWMnFOic6/sE/nMpwriOmwLb2nyzD0fGiolwuuxlOGMcBHAb22J8XqchFHyCpbs2A/rWdJMjhUfqsErbtZQM93fi1xfL2pUa9RMWX0Q81Qk7iSEeHCR+NGyQ==";
    params.insert("extra".into(), "中文测试".into());
    assert_eq!(rsa2_verify(&sign_content(&params), chinese, &key), Ok(()));
}

#[test]
fn v8_real_sandbox_notification_and_return_url_verify_under_v1_rules() {
    let fields = [
        ("gmt_create", "2023-12-21 16:26:32"),
        ("charset", "utf-8"),
        ("gmt_payment", "2023-12-21 16:26:43"),
        ("notify_time", "2023-12-21 16:26:45"),
        ("subject", "yansongda+测试 - 1"),
        (
            "sign",
            "Rs7SszD15WqbdJsGZPN+HpCBcQzBCkJx0ccNeg1rpUxyTVA1ps2vJ4sLhaa7O+lliTj6N1MSGqc8cK6JSs7nPg731RAOfneirtrqrlW2u0m15kWAKrVjgPGLUMtK/eT15e/6NcxsWra/bsZaan+nFDzO8xceOwy96W+qVUtTPfBRBp9Zjryi5oIONOifGMALD284YbNC3qq2eyqVysF+zgk+/MtuHk2Eh/fL7UbClHQXQ2hD686Dt8bR949TNMbkWCYXstmjVBO55qF8xhaoF/b5zAe5/O/13g/QlwDXBcF3XwJpbFWrBehoFFCnJhR/xXZ0E+D2Vsw1oAQ3l+R2dQ==",
        ),
        ("buyer_id", "2088722003899169"),
        ("invoice_amount", "0.01"),
        ("version", "1.0"),
        ("notify_id", "2023122101222162644199160501632046"),
        ("fund_bill_list", r#"[{"amount":"0.01","fundChannel":"ALIPAYACCOUNT"}]"#),
        ("notify_type", "trade_status_sync"),
        ("out_trade_no", "1703147160"),
        ("total_amount", "0.01"),
        ("trade_status", "TRADE_SUCCESS"),
        ("trade_no", "2023122122001499160501589436"),
        ("auth_app_id", "9021000122682882"),
        ("receipt_amount", "0.01"),
        ("point_amount", "0.00"),
        ("app_id", "9021000122682882"),
        ("buyer_pay_amount", "0.01"),
        ("sign_type", "RSA2"),
        ("seller_id", "2088721003899159"),
    ];
    let body = form::encode(fields);
    assert!(body.contains("yansongda%2B"), "a literal + travels as %2B (§1.9.2)");
    let m = Merchant::new(&settings("9021000122682882", "2088721003899159", V8_PUBLIC_B64)).unwrap();
    let n = m.verify_notification(body.as_bytes()).unwrap().check("1703147160", Fen::new(1)).unwrap();
    assert_eq!(n.raw["subject"], "yansongda+测试 - 1");

    // Keeping sign_type in the content (request rules) fails: the V8 lesson.
    let key = PublicKey::parse(V8_PUBLIC_B64).unwrap();
    let params = map(fields);
    assert!(rsa2_verify(&sign_content(&params), &params["sign"], &key).is_err());

    let ret = "charset=utf-8&out_trade_no=1703141270&method=alipay.trade.page.pay.return&total_amount=0.01&sign=RJzbs5y7I41BO9UPnCdq7oWgoInyjELi9Qj6D%2BLAZXVpHTedemAHfVUowuF9iuznGZLxU6Xv1L3ZkzTGxmIfvzontCZNb0%2BRROqiT41lX91VYd6j4ZcOn8zsvlCdQSVHmYNJi%2Bw%2F40uHxo1ufRwHxBNtQKsoJCYk5VtZ92pQFvVyE5wPPT6Nolww5WlCAPxcWNby8VAiWT%2Bd2yxmFm8vZ6yj5rsLHTR72O76TkEXzOEex6e36Zf8M9YXww7RQbflMfk9eURPHW%2FoQq4hZr%2FlX7%2FO1nT5vdT4UVFai4V18Xm1KspBun8outJxqlWMIKVxGsYhIH1E79ORt4wQA7PG1g%3D%3D&trade_no=2023122122001499160501586202&auth_app_id=9021000122682882&version=1.0&app_id=9021000122682882&sign_type=RSA2&seller_id=2088721003899159&timestamp=2023-12-21+14%3A48%3A44";
    assert_eq!(verify_v1(&form::parse(ret.as_bytes()).unwrap(), &key), Ok(()));
}

#[test]
fn keys_fail_cleanly_and_never_print() {
    assert!(matches!(PrivateKey::parse("not a key"), Err(GatewayError::Key(_))));
    assert!(matches!(PublicKey::parse("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----"), Err(GatewayError::Key(_))));
    // RSA2 wants ≥ 2048 bits: fzlee/alipay's older 1024-bit app_public_key.pem (@66ee4854).
    let short = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQCtuXpYzpJjTp2eIUk3D0Qvi/VJv7N/8m7QjpqczhQ67yWyJ7/A5Mp1xqcEgMx/awl9svuzOO7291NeAGS0Nn1dwR/xqSkKke0ouo7tH+ECZgTka+nnLa6L246btoMot3+Il2Kq47m/mA5AnAlqVJXJBfB5fpHQVAWK2jlw1ZEUIwIDAQAB";
    assert!(matches!(PublicKey::parse(short), Err(GatewayError::Key(m)) if m.contains("2048")));
    let shown = format!("{:?} {:?}", settings("a", "b", ALI_PUBLIC), merchant());
    assert!(!shown.contains("MII") && shown.contains("redacted"), "{shown}");
}

#[test]
fn tampered_notifications_are_refused() {
    let m = merchant();
    let body = sandbox().paid_notification(&d2_trade());
    let tampered = body.replace("total_amount=5000.00", "total_amount=5.00");
    assert!(matches!(m.verify_notification(tampered.as_bytes()), Err(GatewayError::Signature(_))));
    let forged = body.replace("app_id=2021000000000001&", "app_id=2021000000000999&");
    assert!(matches!(m.verify_notification(forged.as_bytes()), Err(GatewayError::Signature(_))));
    let mut params = form::parse(body.as_bytes()).unwrap();
    params.insert("sign".into(), D2_SIGN.replacen('C', "D", 1));
    let bad_sig = form::encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(matches!(m.verify_notification(bad_sig.as_bytes()), Err(GatewayError::Signature(_))));
    params.remove("sign");
    let unsigned = form::encode(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(matches!(m.verify_notification(unsigned.as_bytes()), Err(GatewayError::Signature(_))));

    // Genuinely signed, but for another app or seller: refused all the same (§1.7.6).
    let other_app = sandbox_for("2021000000000999", "2088000000000001").paid_notification(&d2_trade());
    assert!(is_malformed(m.verify_notification(other_app.as_bytes()), "app_id"));
    let other_seller = sandbox_for("2021000000000001", "2088000000000999").paid_notification(&d2_trade());
    assert!(is_malformed(m.verify_notification(other_seller.as_bytes()), "seller_id"));
    // Signed, but naming no seller at all: not known to be ours.
    let mut no_seller = form::parse(body.as_bytes()).unwrap();
    no_seller.remove("seller_id");
    let signed = sandbox().sign_v1(no_seller);
    let no_seller = form::encode(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    assert!(is_malformed(m.verify_notification(no_seller.as_bytes()), "seller_id"));
    // Signed by a key that is not Alipay's (our own app key, a classic misconfiguration).
    let wrong_key = Merchant::new(&settings("2021000000000001", "2088000000000001", APP_PUBLIC)).unwrap();
    assert!(matches!(wrong_key.verify_notification(body.as_bytes()), Err(GatewayError::Signature(_))));

    // Ours and valid, but not what the attempt expects.
    let unchecked = m.verify_notification(body.as_bytes()).unwrap();
    assert_eq!(
        unchecked.clone().check(OUT, Fen::new(499_999)),
        Err(Mismatch::Amount { expected: Fen::new(499_999), got: Fen::new(500_000) })
    );
    assert!(matches!(unchecked.check("T2", Fen::new(500_000)), Err(Mismatch::Trade { .. })));
}

#[test]
fn amounts_beyond_two_decimals_and_unknown_charsets_are_refused() {
    let sb = sandbox();
    let mut params = form::parse(sb.paid_notification(&d2_trade()).as_bytes()).unwrap();
    let resign = |params: &BTreeMap<String, String>| {
        let signed = sb.sign_v1(params.clone());
        form::encode(signed.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    };
    params.insert("total_amount".into(), "5000.001".into());
    assert!(is_malformed(merchant().verify_notification(resign(&params).as_bytes()), "total_amount"));
    params.insert("total_amount".into(), "5000".into()); // same amount, other spelling
    let n = merchant().verify_notification(resign(&params).as_bytes()).unwrap();
    assert!(n.check(OUT, Fen::new(500_000)).is_ok());
    params.insert("charset".into(), "ISO-8859-1".into());
    assert!(is_malformed(merchant().verify_notification(resign(&params).as_bytes()), "charset"));
    params.insert("refund_fee".into(), "100.00".into());
    params.insert("charset".into(), "utf-8".into());
    let refund = merchant().verify_notification(resign(&params).as_bytes()).unwrap();
    assert!(refund.check(OUT, Fen::new(500_000)).unwrap().is_refund());
}

/// An app whose charset is GBK gets its notifications in GBK: verified over the bytes as sent,
/// then read in the signed charset (smartwalle/alipay PR #257; yansongda/pay #167, #183).
#[test]
fn a_gbk_notification_verifies_over_its_bytes_and_reads_in_gbk() {
    let (m, sb) = (merchant(), sandbox());
    let body = sb.paid_notification_gbk(&d2_trade());
    assert!(body.contains("subject=2024%D1%A7%C4%EA%D1%A7%B7%D1"), "学年学费 in GBK: {body}");
    let n = m.verify_notification(body.as_bytes()).unwrap();
    assert_eq!(n.raw()["subject"], "2024学年学费");
    assert!(n.check(OUT, Fen::new(500_000)).unwrap().is_paid());
    // The charset is signed: relabelled as UTF-8 (which these bytes are not), it is refused.
    let mislabelled = body.replace("charset=GBK", "charset=utf-8");
    assert!(m.verify_notification(mislabelled.as_bytes()).is_err());
    // One byte of a GBK value changed: the signature fails.
    let tampered = body.replace("%D1%A7%C4%EA", "%D1%A7%C4%EB");
    assert!(matches!(m.verify_notification(tampered.as_bytes()), Err(GatewayError::Signature(_))));
}

#[test]
fn response_sign_covers_the_exact_node_text() {
    let alipay = PrivateKey::parse(ALI_PRIVATE).unwrap();
    let key = alipay.public_key();
    let node = r#"{"code": "10000","msg":"Success","subject":"学费 {\"}{\" [","out_trade_no":"T1"}"#;
    let sign = rsa2_sign(node, &alipay);
    let body = format!("{{ \"note\":\"alipay_trade_query_response\", \"alipay_trade_query_response\" : {node} ,\n\"sign\":\"{sign}\"}}");
    let verified = verify_response(Method::Query, &body, &key).unwrap();
    assert_eq!(verified["subject"], "学费 {\"}{\" [");
    // Sign first, node last: order does not matter.
    let reordered = format!(r#"{{"sign":"{sign}","alipay_trade_query_response":{node}}}"#);
    assert!(verify_response(Method::Query, &reordered, &key).is_ok());
    // Re-serialising (or any whitespace change) breaks the signature.
    let respaced = body.replace(r#""code": "10000""#, r#""code":"10000""#);
    assert!(matches!(verify_response(Method::Query, &respaced, &key), Err(GatewayError::Signature(_))));
    let twice = format!(r#"{{"alipay_trade_query_response":{node},"alipay_trade_query_response":{node},"sign":"{sign}"}}"#);
    assert!(is_malformed(verify_response(Method::Query, &twice, &key), "repeats"));
    for broken in ["", "[]", r#"{"alipay_trade_query_response":{"a":"}"#, "{\"sign\":\"x\"} trailing"] {
        assert!(matches!(verify_response(Method::Query, broken, &key), Err(GatewayError::Malformed(_))), "{broken}");
    }
}

/// The Java SDK's retry: a node whose text escapes `/` as `\/` while Alipay signed the plain
/// `/` still verifies — once, and only that way.
#[test]
fn a_response_signed_over_plain_slashes_verifies_with_its_escaped_text() {
    let alipay = PrivateKey::parse(ALI_PRIVATE).unwrap();
    let key = alipay.public_key();
    let signed_text = r#"{"code":"10000","msg":"Success","qr_code":"https://qr.alipay.com/bax01234","out_trade_no":"T1"}"#;
    let sign = rsa2_sign(signed_text, &alipay);
    let escaped = signed_text.replace('/', "\\/");
    let body = format!(r#"{{"alipay_trade_precreate_response":{escaped},"sign":"{sign}"}}"#);
    let node = verify_response(Method::Precreate, &body, &key).unwrap();
    assert_eq!(node["qr_code"], "https://qr.alipay.com/bax01234");
    // Anything else still has to match the signature.
    let changed = body.replace("bax01234", "bax09999");
    assert!(matches!(verify_response(Method::Precreate, &changed, &key), Err(GatewayError::Signature(_))));
}

#[test]
fn refund_query_answers_map_to_outcomes() {
    let (m, sb) = (merchant(), sandbox());
    let answer = |fields: serde_json::Value| {
        let mut f = json!({"out_trade_no": OUT, "out_request_no": "R1"});
        f.as_object_mut().unwrap().extend(fields.as_object().unwrap().clone());
        let body = sb.response("alipay.trade.fastpay.refund.query", &Sandbox::success(f.as_object().unwrap().clone()));
        m.parse_refund_query(OUT, "R1", &body).unwrap()
    };
    assert!(matches!(answer(json!({"refund_status": "REFUND_SUCCESS", "refund_amount": "5000.00"})), RefundOutcome::Succeeded { .. }));
    assert!(matches!(answer(json!({"refund_amount": "5000.00"})), RefundOutcome::Succeeded { .. }));
    // Received and under way: asked again later, never sent again.
    assert_eq!(answer(json!({"refund_status": "REFUND_PROCESSING"})), RefundOutcome::Pending);
    assert_eq!(answer(json!({})), RefundOutcome::NotFound);
}

#[test]
fn unsigned_responses_are_never_acted_on() {
    let m = merchant();
    let body = r#"{"alipay_trade_query_response":{"code":"10000","msg":"Success","trade_status":"TRADE_SUCCESS","total_amount":"5000.00","trade_no":"1"}}"#;
    assert!(matches!(m.parse_query(OUT, body), Err(GatewayError::Signature(m)) if m.contains("unsigned")));
    let error = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}"#;
    assert!(matches!(m.parse_close(OUT, error), Err(GatewayError::Signature(m)) if m.contains("isv.invalid-app-id")));
    // A signed error_response is verified, then refused with its sub_code.
    let signed = sandbox()
        .response("error", &json!({"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}));
    assert_eq!(
        m.parse_query(OUT, &signed),
        Err(GatewayError::Refused { code: "isv.invalid-signature".into(), message: "验签出错".into() })
    );
}

#[test]
fn precreate_round_trip_through_the_sandbox() {
    let (m, sb) = (merchant(), sandbox());
    let now = utc("2024-09-01T04:00:00Z");
    let req = m.precreate(&order(), now).unwrap();
    assert_eq!(req.method, Method::Precreate);
    let Delivery::Post { url, body } = &req.delivery else { panic!("precreate is a POST") };
    let (_, query) = url.split_once('?').unwrap();
    assert!(!query.contains("biz_content") && body.starts_with("biz_content="));
    let incoming = sb.verify_request(query.as_bytes(), body.as_bytes()).unwrap();
    assert_eq!(incoming.method, "alipay.trade.precreate");
    assert_eq!(incoming.params["timestamp"], "2024-09-01 12:00:00");
    assert_eq!(incoming.params["notify_url"], "https://pay.example.edu.cn/notify/alipay");
    assert!(!incoming.params.contains_key("return_url"));
    assert_eq!(
        req.params["biz_content"],
        r#"{"out_trade_no":"T20240901120000ABCD1234","total_amount":"5000.00","subject":"2024学年学费","product_code":"FACE_TO_FACE_PAYMENT","time_expire":"2024-09-01 12:30:00"}"#
    );
    // The QR code lives two hours at Alipay: a later expiry is capped there.
    let late = OrderRequest { time_expire: now + Duration::hours(5), ..order() };
    let capped = m.precreate(&late, now).unwrap();
    assert!(capped.params["biz_content"].contains(r#""time_expire":"2024-09-01 14:00:00""#), "{}", capped.params["biz_content"]);
    let tampered = body.replace("5000.00", "0.01");
    assert!(matches!(sb.verify_request(query.as_bytes(), tampered.as_bytes()), Err(GatewayError::Signature(_))));
    let doubled = format!("{body}&{query}");
    assert!(is_malformed(sb.verify_request(query.as_bytes(), doubled.as_bytes()), "both"));

    let qr = "https://qr.alipay.com/bax01234";
    let fields = json!({"out_trade_no": OUT, "qr_code": qr});
    let ok = sb.response(&incoming.method, &Sandbox::success(fields.as_object().unwrap().clone()));
    assert_eq!(m.parse_precreate(OUT, &ok).unwrap(), qr);
    assert!(is_malformed(m.parse_precreate("T2", &ok), "another out_trade_no"));
    let refused = sb.response(&incoming.method, &Sandbox::business_error("ACQ.TOTAL_FEE_EXCEED", "订单金额超过限额"));
    assert!(matches!(m.parse_precreate(OUT, &refused), Err(GatewayError::Refused { code, .. }) if code == "ACQ.TOTAL_FEE_EXCEED"));
}

#[test]
fn wap_pay_is_a_signed_redirect() {
    let now = utc("2024-09-01T04:00:00Z");
    let req = merchant().wap_pay(&order(), "https://pay.example.edu.cn/orders/1", now).unwrap();
    let Delivery::Redirect { url } = &req.delivery else { panic!("wap pay is a redirect") };
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, "https://openapi-sandbox.example/gateway.do");
    let incoming = sandbox().verify_request(query.as_bytes(), b"").unwrap();
    assert_eq!(incoming.method, "alipay.trade.wap.pay");
    assert_eq!(incoming.biz["product_code"], "QUICK_WAP_WAY");
    assert_eq!(incoming.biz["quit_url"], "https://pay.example.edu.cn/orders/1");
    assert_eq!(incoming.params["return_url"], "https://pay.example.edu.cn/return/alipay");
}

#[test]
fn query_and_close_answers_map_to_domain_states() {
    let (m, sb) = (merchant(), sandbox());
    let now = utc("2024-09-01T04:00:00Z");
    let Delivery::Post { url, body } = m.query(OUT, now).unwrap().delivery else { panic!() };
    let incoming = sb.verify_request(url.split_once('?').unwrap().1.as_bytes(), body.as_bytes()).unwrap();
    assert_eq!(incoming.biz["out_trade_no"], OUT);
    let reply = |method: Method, node: Value| sb.response(method.as_str(), &node);
    let trade = |status: &str, total: &str| {
        let fields = json!({"out_trade_no": OUT, "trade_no": "2024090122001400000000000001", "trade_status": status,
            "total_amount": total, "send_pay_date": "2024-09-01 12:00:09"});
        Sandbox::success(fields.as_object().unwrap().clone())
    };
    let paid = TradeState::Paid {
        trade_no: "2024090122001400000000000001".into(),
        total: Fen::new(500_000),
        paid_at: Some(utc("2024-09-01T04:00:09Z")),
    };
    assert_eq!(m.parse_query(OUT, &reply(Method::Query, trade("TRADE_SUCCESS", "5000.00"))), Ok(paid.clone()));
    assert_eq!(m.parse_query(OUT, &reply(Method::Query, trade("TRADE_FINISHED", "5000.00"))), Ok(paid));
    assert_eq!(m.parse_query(OUT, &reply(Method::Query, trade("WAIT_BUYER_PAY", ""))), Ok(TradeState::WaitBuyerPay));
    assert_eq!(m.parse_query(OUT, &reply(Method::Query, trade("TRADE_CLOSED", "5000.00"))), Ok(TradeState::Closed));
    assert!(is_malformed(m.parse_query(OUT, &reply(Method::Query, trade("TRADE_SUCCESS", "0.001"))), "total_amount"));
    let not_exist = reply(Method::Query, Sandbox::business_error(TRADE_NOT_EXIST, "交易不存在"));
    assert_eq!(m.parse_query(OUT, &not_exist), Ok(TradeState::NotFound));
    let busy = reply(Method::Query, json!({"code":"20000","msg":"Service Currently Unavailable","sub_code":"aop.unknow-error"}));
    assert!(matches!(m.parse_query(OUT, &busy), Err(GatewayError::Refused { code, .. }) if code == "aop.unknow-error"));
    // The node of another method is not this method's answer.
    assert!(is_malformed(m.parse_query(OUT, &reply(Method::Close, trade("TRADE_SUCCESS", "5000.00"))), "node"));

    let closed = reply(Method::Close, Sandbox::success(Default::default()));
    assert_eq!(m.parse_close(OUT, &closed), Ok(CloseOutcome::Closed));
    let gone = reply(Method::Close, Sandbox::business_error(TRADE_NOT_EXIST, "交易不存在"));
    assert_eq!(m.parse_close(OUT, &gone), Ok(CloseOutcome::NotExist));
    let paid = reply(Method::Close, Sandbox::business_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法"));
    assert_eq!(m.parse_close(OUT, &paid), Ok(CloseOutcome::NotClosable { sub_code: "ACQ.TRADE_STATUS_ERROR".into() }));
}

#[test]
fn builders_refuse_what_alipay_would() {
    let (m, now) = (merchant(), utc("2024-09-01T04:00:00Z"));
    let bad = [
        OrderRequest { amount: Fen::ZERO, ..order() },
        OrderRequest { amount: Fen::new(10_000_000_001), ..order() },
        OrderRequest { subject: "学费&住宿费", ..order() },
        OrderRequest { time_expire: now, ..order() },
    ];
    for o in bad {
        assert!(matches!(m.precreate(&o, now), Err(GatewayError::Malformed(_))), "{o:?}");
    }
    assert!(m.query("", now).is_err() && m.close(&"x".repeat(65), now).is_err());
    assert_eq!(Method::from_name("alipay.trade.close"), Some(Method::Close));
    assert_eq!(response_node_name("alipay.trade.wap.pay"), "alipay_trade_wap_pay_response");
}

/// The registry builds Alipay from the settings JSON operators keep in its secret; a broken
/// setting is named without quoting any value (a value may be a key).
#[test]
fn the_registry_builds_alipay_from_its_settings_json_and_names_what_is_wrong() {
    let wiring = crate::Wiring { http: reqwest::Client::new(), order_page: Some("https://pay.example.edu.cn/order.html".into()) };
    let alipay = crate::REGISTRY.iter().find(|r| r.channel == Channel::Alipay).expect("registered");
    let mut cfg = json!({
        "gateway_url": "https://openapi-sandbox.example/gateway.do",
        "app_id": "2021000000000001",
        "seller_id": "2088000000000001",
        "app_private_key": APP_PRIVATE,
        "alipay_public_key": ALI_PUBLIC,
        "notify_url": "https://pay.example.edu.cn/notify/alipay",
        "return_url": "https://pay.example.edu.cn/return/alipay",
    });
    let only = |json: &Value| crate::Payments::configure(|r| (r.channel == Channel::Alipay).then(|| json.to_string()), &wiring);
    assert_eq!(only(&cfg).map(|p| p.channels()).unwrap(), vec![Channel::Alipay]);
    assert_eq!((alipay.build)(&cfg.to_string(), &wiring).unwrap().channel(), Channel::Alipay);

    cfg["app_private_key"] = json!(12345);
    let (setting, err) = only(&cfg).err().expect("a number is not a key");
    assert_eq!(setting, "ALIPAY_MERCHANT");
    assert!(!err.to_string().contains("12345"), "{err}");
    cfg.as_object_mut().unwrap().remove("app_private_key");
    let (_, err) = only(&cfg).err().expect("the key is required");
    assert!(err.to_string().contains("missing field `app_private_key`"), "{err}");
}

/// The bill file is unsigned: it is fetched only from an allowed host, and over https.
#[test]
fn a_bill_link_is_fetched_only_from_alipays_host_over_https() {
    let m = merchant();
    let doc = "http://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=20261129";
    assert_eq!(
        m.bill_url(doc).unwrap(),
        "https://dwbillcenter.alipay.com/downloadBillFile.resource?bizType=trade&fileType=csv.zip&bizDates=20261129"
    );
    assert!(m.bill_url("https://DWBILLCENTER.alipay.com/x").is_ok());
    for bad in [
        "https://evil.example/downloadBillFile.resource",
        "https://dwbillcenter.alipay.com.evil.example/x",
        "https://user:pw@dwbillcenter.alipay.com/x",
        "ftp://dwbillcenter.alipay.com/x",
        "file:///etc/passwd",
        "http://169.254.169.254/latest/meta-data/",
        "not a url",
    ] {
        assert!(is_malformed(m.bill_url(bad), "bill_download_url"), "{bad}");
    }
    // A loopback host (the local sandbox) keeps http when listed; nothing else does.
    let local = Merchant::new(&MerchantSettings {
        bill_hosts: vec!["127.0.0.1".into()],
        ..settings("2021000000000001", "2088000000000001", ALI_PUBLIC)
    })
    .unwrap();
    assert_eq!(local.bill_url("http://127.0.0.1:4000/bill/x.zip").unwrap(), "http://127.0.0.1:4000/bill/x.zip");
    assert!(local.bill_url(doc).is_err(), "the listed hosts replace the default");
}
