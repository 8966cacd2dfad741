//! Known-answer tests (gateways.md §7: V1, V2, V4, V5, D4) and behaviour tests.
//! Key material: TEST-ONLY keys published in wechatpay-apiv3/wechatpay-go and
//! wechatpay-apiv3/wechatpay-java; files and exact sources in `shared/gateways/tests/fixtures/wechat/README.md`.

use super::*;
use crate::TradeState;
use crate::domain::{Fen, OutTradeNo};
use chrono::TimeZone;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

/// wechatpay-go `core/auth/signers/sha256withrsa_signer_test.go` (`testPrivateKeyStr`), test-only;
/// its `TESTING KEY` label is renamed before loading, as the Go test does.
fn go_private_key() -> String {
    include_str!("../../tests/fixtures/wechat/go_test_private_key.pem").replace("TESTING KEY", "PRIVATE KEY")
}
/// Public half of the key above, extracted with `openssl x509 -pubkey -noout` from the test
/// certificate (serial D7CE59D1F522D701) in wechatpay-go `core/notify/notify_test.go`; test-only.
const GO_PUBLIC_KEY: &str = include_str!("../../tests/fixtures/wechat/go_test_public_key.pem");
/// wechatpay-java `core/src/test/resources/wechat_pay_{private,public}_key.pem`, test-only.
const WXP_PRIVATE_KEY: &str = include_str!("../../tests/fixtures/wechat/java_wechat_pay_private_key.pem");
const WXP_PUBLIC_KEY: &str = include_str!("../../tests/fixtures/wechat/java_wechat_pay_public_key.pem");
/// wechatpay-java `core/src/test/resources/merchant_private_key.pem` (public half derived with
/// `openssl pkey -pubout`), test-only; here the rotated second WeChat Pay key.
const ROTATED_PRIVATE_KEY: &str = include_str!("../../tests/fixtures/wechat/java_merchant_private_key.pem");
const ROTATED_PUBLIC_KEY: &str = include_str!("../../tests/fixtures/wechat/java_merchant_public_key.pem");

const KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000000";
const ROTATED_KEY_ID: &str = "PUB_KEY_ID_0114232134912410000000000001";
const API_V3_KEY: &str = "campusPayTestOnlyApiV3Key0123456";
const NO: &str = "T20240901120000ABCD1234";
static OTN: LazyLock<OutTradeNo> = LazyLock::new(|| OutTradeNo::parse(NO).expect("valid out-trade-no"));
static OTHER: LazyLock<OutTradeNo> = LazyLock::new(|| OutTradeNo::parse("T20240901120000ZZZZ9999").expect("valid"));

fn at(ts: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(ts, 0).single().expect("valid timestamp")
}
fn now() -> DateTime<Utc> {
    at(1_725_163_200) // 2024-09-01 12:00:00 +08:00
}

fn merchant_settings() -> MerchantSettings {
    MerchantSettings {
        mchid: "1900000001".into(),
        appid: "wxd678efh567hg6787".into(),
        serial_no: "F5765756002FDD77".into(),
        private_key_pem: go_private_key(),
        api_v3_key: API_V3_KEY.into(),
        notify_url: "https://pay.example.edu.cn/notify/wechat".into(),
        wechatpay_public_keys: vec![
            PublicKeySetting { id: KEY_ID.into(), pem: WXP_PUBLIC_KEY.into() },
            PublicKeySetting { id: ROTATED_KEY_ID.into(), pem: ROTATED_PUBLIC_KEY.into() },
        ],
        jsapi: None,
    }
}
fn merchant() -> Merchant {
    Merchant::new(&merchant_settings()).expect("merchant config")
}

fn sandbox_settings() -> SandboxSettings {
    SandboxSettings {
        mchid: "1900000001".into(),
        appid: "wxd678efh567hg6787".into(),
        merchant_serial_no: "F5765756002FDD77".into(),
        merchant_public_key_pem: GO_PUBLIC_KEY.into(),
        key_id: KEY_ID.into(),
        private_key_pem: WXP_PRIVATE_KEY.into(),
        api_v3_key: API_V3_KEY.into(),
    }
}
fn sandbox() -> Sandbox {
    Sandbox::new(&sandbox_settings()).expect("sandbox config")
}

fn paid_tx() -> SandboxTransaction {
    SandboxTransaction {
        out_trade_no: NO.into(),
        transaction_id: Some("4200000000202409010000000001".into()),
        trade_type: "NATIVE".into(),
        trade_state: TradeStatus::Success,
        total: Fen::new(500_000),
        success_time: Some(now()),
    }
}

fn order() -> OrderRequest<'static> {
    OrderRequest {
        out_trade_no: &OTN,
        amount: Fen::new(500_000),
        subject: "2024学年学费",
        time_expire: at(1_725_165_000), // 12:30 Beijing
    }
}

#[test]
fn v4_aes_256_gcm_known_answer() {
    let key = ApiV3Key::new("a7cde1ZJB1kG2e7VfTs3jQzaWizur8Gb").unwrap();
    let ct = key.seal("uluk4a9R25RW", "associatedData", b"message").unwrap();
    assert_eq!(ct, "ulwSiIajGClcvcOYvOQ7+l+0PAbzzwI=");
    assert_eq!(key.open("uluk4a9R25RW", "associatedData", &ct).unwrap(), b"message");
    assert!(key.open("uluk4a9R25RW", "otherData", &ct).is_err());
}

#[test]
fn v5_aes_128_gcm_known_answer() {
    let plain = aead_open(b"testAPIv3Key0000", "wCq51qZv4Yfg", "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8", "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC");
    assert_eq!(plain.unwrap(), b"Hello World");
}

#[test]
fn v2_sha256withrsa_known_answer() {
    let sig = PrivateKey::from_pem(&go_private_key()).unwrap().sign(b"source").unwrap();
    let expected = "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6\
        pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOh\
        uH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwf\
        LpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg==";
    assert_eq!(sig, expected);
    assert!(PublicKey::from_pem(GO_PUBLIC_KEY).unwrap().verify(b"source", expected).is_ok());
}

#[test]
fn d4_native_request_known_answer() {
    let req =
        merchant().native_order(&order(), &Stamp { timestamp: 1_725_163_200, nonce: "593BEC0C930BF1AFEB40B4A08C8FB242".into() }).unwrap();
    assert_eq!((req.method, req.path.as_str()), ("POST", "/v3/pay/transactions/native"));
    assert_eq!(
        req.body,
        r#"{"appid":"wxd678efh567hg6787","mchid":"1900000001","description":"2024学年学费","out_trade_no":"T20240901120000ABCD1234","time_expire":"2024-09-01T12:30:00+08:00","notify_url":"https://pay.example.edu.cn/notify/wechat","amount":{"total":500000,"currency":"CNY"}}"#
    );
    let signature = "Y88VKk03cJJTT9xBZfavBKDEyb4Cb7N7SX5Na7exvjZAsi5C3ydVN2z8nb7v98vFisXe6nAWNmkkTdsudthupWjj4oiMCULJCIEEuEpWOgzcBHQ/LLRolLvj45tz34fUA31qBhxFkEnCFRM7Lx0D8qaIIUR6Zro6s8ohqfajOghNle/WcybXtY31hqnKZE5mucZ3EQ4MXlohG75gDxJAPmaxFSW+XB5iI6ulHw35VeywP6zFL2YJP1Pn+H/fnzYVulWSqQGIbaYVMouEeV/DX4gvQD+iVJgavi+MwIYCLrCJqOvqk4KLfsoVOgd1LAL+kOvizvSl9shs0H5QW4Go4w==";
    assert_eq!(
        req.headers.get("authorization").unwrap(),
        format!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000001",nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",signature="{signature}",timestamp="1725163200",serial_no="F5765756002FDD77""#
        )
    );
    assert_eq!(req.headers.get("Wechatpay-Serial"), Some(KEY_ID));
    assert_eq!(req.headers.get("Content-Type"), Some("application/json"));
}

/// V1: wechatpay-go `core/notify/notify_test.go` `TestHandler_ParseNotifyRequest`, with its
/// 16-byte (AES-128) test APIv3 key, so the resource is opened with the test-only helper.
#[test]
fn v1_notification_known_answer() {
    let keys = WechatPayKeys::new([("D7CE59D1F522D701", GO_PUBLIC_KEY)]).unwrap();
    let signature = "tJHIiIS9eB2hAYstmAmbbD3ZE5LiIm/Ug5tuL4fC0YOFRWIHV39UFIZXC0e9Wl6lBu6sKvkqDkzpqzBsVHyXF\
        lbYZTOQrVdG4b6LfTnK4mikv9++ixJMd3vTf2yCqvBkh98zs3Ds5zsYQakzbcwhmw4fMJs4nPLws28H0UW9FjDR//rxELLwXvV1VEA1I\
        BLX70xptjL8hrfUjEE8kkry6yNJTHZRU8CAc7qHli2Ng1V1qb9ARbK8A3ThmFmPQvRGrapI/jS2laKKgYUmfdEdkNO6B2Cke5e8VTxY4\
        06ArAmQ90GAihDwIcb16TQMnzCMBoutnwZKNiKRACrFmtxw2Q==";
    let headers: Headers = [
        ("Wechatpay-Nonce", "EcZ9Cmy4Xyx1i6RlJQzLcCyEqDa26NBz"),
        ("Wechatpay-Timestamp", "1624523846"),
        ("Wechatpay-Serial", "D7CE59D1F522D701"),
        ("Wechatpay-Signature", signature),
    ]
    .into_iter()
    .collect();
    let ciphertext = "YDS3lKPaC4Y52Gf3uhft5qUBlIa8b428AWTtTauHQfQrRw+X1WpiuHIDy0vo1Vd6VEq67aVyqPdDYMkRVSDaZL3iZt\
        tevRMOoPKMifozg6XPWjIZumks/GpT48lI4NizyeaqLBokNebthah3o1H76qSlO9NkDjp9bzmKLEYYH9TEklFUpsvPqOTOcgSLgh21YJXYR\
        7dEBXFgRLiNIKRgO5JdXh1hccRUAlyVWxE54PXpnQ==";
    let body = format!(
        r#"{{"id":"3119dfba-e649-5eec-ab1e-3412bc4d2e17","create_time":"2021-06-24T16:37:26+08:00","resource_type":"encrypt-resource","event_type":"PAYSCORE.USER_OPEN_SERVICE","summary":"签约成功","resource":{{"original_type":"payscore","algorithm":"AEAD_AES_256_GCM","ciphertext":"{ciphertext}","associated_data":"payscore","nonce":"Kj7QIyUiYx1q"}}}}"#
    );
    assert_eq!(keys.verify(&headers, body.as_bytes(), at(1_624_523_846)), Ok(()));
    assert!(keys.verify(&headers, body.as_bytes(), at(1_624_523_846 + 300)).is_err());
    let mut altered = body.clone().into_bytes();
    altered.insert(1, b' '); // whitespace change: a re-serialised body no longer verifies (§2.7.1)
    assert!(keys.verify(&headers, &altered, at(1_624_523_846)).is_err());
    let plain = aead_open(b"testMchAPIv3Key0", "Kj7QIyUiYx1q", "payscore", ciphertext).unwrap();
    assert_eq!(
        String::from_utf8(plain).unwrap(),
        r#"{"mchid":"1234567890","appid":"054aa7d7a2a54ab5898df65bd96f001c","create_time":"2020-06-30T12:12:00+08:00","out_contract_code":"21640bdbd08e473e828f3206a2741c6e"}"#
    );
}

fn signed(body: &str, ts: i64) -> Headers {
    sandbox().sign_response(body.as_bytes(), &Stamp { timestamp: ts, nonce: "N0nce".into() }, "req-1").unwrap()
}

#[test]
fn response_round_trip_and_rejections() {
    let m = merchant();
    let body = r#"{"code_url":"weixin://wxpay/bizpayurl?pr=abc"}"#;
    let h = signed(body, now().timestamp());
    assert_eq!(h.get("Request-ID"), Some("req-1"));
    assert_eq!(h.get("wechatpay-signature-type"), Some(SIGNATURE_TYPE));
    assert_eq!(m.parse_order_response(200, &h, body.as_bytes(), now()).unwrap(), "weixin://wxpay/bizpayurl?pr=abc");
    let h5 = r#"{"h5_url":"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}"#;
    let h5_url = m.parse_order_response(200, &signed(h5, now().timestamp()), h5.as_bytes(), now()).unwrap();
    assert!(h5_url.ends_with("prepay_id=wx1"));
    // lower-cased names, as API Gateway delivers them
    let lower: Headers = h.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned())).collect();
    assert_eq!(m.verify(&lower, body.as_bytes(), now()), Ok(()));
    // 204 close: the message ends with an empty body line
    assert_eq!(m.parse_close_response(204, &signed("", now().timestamp()), b"", now()), Ok(CloseAnswer::Closed));
    // Only a signed 204 closes; three refusals mean nothing is left to close; every other
    // answer keeps the attempt open, WeChat's 202 USER_PAYING among them.
    let close = |status: u16, body: &str| m.parse_close_response(status, &signed(body, now().timestamp()), body.as_bytes(), now());
    for code in ["ORDER_CLOSED", "ORDER_NOT_EXIST", "ORDERPAID"] {
        let status = if code == "ORDER_NOT_EXIST" { 404 } else { 400 };
        assert_eq!(close(status, &format!(r#"{{"code":"{code}","message":"x"}}"#)), Ok(CloseAnswer::NothingToClose(code.into())));
    }
    for (status, body, code) in [
        (202, r#"{"code":"USER_PAYING","message":"用户支付中，需要输入密码"}"#, "USER_PAYING"),
        (200, "", "HTTP_200"),
        (500, r#"{"code":"SYSTEM_ERROR","message":"系统异常，请稍后重试"}"#, "SYSTEM_ERROR"),
        (429, r#"{"code":"FREQUENCY_LIMITED","message":"频率超限"}"#, "FREQUENCY_LIMITED"),
        (401, r#"{"code":"SIGN_ERROR","message":"签名错误"}"#, "SIGN_ERROR"),
        (502, "<html>bad gateway</html>", "HTTP_502"),
    ] {
        assert!(matches!(close(status, body), Err(GatewayError::Refused { code: c, .. }) if c == code), "{status} {code} must not close");
    }
    assert!(
        matches!(m.parse_close_response(204, &signed("", now().timestamp() - 600), b"", now()), Err(GatewayError::Signature(_))),
        "a stale 204 is not trusted"
    );

    let rejected = |h: &Headers, b: &str, at: DateTime<Utc>| match m.verify(h, b.as_bytes(), at) {
        Err(GatewayError::Signature(why)) => why,
        other => panic!("expected a signature error, got {other:?}"),
    };
    assert!(rejected(&h, body, now() + chrono::Duration::minutes(6)).contains("5-minute"));
    assert!(rejected(&h, body, now() - chrono::Duration::minutes(6)).contains("5-minute"));
    assert_eq!(m.verify(&h, body.as_bytes(), now() + chrono::Duration::minutes(4)), Ok(()));
    assert!(rejected(&h, &body.replace("abc", "abd"), now()).contains("does not verify"));
    let mut bad = h.clone();
    let sig = h.get("Wechatpay-Signature").unwrap();
    bad.insert("Wechatpay-Signature", format!("{}A{}", &sig[..10], &sig[11..]));
    assert!(rejected(&bad, body, now()).contains("signature"));
    bad.insert("Wechatpay-Signature", format!("WECHATPAY/SIGNTEST/{sig}"));
    assert!(rejected(&bad, body, now()).contains("probe"));
    let mut bad = h.clone();
    bad.insert("Wechatpay-Serial", "PUB_KEY_ID_0000000000000000000000000099");
    assert!(rejected(&bad, body, now()).contains("unknown Wechatpay-Serial"));
    // a non-2xx answer is a refusal, whatever its headers
    let err = m.parse_order_response(400, &Headers::new(), br#"{"code":"PARAM_ERROR","message":"bad"}"#, now());
    assert_eq!(err, Err(GatewayError::Refused { code: "PARAM_ERROR".into(), message: "bad".into() }));
}

#[test]
fn rotated_key_is_accepted_by_its_id() {
    let rotated =
        Sandbox::new(&SandboxSettings { key_id: ROTATED_KEY_ID.into(), private_key_pem: ROTATED_PRIVATE_KEY.into(), ..sandbox_settings() })
            .unwrap();
    let h = rotated.sign_response(b"{}", &Stamp::fresh(now()), "r").unwrap();
    assert_eq!(merchant().verify(&h, b"{}", now()), Ok(()));
    // the rotated key's signature under the current key's id fails
    let mut wrong = h.clone();
    wrong.insert("Wechatpay-Serial", KEY_ID);
    assert!(merchant().verify(&wrong, b"{}", now()).is_err());
}

#[test]
fn notification_round_trip_and_attempt_check() {
    let n = sandbox().payment_notification(&paid_tx(), "EV-1", now()).unwrap();
    assert!(n.body.contains(r#""associated_data":"transaction""#));
    let unchecked = merchant().parse_notification(&n.headers, n.body.as_bytes(), now()).unwrap();
    assert_eq!((unchecked.id(), unchecked.out_trade_no()), ("EV-1", NO));
    assert_eq!(
        unchecked.clone().check(&OTN, Fen::new(499_999)),
        Err(Mismatch::Amount { expected: Fen::new(499_999), got: Fen::new(500_000) })
    );
    assert!(matches!(unchecked.clone().check(&OTHER, Fen::new(500_000)), Err(Mismatch::Trade { .. })));
    let ok = unchecked.check(&OTN, Fen::new(500_000)).unwrap();
    assert!(ok.is_paid());
    assert_eq!(ok.event_type, "TRANSACTION.SUCCESS");
    assert_eq!(ok.transaction_id, "4200000000202409010000000001");
    assert_eq!((ok.success_time, ok.create_time, ok.payer_total), (Some(now()), now(), Some(Fen::new(500_000))));
    // a notification signed 6 minutes ago is stale
    let late = merchant().parse_notification(&n.headers, n.body.as_bytes(), now() + chrono::Duration::minutes(6));
    assert!(matches!(late, Err(GatewayError::Signature(_))));
}

#[test]
fn foreign_mchid_or_appid_is_rejected() {
    for settings in [
        SandboxSettings { mchid: "1900000002".into(), ..sandbox_settings() },
        SandboxSettings { appid: "wx0000000000000000".into(), ..sandbox_settings() },
    ] {
        let n = Sandbox::new(&settings).unwrap().payment_notification(&paid_tx(), "EV-2", now()).unwrap();
        let err = merchant().parse_notification(&n.headers, n.body.as_bytes(), now()).unwrap_err();
        assert!(matches!(err, GatewayError::Malformed(ref m) if m.contains("not ours")), "{err:?}");
    }
}

#[test]
fn tampered_ciphertext_fails_aead_even_when_resigned() {
    let n = sandbox().payment_notification(&paid_tx(), "EV-3", now()).unwrap();
    let mut env: serde_json::Value = serde_json::from_str(&n.body).unwrap();
    let ct = env["resource"]["ciphertext"].as_str().unwrap().to_owned();
    let flipped = format!("{}{}{}", &ct[..4], if &ct[4..5] == "A" { "B" } else { "A" }, &ct[5..]);
    env["resource"]["ciphertext"] = flipped.into();
    let body = env.to_string();
    let h = sandbox().sign_response(body.as_bytes(), &Stamp::fresh(now()), "r").unwrap();
    let err = merchant().parse_notification(&h, body.as_bytes(), now()).unwrap_err();
    assert_eq!(err, GatewayError::Signature("resource failed AEAD authentication".into()));
}

#[test]
fn authorization_round_trip() {
    let (m, s) = (merchant(), sandbox());
    let req = m.native_order(&order(), &Stamp::fresh(now())).unwrap();
    let auth = s.verify_authorization(req.method, &req.path, &req.headers, req.body.as_bytes(), now()).unwrap();
    assert_eq!((auth.mchid.as_str(), auth.serial_no.as_str(), auth.timestamp), ("1900000001", "F5765756002FDD77", now().timestamp()));
    let tampered = req.body.replace("500000", "1");
    assert!(s.verify_authorization(req.method, &req.path, &req.headers, tampered.as_bytes(), now()).is_err());
    assert!(s.verify_authorization("POST", "/v3/pay/transactions/h5", &req.headers, req.body.as_bytes(), now()).is_err());
    let stale = now() + chrono::Duration::minutes(6);
    assert!(s.verify_authorization(req.method, &req.path, &req.headers, req.body.as_bytes(), stale).is_err());
    let other = Sandbox::new(&SandboxSettings { merchant_serial_no: "0123456789ABC".into(), ..sandbox_settings() }).unwrap();
    assert!(other.verify_authorization(req.method, &req.path, &req.headers, req.body.as_bytes(), now()).is_err());

    let q = m.query_order(&OTN, &Stamp::fresh(now())).unwrap();
    assert_eq!(
        (q.method, q.path.as_str(), q.body.as_str()),
        ("GET", "/v3/pay/transactions/out-trade-no/T20240901120000ABCD1234?mchid=1900000001", "")
    );
    assert!(s.verify_authorization("GET", &q.path, &q.headers, b"", now()).is_ok());
    let c = m.close_order(&OTN, &Stamp::fresh(now())).unwrap();
    assert_eq!(
        (c.path.as_str(), c.body.as_str()),
        ("/v3/pay/transactions/out-trade-no/T20240901120000ABCD1234/close", r#"{"mchid":"1900000001"}"#)
    );
    assert!(s.verify_authorization("POST", &c.path, &c.headers, c.body.as_bytes(), now()).is_ok());
}

#[test]
fn h5_order_carries_scene_info() {
    let req = merchant().h5_order(&order(), IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), &Stamp::fresh(now())).unwrap();
    assert_eq!(req.path, "/v3/pay/transactions/h5");
    assert!(req.body.ends_with(
        r#""amount":{"total":500000,"currency":"CNY"},"scene_info":{"payer_client_ip":"203.0.113.7","h5_info":{"type":"Wap"}}}"#
    ));
    let bad = OrderRequest { subject: "", ..order() };
    assert!(merchant().native_order(&bad, &Stamp::fresh(now())).is_err());
    let zero = OrderRequest { amount: Fen::ZERO, ..order() };
    assert!(merchant().native_order(&zero, &Stamp::fresh(now())).is_err());
}

#[test]
fn query_answers_map_to_trade_states() {
    let (m, s) = (merchant(), sandbox());
    let query = |tx: SandboxTransaction| {
        let body = s.transaction_body(&tx);
        m.parse_query_response(&OTN, 200, &signed(&body, now().timestamp()), body.as_bytes(), now())
    };
    assert_eq!(
        query(paid_tx()),
        Ok(TradeState::Paid { gateway_trade_no: "4200000000202409010000000001".into(), amount: Fen::new(500_000), paid_at: now() })
    );
    let unpaid = |trade_state| SandboxTransaction { trade_state, transaction_id: None, success_time: None, ..paid_tx() };
    assert_eq!(query(unpaid(TradeStatus::NotPay)), Ok(TradeState::Pending));
    assert_eq!(query(unpaid(TradeStatus::UserPaying)), Ok(TradeState::Pending));
    assert_eq!(query(unpaid(TradeStatus::Closed)), Ok(TradeState::Closed));
    assert_eq!(query(unpaid(TradeStatus::Revoked)), Ok(TradeState::Closed));
    assert_eq!(query(unpaid(TradeStatus::PayError)), Ok(TradeState::Pending));
    assert_eq!(query(SandboxTransaction { trade_state: TradeStatus::Refund, ..paid_tx() }), Ok(TradeState::Refunded));
    assert!(query(unpaid(TradeStatus::Success)).is_err()); // paid without transaction_id

    let not_found = error_body("ORDER_NOT_EXIST", "订单不存在");
    let h = signed(&not_found, now().timestamp());
    assert_eq!(m.parse_query_response(&OTN, 404, &h, not_found.as_bytes(), now()), Ok(TradeState::NotFound));
    assert!(m.parse_query_response(&OTN, 404, &Headers::new(), not_found.as_bytes(), now()).is_err());
    let body = s.transaction_body(&paid_tx());
    let other = m.parse_query_response(&OTHER, 200, &signed(&body, now().timestamp()), body.as_bytes(), now());
    assert!(other.is_err());
    let refusal = m.parse_query_response(&OTN, 500, &Headers::new(), b"<html>", now());
    assert_eq!(refusal, Err(GatewayError::Refused { code: "HTTP_500".into(), message: String::new() }));
}

#[test]
fn configuration_is_validated() {
    let bad = |s: MerchantSettings| matches!(Merchant::new(&s), Err(GatewayError::Key(_)));
    assert!(bad(MerchantSettings { api_v3_key: "testMchAPIv3Key0".into(), ..merchant_settings() }));
    assert!(bad(MerchantSettings { private_key_pem: "not a key".into(), ..merchant_settings() }));
    assert!(bad(MerchantSettings { wechatpay_public_keys: vec![], ..merchant_settings() }));
    assert!(bad(MerchantSettings { notify_url: "https://pay.example.edu.cn/n?x=1".into(), ..merchant_settings() }));
    let twice = PublicKeySetting { id: KEY_ID.into(), pem: WXP_PUBLIC_KEY.into() };
    assert!(bad(MerchantSettings { wechatpay_public_keys: vec![twice.clone(), twice], ..merchant_settings() }));
    let printed = format!("{:?} {:?}", merchant_settings(), merchant());
    assert!(!printed.contains(API_V3_KEY) && !printed.contains("PRIVATE KEY"));
}

#[test]
fn notify_answers() {
    assert_eq!(NotifyAnswer::ack(), NotifyAnswer { status: 204, body: String::new() });
    let fail = NotifyAnswer::fail("失败");
    assert_eq!((fail.status, fail.body.as_str()), (500, r#"{"code":"FAIL","message":"失败"}"#));
    assert!(NotifyAnswer::is_ack(200) && NotifyAnswer::is_ack(204) && !NotifyAnswer::is_ack(500));
}

fn refund_of(tx: &SandboxTransaction) -> crate::wechat::SandboxRefund {
    crate::wechat::SandboxRefund {
        out_trade_no: tx.out_trade_no.clone(),
        transaction_id: tx.transaction_id.clone().unwrap(),
        out_refund_no: format!("R{NO}"),
        refund_id: "50300000000000000000000001".into(),
        status: "SUCCESS".into(),
        total: tx.total,
        refund: tx.total,
        created_at: now(),
        success_time: Some(now()),
    }
}

#[test]
fn refund_notification_round_trip_with_aad_refund_and_no_mixing_with_payments() {
    let r = refund_of(&paid_tx());
    let n = sandbox().refund_notification(&r, "EV-R1", now()).unwrap();
    assert!(Merchant::is_refund_notification(n.body.as_bytes()));
    let got = merchant().parse_refund_notification(&n.headers, n.body.as_bytes(), now()).unwrap();
    assert_eq!((got.out_refund_no.as_str(), got.refund_status.as_str(), got.refund), (r.out_refund_no.as_str(), "SUCCESS", r.total));
    assert_eq!(got.event_type, "REFUND.SUCCESS");
    // A refund notification is not a payment, nor a payment a refund.
    assert!(merchant().parse_notification(&n.headers, n.body.as_bytes(), now()).is_err());
    let pay = sandbox().payment_notification(&paid_tx(), "EV-P1", now()).unwrap();
    assert!(!Merchant::is_refund_notification(pay.body.as_bytes()));
    assert!(merchant().parse_refund_notification(&pay.headers, pay.body.as_bytes(), now()).is_err());
    // The AAD is authenticated: a resource re-labelled `transaction` no longer opens.
    let relabelled = n.body.replace("\"associated_data\":\"refund\"", "\"associated_data\":\"transaction\"");
    let resigned = signed(&relabelled, now().timestamp());
    assert!(merchant().parse_refund_notification(&resigned, relabelled.as_bytes(), now()).is_err());
}

#[test]
fn refund_answers_map_to_outcomes() {
    use crate::RefundOutcome;
    let r = refund_of(&paid_tx());
    let answer = |status: u16, body: &str| {
        let h = signed(body, now().timestamp());
        merchant().parse_refund_response(&r.out_refund_no, status, &h, body.as_bytes(), now())
    };
    let processing = sandbox().refund_body(&crate::wechat::SandboxRefund { status: "PROCESSING".into(), success_time: None, ..r.clone() });
    assert_eq!(answer(200, &processing), Ok(RefundOutcome::Pending));
    assert!(matches!(answer(200, &sandbox().refund_body(&r)), Ok(RefundOutcome::Succeeded { .. })));
    let closed = sandbox().refund_body(&crate::wechat::SandboxRefund { status: "CLOSED".into(), ..r.clone() });
    assert!(matches!(answer(200, &closed), Ok(RefundOutcome::Refused { .. })));
    // ABNORMAL is not final (wechatpay-go refunddomestic): the merchant handles it, then SUCCESS.
    let abnormal = sandbox().refund_body(&crate::wechat::SandboxRefund { status: "ABNORMAL".into(), success_time: None, ..r.clone() });
    assert_eq!(answer(200, &abnormal), Ok(RefundOutcome::Abnormal { code: "ABNORMAL".into() }));
    assert_eq!(answer(404, &error_body("RESOURCE_NOT_EXISTS", "退款单不存在")), Ok(RefundOutcome::NotFound));
    assert_eq!(
        answer(403, &error_body("NOT_ENOUGH", "余额不足")),
        Ok(RefundOutcome::Refused { code: "NOT_ENOUGH".into(), message: "余额不足".into() })
    );
    // A server error leaves the outcome unknown: query, never conclude.
    assert!(answer(500, &error_body("SYSTEM_ERROR", "系统错误")).is_err());
}

/// A day without a bill: a signed `NO_STATEMENT_EXIST` is an empty day; an unsigned one too
/// (whether WeChat Pay signs its 4xx answers is unconfirmed), with a warning; a badly signed one,
/// or an unsigned answer of any other kind, is an error.
#[test]
fn a_day_without_a_bill_signed_or_not() {
    use crate::wechat::statement::BillAnswer;
    let m = merchant();
    let no_bill = error_body("NO_STATEMENT_EXIST", "No statement exist");
    let signed_headers = signed(&no_bill, now().timestamp());
    assert_eq!(m.parse_trade_bill(400, &signed_headers, no_bill.as_bytes(), now()), Ok(BillAnswer::NoBill));
    assert_eq!(m.parse_trade_bill(400, &Headers::new(), no_bill.as_bytes(), now()), Ok(BillAnswer::NoBillUnsigned));
    let forged = signed(&error_body("NO_STATEMENT_EXIST", "x"), now().timestamp());
    assert!(matches!(m.parse_trade_bill(400, &forged, no_bill.as_bytes(), now()), Err(GatewayError::Signature(_))));
    let other = error_body("PARAM_ERROR", "bill_date 不正确");
    assert!(matches!(m.parse_trade_bill(400, &Headers::new(), other.as_bytes(), now()), Err(GatewayError::Signature(_))));
    assert!(matches!(
        m.parse_trade_bill(400, &signed(&other, now().timestamp()), other.as_bytes(), now()),
        Err(GatewayError::Refused { code, .. }) if code == "PARAM_ERROR"
    ));
}

fn jsapi_merchant() -> Merchant {
    let jsapi = crate::wechat::JsapiSettings {
        app_secret: "0123456789abcdef0123456789abcdef".into(),
        oauth_base: "https://open.weixin.qq.com".into(),
        sns_base: "https://api.weixin.qq.com/".into(),
    };
    Merchant::new(&MerchantSettings { jsapi: Some(jsapi), ..merchant_settings() }).unwrap()
}

/// JSAPI inside WeChat: the snsapi_base OAuth URLs, the openid of the token answer, the order
/// with `payer.openid`, and the bridge parameters signed as wechatpay-go's
/// `PrepayWithRequestPayment` signs them (verified here by the sandbox with the merchant key).
#[test]
fn jsapi_oauth_order_and_signed_bridge_parameters() {
    let m = jsapi_merchant();
    assert!(m.jsapi_enabled() && !merchant().jsapi_enabled());
    let url = m.oauth_authorize_url("https://pay.example.edu.cn/api/wechat/payer", "st4te").unwrap();
    assert_eq!(
        url,
        "https://open.weixin.qq.com/connect/oauth2/authorize?appid=wxd678efh567hg6787&redirect_uri=https%3A%2F%2Fpay.example.edu.cn%2Fapi%2Fwechat%2Fpayer&response_type=code&scope=snsapi_base&state=st4te#wechat_redirect"
    );
    assert!(m.oauth_authorize_url("https://x/", "a&b=c").is_err(), "a state is plain");
    assert!(merchant().oauth_authorize_url("https://x/", "s").is_err(), "no JSAPI settings");
    let token_url = m.oauth_token_url("061abc_DEF").unwrap();
    assert!(token_url.starts_with("https://api.weixin.qq.com/sns/oauth2/access_token?appid=wxd678efh567hg6787&secret="));
    assert!(token_url.ends_with("&code=061abc_DEF&grant_type=authorization_code"));
    assert!(m.oauth_token_url("x&secret=y").is_err());
    let ok =
        br#"{"access_token":"ACCESS","expires_in":7200,"refresh_token":"R","openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o","scope":"snsapi_base"}"#;
    assert_eq!(m.parse_oauth_token(ok).unwrap(), "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    let used = br#"{"errcode":40163,"errmsg":"code been used"}"#;
    assert!(matches!(m.parse_oauth_token(used), Err(GatewayError::Refused { code, .. }) if code == "40163"));
    // The settings never show the AppSecret.
    let shown = format!(
        "{:?}",
        MerchantSettings {
            jsapi: Some(crate::wechat::JsapiSettings { app_secret: "S3CR3T".into(), oauth_base: String::new(), sns_base: String::new() }),
            ..merchant_settings()
        }
        .jsapi
    );
    assert!(!shown.contains("S3CR3T"), "{shown}");

    let no = OutTradeNo::parse("XF261126LUTAU000001W01").unwrap();
    let order =
        OrderRequest {
            out_trade_no: &no, amount: Fen::new(400_000), subject: "学费", time_expire: now() + chrono::Duration::minutes(30)
        };
    let req =
        m.jsapi_order(&order, "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", &Stamp { timestamp: now().timestamp(), nonce: "N0nce".into() }).unwrap();
    assert_eq!(req.path, "/v3/pay/transactions/jsapi");
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap();
    assert_eq!(body["payer"]["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
    assert!(body.get("scene_info").is_none());

    let p = m.jsapi_params("wx26112221580621e9b071c00d9e093b0000", 1_796_688_000, "5K8264ILTKCH16CQ2502SI8ZNMTM67VS").unwrap();
    assert_eq!(
        (p.app_id.as_str(), p.time_stamp.as_str(), p.package.as_str(), p.sign_type.as_str()),
        ("wxd678efh567hg6787", "1796688000", "prepay_id=wx26112221580621e9b071c00d9e093b0000", "RSA")
    );
    assert_eq!(
        p.message(),
        "wxd678efh567hg6787\n1796688000\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx26112221580621e9b071c00d9e093b0000\n"
    );
    let json = serde_json::to_value(&p).unwrap();
    for k in ["appId", "timeStamp", "nonceStr", "package", "signType", "paySign"] {
        assert!(json.get(k).is_some(), "{k} as the bridge names it");
    }
    assert_eq!(sandbox().verify_pay_params(&p).unwrap(), "wx26112221580621e9b071c00d9e093b0000");
    let tampered = crate::wechat::JsapiParams { package: "prepay_id=wx_other".into(), ..p.clone() };
    assert!(sandbox().verify_pay_params(&tampered).is_err());
}
