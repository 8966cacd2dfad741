//! E-receipts in the table: the receipt (`STU#<no>` / `RECEIPT#<order_no>`), its public link
//! (`RLINK#<sha256(token)>` / `RLINK`) and its SMS in the outbox — all three written only by the
//! payment transition, each `attribute_not_exists`. See `docs/data-model.md`.

use super::*;
use crate::domain::{OrderNo, OrderPaid, PersonName, Receipt, ReceiptNo};
use store::receipts::{ReceiptLink, ReceiptStore};

/// An expired link is kept this long after its expiry (so it can say "expired" rather than
/// "unknown"), then TTL removes it.
const LINK_KEPT_AFTER_EXPIRY_DAYS: i64 = 365;

pub(super) fn receipt_sk(order: &OrderNo) -> String {
    format!("RECEIPT#{order}")
}
fn link_pk(token_hash: &str) -> String {
    format!("RLINK#{token_hash}")
}

fn receipt_item(r: &Receipt) -> Item {
    let mut item = key(student_pk(&r.student_no), &receipt_sk(&r.order_no));
    item.insert("receipt_no".into(), s(r.receipt_no.as_str()));
    item.insert("check_code".into(), s(&r.check_code));
    item.insert("order_no".into(), s(r.order_no.to_string()));
    item.insert("student_no".into(), s(r.student_no.as_str()));
    item.insert("payer_name".into(), s(r.payer_name.as_str()));
    item.insert("lines".into(), lines_attr(&r.lines));
    item.insert("total_fen".into(), n(r.total.get()));
    item.insert("payee".into(), s(&r.payee));
    item.insert("channel".into(), s(r.channel.as_str()));
    item.insert("gateway_trade_no".into(), s(&r.gateway_trade_no));
    item.insert("out_trade_no".into(), s(r.out_trade_no.as_str()));
    item.insert("paid_at".into(), n(r.paid_at.timestamp()));
    item.insert("issued_at".into(), n(r.issued_at.timestamp()));
    item.insert("link_expires_at".into(), n(r.link_expires_at.timestamp()));
    item
}

fn parse_receipt(item: &Item) -> Result<Receipt, StoreError> {
    Ok(Receipt {
        receipt_no: ReceiptNo::parse(get_s(item, "receipt_no")?).ok_or_else(|| StoreError::Corrupt("receipt_no".into()))?,
        check_code: get_s(item, "check_code")?.to_owned(),
        order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        payer_name: PersonName::parse(get_s(item, "payer_name")?).map_err(corrupt("payer_name"))?,
        lines: parse_lines(item)?,
        total: Fen::new(get_i64(item, "total_fen")?),
        payee: get_s(item, "payee")?.to_owned(),
        channel: Channel::parse(get_s(item, "channel")?).ok_or_else(|| StoreError::Corrupt("channel".into()))?,
        gateway_trade_no: get_s(item, "gateway_trade_no")?.to_owned(),
        out_trade_no: OutTradeNo::parse(get_s(item, "out_trade_no")?).map_err(corrupt("out_trade_no"))?,
        paid_at: instant(get_i64(item, "paid_at")?)?,
        issued_at: instant(get_i64(item, "issued_at")?)?,
        link_expires_at: instant(get_i64(item, "link_expires_at")?)?,
        refunded_at: get_opt_i64(item, "refunded_at")?.map(instant).transpose()?,
    })
}

impl DynamoStore {
    /// The receipt, its link and its queued SMS: the puts the payment transition adds when it
    /// pays its order.
    pub(super) fn receipt_writes(&self, paid: &OrderPaid) -> Result<Vec<TransactWriteItem>, StoreError> {
        let (order, issue, receipt) = (&paid.order, &paid.issue, &paid.receipt);
        let mut link = key(link_pk(&issue.link_hash), "RLINK");
        link.insert("student_no".into(), s(order.student_no.as_str()));
        link.insert("order_no".into(), s(order.order_no.to_string()));
        link.insert("expires_at".into(), n(issue.link_expires_at.timestamp()));
        link.insert(TTL.into(), n((issue.link_expires_at + chrono::Duration::days(LINK_KEPT_AFTER_EXPIRY_DAYS)).timestamp()));
        let sms = outbox::new_sms_item(receipt.receipt_no.as_str(), &order.receipt_phone, &issue.sms_text, issue.issued_at);
        Ok(vec![self.put_new(receipt_item(receipt))?, self.put_new(link)?, self.put_new(sms)?])
    }
}

#[async_trait]
impl ReceiptStore for DynamoStore {
    async fn get_receipt(&self, student: &StudentNo, order: &OrderNo) -> Result<Option<Receipt>, StoreError> {
        let item = self.get_consistent(student_pk(student), &receipt_sk(order)).await?;
        item.as_ref().map(parse_receipt).transpose()
    }

    async fn list_receipts(&self, student: &StudentNo) -> Result<Vec<Receipt>, StoreError> {
        let mut receipts =
            self.query_prefix(student_pk(student), "RECEIPT#", true).await?.iter().map(parse_receipt).collect::<Result<Vec<_>, _>>()?;
        receipts.sort_by(|a, b| (b.paid_at, &b.receipt_no.as_str()).cmp(&(a.paid_at, &a.receipt_no.as_str())));
        Ok(receipts)
    }

    async fn get_receipt_link(&self, token_hash: &str) -> Result<Option<ReceiptLink>, StoreError> {
        let item = self.get_consistent(link_pk(token_hash), "RLINK").await?;
        let Some(item) = item.as_ref() else { return Ok(None) };
        Ok(Some(ReceiptLink {
            student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
            order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
            expires_at: instant(get_i64(item, "expires_at")?)?,
        }))
    }
}
