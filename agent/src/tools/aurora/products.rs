//! `search_products` (words and/or category over the catalogue) and `get_product` (one product
//! by id). The catalogue is the same for every caller.

use record_id::RecordId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::declaration::{Declaration, schema};
use super::{AuroraTools, CallError, DEFAULT_PAGE, MAX_PAGE, to_value};
use crate::aurora::data_api as db;
use crate::aurora::money::Money;

/// Longest search text.
const MAX_QUERY_LEN: u32 = 200;
/// Longest category name.
const MAX_CATEGORY_LEN: u32 = 64;

pub(super) const SEARCH_PRODUCTS: Declaration = Declaration {
    name: "search_products",
    title: "Search products",
    description: "Search the product catalogue by words (name, description, SKU) and/or category, with price and units in stock.",
    input: schema::<ProductSearch>,
    output: schema::<ProductList>,
};

pub(super) const GET_PRODUCT: Declaration = Declaration {
    name: "get_product",
    title: "Get a product",
    description: "Get one product by its id: SKU, name, description, category, price, units in stock and warranty length in months.",
    input: schema::<ProductId>,
    output: schema::<Product>,
};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductSearch {
    /// Words to look for in the product's name, description or SKU.
    #[schemars(length(min = 1, max = MAX_QUERY_LEN))]
    pub query: Option<String>,
    /// Only this category: laptops, phones, audio, wearables, smart-home or accessories.
    #[schemars(length(min = 1, max = MAX_CATEGORY_LEN))]
    pub category: Option<String>,
    /// Only products in stock.
    pub in_stock_only: Option<bool>,
    /// Most products returned, 1 to 25 (default 10).
    #[schemars(range(min = 1, max = MAX_PAGE))]
    pub limit: Option<u16>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductId {
    /// The product's id, e.g. `PROD-001`.
    pub product_id: RecordId,
}

#[derive(Debug, Deserialize, Serialize, JsonSchema)]
pub struct ProductSummary {
    pub product_id: String,
    pub name: String,
    pub category: String,
    pub price: Money,
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
    pub price: Money,
    pub stock: i64,
    pub warranty_months: i64,
}

const PRODUCT_SEARCH: &str = "SELECT p.product_id, p.name, p.category, p.price, p.stock \
     FROM products p \
     WHERE (CAST(:query AS text) IS NULL \
            OR to_tsvector('english', p.name || ' ' || p.description || ' ' || p.category) \
               @@ plainto_tsquery('english', CAST(:query AS text)) \
            OR p.name ILIKE CAST(:pattern AS text) OR p.sku ILIKE CAST(:pattern AS text)) \
       AND (CAST(:category AS text) IS NULL OR p.category = CAST(:category AS text)) \
       AND (NOT :in_stock_only OR p.stock > 0) \
     ORDER BY p.name LIMIT :limit";

const PRODUCT: &str = "SELECT p.product_id, p.sku, p.name, p.description, p.category, \
     p.price, p.stock, p.warranty_months \
     FROM products p WHERE p.product_id = :product_id";

impl AuroraTools {
    pub(super) async fn search_products(&self, input: ProductSearch) -> Result<Value, CallError> {
        let query = input
            .query
            .as_deref()
            .map(str::trim)
            .filter(|q| !q.is_empty());
        let pattern = query.map(|q| format!("%{}%", escape_like(q)));
        // The schema has bounded it to 1..=MAX_PAGE.
        let limit = input.limit.unwrap_or(DEFAULT_PAGE);
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

    pub(super) async fn product(&self, input: ProductId) -> Result<Value, CallError> {
        let product_id = input.product_id.as_str();
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
}

/// `%`, `_` and `\` match themselves in the pattern.
fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_wildcards_in_search_words_match_themselves() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
