//! The sandbox's HTML: a cashier page with 支付 / 取消 and an outcome page. Plain HTML and CSS,
//! no scripts, readable at 375 px. Test hooks: `data-testid="sandbox-pay"`, `"sandbox-cancel"`,
//! `"sandbox-result"` (plus `sandbox-payee`, `sandbox-subject`, `sandbox-amount`).

use crate::PAYEE;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use shared::domain::Fen;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Brand {
    Alipay,
    Wechat,
    Unionpay,
}

impl Brand {
    fn name(self) -> &'static str {
        match self {
            Brand::Alipay => "支付宝",
            Brand::Wechat => "微信支付",
            Brand::Unionpay => "银联在线支付",
        }
    }
    fn color(self) -> &'static str {
        match self {
            Brand::Alipay => "#1677ff",
            Brand::Wechat => "#07c160",
            Brand::Unionpay => "#e60012",
        }
    }
}

/// The cashier: payee, subject, amount, and the two actions.
pub(crate) struct Cashier<'a> {
    pub brand: Brand,
    pub out_trade_no: &'a str,
    pub subject: &'a str,
    pub amount: Fen,
    /// Hidden fields posted with both actions (`via`, `redirect_url`).
    pub hidden: &'a [(&'a str, &'a str)],
}

pub(crate) fn cashier(c: &Cashier<'_>) -> Response {
    let mut hidden = String::new();
    for (k, v) in c.hidden {
        let _ = write!(hidden, r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(v));
    }
    let no = esc(c.out_trade_no);
    let body = format!(
        r#"<dl>
<dt>收款方</dt><dd data-testid="sandbox-payee">{PAYEE}</dd>
<dt>商品</dt><dd data-testid="sandbox-subject">{subject}</dd>
<dt>订单号</dt><dd class="mono">{no}</dd>
</dl>
<p class="amount" data-testid="sandbox-amount">{amount}</p>
<form method="post" action="/cashier/{no}/pay">{hidden}<button type="submit" class="pay" data-testid="sandbox-pay">支付</button></form>
<form method="post" action="/cashier/{no}/cancel">{hidden}<button type="submit" class="cancel" data-testid="sandbox-cancel">取消</button></form>"#,
        subject = esc(c.subject),
        amount = esc(&c.amount.to_display_yuan()),
    );
    Html(document(c.brand, "收银台", &body)).into_response()
}

/// How an outcome reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tone {
    Ok,
    Info,
    Error,
}

/// An outcome page: `result` is the `sandbox-result` text, `detail` a second line, `back` an
/// optional link (href, label).
pub(crate) fn outcome(status: StatusCode, brand: Brand, tone: Tone, result: &str, detail: &str, back: Option<(&str, &str)>) -> Response {
    let class = match tone {
        Tone::Ok => "ok",
        Tone::Info => "info",
        Tone::Error => "error",
    };
    let mut body = format!(r#"<p class="result {class}" data-testid="sandbox-result">{}</p>"#, esc(result));
    if !detail.is_empty() {
        let _ = write!(body, r#"<p class="detail">{}</p>"#, esc(detail));
    }
    if let Some((href, label)) = back {
        let _ = write!(body, r#"<p><a class="back" href="{}">{}</a></p>"#, esc(href), esc(label));
    }
    (status, Html(document(brand, result, &body))).into_response()
}

/// An outcome page that sends the browser on with a POST of `fields` to `action` (UnionPay's
/// frontUrl return): submitted at once by a one-line script, or by the button without scripts.
pub(crate) fn auto_post(brand: Brand, result: &str, action: &str, fields: &[(String, String)]) -> Response {
    let mut inputs = String::new();
    for (k, v) in fields {
        let _ = write!(inputs, r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(v));
    }
    let body = format!(
        r#"<p class="result ok" data-testid="sandbox-result">{}</p>
<form id="back" method="post" action="{}">{inputs}<button type="submit" class="pay" data-testid="sandbox-return">返回商户</button></form>
<script>document.getElementById("back").submit()</script>"#,
        esc(result),
        esc(action),
    );
    Html(document(brand, result, &body)).into_response()
}

fn document(brand: Brand, title: &str, body: &str) -> String {
    let name = brand.name();
    let color = brand.color();
    let title = esc(title);
    format!(
        r#"<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}{title}（沙箱）</title>
<style>
*{{box-sizing:border-box}}
body{{margin:0;background:#f5f6f8;color:#1f2329;font:16px/1.5 -apple-system,"PingFang SC","Microsoft YaHei",sans-serif}}
main{{max-width:420px;margin:0 auto;padding:16px}}
header{{background:{color};color:#fff;border-radius:12px 12px 0 0;padding:14px 16px;font-size:18px;font-weight:600}}
header small{{font-weight:400;font-size:13px;opacity:.9;margin-left:8px}}
section{{background:#fff;border-radius:0 0 12px 12px;padding:16px}}
.sandbox{{margin:0 0 12px;padding:6px 10px;border-radius:6px;background:#fff7e6;color:#ad6800;font-size:13px}}
dl{{margin:0;display:grid;grid-template-columns:auto 1fr;gap:6px 12px}}
dt{{color:#646a73}}
dd{{margin:0;word-break:break-all}}
.mono{{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:14px}}
.amount{{font-size:32px;font-weight:700;text-align:center;margin:20px 0}}
form{{margin:0 0 10px}}
button{{width:100%;min-height:48px;border-radius:8px;font-size:17px;cursor:pointer}}
.pay{{background:{color};color:#fff;border:0}}
.cancel{{background:#fff;color:#1f2329;border:1px solid #d0d3d6}}
.result{{font-size:22px;font-weight:600;text-align:center;margin:16px 0 8px}}
.result.ok{{color:#00a870}}
.result.error{{color:#d54941}}
.detail{{color:#646a73;text-align:center;margin:0 0 12px}}
.back{{display:block;text-align:center;color:{color}}}
</style>
</head>
<body>
<main>
<header>{name}<small>沙箱</small></header>
<section>
<p class="sandbox">本地沙箱环境，不会真实扣款</p>
{body}
</section>
</main>
</body>
</html>
"#
    )
}

/// Escapes text for HTML content and double-quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(ch),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(esc(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }
}
