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

/// Decodes a form body to bytes: each value percent-decoded (`+` a space, `%XX` a byte) and
/// left in whatever charset it was sent in, for a caller that reads the charset from the form
/// itself. Keys must be ASCII; a repeated key or a bad escape is an error.
pub fn parse_bytes(body: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (k, v) = match pair.iter().position(|b| *b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &pair[..0]),
        };
        let key = String::from_utf8(percent_decode(k)?).ok().filter(|k| k.is_ascii()).ok_or("form key is not ASCII")?;
        if out.insert(key, percent_decode(v)?).is_some() {
            return Err("form repeats a field".into());
        }
    }
    Ok(out)
}

/// Form-encodes bytes: ASCII letters, digits and `*-._` as they are, a space as `+`, every
/// other byte `%XX`.
pub fn percent_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn percent_decode(s: &[u8]) -> Result<Vec<u8>, String> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let byte = s.get(i + 1..i + 3).and_then(|h| Some(hex(h[0])? << 4 | hex(h[1])?)).ok_or("form has a bad %-escape")?;
                out.push(byte);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
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

    #[test]
    fn bytes_are_left_in_their_charset() {
        // 学费 in GBK.
        let m = parse_bytes(b"subject=%D1%A7%B7%D1+x&charset=GBK&e=&f").unwrap();
        assert_eq!(m["subject"], b"\xD1\xA7\xB7\xD1 x");
        assert_eq!((m["charset"].as_slice(), m["e"].as_slice(), m["f"].as_slice()), (&b"GBK"[..], &b""[..], &b""[..]));
        for bad in [&b"a=1&a=2"[..], b"a=%F", b"a=%GG", b"%FF=1"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
        let utf8 = parse_bytes(b"subject=2024%E5%AD%A6%E5%B9%B4").unwrap();
        assert_eq!(std::str::from_utf8(&utf8["subject"]).unwrap(), "2024学年");
    }
}
