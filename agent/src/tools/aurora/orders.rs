//! `list_customer_orders` (newest first, one page at a time) and `get_order` (one order with
//! its lines). Another customer's order reads like a missing one: the SQL only returns it to
//! callers who may see everyone.

use record_id::RecordId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::declaration::{Declaration, schema};
use super::{AuroraTools, CallError, DEFAULT_PAGE, MAX_PAGE, order_cursor, to_value};
use crate::aurora::data_api as db;
use crate::aurora::money::Money;
use crate::tools::access::Access;

/// Longest cursor accepted (the sealed sort key of a page's last order).
const MAX_CURSOR_LEN: u32 = 512;
/// Most lines shown for one order.
const MAX_ORDER_LINES: i64 = 100;

pub(super) const LIST_CUSTOMER_ORDERS: Declaration = Declaration {
    name: "list_customer_orders",
    title: "List a customer's orders",
    description: "List a customer's orders, newest first, one page at a time, optionally only those with one status (pending, processing, shipped, delivered, cancelled, returned). Each has its status, date, total, item count, carrier and tracking number. Pass next_cursor back as cursor for the next page.",
    input: schema::<OrdersQuery>,
    output: schema::<OrderPage>,
};

pub(super) const GET_ORDER: Declaration = Declaration {
    name: "get_order",
    title: "Get an order",
    description: "Get one order by its id, with its status, date, carrier, tracking number, total and its lines (product id and name, quantity, unit price).",
    input: schema::<OrderId>,
    output: schema::<Order>,
};

/// One page of a customer's orders.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// The customer's id, e.g. `CUST-001`. For a signed-in customer it is always their own.
    pub customer_id: Option<RecordId>,
    /// Only orders with this status; omit for all.
    pub status: Option<OrderStatus>,
    /// Orders per page, 1 to 25 (default 10).
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = MAX_CURSOR_LEN))]
    pub cursor: Option<String>,
}

/// An order's status.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Returned,
}

impl OrderStatus {
    fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Pending => "pending",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Returned => "returned",
        }
    }
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderId {
    /// The order's id, e.g. `ORD-00001`.
    pub order_id: RecordId,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct OrderSummary {
    pub order_id: String,
    pub status: String,
    /// ISO 8601, UTC.
    pub placed_at: String,
    pub total_amount: Money,
    pub item_count: i64,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct OrderPage {
    pub customer_id: String,
    /// Newest first.
    pub orders: Vec<OrderSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct OrderLine {
    pub line_number: i64,
    pub product_id: String,
    pub product_name: String,
    pub quantity: i64,
    pub unit_price: Money,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Order {
    pub order_id: String,
    pub customer_id: String,
    pub status: String,
    /// ISO 8601, UTC.
    pub placed_at: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub total_amount: Money,
    #[serde(default)]
    pub lines: Vec<OrderLine>,
}

// Amounts are selected as the `numeric` they are: the Data API returns them as exact text.
const ORDER_PAGE: &str = "SELECT o.order_id, o.status, \
     to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS placed_at, \
     o.total_amount, \
     (SELECT COALESCE(sum(l.quantity), 0) FROM order_lines l WHERE l.order_id = o.order_id) AS item_count, \
     o.carrier, o.tracking_number \
     FROM orders o \
     WHERE o.customer_id = :customer_id \
       AND (CAST(:status AS text) IS NULL OR o.status = CAST(:status AS text)) \
       AND (CAST(:after_placed AS timestamptz) IS NULL \
            OR (o.placed_at, o.order_id) < (CAST(:after_placed AS timestamptz), CAST(:after_order AS text))) \
     ORDER BY o.placed_at DESC, o.order_id DESC \
     LIMIT :limit";

const ORDER: &str = "SELECT o.order_id, o.customer_id, o.status, \
     to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS placed_at, \
     o.carrier, o.tracking_number, o.total_amount \
     FROM orders o \
     WHERE o.order_id = :order_id AND (:everyone OR o.customer_id = :caller)";

const ORDER_LINES: &str = "SELECT l.line_number, l.product_id, p.name AS product_name, l.quantity, \
     l.unit_price \
     FROM order_lines l JOIN products p ON p.product_id = l.product_id \
     WHERE l.order_id = :order_id ORDER BY l.line_number LIMIT :limit";

impl AuroraTools {
    pub(super) async fn customer_orders(
        &self,
        input: OrdersQuery,
        access: &Access,
    ) -> Result<Value, CallError> {
        let customer_id = input.customer_id.as_deref().ok_or_else(|| {
            CallError::Input("customer_id is required: whose orders should be listed?".to_owned())
        })?;
        // The schema has bounded it to 1..=MAX_PAGE.
        let page_size = input.page_size.unwrap_or(DEFAULT_PAGE);
        // The page size is left out: a caller may change it from one page to the next.
        let owner = access.cursor_owner();
        let binding = [
            LIST_CUSTOMER_ORDERS.name,
            customer_id,
            input.status.map_or("any", OrderStatus::as_str),
            owner.as_str(),
        ];
        let after = input
            .cursor
            .as_deref()
            .map(|cursor| order_cursor::decode(&self.cursors, &binding, cursor))
            .transpose()?;
        let (after_placed, after_order) = match &after {
            Some((placed, order)) => (Some(placed.as_str()), Some(order.as_str())),
            None => (None, None),
        };
        let mut orders: Vec<OrderSummary> = self
            .db
            .query(
                "list customer orders",
                ORDER_PAGE,
                vec![
                    db::text("customer_id", customer_id),
                    db::optional_text("status", input.status.map(OrderStatus::as_str)),
                    db::optional_text("after_placed", after_placed),
                    db::optional_text("after_order", after_order),
                    db::long("limit", i64::from(page_size) + 1),
                ],
            )
            .await?;
        let next_cursor = if orders.len() > usize::from(page_size) {
            orders.truncate(usize::from(page_size));
            orders.last().map(|last| {
                order_cursor::encode(&self.cursors, &binding, &last.placed_at, &last.order_id)
            })
        } else {
            None
        };
        to_value(&OrderPage {
            customer_id: customer_id.to_owned(),
            orders,
            next_cursor,
        })
    }

    pub(super) async fn order(&self, input: OrderId, access: &Access) -> Result<Value, CallError> {
        let order_id = input.order_id.as_str();
        let order: Option<Order> = self
            .one(
                "get order",
                ORDER,
                vec![
                    db::text("order_id", order_id),
                    db::boolean("everyone", access.sees_everyone()),
                    db::text("caller", access.own_customer().unwrap_or("")),
                ],
            )
            .await?;
        let Some(mut order) = order else {
            return Err(CallError::NotFound(format!(
                "no order with id {order_id:?} exists for this customer; list the customer's orders to find the right id"
            )));
        };
        order.lines = self
            .db
            .query(
                "get order lines",
                ORDER_LINES,
                vec![
                    db::text("order_id", order_id),
                    db::long("limit", MAX_ORDER_LINES),
                ],
            )
            .await?;
        to_value(&order)
    }
}
