//! The daily order serial, orders and their item locks.

use super::*;

#[async_trait]
impl SerialCounter for DynamoStore {
    async fn next_serial(&self, order_type: OrderType, day: NaiveDate, unit: UnitId) -> Result<Serial, StoreError> {
        let pk = format!("SEQ#{}#{}#{}", order_type.as_str(), day.format("%y%m%d"), unit.as_str());
        // Kept a week after its day, then removed by TTL.
        let ttl = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() + 8 * 86_400;
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, "SEQ")))
            .update_expression("ADD seq :one SET #ttl = if_not_exists(#ttl, :ttl)")
            .condition_expression("attribute_not_exists(seq) OR seq < :max")
            .expression_attribute_names("#ttl", TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(ttl))
            .expression_attribute_values(":max", n(Serial::MAX))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| match map_err(e) {
                StoreError::Conflict => StoreError::SerialExhausted,
                other => other,
            })?;
        // When ADD creates the item some emulators also return the key attributes: read `seq` by name.
        let attrs = out.attributes().ok_or_else(|| StoreError::Corrupt("no attributes".into()))?;
        let seq = get_i64(attrs, "seq")?;
        Serial::new(seq as u64).map_err(|_| StoreError::SerialExhausted)
    }
}

// ---------- orders ----------

pub(super) fn order_item(o: &Order) -> Item {
    let mut item = key(order_pk(&o.order_no), "ORDER");
    item.insert(GSI1_PK.into(), s(format!("ORDERS#{}", o.student_no.as_str())));
    item.insert(GSI1_SK.into(), s(o.order_no.to_string()));
    item.insert("order_no".into(), s(o.order_no.to_string()));
    item.insert("student_no".into(), s(o.student_no.as_str()));
    item.insert("total_fen".into(), n(o.total.get()));
    item.insert("receipt_phone".into(), s(o.receipt_phone.expose()));
    if let Some(name) = &o.payer_name {
        item.insert("payer_name".into(), s(name.as_str()));
    }
    item.insert("state".into(), s(o.state.as_str()));
    item.insert("created_at".into(), n(o.created_at.timestamp()));
    item.insert("expires_at".into(), n(o.expires_at.timestamp()));
    item.insert("attempts".into(), n(o.attempts));
    item.insert("version".into(), n(o.version));
    if o.state == OrderState::Open {
        item.insert(GSI2_PK.into(), s(SWEEP_ORDERS));
        item.insert(GSI2_SK.into(), s(sweep_sk(o.expires_at, &o.order_no.to_string())));
    }
    item.insert("lines".into(), lines_attr(&o.lines));
    item
}

/// An order's lines as stored (on the order, and copied onto its receipt).
pub(super) fn lines_attr(lines: &[OrderLine]) -> AttributeValue {
    AttributeValue::L(
        lines
            .iter()
            .map(|l| {
                AttributeValue::M(HashMap::from([
                    ("academic_year".to_owned(), s(l.academic_year.to_string())),
                    ("item_id".to_owned(), s(l.item_id.as_str())),
                    ("name".to_owned(), s(&l.name)),
                    ("fee_type".to_owned(), s(l.fee_type.as_str())),
                    ("amount_fen".to_owned(), n(l.amount.get())),
                ]))
            })
            .collect(),
    )
}

pub(super) fn parse_lines(item: &Item) -> Result<Vec<OrderLine>, StoreError> {
    match item.get("lines") {
        Some(AttributeValue::L(v)) => v
            .iter()
            .map(|l| {
                let AttributeValue::M(m) = l else { return Err(StoreError::Corrupt("order line".into())) };
                Ok(OrderLine {
                    academic_year: AcademicYear::parse(get_s(m, "academic_year")?).map_err(corrupt("academic_year"))?,
                    item_id: ItemId::parse(get_s(m, "item_id")?).map_err(corrupt("item_id"))?,
                    name: get_s(m, "name")?.to_owned(),
                    fee_type: FeeType::parse(get_s(m, "fee_type")?).ok_or_else(|| StoreError::Corrupt("fee_type".into()))?,
                    amount: Fen::new(get_i64(m, "amount_fen")?),
                })
            })
            .collect(),
        _ => Err(StoreError::Corrupt("no lines".into())),
    }
}

pub(super) fn parse_order(item: &Item) -> Result<Order, StoreError> {
    let lines = parse_lines(item)?;
    Ok(Order {
        order_no: OrderNo::parse(get_s(item, "order_no")?).map_err(corrupt("order_no"))?,
        student_no: StudentNo::parse(get_s(item, "student_no")?).map_err(corrupt("student_no"))?,
        lines,
        total: Fen::new(get_i64(item, "total_fen")?),
        receipt_phone: Phone::parse(get_s(item, "receipt_phone")?).map_err(corrupt("receipt_phone"))?,
        payer_name: get_opt_s(item, "payer_name").map(PersonName::parse).transpose().map_err(corrupt("payer_name"))?,
        state: OrderState::parse(get_s(item, "state")?).ok_or_else(|| StoreError::Corrupt("state".into()))?,
        created_at: instant(get_i64(item, "created_at")?)?,
        expires_at: instant(get_i64(item, "expires_at")?)?,
        attempts: get_i64(item, "attempts")?.clamp(0, 99) as u8,
        version: get_i64(item, "version")? as u64,
    })
}

impl DynamoStore {
    pub(super) fn put_new(&self, item: Item) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// An update of an order that is still open at the version read — the condition every
    /// order change carries. `update` must bump `version` (`:one` is bound).
    pub(super) fn open_order_update(&self, o: &Order, update: &str) -> aws_sdk_dynamodb::types::builders::UpdateBuilder {
        aws_sdk_dynamodb::types::Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(order_pk(&o.order_no), "ORDER")))
            .update_expression(update)
            .condition_expression("#state = :open AND version = :v")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":open", s(OrderState::Open.as_str()))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":v", n(o.version))
    }

    /// Deletes of the order's item locks (each only if it still names this order).
    pub(super) fn release_locks(&self, o: &Order) -> Result<Vec<TransactWriteItem>, StoreError> {
        o.lines
            .iter()
            .map(|line| {
                let delete = aws_sdk_dynamodb::types::Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(lock_pk(&o.student_no, &line.item_key()), "LOCK")))
                    .condition_expression("order_no = :no")
                    .expression_attribute_values(":no", s(o.order_no.to_string()))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                Ok(TransactWriteItem::builder().delete(delete).build())
            })
            .collect()
    }
}

#[async_trait]
impl OrderStore for DynamoStore {
    async fn create_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        let entry = by.order_created(o);
        let mut tx =
            self.client.transact_write_items().transact_items(self.put_new(order_item(o))?).transact_items(self.audit_put(&entry)?);
        for line in &o.lines {
            let mut lock = key(lock_pk(&o.student_no, &line.item_key()), "LOCK");
            lock.insert("order_no".into(), s(o.order_no.to_string()));
            tx = tx.transact_items(self.put_new(lock)?);
        }
        tx.send().await.map_err(map_err)?;
        Ok(())
    }

    async fn get_order(&self, no: &OrderNo) -> Result<Option<Order>, StoreError> {
        let item = self.get_consistent(order_pk(no), "ORDER").await?;
        item.as_ref().map(parse_order).transpose()
    }

    async fn open_order_for_item(&self, student: &StudentNo, item_key: &str) -> Result<Option<OrderNo>, StoreError> {
        let item = self.get_consistent(lock_pk(student, item_key), "LOCK").await?;
        item.as_ref().map(|it| OrderNo::parse(get_s(it, "order_no")?).map_err(corrupt("order_no"))).transpose()
    }

    async fn open_orders_for_items(&self, student: &StudentNo, item_keys: &[String]) -> Result<Vec<OrderNo>, StoreError> {
        let keys = item_keys.iter().map(|k| key(lock_pk(student, k), "LOCK")).collect();
        let mut holders: Vec<OrderNo> = Vec::new();
        for it in self.get_many_consistent(keys).await? {
            let no = OrderNo::parse(get_s(&it, "order_no")?).map_err(corrupt("order_no"))?;
            if !holders.contains(&no) {
                holders.push(no);
            }
        }
        Ok(holders)
    }

    async fn close_order(&self, o: &Order, by: &By) -> Result<(), StoreError> {
        let update = self
            .open_order_update(o, "SET #state = :closed, version = version + :one REMOVE gsi2pk, gsi2sk")
            .expression_attribute_values(":closed", s(OrderState::Closed.as_str()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let entry = by.order_closed(o);
        let mut items = vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&entry)?];
        items.extend(self.release_locks(o)?);
        self.transact(items).await
    }

    async fn set_receipt_phone(&self, o: &Order, phone: &Phone, by: &By) -> Result<(), StoreError> {
        let update = built(
            self.open_order_update(o, "SET receipt_phone = :p, version = version + :one")
                .expression_attribute_values(":p", s(phone.expose()))
                .build(),
        )?;
        // Phones appear in the log only masked.
        let entry = by.receipt_phone_changed(o, phone);
        self.transact(vec![TransactWriteItem::builder().update(update).build(), self.audit_put(&entry)?]).await
    }
}
