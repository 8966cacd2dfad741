//! 学费缴费: making (or reusing) an order from the items a student picked, the receipt phone,
//! and cancelling an order nobody tried to pay yet.

use crate::app::App;
use crate::clock::beijing_date;
use crate::domain::{AcademicYear, FeeItem, Fen, ItemId, NotPayable, Order, OrderLine, OrderNo, OrderState, OrderType, Phone, item_set};
use crate::error::AppError;
use crate::service::Authed;
use crate::store::{FeeStore, OrderStore, SerialCounter, StoreError, StudentStore, ThrottleStore};
use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;

/// Everything the order use cases need from the store.
pub trait OrderStores: FeeStore + OrderStore + StudentStore + SerialCounter + ThrottleStore {}
impl<T: FeeStore + OrderStore + StudentStore + SerialCounter + ThrottleStore> OrderStores for T {}

/// New orders a student made today (`THR#ORDERS#<h(no)>`).
fn new_orders_key(no: &crate::domain::StudentNo) -> String {
    crate::store::dynamo::hashed_key("THR#ORDERS", no.as_str())
}

pub const PAYEE: &str = "甘肃省财政厅";
/// At most this many items in one order.
pub const MAX_ITEMS: usize = 30;

/// One line of an order, a paid record or a receipt, as pages show it.
#[derive(Debug, Clone, Serialize)]
pub struct OrderLineView {
    pub academic_year: AcademicYear,
    pub item_id: String,
    pub name: String,
    pub fee_type: &'static str,
    pub amount: Fen,
}

impl From<&OrderLine> for OrderLineView {
    fn from(l: &OrderLine) -> Self {
        Self {
            academic_year: l.academic_year,
            item_id: l.item_id.as_str().to_owned(),
            name: l.name.clone(),
            fee_type: l.fee_type.as_str(),
            amount: l.amount,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OrderView {
    pub order_no: String,
    pub state: OrderState,
    pub lines: Vec<OrderLineView>,
    pub total: Fen,
    pub receipt_phone_masked: String,
    pub payee: &'static str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub seconds_left: i64,
}

impl OrderView {
    pub fn new(o: &Order, now: DateTime<Utc>) -> Self {
        Self {
            order_no: o.order_no.to_string(),
            state: o.state,
            lines: o.lines.iter().map(OrderLineView::from).collect(),
            total: o.total,
            receipt_phone_masked: o.receipt_phone.masked(),
            payee: PAYEE,
            created_at: o.created_at,
            expires_at: o.expires_at,
            seconds_left: if o.state == OrderState::Open { (o.expires_at - now).num_seconds().max(0) } else { 0 },
        }
    }
}

/// One picked item, as the wizard sends it.
#[derive(Debug, Clone)]
pub struct Pick {
    pub academic_year: String,
    pub item_id: String,
}

fn reason_text(r: NotPayable) -> &'static str {
    match r {
        NotPayable::Stopped => "暂停收费",
        NotPayable::OutsideWindow => "不在收费时间内",
        NotPayable::NothingOwed => "已缴清",
    }
}

impl<S: OrderStores> App<S> {
    /// A fresh order number for `now`: type `XF`, the Beijing date, the unit, the day's serial.
    pub async fn allocate_order_no(&self, now: DateTime<Utc>) -> Result<OrderNo, AppError> {
        let day = beijing_date(now);
        let serial = self.store.next_serial(OrderType::TUITION, day, self.settings.unit_id).await?;
        OrderNo::new(OrderType::TUITION, day, self.settings.unit_id, serial)
            .map_err(|e| AppError::Store(StoreError::Unavailable(format!("order number: {e}"))))
    }

    /// The caller's own order; anyone else's does not exist as far as they can tell.
    pub async fn order_of(&self, who: &Authed, no: &str) -> Result<Order, AppError> {
        let no = OrderNo::parse(no).map_err(|_| AppError::NotFound)?;
        match self.store.get_order(&no).await? {
            // Another student's order does not exist as far as this one can tell.
            Some(o) if o.student_no == who.student_no => Ok(o),
            _ => Err(AppError::NotFound),
        }
    }

    pub async fn order(&self, who: &Authed, no: &str) -> Result<OrderView, AppError> {
        let o = self.order_of(who, no).await?;
        Ok(OrderView::new(&o, self.clock.now()))
    }

    /// The picked items, each checked payable today, in the order they were picked.
    async fn picked_items(&self, who: &Authed, picks: &[Pick]) -> Result<Vec<FeeItem>, AppError> {
        if picks.is_empty() {
            return Err(AppError::field("items", "请至少选择一个缴费项目"));
        }
        if picks.len() > MAX_ITEMS {
            return Err(AppError::field("items", format!("一次最多选择{MAX_ITEMS}个缴费项目")));
        }
        let today = beijing_date(self.clock.now());
        let all = self.store.list_fee_items(&who.student_no).await?;
        let mut chosen = Vec::with_capacity(picks.len());
        for p in picks {
            let (Ok(year), Ok(id)) = (AcademicYear::parse(&p.academic_year), ItemId::parse(&p.item_id)) else {
                return Err(AppError::field("items", "所选缴费项目不存在，请刷新页面后重新选择"));
            };
            let Some(item) = all.iter().find(|i| i.academic_year == year && i.item_id == id) else {
                return Err(AppError::field("items", "所选缴费项目不存在，请刷新页面后重新选择"));
            };
            if chosen.iter().any(|c: &FeeItem| c.academic_year == year && c.item_id == id) {
                return Err(AppError::field("items", "同一缴费项目不能重复选择"));
            }
            if let Err(r) = item.payability(today) {
                return Err(AppError::field("items", format!("{} {}：{}，不能缴费", year, item.name, reason_text(r))));
            }
            chosen.push(item.clone());
        }
        Ok(chosen)
    }

    /// Makes an order for the picked items, or returns the open one for exactly these items
    /// (缴费单未完成支付可重复使用). `Ok((order, created))`.
    pub async fn create_or_reuse_order(&self, who: &Authed, picks: &[Pick], phone: Option<&str>) -> Result<(OrderView, bool), AppError> {
        let items = self.picked_items(who, picks).await?;
        let phone = match phone.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) => Some(Phone::parse(p).map_err(|_| AppError::field("phone", crate::service::profile::PHONE_MESSAGE))?),
            None => None,
        };
        let wanted = item_set(items.iter().map(FeeItem::item_key));
        // Each new order spends one of the day's 999,999 serials for good (numbers never
        // repeat): a student's new orders are capped a day, so a cancel-and-recreate loop cannot
        // exhaust the serials and stop everyone ordering (issue #12, item 6). A request over the
        // cap may still be a double submit whose twin is creating the order: it looks for that
        // order a few more times before it is refused.
        let (mut counted, mut capped) = (false, false);
        // Three tries: a concurrent request for the same items may win the locks in between
        // (ten more, a tenth of a second apart, when over the cap).
        let mut tries = 0;
        while tries < if capped { 13 } else { 3 } {
            tries += 1;
            // Whole seconds: what is stored is what the student is shown.
            let now = self.clock.now().trunc_subsecs(0);
            if let Some(existing) = self.open_order_blocking(who, &items, &wanted, now).await? {
                let existing = match &phone {
                    Some(p) if *p != existing.receipt_phone => {
                        match self.store.set_receipt_phone(&existing, p, &who.by(self.clock.now())).await {
                            Ok(()) => Order { receipt_phone: p.clone(), version: existing.version + 1, ..existing },
                            // Changed meanwhile (a double submit): look again.
                            Err(StoreError::Conflict) => continue,
                            Err(e) => return Err(e.into()),
                        }
                    }
                    _ => existing,
                };
                return Ok((OrderView::new(&existing, now), false));
            }
            let receipt_phone = match &phone {
                Some(p) => p.clone(),
                None => self
                    .store
                    .get_student(&who.student_no)
                    .await?
                    .and_then(|s| s.contact.phone)
                    .ok_or_else(|| AppError::field("phone", "请填写接收电子票据的手机号码"))?,
            };
            if !counted {
                counted = true;
                capped = self.new_order_over_cap(who).await?;
            }
            if capped {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
            let lines: Vec<OrderLine> = items
                .iter()
                .map(|i| OrderLine {
                    academic_year: i.academic_year,
                    item_id: i.item_id.clone(),
                    name: i.name.clone(),
                    fee_type: i.fee_type,
                    amount: i.outstanding(),
                })
                .collect();
            let order = Order {
                order_no: self.allocate_order_no(now).await?,
                student_no: who.student_no.clone(),
                total: lines.iter().map(|l| l.amount).sum(),
                lines,
                receipt_phone,
                payer_name: who.name.clone(),
                state: OrderState::Open,
                created_at: now,
                expires_at: now + self.settings.order_ttl,
                attempts: 0,
                version: 1,
            };
            match self.store.create_order(&order, &who.by(self.clock.now())).await {
                Ok(()) => {
                    tracing::info!(order_no = %order.order_no, lines = order.lines.len(), total = %order.total, "order created");
                    return Ok((OrderView::new(&order, now), true));
                }
                // An item got locked meanwhile (the serial is spent; numbers may skip, never repeat).
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        if capped {
            tracing::warn!(event = "order_cap", student_no = who.student_no.as_str(), "new order refused: daily cap");
            return Err(AppError::DailyOrderLimit);
        }
        Err(AppError::Store(StoreError::Conflict))
    }

    /// Counts a new order of `who` today; whether that is over the day's cap.
    async fn new_order_over_cap(&self, who: &Authed) -> Result<bool, AppError> {
        let (cap, day, now) = (self.settings.orders_per_student_per_day, chrono::Duration::days(1), self.clock.now());
        let state = self.store.record_failure(&new_orders_key(&who.student_no), now, day, cap + 1, day).await?;
        Ok(state.locked_until.is_some_and(|t| t > now))
    }

    /// Looks at the orders holding the picked items: the open order for exactly these items is
    /// returned; an expired one nobody tried to pay is closed on the way; any other open order
    /// blocks with its number.
    async fn open_order_blocking(
        &self,
        who: &Authed,
        items: &[FeeItem],
        wanted: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Order>, AppError> {
        let keys: Vec<String> = items.iter().map(FeeItem::item_key).collect();
        let holders = self.store.open_orders_for_items(&who.student_no, &keys).await?;
        let mut reusable = None;
        for no in holders {
            let Some(o) = self.store.get_order(&no).await? else { continue };
            if o.state != OrderState::Open {
                continue;
            }
            if o.is_expired(now) {
                if o.attempts == 0 {
                    self.close_unattempted(&o, &who.by(self.clock.now())).await?;
                    continue;
                }
                // Attempts exist: only a gateway query may decide (see payments design).
                return Err(AppError::OrderInProgress(o.order_no.to_string()));
            }
            if o.item_set() == wanted {
                reusable = Some(o);
            } else {
                return Err(AppError::OrderInProgress(o.order_no.to_string()));
            }
        }
        Ok(reusable)
    }

    async fn close_unattempted(&self, o: &Order, by: &crate::domain::By) -> Result<(), AppError> {
        match self.store.close_order(o, by).await {
            Ok(()) => {
                tracing::info!(order_no = %o.order_no, "order closed");
                Ok(())
            }
            // Someone else closed or changed it first; the caller re-reads.
            Err(StoreError::Conflict) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// 修改接收电子票据的手机号码 while the order is open.
    pub async fn set_order_phone(&self, who: &Authed, no: &str, phone: &str) -> Result<OrderView, AppError> {
        let o = self.order_of(who, no).await?;
        let phone = Phone::parse(phone).map_err(|_| AppError::field("phone", crate::service::profile::PHONE_MESSAGE))?;
        let now = self.clock.now();
        if o.state != OrderState::Open || o.is_expired(now) {
            return Err(AppError::OrderNotOpen);
        }
        match self.store.set_receipt_phone(&o, &phone, &who.by(self.clock.now())).await {
            Err(StoreError::Conflict) => return Err(AppError::OrderNotOpen),
            other => other?,
        }
        Ok(OrderView::new(&Order { receipt_phone: phone, version: o.version + 1, ..o }, now))
    }
}
