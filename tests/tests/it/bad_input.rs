//! Bad input on every route: a clear JSON error with the right status, never a 500, never a
//! partial write.

use integration_tests::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn malformed_bodies_get_400_and_oversized_ones_413() {
    let t = spawn().await;
    let c = browser();
    t.login_ready(&c, "2021010101", "03151235", "Campus2026a").await;
    let routes = [
        ("POST", "/api/login"),
        ("POST", "/api/password/forgot"),
        ("POST", "/api/password/forgot/sms"),
        ("POST", "/api/password/forgot/reset"),
        ("PUT", "/api/profile"),
        ("POST", "/api/password"),
        ("POST", "/api/security-question/verify"),
        ("PUT", "/api/security-question"),
    ];
    let bodies: [(&str, &str); 5] = [
        ("not json", "{"),
        ("array", "[]"),
        (
            "wrong types",
            r#"{"username": 1, "password": true, "email": 5, "old_password": [], "ticket": {}, "student_no": null, "password2": 1}"#,
        ),
        ("unknown field", r#"{"nonsense": "x"}"#),
        ("empty", ""),
    ];
    for (method, path) in routes {
        for (what, body) in bodies {
            let r =
                c.request(method.parse().unwrap(), t.url(path)).header("content-type", "application/json").body(body).send().await.unwrap();
            let (status, code, _) = error_code(r).await;
            assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "BAD_REQUEST"), "{method} {path} with {what}");
        }
        let big = format!(r#"{{"address": "{}"}}"#, "a".repeat(65 * 1024));
        let r = c.request(method.parse().unwrap(), t.url(path)).header("content-type", "application/json").body(big).send().await.unwrap();
        let (status, code, _) = error_code(r).await;
        assert_eq!((status, code.as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE"), "{method} {path}");
    }
    // Nothing above changed the profile.
    let p: serde_json::Value = t.get(&c, "/api/profile").await.json().await.unwrap();
    assert_eq!(p["address"], serde_json::Value::Null);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_404_json() {
    let t = spawn().await;
    let c = browser();
    // As deployed, each reaches the `$default` route's function: no cross-site or media-type
    // check comes first, the answer is the documented 404.
    for (method, path) in
        [("GET", "/api/nope"), ("DELETE", "/api/profile"), ("GET", "/api/login"), ("POST", "/api/nope"), ("PATCH", "/api/fees")]
    {
        let r = c.request(method.parse().unwrap(), t.url(path)).send().await.unwrap();
        let (status, code, _) = error_code(r).await;
        assert_eq!((status, code.as_str()), (StatusCode::NOT_FOUND, "NOT_FOUND"), "{method} {path}");
    }
}

#[tokio::test]
async fn identity_fields_are_validated_in_chinese() {
    let t = spawn().await;
    let r = t.post(&browser(), "/api/password/forgot", json!({"student_no": "1", "id_card": "620102199903151234", "name": "3"})).await;
    let (status, code, body) = error_code(r).await;
    assert_eq!((status, code.as_str()), (StatusCode::BAD_REQUEST, "VALIDATION"));
    assert!(body["fields"]["id_card"].as_str().unwrap().contains("18位"));
    assert!(body["fields"]["student_no"].is_string() && body["fields"]["name"].is_string());
}
