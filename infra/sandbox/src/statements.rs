//! The sandboxes' daily statements: each gateway's bill for a Beijing day, built from the trades
//! it holds in memory (paid that day), in that gateway's file format — the format its
//! `shared::gateway::<gateway>::statement` module parses — and test controls that make the
//! statement differ from the truth the way real ones sometimes do:
//!
//! * `omit` an out-trade-no: the statement leaves a paid trade out (the platform sees "ours only");
//! * `amount`: the statement lists a trade with another amount ("amount differs");
//! * `add`: the statement lists a payment the sandbox never saw (an unknown out-trade-no).
//!
//! A trade paid while notifications are off (`/_control/deliver`) is the "theirs only" case.
//! Over HTTP: `POST /_control/statement` with `{"omit": "<no>"}`, `{"amount": {"out_trade_no":
//! "<no>", "fen": 123}}` or `{"add": {"out_trade_no": "<no>", "fen": 123, "paid_at": "<RFC 3339>"}}`.

use crate::sync::lock;
use chrono::{DateTime, NaiveDate, Utc};
use shared::clock::{beijing, beijing_date};
use shared::domain::Fen;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::Mutex;

/// A paid trade as a statement lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PaidRecord {
    pub out_trade_no: String,
    pub trade_no: String,
    pub amount: Fen,
    pub paid_at: DateTime<Utc>,
}

/// A download link's file and its expiry.
type Download = (Vec<u8>, DateTime<Utc>);

/// The test edits of one sandbox's statements, and its short-lived download links.
#[derive(Default)]
pub(crate) struct Statements {
    edits: Mutex<Edits>,
    downloads: Mutex<HashMap<String, Download>>,
}

#[derive(Default)]
struct Edits {
    omit: HashSet<String>,
    amount: HashMap<String, Fen>,
    extra: Vec<PaidRecord>,
}

/// How long a download link works (Alipay's lives 30 s, lessons-from-peers.md).
const LINK_SECS: i64 = 30;

impl Statements {
    pub fn omit(&self, out_trade_no: &str) {
        lock(&self.edits).omit.insert(out_trade_no.to_owned());
    }
    pub fn set_amount(&self, out_trade_no: &str, fen: Fen) {
        lock(&self.edits).amount.insert(out_trade_no.to_owned(), fen);
    }
    pub fn add(&self, row: PaidRecord) {
        lock(&self.edits).extra.push(row);
    }

    /// The rows of `day`: the paid trades of that Beijing day, edited.
    pub fn rows(&self, paid: Vec<PaidRecord>, day: NaiveDate) -> Vec<PaidRecord> {
        let e = lock(&self.edits);
        let mut rows: Vec<PaidRecord> = paid
            .into_iter()
            .chain(e.extra.iter().cloned())
            .filter(|r| beijing_date(r.paid_at) == day && !e.omit.contains(&r.out_trade_no))
            .map(|mut r| {
                if let Some(fen) = e.amount.get(&r.out_trade_no) {
                    r.amount = *fen;
                }
                r
            })
            .collect();
        rows.sort_by(|a, b| (a.paid_at, &a.out_trade_no).cmp(&(b.paid_at, &b.out_trade_no)));
        rows
    }

    /// Keeps `bytes` behind a fresh token for [`LINK_SECS`].
    pub fn offer(&self, bytes: Vec<u8>, now: DateTime<Utc>) -> String {
        let token = shared::auth::random_id();
        let mut d = lock(&self.downloads);
        d.retain(|_, (_, until)| *until > now);
        d.insert(token.clone(), (bytes, now + chrono::Duration::seconds(LINK_SECS)));
        token
    }

    pub fn take(&self, token: &str, now: DateTime<Utc>) -> Option<Vec<u8>> {
        lock(&self.downloads).get(token).filter(|(_, until)| *until > now).map(|(b, _)| b.clone())
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.with_timezone(&beijing()).format("%Y-%m-%d %H:%M:%S").to_string()
}

fn zip_of(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, bytes) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("zip in memory");
        w.write_all(bytes).expect("zip in memory");
    }
    w.finish().expect("zip in memory").into_inner()
}

/// Alipay's bill: a zip of the GBK detail and summary CSV files, `#` comment lines around them,
/// values padded with a tab as Alipay's are.
pub(crate) fn alipay_zip(pid: &str, day: NaiveDate, rows: &[PaidRecord], now: DateTime<Utc>) -> Vec<u8> {
    let mut detail = format!(
        "#支付宝业务明细查询\n#账号：[{pid}0156]\n#起始日期：[{d} 00:00:00]   终止日期：[{d} 23:59:59]\n#-----------------------------------------业务明细列表----------------------------------------\n\
支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\n",
        d = day.format("%Y年%m月%d日")
    );
    let mut total = Fen::ZERO;
    for r in rows {
        total = Fen::new(total.get() + r.amount.get());
        let t = time(r.paid_at);
        detail.push_str(&format!(
            "{}\t,{}\t,交易\t,甘肃省财政厅 学费缴费\t,{t}\t,{t}\t,\t,\t,\t,\t,159****5620\t,{a}\t,{a}\t,0.00\t,0.00\t,0.00\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\t,0.00\t,0.00\t,\n",
            r.trade_no,
            r.out_trade_no,
            a = r.amount
        ));
    }
    detail.push_str(&format!(
        "#-----------------------------------------业务明细列表结束------------------------------------\n#交易合计：{}笔，商家实收共{total}元，商家优惠共0.00元\n#退款合计：0笔，商家实收退款共0.00元，商家优惠退款共0.00元\n#导出时间：[{}]\n",
        rows.len(),
        time(now)
    ));
    let summary = format!(
        "#支付宝业务汇总查询\n#账号：[{pid}0156]\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,已收入总金额（元）,订单金额（元）\n合计,,{},0,{total},{total}\n",
        rows.len()
    );
    let stem = format!("{pid}0156_{}", day.format("%Y%m%d"));
    zip_of(&[
        (&format!("{stem}_业务明细.csv"), encoding_rs::GBK.encode(&detail).0.into_owned()),
        (&format!("{stem}_业务明细(汇总).csv"), encoding_rs::GBK.encode(&summary).0.into_owned()),
    ])
}

/// WeChat Pay's trade bill (UTF-8 CSV, every value behind a backtick, a summary at the end).
pub(crate) fn wechat_csv(appid: &str, mchid: &str, rows: &[PaidRecord]) -> Vec<u8> {
    let mut out = String::from(
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\n",
    );
    let mut total = 0i64;
    for r in rows {
        total += r.amount.get();
        out.push_str(&format!(
            "`{},`{appid},`{mchid},`0,`,`{},`{},`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`{a},`0.00,`0,`0,`0.00,`0.00,`,`,`甘肃省财政厅 学费缴费,`,`0.00000,`0.60%,`{a},`0.00,`\n",
            time(r.paid_at),
            r.trade_no,
            r.out_trade_no,
            a = r.amount
        ));
    }
    let total = Fen::new(total);
    out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n");
    out.push_str(&format!("`{},`{total},`0.00,`0.00,`0.00000,`{total},`0.00\n", rows.len()));
    out.into_bytes()
}

/// UnionPay's settlement zip: the `ZM` detail file as UnionPay lays it out — fixed byte widths,
/// GBK, CRLF (`shared::gateway::unionpay::statement`) — beside an empty `ZME` error file.
pub(crate) fn unionpay_zip(mer_id: &str, day: NaiveDate, rows: &[PaidRecord]) -> (String, Vec<u8>) {
    use shared::gateway::unionpay::statement::zm_line;
    let mut zm = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let time = r.paid_at.with_timezone(&beijing()).format("%m%d%H%M%S").to_string();
        let (trace, amount) = (format!("{:06}", i + 1), format!("{:012}", r.amount.get()));
        let settled = format!("C{:012}", r.amount.get());
        zm.extend(zm_line(&[
            ("交易代码", "S22"),
            ("代理机构标识码", "48022901"),
            ("发送机构标识码", "00040000"),
            ("系统跟踪号", &trace),
            ("交易传输时间", &time),
            ("帐号", "622280*********0000"),
            ("交易金额", &amount),
            ("商户类别", "8220"),
            ("终端类型", "07"),
            ("查询流水号", &r.trade_no),
            ("商户订单号", &r.out_trade_no),
            ("支付卡类型", "01"),
            ("商户手续费", "D000000000000"),
            ("结算金额", &settled),
            ("支付方式", "0201"),
            ("交易类型", "01"),
            ("交易子类", "01"),
            ("业务类型", "000201"),
            ("商户代码", mer_id),
            ("清算净额", &settled),
            ("交易介质", "7"),
        ]));
        zm.extend_from_slice(b"\r\n");
    }
    let stamp = day.format("%y%m%d");
    let (zm_name, zme_name) = (format!("INN{stamp}88ZM_{mer_id}"), format!("INN{stamp}88ZME_{mer_id}"));
    let zip = zip_of(&[(zme_name.as_str(), Vec::new()), (zm_name.as_str(), zm)]);
    (format!("{}_{mer_id}.zip", day.format("%Y%m%d")), zip)
}

/// The day a `MMDD` clearing date names: the latest such day not after `today`.
pub(crate) fn settle_day(mmdd: &str, today: NaiveDate) -> Option<NaiveDate> {
    use chrono::Datelike;
    if mmdd.len() != 4 || !mmdd.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (m, d) = (mmdd[..2].parse().ok()?, mmdd[2..].parse().ok()?);
    match NaiveDate::from_ymd_opt(today.year(), m, d) {
        Some(day) if day <= today => Some(day),
        _ => NaiveDate::from_ymd_opt(today.year() - 1, m, d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(no: &str, fen: i64, at: &str) -> PaidRecord {
        PaidRecord { out_trade_no: no.into(), trade_no: format!("T{no}"), amount: Fen::new(fen), paid_at: at.parse().unwrap() }
    }

    #[test]
    fn the_files_parse_with_the_platforms_parsers_and_edits_apply() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 29).unwrap();
        let s = Statements::default();
        let paid = vec![
            rec("XF261129LUTAU000001A01", 400_000, "2026-11-29T02:00:00Z"),
            rec("XF261129LUTAU000002A01", 100, "2026-11-29T03:00:00Z"),
            rec("XF261128LUTAU000009A01", 5, "2026-11-28T03:00:00Z"),
        ];
        s.omit("XF261129LUTAU000002A01");
        s.set_amount("XF261129LUTAU000001A01", Fen::new(399_999));
        s.add(rec("XF261129LUTAU000777A01", 1, "2026-11-29T04:00:00Z"));
        let rows = s.rows(paid, day);
        assert_eq!(
            rows.iter().map(|r| (r.out_trade_no.as_str(), r.amount.get())).collect::<Vec<_>>(),
            [("XF261129LUTAU000001A01", 399_999), ("XF261129LUTAU000777A01", 1)]
        );
        let now = "2026-11-30T02:30:00Z".parse().unwrap();
        let ali = shared::gateway::alipay::statement::parse_bill_zip(day, &alipay_zip("2088000000000001", day, &rows, now)).unwrap();
        let wx = shared::gateway::wechat::statement::parse_bill(day, std::str::from_utf8(&wechat_csv("wx1", "1900000001", &rows)).unwrap())
            .unwrap();
        let up = shared::gateway::unionpay::statement::parse_settlement_zip(
            day,
            "777290058165621",
            &unionpay_zip("777290058165621", day, &rows).1,
        )
        .unwrap();
        for st in [ali, wx, up] {
            assert_eq!(
                st.rows.iter().map(|r| (r.out_trade_no.as_str(), r.amount.get())).collect::<Vec<_>>(),
                [("XF261129LUTAU000001A01", 399_999), ("XF261129LUTAU000777A01", 1)]
            );
            assert_eq!(st.rows[0].paid_at, Some("2026-11-29T02:00:00Z".parse().unwrap()));
        }
        assert_eq!(settle_day("1129", NaiveDate::from_ymd_opt(2026, 11, 30).unwrap()), Some(day));
        assert_eq!(settle_day("1231", NaiveDate::from_ymd_opt(2027, 1, 1).unwrap()), NaiveDate::from_ymd_opt(2026, 12, 31));
    }
}
