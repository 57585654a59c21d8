//! `get_customer_profile`: a customer by id or, for staff, by e-mail address.

use record_id::RecordId;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::declaration::{Declaration, schema};
use super::{AuroraTools, CallError, to_value};
use crate::aurora::data_api as db;
use crate::tools::access::Access;

/// Shortest and longest e-mail address looked up.
const MIN_EMAIL_LEN: u32 = 3;
const MAX_EMAIL_LEN: u32 = 254;

pub(super) const GET_CUSTOMER_PROFILE: Declaration = Declaration {
    name: "get_customer_profile",
    title: "Look up a customer",
    description: "Get a customer's profile: name, contact details, tier (standard or premium), city, member since and number of orders. Look up by customer_id or, for staff, by email.",
    input: schema::<CustomerQuery>,
    output: schema::<CustomerProfile>,
};

/// A customer to look up.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerQuery {
    /// The customer's id, e.g. `CUST-001`. For a signed-in customer it is always their own.
    pub customer_id: Option<RecordId>,
    /// Look the customer up by e-mail address instead (support staff).
    #[schemars(length(min = MIN_EMAIL_LEN, max = MAX_EMAIL_LEN))]
    pub email: Option<String>,
}

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

const PROFILE_COLUMNS: &str = "c.customer_id, c.first_name, c.last_name, c.email, c.phone, c.tier, c.city, c.country, \
     to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS member_since, \
     (SELECT count(*) FROM orders o WHERE o.customer_id = c.customer_id) AS order_count";

impl AuroraTools {
    pub(super) async fn customer_profile(
        &self,
        input: CustomerQuery,
        access: &Access,
    ) -> Result<Value, CallError> {
        let (sql, parameters) = match (&input.customer_id, &input.email) {
            (Some(id), _) => (
                format!("SELECT {PROFILE_COLUMNS} FROM customers c WHERE c.customer_id = :id"),
                vec![db::text("id", id.as_str())],
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
}
