//! Cells of the reports operators open in Excel or WPS (import reports, reconciliation
//! differences). A cell that starts with `=`, `+`, `-` or `@` — or a tab or carriage return,
//! which some programs skip before looking — is read as a formula (CSV injection, OWASP): a
//! student number or an out-trade-no taken from a file could run `=HYPERLINK(…)` or a DDE
//! command on the operator's machine. Such a cell gets a leading `'`, which shows it as text.

use std::borrow::Cow;

/// `cell` as text a spreadsheet will not evaluate.
pub fn cell(cell: &str) -> Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => Cow::Owned(format!("'{cell}")),
        _ => Cow::Borrowed(cell),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_become_text_and_everything_else_stays() {
        for f in ["=HYPERLINK(\"http://evil.example\",\"点此\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "=cmd|' /C calc'!A0"] {
            assert_eq!(cell(f), format!("'{f}"), "{f}");
        }
        for plain in ["2021010101", "学费", "", "XF261126LUTAU000001A01", "1=1", " =1"] {
            assert_eq!(cell(plain), plain);
        }
    }
}
