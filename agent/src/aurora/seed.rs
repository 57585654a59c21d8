//! The demo data set's Aurora part (customers, products, orders and their lines), compiled into
//! the binary from the shared `fixtures/` folder, the same records and ids the MCP server loads
//! into DynamoDB. Dates in the fixture are relative (days before the day of seeding).
//!
//! Amounts are JSON numbers in the fixture, read exactly as written ([`Money`]) and sent to the
//! database as exact decimal text.
//!
//! Seeding is an upsert inside one transaction: running it again refreshes the dates and
//! changes nothing else.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::{Deserialize, Deserializer};

use super::data_api::{self as db, DataApi, DbError};
use super::money::Money;

const CUSTOMERS: &str = include_str!("../../../fixtures/customers.json");
const PRODUCTS: &str = include_str!("../../../fixtures/products.json");
const ORDERS: &str = include_str!("../../../fixtures/orders.json");

#[derive(Debug, Deserialize)]
struct Customer {
    customer_id: String,
    username: String,
    first_name: String,
    last_name: String,
    email: String,
    phone: Option<String>,
    tier: String,
    city: Option<String>,
    country: Option<String>,
    created_days_ago: i64,
}

#[derive(Debug, Deserialize)]
struct Product {
    product_id: String,
    sku: String,
    name: String,
    description: String,
    category: String,
    #[serde(deserialize_with = "amount")]
    price: Money,
    stock: i64,
    warranty_months: i64,
}

#[derive(Debug, Deserialize)]
struct Order {
    order_id: String,
    customer_id: String,
    status: String,
    placed_days_ago: i64,
    time: String,
    carrier: Option<String>,
    tracking_number: Option<String>,
    lines: Vec<OrderLine>,
    #[serde(deserialize_with = "amount")]
    total_amount: Money,
}

#[derive(Debug, Deserialize)]
struct OrderLine {
    line_number: i64,
    product_id: String,
    quantity: i64,
    #[serde(deserialize_with = "amount")]
    unit_price: Money,
}

/// How many records of each kind were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedCounts {
    pub customers: usize,
    pub products: usize,
    pub orders: usize,
    pub order_lines: usize,
}

/// Why the data set could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("the {file} fixture is not valid: {detail}")]
    Fixture { file: &'static str, detail: String },
    #[error(transparent)]
    Db(#[from] DbError),
}

const UPSERT_CUSTOMER: &str = "INSERT INTO customers (customer_id, username, first_name, last_name, email, phone, tier, city, country, created_at) \
     VALUES (:customer_id, :username, :first_name, :last_name, :email, :phone, :tier, :city, :country, :created_at) \
     ON CONFLICT (customer_id) DO UPDATE SET username = EXCLUDED.username, first_name = EXCLUDED.first_name, \
     last_name = EXCLUDED.last_name, email = EXCLUDED.email, phone = EXCLUDED.phone, tier = EXCLUDED.tier, \
     city = EXCLUDED.city, country = EXCLUDED.country, created_at = EXCLUDED.created_at";

const UPSERT_PRODUCT: &str = "INSERT INTO products (product_id, sku, name, description, category, price, stock, warranty_months) \
     VALUES (:product_id, :sku, :name, :description, :category, :price, :stock, :warranty_months) \
     ON CONFLICT (product_id) DO UPDATE SET sku = EXCLUDED.sku, name = EXCLUDED.name, \
     description = EXCLUDED.description, category = EXCLUDED.category, price = EXCLUDED.price, \
     stock = EXCLUDED.stock, warranty_months = EXCLUDED.warranty_months";

const UPSERT_ORDER: &str = "INSERT INTO orders (order_id, customer_id, status, placed_at, carrier, tracking_number, total_amount) \
     VALUES (:order_id, :customer_id, :status, :placed_at, :carrier, :tracking_number, :total_amount) \
     ON CONFLICT (order_id) DO UPDATE SET customer_id = EXCLUDED.customer_id, status = EXCLUDED.status, \
     placed_at = EXCLUDED.placed_at, carrier = EXCLUDED.carrier, tracking_number = EXCLUDED.tracking_number, \
     total_amount = EXCLUDED.total_amount";

const UPSERT_ORDER_LINE: &str = "INSERT INTO order_lines (order_id, line_number, product_id, quantity, unit_price) \
     VALUES (:order_id, :line_number, :product_id, :quantity, :unit_price) \
     ON CONFLICT (order_id, line_number) DO UPDATE SET product_id = EXCLUDED.product_id, \
     quantity = EXCLUDED.quantity, unit_price = EXCLUDED.unit_price";

/// A fixture's amount: a JSON number with at most two decimal places, read exactly.
fn amount<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
    let number = serde_json::Number::deserialize(deserializer)?;
    Money::from_json_number(&number).map_err(serde::de::Error::custom)
}

fn parse<T: for<'de> Deserialize<'de>>(file: &'static str, text: &str) -> Result<T, SeedError> {
    serde_json::from_str(text).map_err(|e| SeedError::Fixture {
        file,
        detail: e.to_string(),
    })
}

fn at(today: NaiveDate, days_ago: i64, time: &str) -> Result<DateTime<Utc>, SeedError> {
    let time = NaiveTime::parse_from_str(time, "%H:%M").map_err(|e| SeedError::Fixture {
        file: "orders.json",
        detail: format!("time {time:?}: {e}"),
    })?;
    Ok((today - Duration::days(days_ago)).and_time(time).and_utc())
}

/// Loads the data set, dated relative to `today`, in one transaction.
pub async fn seed(admin: &DataApi, today: NaiveDate) -> Result<SeedCounts, SeedError> {
    let customers: Vec<Customer> = parse("customers.json", CUSTOMERS)?;
    let products: Vec<Product> = parse("products.json", PRODUCTS)?;
    let orders: Vec<Order> = parse("orders.json", ORDERS)?;

    let customer_rows = customers
        .iter()
        .map(|c| {
            Ok(vec![
                db::text("customer_id", &c.customer_id),
                db::text("username", &c.username),
                db::text("first_name", &c.first_name),
                db::text("last_name", &c.last_name),
                db::text("email", &c.email),
                db::optional_text("phone", c.phone.as_deref()),
                db::text("tier", &c.tier),
                db::optional_text("city", c.city.as_deref()),
                db::optional_text("country", c.country.as_deref()),
                db::timestamp("created_at", at(today, c.created_days_ago, "00:00")?),
            ])
        })
        .collect::<Result<Vec<_>, SeedError>>()?;
    let product_rows: Vec<Vec<_>> = products
        .iter()
        .map(|p| {
            vec![
                db::text("product_id", &p.product_id),
                db::text("sku", &p.sku),
                db::text("name", &p.name),
                db::text("description", &p.description),
                db::text("category", &p.category),
                db::decimal("price", p.price),
                db::long("stock", p.stock),
                db::long("warranty_months", p.warranty_months),
            ]
        })
        .collect();
    let order_rows = orders
        .iter()
        .map(|o| {
            Ok(vec![
                db::text("order_id", &o.order_id),
                db::text("customer_id", &o.customer_id),
                db::text("status", &o.status),
                db::timestamp("placed_at", at(today, o.placed_days_ago, &o.time)?),
                db::optional_text("carrier", o.carrier.as_deref()),
                db::optional_text("tracking_number", o.tracking_number.as_deref()),
                db::decimal("total_amount", o.total_amount),
            ])
        })
        .collect::<Result<Vec<_>, SeedError>>()?;
    let line_rows: Vec<_> = orders
        .iter()
        .flat_map(|o| {
            o.lines.iter().map(|l| {
                vec![
                    db::text("order_id", &o.order_id),
                    db::long("line_number", l.line_number),
                    db::text("product_id", &l.product_id),
                    db::long("quantity", l.quantity),
                    db::decimal("unit_price", l.unit_price),
                ]
            })
        })
        .collect();
    let counts = SeedCounts {
        customers: customer_rows.len(),
        products: product_rows.len(),
        orders: order_rows.len(),
        order_lines: line_rows.len(),
    };

    let transaction = admin.begin().await?;
    let loaded = async {
        let tx = Some(transaction.as_str());
        admin
            .execute_batch("upsert customers", UPSERT_CUSTOMER, customer_rows, tx)
            .await?;
        admin
            .execute_batch("upsert products", UPSERT_PRODUCT, product_rows, tx)
            .await?;
        admin
            .execute_batch("upsert orders", UPSERT_ORDER, order_rows, tx)
            .await?;
        admin
            .execute_batch("upsert order lines", UPSERT_ORDER_LINE, line_rows, tx)
            .await
    }
    .await;
    match loaded {
        Ok(()) => {
            admin.commit(&transaction).await?;
            Ok(counts)
        }
        Err(error) => {
            if let Err(rollback) = admin.rollback(&transaction).await {
                tracing::warn!(error = %rollback, "rolling back the seed transaction failed");
            }
            Err(error.into())
        }
    }
}
