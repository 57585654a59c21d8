//! Opaque pagination cursors.
//!
//! A cursor is the key of the last item on a page, bound to the table, index and partition it
//! came from, as base64url JSON. A cursor from another list (or a forged one) is refused rather
//! than passed to DynamoDB, so it can never widen a query beyond its partition.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::{Item, StoreError};
use crate::tables::{IndexDef, TableDef};

/// Which page of a list to read.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    /// Items per page, 1 to [`super::MAX_PAGE_SIZE`].
    pub size: u16,
    /// `None` for the first page.
    pub cursor: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct Cursor {
    #[serde(rename = "t")]
    table: String,
    #[serde(rename = "i")]
    index: String,
    #[serde(rename = "k")]
    key: BTreeMap<String, String>,
}

/// Longest cursor accepted; real ones are a few hundred characters.
const MAX_CURSOR_LEN: usize = 2048;

pub(super) fn encode(
    table: &TableDef,
    index: &IndexDef,
    item: &Item,
    key_attributes: &[&str],
) -> Result<String, StoreError> {
    let mut key = BTreeMap::new();
    for name in key_attributes {
        let Some(AttributeValue::S(value)) = item.get(*name) else {
            return Err(StoreError::Corrupt {
                kind: table.kind,
                detail: format!("key attribute {name} is missing or not a string"),
            });
        };
        key.insert((*name).to_owned(), value.clone());
    }
    let cursor = Cursor {
        table: table.kind.to_owned(),
        index: index.name.to_owned(),
        key,
    };
    let json = serde_json::to_vec(&cursor).map_err(|e| StoreError::Corrupt {
        kind: table.kind,
        detail: e.to_string(),
    })?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

pub(super) fn decode(
    text: &str,
    table: &TableDef,
    index: &IndexDef,
    partition_value: &str,
    key_attributes: &[&str],
) -> Result<Item, StoreError> {
    if text.len() > MAX_CURSOR_LEN {
        return Err(StoreError::InvalidCursor);
    }
    let cursor: Cursor = URL_SAFE_NO_PAD
        .decode(text)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or(StoreError::InvalidCursor)?;
    let same_list = cursor.table == table.kind
        && cursor.index == index.name
        && cursor.key.get(index.partition_key).map(String::as_str) == Some(partition_value)
        && cursor.key.len() == key_attributes.len()
        && key_attributes
            .iter()
            .all(|name| cursor.key.contains_key(*name));
    if !same_list {
        return Err(StoreError::InvalidCursor);
    }
    Ok(cursor
        .key
        .into_iter()
        .map(|(name, value)| (name, AttributeValue::S(value)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{
        REVIEWS, REVIEWS_BY_CUSTOMER, REVIEWS_BY_PRODUCT, WARRANTIES, WARRANTIES_BY_CUSTOMER,
    };

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    const KEYS: [&str; 3] = ["review_id", "product_id", "created_at"];

    fn product_cursor() -> String {
        let last = item(&[
            ("review_id", "REV-0001"),
            ("product_id", "PROD-001"),
            ("created_at", "2026-01-01T10:00:00Z"),
            ("title", "not part of the key"),
        ]);
        encode(&REVIEWS, &REVIEWS_BY_PRODUCT, &last, &KEYS).expect("encodes")
    }

    #[test]
    fn a_cursor_round_trips_to_the_last_items_key() {
        let key = decode(
            &product_cursor(),
            &REVIEWS,
            &REVIEWS_BY_PRODUCT,
            "PROD-001",
            &KEYS,
        )
        .expect("decodes");
        assert_eq!(key.len(), 3);
        assert_eq!(key["review_id"], AttributeValue::S("REV-0001".into()));
    }

    #[test]
    fn a_cursor_is_refused_for_another_partition_index_or_table() {
        let cursor = product_cursor();
        assert!(decode(&cursor, &REVIEWS, &REVIEWS_BY_PRODUCT, "PROD-002", &KEYS).is_err());
        let customer_keys = ["review_id", "customer_id", "created_at"];
        assert!(
            decode(
                &cursor,
                &REVIEWS,
                &REVIEWS_BY_CUSTOMER,
                "PROD-001",
                &customer_keys
            )
            .is_err()
        );
        let warranty_keys = ["serial_number", "customer_id", "end_date"];
        assert!(
            decode(
                &cursor,
                &WARRANTIES,
                &WARRANTIES_BY_CUSTOMER,
                "PROD-001",
                &warranty_keys
            )
            .is_err()
        );
    }

    #[test]
    fn garbage_and_oversized_cursors_are_refused() {
        for text in [
            "",
            "not base64!",
            "bm90IGpzb24",
            &"A".repeat(MAX_CURSOR_LEN + 1),
        ] {
            assert!(matches!(
                decode(text, &REVIEWS, &REVIEWS_BY_PRODUCT, "PROD-001", &KEYS),
                Err(StoreError::InvalidCursor)
            ));
        }
    }
}
