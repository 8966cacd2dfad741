//! Amounts in Chinese capital numerals (大写金额), as receipts and bank slips write them:
//! `¥1,234.50` → 壹仟贰佰叁拾肆元伍角整.
//!
//! The rules are those of the People's Bank of China for filling in bills and vouchers
//! (《支付结算办法》附件一「正确填写票据和结算凭证的基本规定」), with these choices where the rules
//! allow either form:
//! - a run of zeros between two non-zero digits is always written, as one 零, also across
//!   万/亿 and across 元 (the rules allow leaving out the 零 where the zero is at 万 or 元 and
//!   the next digit at 仟 or 角; we never do): `107,000.53` → 壹拾万零柒仟元零伍角叁分,
//!   `1,680.32` → 壹仟陆佰捌拾元零叁角贰分;
//! - a 拾 at the front keeps its digit (`10.00` → 壹拾元整), so nothing can be written before it;
//! - an amount without 分 ends in 整, after 元 or after 角 (`0.10` → 壹角整);
//! - below one yuan there is no 元 (`0.05` → 伍分); nothing at all is 零元整.

use super::money::Fen;

const DIGITS: [char; 10] = ['零', '壹', '贰', '叁', '肆', '伍', '陆', '柒', '捌', '玖'];
/// Units inside a group of four digits, by position in the group.
const SMALL: [&str; 4] = ["", "拾", "佰", "仟"];

/// The amount in capitals, up to 9,999,999,999,999,999.99 元 (万亿 is the largest section; far
/// above `Fen::MAX`); a larger amount is given in figures instead. A negative amount is
/// prefixed with 负.
pub fn capitals(amount: Fen) -> String {
    let fen = amount.get();
    let mut out = String::new();
    if fen < 0 {
        out.push('负');
    }
    let abs = fen.unsigned_abs();
    let (yuan, jiao, fen) = (abs / 100, (abs / 10 % 10) as usize, (abs % 10) as usize);
    if abs == 0 {
        return "零元整".into();
    }
    if yuan >= 10_000_000_000_000_000 {
        return amount.to_display_yuan();
    }
    let mut w = Digits { out, written: false, zero: false };
    let digits: Vec<usize> = yuan.to_string().bytes().map(|b| usize::from(b - b'0')).collect();
    if yuan > 0 {
        let n = digits.len();
        for (i, &d) in digits.iter().enumerate() {
            let pos = n - 1 - i;
            w.digit(d, SMALL[pos % 4]);
            // The section unit after the last digit of a group that has a non-zero digit.
            if pos.is_multiple_of(4) && pos > 0 {
                // The group's digits: positions pos..pos+3, i.e. indices i-3..=i.
                let group_nonzero = digits[i.saturating_sub(3)..=i].iter().any(|&x| x != 0);
                if group_nonzero {
                    match pos {
                        4 => w.out.push('万'),
                        8 => w.out.push('亿'),
                        12 => {
                            w.out.push('万');
                            // 万亿 when the 亿 group below is empty: 壹万亿, but 壹万零壹亿.
                            if digits[n - 12..n - 8].iter().all(|&x| x == 0) {
                                w.out.push('亿');
                            }
                        }
                        // Not reached: u64 yuan below 10^16 has at most four groups.
                        _ => {}
                    }
                }
            }
        }
        w.out.push('元');
    }
    for (d, unit) in [(jiao, "角"), (fen, "分")] {
        w.digit(d, unit);
    }
    let mut out = w.out;
    if fen == 0 {
        out.push('整');
    }
    out
}

/// The capitals written so far, and whether a zero waits to be written.
struct Digits {
    out: String,
    written: bool,
    /// A zero seen after something was written, not yet followed by a non-zero digit.
    zero: bool,
}

impl Digits {
    /// Digit `d` with its unit; a zero is only remembered, and written as one 零 before the
    /// next non-zero digit.
    fn digit(&mut self, d: usize, unit: &str) {
        if d == 0 {
            self.zero = self.written;
            return;
        }
        if self.zero {
            self.out.push('零');
            self.zero = false;
        }
        self.out.push(DIGITS[d]);
        self.out.push_str(unit);
        self.written = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(fen: i64) -> String {
        capitals(Fen::new(fen))
    }

    /// Each expected string was written out by hand from the rules above, digit by digit.
    #[test]
    fn the_cases_the_issue_names() {
        assert_eq!(c(1), "壹分"); // 0.01
        assert_eq!(c(10), "壹角整"); // 0.10
        assert_eq!(c(1_000), "壹拾元整"); // 10.00
        assert_eq!(c(10_005), "壹佰元零伍分"); // 100.05
        assert_eq!(c(100_105), "壹仟零壹元零伍分"); // 1,001.05
        assert_eq!(c(1_000_000_000), "壹仟万元整"); // 10,000,000.00
        assert_eq!(c(10_000_000_000), "壹亿元整"); // 100,000,000.00
        assert_eq!(c(123_450), "壹仟贰佰叁拾肆元伍角整"); // 1,234.50
    }

    #[test]
    fn zeros_in_the_middle() {
        // The rules' own examples.
        assert_eq!(c(140_950), "壹仟肆佰零玖元伍角整"); // 1,409.50
        assert_eq!(c(600_714), "陆仟零柒元壹角肆分"); // 6,007.14
        assert_eq!(c(168_032), "壹仟陆佰捌拾元零叁角贰分"); // 1,680.32
        assert_eq!(c(10_700_053), "壹拾万零柒仟元零伍角叁分"); // 107,000.53
        assert_eq!(c(1_640_902), "壹万陆仟肆佰零玖元零贰分"); // 16,409.02
        assert_eq!(c(32_504), "叁佰贰拾伍元零肆分"); // 325.04
        // Zeros in every gap, across 万 and 元.
        assert_eq!(c(101_010_101), "壹佰零壹万零壹佰零壹元零壹分"); // 1,010,101.01
        assert_eq!(c(10_001_000), "壹拾万零壹拾元整"); // 100,010.00
        assert_eq!(c(6_000_700), "陆万零柒元整"); // 60,007.00
        assert_eq!(c(10_000_000_100), "壹亿零壹元整"); // 100,000,001.00
        assert_eq!(c(10_001_000_000), "壹亿零壹万元整"); // 100,010,000.00
        assert_eq!(c(100_001_000_000), "壹拾亿零壹万元整"); // 1,000,010,000.00
        assert_eq!(c(100_000_001), "壹佰万元零壹分"); // 1,000,000.01
        assert_eq!(c(305), "叁元零伍分"); // 3.05
        assert_eq!(c(1_010), "壹拾元零壹角整"); // 10.10
        assert_eq!(c(100_000), "壹仟元整"); // 1,000.00
    }

    #[test]
    fn sections_and_edges() {
        assert_eq!(c(0), "零元整");
        assert_eq!(c(5), "伍分");
        assert_eq!(c(15), "壹角伍分");
        assert_eq!(c(100), "壹元整");
        assert_eq!(c(1_100_000), "壹万壹仟元整"); // 11,000.00
        assert_eq!(c(380_000), "叁仟捌佰元整");
        assert_eq!(c(999_999_999_999), "玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分");
        assert_eq!(c(Fen::MAX.get()), "壹仟亿元整"); // 100,000,000,000.00
        assert_eq!(c(100_000_000_000_000), "壹万亿元整"); // 1,000,000,000,000.00
        assert_eq!(c(100_010_000_000_000), "壹万零壹亿元整"); // 1,000,100,000,000.00
        assert_eq!(c(-1_000), "负壹拾元整");
        assert_eq!(c(999_999_999_999_999_999), "玖仟玖佰玖拾玖万玖仟玖佰玖拾玖亿玖仟玖佰玖拾玖万玖仟玖佰玖拾玖元玖角玖分");
        assert_eq!(c(1_000_000_000_000_000_000), "¥10,000,000,000,000,000.00");
    }
}
