//! Opaque pagination cursors, sealed by [`service_runtime::signed_cursor`].
//!
//! A cursor's payload is the key of the last item on a page (as JSON), and its seal binds it to
//! everything that decided what the list holds: the list and its filters, the table, the index,
//! the partition and the caller it was read for. A cursor from another list, with other filters,
//! of another caller, from an earlier server process, or edited at all is refused before any
//! DynamoDB call, so it can never widen a query beyond the list it came from.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;
use service_runtime::signed_cursor::CursorSigner;

use super::{Item, StoreError};
use crate::tables::{IndexDef, TableDef};

/// Which page of a list to read, and for whom.
#[derive(Debug, Clone)]
pub struct PageRequest {
    /// Items per page, 1 to [`super::MAX_PAGE_SIZE`].
    pub size: u16,
    /// `None` for the first page.
    pub cursor: Option<String>,
    /// Who reads the list (the authenticated caller's subject, or `anonymous`): a cursor only
    /// continues for the caller it was issued to.
    pub caller: String,
}

/// What one list's cursors are sealed with: the signer and every value the seal binds.
pub(super) struct Binding<'a> {
    pub signer: &'a CursorSigner,
    /// The list's name, then the value of each of its filters.
    pub list: &'a [&'a str],
    pub table: &'static TableDef,
    pub table_name: &'a str,
    pub index: &'static IndexDef,
    pub partition_value: &'a str,
    pub caller: &'a str,
    /// The attributes that make up an item's key in the index.
    pub key_attributes: &'a [&'a str],
}

impl Binding<'_> {
    fn parts(&self) -> Vec<&str> {
        let mut parts = self.list.to_vec();
        parts.extend([
            self.table_name,
            self.index.name,
            self.partition_value,
            self.caller,
        ]);
        parts
    }

    /// The cursor that continues the list after `item`.
    pub fn encode(&self, item: &Item) -> Result<String, StoreError> {
        let mut key = BTreeMap::new();
        for name in self.key_attributes {
            let Some(AttributeValue::S(value)) = item.get(*name) else {
                return Err(StoreError::Corrupt {
                    kind: self.table.kind,
                    detail: format!("key attribute {name} is missing or not a string"),
                });
            };
            key.insert(*name, value.as_str());
        }
        let json = serde_json::to_vec(&key).map_err(|e| StoreError::Corrupt {
            kind: self.table.kind,
            detail: e.to_string(),
        })?;
        Ok(self.signer.seal(&self.parts(), &json))
    }

    /// The exclusive start key `text` stands for, if it was issued for this very list.
    pub fn decode(&self, text: &str) -> Result<Item, StoreError> {
        let json = self
            .signer
            .open(&self.parts(), text)
            .map_err(|_| StoreError::InvalidCursor)?;
        let key: BTreeMap<String, String> =
            serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
        // The seal already vouches for the key; checking its shape as well keeps a future
        // change of the key attributes from passing an old key to DynamoDB.
        let same_shape = key.len() == self.key_attributes.len()
            && self
                .key_attributes
                .iter()
                .all(|name| key.contains_key(*name))
            && key.get(self.index.partition_key).map(String::as_str) == Some(self.partition_value);
        if !same_shape {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key
            .into_iter()
            .map(|(name, value)| (name, AttributeValue::S(value)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::{
        REVIEWS, REVIEWS_BY_CUSTOMER, REVIEWS_BY_PRODUCT, TICKETS, TICKETS_BY_CUSTOMER_STATUS,
    };

    fn item(pairs: &[(&str, &str)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), AttributeValue::S((*v).to_owned())))
            .collect()
    }

    const KEYS: [&str; 3] = ["review_id", "product_id", "created_at"];

    fn product_list<'a>(
        signer: &'a CursorSigner,
        product: &'a str,
        caller: &'a str,
    ) -> Binding<'a> {
        Binding {
            signer,
            list: &["product_reviews"],
            table: &REVIEWS,
            table_name: "reviews",
            index: &REVIEWS_BY_PRODUCT,
            partition_value: product,
            caller,
            key_attributes: &KEYS,
        }
    }

    fn last_item() -> Item {
        item(&[
            ("review_id", "REV-0001"),
            ("product_id", "PROD-001"),
            ("created_at", "2026-01-01T10:00:00Z"),
            ("title", "not part of the key"),
        ])
    }

    fn signer() -> CursorSigner {
        CursorSigner::new().expect("the system has a random source")
    }

    #[test]
    fn a_cursor_round_trips_to_the_last_items_key() {
        let signer = signer();
        let list = product_list(&signer, "PROD-001", "anonymous");
        let cursor = list.encode(&last_item()).expect("encodes");
        let key = list.decode(&cursor).expect("decodes");
        assert_eq!(key.len(), 3);
        assert_eq!(key["review_id"], AttributeValue::S("REV-0001".into()));
        assert!(!key.contains_key("title"));
    }

    #[test]
    fn a_cursor_is_refused_for_another_partition_index_table_filter_or_caller() {
        let signer = signer();
        let cursor = product_list(&signer, "PROD-001", "alice")
            .encode(&last_item())
            .expect("encodes");
        let others = [
            product_list(&signer, "PROD-002", "alice"),
            product_list(&signer, "PROD-001", "bob"),
            product_list(&signer, "PROD-001", "anonymous"),
            Binding {
                list: &["customer_reviews"],
                index: &REVIEWS_BY_CUSTOMER,
                ..product_list(&signer, "PROD-001", "alice")
            },
            Binding {
                table_name: "other-reviews",
                ..product_list(&signer, "PROD-001", "alice")
            },
            Binding {
                list: &["product_reviews", "any"],
                ..product_list(&signer, "PROD-001", "alice")
            },
            Binding {
                list: &["customer_tickets", "open"],
                table: &TICKETS,
                index: &TICKETS_BY_CUSTOMER_STATUS,
                ..product_list(&signer, "PROD-001", "alice")
            },
        ];
        for other in others {
            assert!(
                matches!(other.decode(&cursor), Err(StoreError::InvalidCursor)),
                "{:?} {:?} {} {}",
                other.list,
                other.index.name,
                other.partition_value,
                other.caller
            );
        }
    }

    #[test]
    fn a_sealed_key_of_the_wrong_shape_is_refused() {
        let signer = signer();
        let list = product_list(&signer, "PROD-001", "anonymous");
        let parts = list.parts();
        for key in [
            r#"{"review_id":"REV-0001","product_id":"PROD-002","created_at":"x"}"#,
            r#"{"review_id":"REV-0001","product_id":"PROD-001"}"#,
            r#"["REV-0001"]"#,
        ] {
            let cursor = signer.seal(&parts, key.as_bytes());
            assert!(
                matches!(list.decode(&cursor), Err(StoreError::InvalidCursor)),
                "{key}"
            );
        }
    }

    #[test]
    fn garbage_forged_and_oversized_cursors_are_refused() {
        let signer = signer();
        let list = product_list(&signer, "PROD-001", "anonymous");
        // The last item's key as base64url JSON, unsealed: what a hand-made cursor looks like.
        let unsigned = "eyJyZXZpZXdfaWQiOiJSRVYtMDAwMSIsInByb2R1Y3RfaWQiOiJQUk9ELTAwMSIsImNyZWF0ZWRfYXQiOiIyMDI2LTAxLTAxVDEwOjAwOjAwWiJ9";
        for text in [
            "",
            "not base64!",
            "bm90IGpzb24",
            unsigned,
            &"A".repeat(service_runtime::signed_cursor::MAX_CURSOR_LEN + 1),
        ] {
            assert!(
                matches!(list.decode(text), Err(StoreError::InvalidCursor)),
                "{text:?}"
            );
        }
    }
}
