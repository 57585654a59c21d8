//! The Aurora tools: customers, orders and products, read through the RDS Data API.
//!
//! The model never writes SQL: each tool runs fixed, parameterized statements, with row limits,
//! as the read-only database user (whose role also carries a statement timeout). Inputs are
//! typed and checked; results are typed, with an output schema. Per-customer isolation is
//! applied twice: the arguments are scoped by [`Access`] before the call like every tool's, and
//! the SQL itself only returns another customer's order to callers who may see everyone.

use std::sync::Arc;

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use service_runtime::signed_cursor::CursorSigner;

use super::ToolOutcome;
use super::access::Access;
use crate::aurora::data_api::{self as db, DataApi, DbError};

/// Most rows one page or search returns.
const MAX_PAGE: u16 = 25;
const DEFAULT_PAGE: u16 = 10;
/// Most lines shown for one order.
const MAX_ORDER_LINES: i64 = 100;

// ---- inputs ----

/// A customer to look up.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// The customer's id, e.g. `CUST-001`. For a signed-in customer it is always their own.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: Option<String>,
    /// Look the customer up by e-mail address instead (support staff).
    #[schemars(length(min = 3, max = 254))]
    pub email: Option<String>,
}

/// One page of a customer's orders.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OrdersQuery {
    /// The customer's id, e.g. `CUST-001`. For a signed-in customer it is always their own.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: Option<String>,
    /// Only orders with this status; omit for all.
    pub status: Option<OrderStatus>,
    /// Orders per page, 1 to 25 (default 10).
    #[schemars(range(min = 1, max = 25))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = 512))]
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
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub order_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSearch {
    /// Words to look for in the product's name, description or SKU.
    #[schemars(length(min = 1, max = 200))]
    pub query: Option<String>,
    /// Only this category: laptops, phones, audio, wearables, smart-home or accessories.
    #[schemars(length(min = 1, max = 64))]
    pub category: Option<String>,
    /// Only products in stock.
    pub in_stock_only: Option<bool>,
    /// Most products returned, 1 to 25 (default 10).
    #[schemars(range(min = 1, max = 25))]
    pub limit: Option<u16>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductId {
    /// The product's id, e.g. `PROD-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub product_id: String,
}

// ---- outputs ----

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct CustomerProfile {
    pub customer_id: String,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub phone: Option<String>,
    /// `standard` or `premium`.
    pub tier: String,
    pub city: Option<String>,
    pub country: Option<String>,
    /// `YYYY-MM-DD`.
    pub member_since: String,
    pub order_count: i64,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct OrderSummary {
    pub order_id: String,
    pub status: String,
    /// ISO 8601, UTC.
    pub placed_at: String,
    pub total_amount: f64,
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
    pub unit_price: f64,
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
    pub total_amount: f64,
    #[serde(default)]
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ProductSummary {
    pub product_id: String,
    pub name: String,
    pub category: String,
    pub price: f64,
    pub stock: i64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ProductList {
    pub products: Vec<ProductSummary>,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct Product {
    pub product_id: String,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: f64,
    pub stock: i64,
    pub warranty_months: i64,
}

// ---- SQL: fixed statements, named parameters only ----

const PROFILE_COLUMNS: &str = "c.customer_id, c.first_name, c.last_name, c.email, c.phone, c.tier, c.city, c.country, \
     to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS member_since, \
     (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id) AS order_count";

const ORDER_PAGE: &str = "SELECT o.order_id, o.status, \
     to_char(o.placed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS placed_at, \
     o.total_amount::float8 AS total_amount, \
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
     o.carrier, o.tracking_number, o.total_amount::float8 AS total_amount \
     FROM orders o \
     WHERE o.order_id = :order_id AND (:everyone OR o.customer_id = :caller)";

const ORDER_LINES: &str = "SELECT l.line_number, l.product_id, p.name AS product_name, l.quantity, \
     l.unit_price::float8 AS unit_price \
     FROM order_lines l JOIN products p ON p.product_id = l.product_id \
     WHERE l.order_id = :order_id ORDER BY l.line_number LIMIT :limit";

const PRODUCT_SEARCH: &str = "SELECT p.product_id, p.name, p.category, p.price::float8 AS price, p.stock \
     FROM products p \
     WHERE (CAST(:query AS text) IS NULL \
            OR to_tsvector('english', p.name || ' ' || p.description || ' ' || p.category) \
               @@ plainto_tsquery('english', CAST(:query AS text)) \
            OR p.name ILIKE CAST(:pattern AS text) OR p.sku ILIKE CAST(:pattern AS text)) \
       AND (CAST(:category AS text) IS NULL OR p.category = CAST(:category AS text)) \
       AND (NOT :in_stock_only OR p.stock > 0) \
     ORDER BY p.name LIMIT :limit";

const PRODUCT: &str = "SELECT p.product_id, p.sku, p.name, p.description, p.category, \
     p.price::float8 AS price, p.stock, p.warranty_months \
     FROM products p WHERE p.product_id = :product_id";

/// The Aurora tool source.
#[derive(Debug)]
pub struct AuroraTools {
    db: DataApi,
    /// Seals the order list's cursors to the customer, the status filter and the caller.
    cursors: CursorSigner,
}

/// One tool's static description.
struct Definition {
    name: &'static str,
    title: &'static str,
    description: &'static str,
    input: fn() -> Value,
    output: fn() -> Value,
}

fn schema<T: JsonSchema>() -> Value {
    serde_json::to_value(schemars::schema_for!(T)).unwrap_or(Value::Null)
}

const DEFINITIONS: &[Definition] = &[
    Definition {
        name: "get_customer_profile",
        title: "Look up a customer",
        description: "Get a customer's profile: name, contact details, tier (standard or premium), city, member since and number of orders. Look up by customer_id or, for staff, by email.",
        input: schema::<CustomerQuery>,
        output: schema::<CustomerProfile>,
    },
    Definition {
        name: "list_customer_orders",
        title: "List a customer's orders",
        description: "List a customer's orders, newest first, one page at a time, optionally only those with one status (pending, processing, shipped, delivered, cancelled, returned). Each has its status, date, total, item count, carrier and tracking number. Pass next_cursor back as cursor for the next page.",
        input: schema::<OrdersQuery>,
        output: schema::<OrderPage>,
    },
    Definition {
        name: "get_order",
        title: "Get an order",
        description: "Get one order by its id, with its status, date, carrier, tracking number, total and its lines (product id and name, quantity, unit price).",
        input: schema::<OrderId>,
        output: schema::<Order>,
    },
    Definition {
        name: "search_products",
        title: "Search products",
        description: "Search the product catalogue by words (name, description, SKU) and/or category, with price and units in stock.",
        input: schema::<ProductSearch>,
        output: schema::<ProductList>,
    },
    Definition {
        name: "get_product",
        title: "Get a product",
        description: "Get one product by its id: SKU, name, description, category, price, units in stock and warranty length in months.",
        input: schema::<ProductId>,
        output: schema::<Product>,
    },
];

/// Why a call could not give an answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A result that could not be turned into the tool's output.
    #[error("{0}")]
    Internal(String),
}

const COULD_NOT_ANSWER: &str =
    "the order database could not answer this request; answer without it";

/// What the model is told when the database fails: one plain sentence per failure class and
/// what to do.
fn plain_db_failure(error: &DbError) -> &'static str {
    match error {
        DbError::Timeout { .. } => {
            "the order database did not answer in time; try the same call again in a moment"
        }
        DbError::Unavailable { .. } => {
            "the order database is starting up or busy; try the same call again in a moment"
        }
        DbError::Unreachable { .. } => {
            "the order database could not be reached; try the same call again in a moment"
        }
        DbError::StatementTimeout { .. } => {
            "the order database took too long on this request and stopped it; try a narrower request"
        }
        DbError::Refused { .. } | DbError::Decode { .. } => COULD_NOT_ANSWER,
    }
}

impl AuroraTools {
    pub fn new(db: DataApi, cursors: CursorSigner) -> Self {
        Self { db, cursors }
    }

    /// The tools, as an MCP listing would describe them.
    pub fn list() -> Vec<Tool> {
        DEFINITIONS
            .iter()
            .map(|definition| {
                let mut tool = Tool::new(
                    definition.name,
                    definition.description,
                    Arc::new(object((definition.input)())),
                )
                .with_raw_output_schema(Arc::new(object((definition.output)())));
                tool.annotations = Some(
                    ToolAnnotations::with_title(definition.title)
                        .read_only(true)
                        .destructive(false)
                        .idempotent(true)
                        .open_world(false),
                );
                tool
            })
            .collect()
    }

    /// Runs one tool with arguments already scoped by `access`.
    pub async fn call(&self, tool: &str, arguments: JsonObject, access: &Access) -> ToolOutcome {
        let answer = async {
            match tool {
                "get_customer_profile" => self.customer_profile(parse(arguments)?, access).await,
                "list_customer_orders" => self.customer_orders(parse(arguments)?, access).await,
                "get_order" => self.order(parse(arguments)?, access).await,
                "search_products" => self.search_products(parse(arguments)?).await,
                "get_product" => self.product(parse(arguments)?).await,
                other => Err(CallError::Input(format!("unknown Aurora tool {other:?}"))),
            }
        }
        .await;
        match answer {
            Ok(output) => ToolOutcome::ok(output),
            // The cause (statement, service code, endpoint) is for the logs, where the turn's
            // span adds the request id; the model gets the plain sentence.
            Err(CallError::Db(error)) if error.is_transient() => {
                tracing::warn!(tool, %error, "Aurora tool failed");
                ToolOutcome::error(plain_db_failure(&error))
            }
            Err(CallError::Db(error)) => {
                tracing::error!(tool, %error, "Aurora tool failed");
                ToolOutcome::error(plain_db_failure(&error))
            }
            Err(CallError::Internal(detail)) => {
                tracing::error!(tool, %detail, "Aurora tool failed");
                ToolOutcome::error(COULD_NOT_ANSWER)
            }
            Err(error) => ToolOutcome::error(error.to_string()),
        }
    }

    async fn customer_profile(
        &self,
        input: CustomerQuery,
        access: &Access,
    ) -> Result<Value, CallError> {
        let (sql, parameters) = match (&input.customer_id, &input.email) {
            (Some(id), _) => (
                format!("SELECT {PROFILE_COLUMNS} FROM customers c WHERE c.customer_id = :id"),
                vec![db::text("id", checked_id("customer_id", id)?)],
            ),
            (None, Some(email)) if access.sees_everyone() => (
                format!(
                    "SELECT {PROFILE_COLUMNS} FROM customers c WHERE lower(c.email) = lower(:email)"
                ),
                vec![db::text("email", email.trim())],
            ),
            _ => {
                return Err(CallError::Input(
                    "give the customer's customer_id (or, for staff, their email)".to_owned(),
                ));
            }
        };
        let profile: Option<CustomerProfile> =
            self.one("customer profile", &sql, parameters).await?;
        let profile = profile.ok_or_else(|| {
            CallError::NotFound("no customer matches; check the id or e-mail address".to_owned())
        })?;
        to_value(&profile)
    }

    async fn customer_orders(
        &self,
        input: OrdersQuery,
        access: &Access,
    ) -> Result<Value, CallError> {
        let customer_id = input.customer_id.as_deref().ok_or_else(|| {
            CallError::Input("customer_id is required: whose orders should be listed?".to_owned())
        })?;
        let customer_id = checked_id("customer_id", customer_id)?;
        let page_size = page_size(input.page_size, "page_size")?;
        // The page size is left out: a caller may change it from one page to the next.
        let owner = access.cursor_owner();
        let binding = [
            "list_customer_orders",
            customer_id,
            input.status.map_or("any", OrderStatus::as_str),
            owner.as_str(),
        ];
        let after = input
            .cursor
            .as_deref()
            .map(|cursor| decode_cursor(&self.cursors, &binding, cursor))
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
            orders
                .last()
                .map(|last| encode_cursor(&self.cursors, &binding, &last.placed_at, &last.order_id))
        } else {
            None
        };
        to_value(&OrderPage {
            customer_id: customer_id.to_owned(),
            orders,
            next_cursor,
        })
    }

    async fn order(&self, input: OrderId, access: &Access) -> Result<Value, CallError> {
        let order_id = checked_id("order_id", &input.order_id)?;
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

    async fn search_products(&self, input: ProductSearch) -> Result<Value, CallError> {
        let query = input
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        let pattern = query.map(|q| format!("%{}%", escape_like(q)));
        let limit = page_size(input.limit, "limit")?;
        let products: Vec<ProductSummary> = self
            .db
            .query(
                "search products",
                PRODUCT_SEARCH,
                vec![
                    db::optional_text("query", query),
                    db::optional_text("pattern", pattern.as_deref()),
                    db::optional_text(
                        "category",
                        input
                            .category
                            .as_deref()
                            .map(str::trim)
                            .map(str::to_lowercase)
                            .as_deref(),
                    ),
                    db::boolean("in_stock_only", input.in_stock_only.unwrap_or(false)),
                    db::long("limit", i64::from(limit)),
                ],
            )
            .await?;
        to_value(&ProductList { products })
    }

    async fn product(&self, input: ProductId) -> Result<Value, CallError> {
        let product_id = checked_id("product_id", &input.product_id)?;
        let product: Option<Product> = self
            .one(
                "get product",
                PRODUCT,
                vec![db::text("product_id", product_id)],
            )
            .await?;
        let product = product.ok_or_else(|| {
            CallError::NotFound(format!(
                "no product with id {product_id:?} exists; search the products to find the right id"
            ))
        })?;
        to_value(&product)
    }

    async fn one<T: DeserializeOwned>(
        &self,
        statement: &'static str,
        sql: &str,
        parameters: Vec<aws_sdk_rdsdata::types::SqlParameter>,
    ) -> Result<Option<T>, CallError> {
        let rows: Vec<T> = self.db.query(statement, sql, parameters).await?;
        Ok(rows.into_iter().next())
    }
}

fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, CallError> {
    serde_json::from_value(Value::Object(arguments))
        .map_err(|e| CallError::Input(format!("invalid arguments: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, CallError> {
    serde_json::to_value(value).map_err(|e| CallError::Internal(e.to_string()))
}

fn checked_id<'a>(field: &str, id: &'a str) -> Result<&'a str, CallError> {
    let id = id.trim();
    let valid = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(id)
    } else {
        Err(CallError::Input(format!(
            "{field} must be 1 to 64 letters, digits, '.', '_' or '-'"
        )))
    }
}

fn page_size(requested: Option<u16>, field: &str) -> Result<u16, CallError> {
    match requested {
        None => Ok(DEFAULT_PAGE),
        Some(size) if (1..=MAX_PAGE).contains(&size) => Ok(size),
        Some(_) => Err(CallError::Input(format!(
            "{field} must be between 1 and {MAX_PAGE}"
        ))),
    }
}

/// `%`, `_` and `\` match themselves in the pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// The cursor after the order (`placed_at`, `order_id`): the sort key of the last row, sealed
/// to the list's `binding` (tool, customer, status filter, caller).
fn encode_cursor(
    signer: &CursorSigner,
    binding: &[&str],
    placed_at: &str,
    order_id: &str,
) -> String {
    signer.seal(binding, format!("{placed_at}|{order_id}").as_bytes())
}

/// The sort key a cursor continues after, if it was sealed for this very list and caller.
fn decode_cursor(
    signer: &CursorSigner,
    binding: &[&str],
    cursor: &str,
) -> Result<(String, String), CallError> {
    let invalid = || {
        CallError::Input(
            "the cursor is not valid for this list; pass the next_cursor from the previous page of the same list unchanged, or omit it to start from the first page".to_owned(),
        )
    };
    let bytes = signer.open(binding, cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let (placed, order) = text.split_once('|').ok_or_else(invalid)?;
    let placed_ok = chrono::DateTime::parse_from_rfc3339(placed).is_ok();
    if !placed_ok || checked_id("cursor", order).is_err() {
        return Err(invalid());
    }
    Ok((placed.to_owned(), order.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_object_schemas_and_is_read_only() {
        let tools = AuroraTools::list();
        assert_eq!(tools.len(), DEFINITIONS.len());
        for tool in tools {
            assert_eq!(tool.input_schema.get("type"), Some(&Value::from("object")));
            let output = tool.output_schema.expect("an output schema");
            assert_eq!(output.get("type"), Some(&Value::from("object")));
            let annotations = tool.annotations.expect("annotations");
            assert_eq!(annotations.read_only_hint, Some(true));
        }
    }

    const BINDING: [&str; 4] = [
        "list_customer_orders",
        "CUST-001",
        "any",
        "customer:CUST-001",
    ];

    fn signer() -> CursorSigner {
        CursorSigner::new().expect("the system has a random source")
    }

    #[test]
    fn cursors_round_trip_and_forgeries_are_refused() {
        let signer = signer();
        let cursor = encode_cursor(&signer, &BINDING, "2026-01-02T03:04:05Z", "ORD-00001");
        let (placed, order) = decode_cursor(&signer, &BINDING, &cursor).expect("valid");
        assert_eq!(
            (placed.as_str(), order.as_str()),
            ("2026-01-02T03:04:05Z", "ORD-00001")
        );
        let unsigned = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            "2026-01-02T03:04:05Z|ORD-00001",
        );
        for bad in [
            "",
            "!!",
            unsigned.as_str(),
            &signer.seal(&BINDING, b"yesterday|ORD-1"),
            &signer.seal(&BINDING, b"2026-01-02T03:04:05Z|x'; DROP"),
        ] {
            assert!(decode_cursor(&signer, &BINDING, bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_only_continues_its_customer_filter_and_caller() {
        let signer = signer();
        let cursor = encode_cursor(&signer, &BINDING, "2026-01-02T03:04:05Z", "ORD-00001");
        for other in [
            [
                "list_customer_orders",
                "CUST-002",
                "any",
                "customer:CUST-001",
            ],
            [
                "list_customer_orders",
                "CUST-001",
                "shipped",
                "customer:CUST-001",
            ],
            ["list_customer_orders", "CUST-001", "any", "staff:alice"],
            ["list_customer_orders", "CUST-001", "any", "unrestricted"],
        ] {
            assert!(
                decode_cursor(&signer, &other, &cursor).is_err(),
                "{other:?}"
            );
        }
        assert!(
            decode_cursor(&CursorSigner::new().expect("key"), &BINDING, &cursor).is_err(),
            "a cursor of another process"
        );
    }

    #[test]
    fn like_wildcards_in_search_words_match_themselves() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
