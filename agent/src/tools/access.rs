//! Per-customer isolation, enforced in the tool layer whatever the model writes.
//!
//! The verified caller maps to an [`Access`]: a customer (from a configurable token claim), support
//! staff (a configurable Cognito group), an authenticated caller linked to no customer, or, with
//! authentication off for local development, unrestricted. For a customer, every tool call passes
//! [`Access::scope_arguments`] before it runs and [`Access::screen_result`] after:
//!
//! - a tool whose input has a `customer_id` gets the caller's id filled in; a different id is
//!   refused before the call;
//! - a tool that writes but takes no `customer_id` is refused, because nothing could limit it to
//!   the caller's records;
//! - a result that names another customer as its owner (a top-level `customer_id`) is withheld
//!   and reported as not found, so that nothing about the record leaks.
//!
//! The Aurora tools apply the same [`Access`] in their SQL.

use inbound_auth::Caller;
use serde_json::{Map, Value};

/// The argument and result field that names a record's customer.
pub const CUSTOMER_FIELD: &str = "customer_id";

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
            .filter(|id| is_record_id(id))
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
        "customer_id {requested:?} is not the signed-in customer's; this caller may only use their own records ({own})"
    )]
    OtherCustomer { requested: String, own: String },
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
            Access::Unlinked if takes_customer || !read_only => Err(AccessError::Unlinked),
            Access::Unlinked => Ok(()),
            Access::Customer { customer_id } => {
                if takes_customer {
                    match arguments.get(CUSTOMER_FIELD) {
                        Some(Value::String(requested)) if requested.trim() == customer_id => {}
                        None | Some(Value::Null) => {}
                        Some(other) => {
                            return Err(AccessError::OtherCustomer {
                                requested: other
                                    .as_str()
                                    .map_or_else(|| other.to_string(), str::to_owned),
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

    /// Whether a tool's structured result may reach this caller: not when it is a record owned
    /// by another customer (or by any customer, for an unlinked caller).
    pub fn may_see(&self, result: &Value) -> bool {
        let Some(owner) = result.get(CUSTOMER_FIELD).and_then(Value::as_str) else {
            return true;
        };
        match self {
            Access::Staff { .. } | Access::Unrestricted => true,
            Access::Customer { customer_id } => owner == customer_id,
            Access::Unlinked => false,
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

/// Whether `id` looks like one of our record ids (letters, digits, `.`, `_`, `-`; 1 to 64).
fn is_record_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
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

    #[test]
    fn records_of_other_customers_are_withheld() {
        let own = json!({"customer_id": "CUST-001", "ticket_id": "TKT-1"});
        let other = json!({"customer_id": "CUST-002", "ticket_id": "TKT-2"});
        let unowned = json!({"product_id": "PROD-001"});
        assert!(customer().may_see(&own) && customer().may_see(&unowned));
        assert!(!customer().may_see(&other));
        assert!(!Access::Unlinked.may_see(&own));
        assert!(Access::Unrestricted.may_see(&other));
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
