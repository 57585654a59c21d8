//! The DynamoDB adapter: every call this server makes to DynamoDB goes through [`Store`].
//!
//! Tools ask the store for records and get typed values or a [`StoreError`] that says what went
//! wrong in words a caller can act on; the store knows tables, indexes and cursors (sealed with
//! the process's [`CursorSigner`]), nothing about MCP.

mod cursor;
mod load;
mod reviews;
mod schema;
mod tickets;
mod warranties;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use service_runtime::signed_cursor::CursorSigner;

use crate::config::StoreConfig;
use crate::tables::{IndexDef, TableDef};

pub use cursor::PageRequest;
pub use schema::TableState;
pub use tickets::{Creation, NewTicket};

/// The most items one page may hold.
pub const MAX_PAGE_SIZE: u16 = 50;
/// The page size when the caller names none.
pub const DEFAULT_PAGE_SIZE: u16 = 10;

/// What can go wrong when reading or writing the tables.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no {kind} with id {id:?} exists")]
    NotFound { kind: &'static str, id: String },
    #[error(
        "the cursor is not valid for this list; pass the next_cursor from the previous page of the same list unchanged, or omit it to start from the first page"
    )]
    InvalidCursor,
    #[error("{0}")]
    Conflict(String),
    #[error("DynamoDB call {operation} on the {kind} table failed: {detail}")]
    Unavailable {
        operation: &'static str,
        kind: &'static str,
        detail: String,
    },
    #[error("a stored {kind} record could not be read: {detail}")]
    Corrupt { kind: &'static str, detail: String },
}

impl StoreError {
    fn unavailable<E>(operation: &'static str, kind: &'static str, error: E) -> Self
    where
        E: std::error::Error,
    {
        Self::Unavailable {
            operation,
            kind,
            detail: DisplayErrorContext(error).to_string(),
        }
    }
}

/// One page of a list, and the cursor of the next page if there is one.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Table names, the DynamoDB client and the key that seals cursors.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    cursors: CursorSigner,
    reviews_table: String,
    warranties_table: String,
    tickets_table: String,
}

type Item = HashMap<String, AttributeValue>;

impl Store {
    /// Builds the client without any network call: credentials are resolved on first use.
    pub async fn connect(config: &StoreConfig, cursors: CursorSigner) -> Self {
        Self::with_client(client(config).await, config, cursors)
    }

    pub fn with_client(client: Client, config: &StoreConfig, cursors: CursorSigner) -> Self {
        Self {
            client,
            cursors,
            reviews_table: config.reviews_table.clone(),
            warranties_table: config.warranties_table.clone(),
            tickets_table: config.tickets_table.clone(),
        }
    }

    /// One page of the items in `index` whose partition key is `partition_value`, newest
    /// (highest sort key) first. `list` names the list, then the value of each of its filters
    /// ("any" for one not applied): with the rest of the query and the caller, it is what a
    /// cursor is bound to.
    async fn query_page<T: DeserializeOwned>(
        &self,
        list: &[&str],
        table: &'static TableDef,
        table_name: &str,
        index: &'static IndexDef,
        partition_value: &str,
        page: &PageRequest,
    ) -> Result<Page<T>, StoreError> {
        let key_attributes = [table.partition_key, index.partition_key, index.sort_key];
        let binding = cursor::Binding {
            signer: &self.cursors,
            list,
            table,
            table_name,
            index,
            partition_value,
            caller: &page.caller,
            key_attributes: &key_attributes,
        };
        let start_key = page
            .cursor
            .as_deref()
            .map(|cursor| binding.decode(cursor))
            .transpose()?;
        let output = self
            .client
            .query()
            .table_name(table_name)
            .index_name(index.name)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", index.partition_key)
            .expression_attribute_values(":pk", AttributeValue::S(partition_value.to_owned()))
            .scan_index_forward(false)
            // One item more than asked for tells whether another page exists, so the last
            // page never comes back empty.
            .limit(i32::from(page.size) + 1)
            .set_exclusive_start_key(start_key)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("Query", table.kind, e))?;
        let mut items = output.items.unwrap_or_default();
        let next_cursor = if items.len() > usize::from(page.size) {
            items.truncate(usize::from(page.size));
            items.last().map(|last| binding.encode(last)).transpose()?
        } else {
            None
        };
        Ok(Page {
            items: items
                .into_iter()
                .map(|item| from_item(table, item))
                .collect::<Result<_, _>>()?,
            next_cursor,
        })
    }

    /// The item with the given key, if it exists.
    async fn get<T: DeserializeOwned>(
        &self,
        table: &'static TableDef,
        table_name: &str,
        id: &str,
        consistent: bool,
    ) -> Result<Option<T>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(table_name)
            .key(table.partition_key, AttributeValue::S(id.to_owned()))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| StoreError::unavailable("GetItem", table.kind, e))?;
        output.item.map(|item| from_item(table, item)).transpose()
    }
}

fn from_item<T: DeserializeOwned>(table: &'static TableDef, item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        kind: table.kind,
        detail: e.to_string(),
    })
}

fn to_item<T: serde::Serialize>(table: &'static TableDef, value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt {
        kind: table.kind,
        detail: e.to_string(),
    })
}

/// A DynamoDB client with the configured time budget and retries. The region comes from
/// configuration so that building it never asks a metadata service.
pub async fn client(config: &StoreConfig) -> Client {
    let operation_timeout = config.operation_timeout();
    let attempt_timeout =
        (operation_timeout / config.dynamodb_max_attempts).max(Duration::from_millis(100));
    let sdk_config = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2).min(attempt_timeout))
                .operation_attempt_timeout(attempt_timeout)
                .operation_timeout(operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(config.dynamodb_max_attempts))
        .load()
        .await;
    Client::new(&sdk_config)
}
