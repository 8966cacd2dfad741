//! `application/x-www-form-urlencoded` on bytes, as the gateways send it: `+` is a space,
//! `%XX` a byte, the first `=` splits key from value, a repeated key is an error.

use std::collections::BTreeMap;

/// Decodes a form body into a sorted map. The charset is UTF-8; invalid UTF-8 is an error
/// rather than a lossy guess, because signatures cover the exact characters.
pub fn parse(body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in form_urlencoded::parse(body) {
        if k.contains('\u{FFFD}') || v.contains('\u{FFFD}') {
            return Err("form is not valid UTF-8".into());
        }
        if out.insert(k.into_owned(), v.into_owned()).is_some() {
            return Err("form repeats a field".into());
        }
    }
    Ok(out)
}

/// Encodes pairs as a form body (UTF-8, `+` for spaces).
pub fn encode<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        ser.append_pair(k, v);
    }
    ser.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn decodes_and_refuses_ambiguity() {
        let m = parse(b"subject=2024%E5%AD%A6%E5%B9%B4+x&amount=0.01&e=").unwrap();
        assert_eq!(m["subject"], "2024学年 x");
        assert_eq!(m["e"], "");
        assert!(parse(b"a=1&a=2").is_err());
        assert!(parse(b"a=%FF").is_err());
        assert_eq!(parse(encode([("k", "a b&c=d")]).as_bytes()).unwrap()["k"], "a b&c=d");
    }
}
