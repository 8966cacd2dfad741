//! What phones type: full-width forms (１３９…, Ｘ, the ideographic space) as their half-width
//! ASCII, surrounding spaces trimmed. Applied before parsing 学号, phone numbers, postcodes,
//! ID-card numbers and codes — never to passwords or names, which are kept as typed.

/// Full-width ASCII variants (U+FF01–U+FF5E) as ASCII, U+3000 as a space; then trimmed.
pub fn half_width(raw: &str) -> String {
    raw.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_digits_letters_and_spaces_become_ascii() {
        assert_eq!(half_width("　１３９１２３４５６７８ "), "13912345678");
        assert_eq!(half_width("６２０１０２１９９９０３１５１２３Ｘ"), "62010219990315123X");
        assert_eq!(half_width("ｘ７３００５０"), "x730050");
        assert_eq!(half_width("张三"), "张三", "other characters stay as they are");
        assert_eq!(half_width("２０２１０１０１０１"), "2021010101");
    }
}
