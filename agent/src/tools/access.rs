//! Per-customer isolation, enforced in the tool layer whatever the model writes.
//!
//! The verified caller maps to an [`Access`]: a customer (from a configurable token claim), support
//! staff (a configurable Cognito group), an authenticated caller linked to no customer, or, with
//! authentication off for local development, unrestricted. For a customer, every tool call passes
//! [`Access::scope_arguments`] before it runs and [`Access::screen`] after:
//!
//! - a tool whose input has a `customer_id` gets the caller's id filled in; a different id
//!   (another customer's, a case or whitespace variant other than surrounding blanks, a
//!   lookalike, a number, an array) is refused before the call, and so is a `customer_id`
//!   naming anyone else anywhere deeper in the arguments;
//! - a tool that writes but takes no `customer_id` is refused, because nothing could limit it to
//!   the caller's records;
//! - a result is screened at every depth: an object that names a customer other than the
//!   caller (a `customer_id` that is not exactly the caller's) is dropped when it is an item of a
//!   list, and otherwise withholds the whole result, which is then reported exactly as a record
//!   that does not exist would be ([`NOT_FOUND`]), so that nothing about it leaks.
//!
//! An unlinked caller may call no tool that takes a `customer_id`, and sees no object that has
//! one. Staff and unrestricted callers are not limited. The Aurora tools apply the same
//! [`Access`] in their SQL, and our MCP server checks a `customer_id` it is given against the
//! record's owner, so screening here is the second line, not the only one.

use inbound_auth::Caller;
use serde_json::{Map, Value};

/// The argument and result field that names a record's customer.
pub const CUSTOMER_FIELD: &str = "customer_id";

/// What the model reads when a whole result is withheld: the words a missing record gets.
pub const NOT_FOUND: &str =
    "no such record exists for this customer; check the id with the customer";

/// How the caller's identity maps to data access (`CUSTOMER_ID_CLAIM`, `STAFF_GROUP`).
#[derive(Debug, Clone)]
pub struct AccessPolicy {
    pub customer_claim: String,
    pub staff_group: String,
}

/// What one request may read and write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// A customer: only their own records.
    Customer { customer_id: String },
    /// Support staff: any customer's records.
    Staff { username: String },
    /// A verified caller whose token names no customer and who is not staff: no customer data.
    Unlinked,
    /// Authentication is off (`AUTH_MODE=none`, local development): no limits.
    Unrestricted,
}

impl AccessPolicy {
    /// The access of `caller`. Staff membership wins over a customer claim.
    pub fn access_for(&self, caller: &Caller) -> Access {
        let Some(principal) = caller.principal() else {
            return Access::Unrestricted;
        };
        if caller.is_in_group(&self.staff_group) {
            return Access::Staff {
                username: principal
                    .username
                    .clone()
                    .unwrap_or_else(|| principal.subject.clone()),
            };
        }
        match principal
            .claim_str(&self.customer_claim)
            .map(str::trim)
            .filter(|id| record_id::is_valid(id))
        {
            Some(customer_id) => Access::Customer {
                customer_id: customer_id.to_owned(),
            },
            None => Access::Unlinked,
        }
    }
}

/// Why a call was refused before it ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    #[error(
        "that customer_id is not the signed-in customer's; this caller may only use their own records ({own})"
    )]
    OtherCustomer { own: String },
    #[error("this tool changes records but cannot be limited to the signed-in customer's own")]
    UnscopedWrite,
    #[error(
        "the caller's account is not linked to a customer record, so customer data is not available"
    )]
    Unlinked,
}

impl Access {
    /// The customer whose records this request is limited to, if any.
    pub fn own_customer(&self) -> Option<&str> {
        match self {
            Access::Customer { customer_id } => Some(customer_id),
            _ => None,
        }
    }

    /// Whether the caller may see every customer's records.
    pub fn sees_everyone(&self) -> bool {
        matches!(self, Access::Staff { .. } | Access::Unrestricted)
    }

    /// Checks and completes the arguments of one call to a tool whose input schema is
    /// `input_schema`.
    pub fn scope_arguments(
        &self,
        input_schema: &Value,
        read_only: bool,
        arguments: &mut Map<String, Value>,
    ) -> Result<(), AccessError> {
        let takes_customer = input_schema
            .get("properties")
            .and_then(Value::as_object)
            .is_some_and(|properties| properties.contains_key(CUSTOMER_FIELD));
        match self {
            Access::Staff { .. } | Access::Unrestricted => Ok(()),
            Access::Unlinked
                if takes_customer
                    || !read_only
                    || names_a_customer(&Value::Object(arguments.clone()), None) =>
            {
                Err(AccessError::Unlinked)
            }
            Access::Unlinked => Ok(()),
            Access::Customer { customer_id } => {
                let nested = arguments
                    .iter()
                    .filter(|(name, _)| *name != CUSTOMER_FIELD)
                    .find_map(|(_, value)| foreign_customer(value, customer_id));
                if let Some(requested) = nested {
                    tracing::info!(requested = %requested, "a customer_id deeper in the arguments names another customer");
                    return Err(AccessError::OtherCustomer {
                        own: customer_id.clone(),
                    });
                }
                if takes_customer {
                    match arguments.get(CUSTOMER_FIELD) {
                        Some(Value::String(requested)) if requested.trim() == customer_id => {}
                        None | Some(Value::Null) => {}
                        Some(_) => {
                            return Err(AccessError::OtherCustomer {
                                own: customer_id.clone(),
                            });
                        }
                    }
                    arguments.insert(
                        CUSTOMER_FIELD.to_owned(),
                        Value::String(customer_id.clone()),
                    );
                    Ok(())
                } else if read_only {
                    Ok(())
                } else {
                    Err(AccessError::UnscopedWrite)
                }
            }
        }
    }

    /// Screens a tool's result for this caller. Staff and unrestricted callers see it as it
    /// is; for others every object naming a customer they may not see is removed: an item of a
    /// list is dropped, anything else withholds the whole result.
    pub fn screen(&self, result: Value) -> Screened {
        let own = match self {
            Access::Staff { .. } | Access::Unrestricted => {
                return Screened::Visible {
                    value: result,
                    dropped_items: 0,
                };
            }
            Access::Customer { customer_id } => Some(customer_id.as_str()),
            Access::Unlinked => None,
        };
        let mut dropped_items = 0;
        match screen_value(result, own, &mut dropped_items) {
            Some(value) => Screened::Visible {
                value,
                dropped_items,
            },
            None => Screened::Withheld,
        }
    }

    /// Who a pagination cursor is issued to: a customer by id, a staff member by user name.
    pub fn cursor_owner(&self) -> String {
        match self {
            Access::Customer { customer_id } => format!("customer:{customer_id}"),
            Access::Staff { username } => format!("staff:{username}"),
            Access::Unlinked => "unlinked".to_owned(),
            Access::Unrestricted => "unrestricted".to_owned(),
        }
    }

    /// A short name of the kind of access, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Access::Customer { .. } => "customer",
            Access::Staff { .. } => "staff",
            Access::Unlinked => "unlinked",
            Access::Unrestricted => "unrestricted",
        }
    }

    /// What the model is told about the caller, appended to the system prompt.
    pub fn describe(&self) -> String {
        match self {
            Access::Customer { customer_id } => format!(
                "The caller is the signed-in customer {customer_id}. Every tool is limited to this customer's own records; \"my orders\" means theirs. Never ask them for a customer id."
            ),
            Access::Staff { username } => format!(
                "The caller is a member of the support staff ({username}) and may look up any customer. Ask which customer they mean when it is not clear."
            ),
            Access::Unlinked => "The caller is signed in but their account is not linked to a customer record: customer data is not available to them; product information is.".to_owned(),
            Access::Unrestricted => "Authentication is off (local development): the caller may look up any customer. Ask which customer they mean when it is not clear.".to_owned(),
        }
    }
}

/// What screening left of a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Screened {
    /// The result may reach the caller, less `dropped_items` list items it may not see.
    Visible { value: Value, dropped_items: usize },
    /// Nothing of the result may reach the caller.
    Withheld,
}

/// Whether `object` names a customer other than `own` (any customer, when `own` is `None`):
/// a `customer_id` that is not exactly `own`, whatever its type.
fn is_foreign(object: &Map<String, Value>, own: Option<&str>) -> bool {
    object
        .get(CUSTOMER_FIELD)
        .is_some_and(|owner| own.is_none_or(|own| owner.as_str() != Some(own)))
}

/// `value` with every list item naming a foreign customer dropped, or `None` when a foreign
/// object is anywhere else in it.
fn screen_value(value: Value, own: Option<&str>, dropped_items: &mut usize) -> Option<Value> {
    match value {
        Value::Object(object) => {
            if is_foreign(&object, own) {
                return None;
            }
            let mut kept = Map::with_capacity(object.len());
            for (name, field) in object {
                kept.insert(name, screen_value(field, own, dropped_items)?);
            }
            Some(Value::Object(kept))
        }
        Value::Array(items) => {
            let before = items.len();
            let kept: Vec<Value> = items
                .into_iter()
                .filter_map(|item| screen_value(item, own, dropped_items))
                .collect();
            *dropped_items += before - kept.len();
            Some(Value::Array(kept))
        }
        scalar => Some(scalar),
    }
}

/// Whether a `customer_id` other than `own` (any, when `own` is `None`) is anywhere in `value`.
fn names_a_customer(value: &Value, own: Option<&str>) -> bool {
    match value {
        Value::Object(object) => {
            is_foreign(object, own) || object.values().any(|v| names_a_customer(v, own))
        }
        Value::Array(items) => items.iter().any(|v| names_a_customer(v, own)),
        _ => false,
    }
}

/// The first `customer_id` deeper in `value` that is not the caller's own (surrounding blanks
/// aside), as text for the refusal.
fn foreign_customer(value: &Value, own: &str) -> Option<String> {
    match value {
        Value::Object(object) => {
            if let Some(named) = object.get(CUSTOMER_FIELD)
                && named.as_str().map(str::trim) != Some(own)
            {
                return Some(
                    named
                        .as_str()
                        .map_or_else(|| named.to_string(), str::to_owned),
                );
            }
            object.values().find_map(|v| foreign_customer(v, own))
        }
        Value::Array(items) => items.iter().find_map(|v| foreign_customer(v, own)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn customer() -> Access {
        Access::Customer {
            customer_id: "CUST-001".to_owned(),
        }
    }

    fn schema_with_customer() -> Value {
        json!({"type": "object", "properties": {"customer_id": {"type": "string"}}})
    }

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    #[test]
    fn a_customer_id_is_filled_in_and_another_refused() {
        let mut arguments = object(json!({"status": "open"}));
        customer()
            .scope_arguments(&schema_with_customer(), true, &mut arguments)
            .expect("own records");
        assert_eq!(arguments["customer_id"], json!("CUST-001"));
        let mut other = object(json!({"customer_id": "CUST-002"}));
        let refused = customer().scope_arguments(&schema_with_customer(), true, &mut other);
        assert!(matches!(refused, Err(AccessError::OtherCustomer { .. })));
        assert_eq!(
            other["customer_id"],
            json!("CUST-002"),
            "nothing was changed"
        );
    }

    #[test]
    fn a_write_without_a_customer_argument_is_refused_for_customers_only() {
        let schema = json!({"type": "object", "properties": {"ticket_id": {"type": "string"}}});
        let mut arguments = Map::new();
        assert_eq!(
            customer().scope_arguments(&schema, false, &mut arguments),
            Err(AccessError::UnscopedWrite)
        );
        assert!(
            customer()
                .scope_arguments(&schema, true, &mut arguments)
                .is_ok()
        );
        let staff = Access::Staff {
            username: "s".to_owned(),
        };
        assert!(
            staff
                .scope_arguments(&schema, false, &mut arguments)
                .is_ok()
        );
    }

    fn visible(screened: Screened) -> (Value, usize) {
        match screened {
            Screened::Visible {
                value,
                dropped_items,
            } => (value, dropped_items),
            Screened::Withheld => (Value::Null, usize::MAX),
        }
    }

    #[test]
    fn records_of_other_customers_are_withheld() {
        let own = json!({"customer_id": "CUST-001", "ticket_id": "TKT-1"});
        let other = json!({"customer_id": "CUST-002", "ticket_id": "TKT-2"});
        let unowned = json!({"product_id": "PROD-001"});
        assert_eq!(visible(customer().screen(own.clone())), (own.clone(), 0));
        assert_eq!(visible(customer().screen(unowned.clone())), (unowned, 0));
        assert_eq!(customer().screen(other.clone()), Screened::Withheld);
        assert_eq!(Access::Unlinked.screen(own), Screened::Withheld);
        assert_eq!(
            visible(Access::Unrestricted.screen(other.clone())),
            (other, 0)
        );
    }

    #[test]
    fn foreign_list_items_are_dropped_at_any_depth() {
        let page = json!({"product_id": "PROD-001", "reviews": [
            {"review_id": "REV-1", "customer_id": "CUST-001"},
            {"review_id": "REV-2", "customer_id": "CUST-002"},
            {"review_id": "REV-3", "author": {"customer_id": "CUST-003"}},
            {"review_id": "REV-4", "nested": [[{"customer_id": "cust-001"}]]},
        ]});
        let (value, dropped) = visible(customer().screen(page));
        assert_eq!(dropped, 3, "{value}");
        assert_eq!(
            value["reviews"],
            json!([
                {"review_id": "REV-1", "customer_id": "CUST-001"},
                {"review_id": "REV-4", "nested": [[]]},
            ]),
            "the nearest list loses the foreign object; a foreign object inside an object takes its list item with it"
        );
        let (value, dropped) = visible(Access::Unlinked.screen(json!({"items": [
            {"customer_id": "CUST-001"}, {"product_id": "PROD-1"}
        ]})));
        assert_eq!(
            (value, dropped),
            (json!({"items": [{"product_id": "PROD-1"}]}), 1)
        );
    }

    #[test]
    fn a_foreign_object_outside_a_list_withholds_everything() {
        for result in [
            json!({"order": {"customer_id": "CUST-002"}}),
            json!({"customer_id": " CUST-001"}),
            json!({"customer_id": ["CUST-001"]}),
            json!({"customer_id": null}),
            json!({"customer_id": "CUST\u{2010}001"}),
        ] {
            assert_eq!(
                customer().screen(result.clone()),
                Screened::Withheld,
                "{result}"
            );
        }
    }

    #[test]
    fn customer_ids_deeper_in_the_arguments_are_checked_too() {
        let schema = schema_with_customer();
        for arguments in [
            json!({"filter": {"customer_id": "CUST-002"}}),
            json!({"items": [{"customer_id": "CUST-001"}, {"customer_id": "CUST-002"}]}),
        ] {
            let mut arguments = object(arguments);
            assert!(matches!(
                customer().scope_arguments(&schema, true, &mut arguments),
                Err(AccessError::OtherCustomer { .. })
            ));
        }
        let mut own_nested = object(json!({"filter": {"customer_id": " CUST-001 "}}));
        assert!(
            customer()
                .scope_arguments(&schema, true, &mut own_nested)
                .is_ok()
        );
        let product_schema = json!({"type": "object", "properties": {"query": {"type": "string"}}});
        let mut smuggled = object(json!({"query": "x", "extra": {"customer_id": "CUST-001"}}));
        assert_eq!(
            Access::Unlinked.scope_arguments(&product_schema, true, &mut smuggled),
            Err(AccessError::Unlinked)
        );
    }

    #[test]
    fn id_tricks_at_the_top_level_are_refused() {
        let schema = schema_with_customer();
        for trick in [
            json!("cust-001"),
            json!("CUST-0011"),
            json!("CUST\u{2010}001"),
            json!("CUST-001\u{200b}"),
            json!(["CUST-001", "CUST-002"]),
            json!(1),
            json!({"customer_id": "CUST-001"}),
        ] {
            let mut arguments = object(json!({ "customer_id": trick.clone() }));
            assert!(
                matches!(
                    customer().scope_arguments(&schema, true, &mut arguments),
                    Err(AccessError::OtherCustomer { .. })
                ),
                "{trick}"
            );
        }
        let mut padded = object(json!({"customer_id": "  CUST-001\t"}));
        customer()
            .scope_arguments(&schema, true, &mut padded)
            .expect("own id, padded");
        assert_eq!(padded["customer_id"], json!("CUST-001"));
    }

    #[test]
    fn unlinked_callers_get_no_customer_data() {
        let mut arguments = Map::new();
        assert_eq!(
            Access::Unlinked.scope_arguments(&schema_with_customer(), true, &mut arguments),
            Err(AccessError::Unlinked)
        );
    }
}
