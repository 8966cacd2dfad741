//! Fee items (`STU#<no>` / `FEE#<year>#<item>`).

use super::*;

pub(super) fn parse_fee(item: &Item) -> Result<FeeItem, StoreError> {
    let date = |name| -> Result<NaiveDate, StoreError> { get_s(item, name)?.parse().map_err(corrupt("date")) };
    Ok(FeeItem {
        academic_year: AcademicYear::parse(get_s(item, "academic_year")?).map_err(corrupt("academic_year"))?,
        item_id: ItemId::parse(get_s(item, "item_id")?).map_err(corrupt("item_id"))?,
        name: get_s(item, "name")?.to_owned(),
        fee_type: FeeType::parse(get_s(item, "fee_type")?).ok_or_else(|| StoreError::Corrupt("fee_type".into()))?,
        due: Fen::new(get_i64(item, "due_fen")?),
        paid: Fen::new(get_i64(item, "paid_fen")?),
        window_start: date("window_start")?,
        window_end: date("window_end")?,
        status: ChargeStatus::parse(get_s(item, "status")?).ok_or_else(|| StoreError::Corrupt("status".into()))?,
    })
}

/// A new fee item (version 1).
pub(super) fn fee_item_item(no: &StudentNo, f: &FeeItem) -> Item {
    let mut item = key(student_pk(no), &fee_sk(&f.item_key()));
    item.insert("academic_year".into(), s(f.academic_year.to_string()));
    item.insert("item_id".into(), s(f.item_id.as_str()));
    item.insert("name".into(), s(&f.name));
    item.insert("fee_type".into(), s(f.fee_type.as_str()));
    item.insert("due_fen".into(), n(f.due.get()));
    item.insert("paid_fen".into(), n(f.paid.get()));
    item.insert("window_start".into(), s(f.window_start.to_string()));
    item.insert("window_end".into(), s(f.window_end.to_string()));
    item.insert("status".into(), s(f.status.as_str()));
    item.insert("version".into(), n(1));
    item
}

#[async_trait]
impl FeeStore for DynamoStore {
    async fn list_fee_items(&self, no: &StudentNo) -> Result<Vec<FeeItem>, StoreError> {
        self.query_prefix(student_pk(no), FEE_PREFIX, false).await?.iter().map(parse_fee).collect()
    }

    async fn create_fee_item(&self, no: &StudentNo, f: &FeeItem) -> Result<(), StoreError> {
        self.create_item(fee_item_item(no, f)).await
    }
}

impl DynamoStore {
    /// Credits the student's fee item with `line`, once per payment: `tag` (an out-trade-no, or
    /// an offline payment's tag) joins the item's `credited_by`, and an item it is already in
    /// is not credited again (the transaction fails). With `due_as_read`, also only while the
    /// item's due is still that and the credit does not take `paid` above it.
    pub(super) fn credit_fee(
        &self,
        student: &StudentNo,
        line: &OrderLine,
        tag: &str,
        due_as_read: Option<Fen>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(student_pk(student), &fee_sk(&line.item_key()))))
            .update_expression("SET paid_fen = paid_fen + :amt, version = version + :one ADD credited_by :tag_set")
            .expression_attribute_values(":amt", n(line.amount.get()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":tag", s(tag))
            .expression_attribute_values(":tag_set", AttributeValue::Ss(vec![tag.to_owned()]));
        let mut condition = "attribute_exists(pk) AND NOT contains(credited_by, :tag)".to_owned();
        if let Some(due) = due_as_read {
            condition.push_str(" AND due_fen = :due AND paid_fen <= :limit");
            update = update
                .expression_attribute_values(":due", n(due.get()))
                .expression_attribute_values(":limit", n(due.get() - line.amount.get()));
        }
        let update = built(update.condition_expression(condition).build())?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}
