//! The static site as the local platform serves it: with the headers CloudFront adds in the
//! cloud (`SiteHeadersPolicy` in the template), so the browser tests run under the same policy.

use integration_tests::*;

#[tokio::test]
async fn the_static_site_comes_with_the_deployed_security_headers() {
    let t = spawn().await;
    let r = t.get(&browser(), "/index.html").await;
    assert!(r.status().is_success());
    let h = r.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
}
