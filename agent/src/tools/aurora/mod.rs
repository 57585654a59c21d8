//! The Aurora tools: customers, orders and products, read through the RDS Data API.
//!
//! The model never writes SQL: each tool runs fixed, parameterized statements, with row limits,
//! as the read-only database user (whose role also carries a statement timeout). Each tool is
//! declared once ([`declaration`]): its input type's schema is both the published
//! `inputSchema` and what every call's arguments are validated against before anything runs;
//! results are typed, with an output schema, and amounts of money are exact
//! ([`crate::aurora::money`]). Per-customer isolation is applied twice: the arguments are scoped
//! by [`Access`] before the call like every tool's, and the SQL itself only returns another
//! customer's order to callers who may see everyone.
//!
//! Layout: this module holds [`AuroraTools`] (listing, validation, dispatch, failure wording);
//! [`declaration`] the declarations and validators; and the tools by record kind, each with its
//! inputs, outputs, SQL and handlers: [`customers`], [`orders`] (with its cursors in
//! [`order_cursor`]) and [`products`]. Every id they take is a [`record_id::RecordId`].

mod customers;
mod declaration;
mod order_cursor;
mod orders;
mod products;

use rmcp::model::{JsonObject, Tool};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use service_runtime::signed_cursor::CursorSigner;

use super::ToolOutcome;
use super::access::Access;
use crate::aurora::data_api::{DataApi, DbError};
use declaration::{AuroraTool, InputValidators, Refusal};

/// Most rows one page or search returns.
const MAX_PAGE: u16 = 25;
/// Rows a page or search returns when the call does not say.
const DEFAULT_PAGE: u16 = 10;

/// The Aurora tool source.
#[derive(Debug)]
pub struct AuroraTools {
    db: DataApi,
    /// Seals the order list's cursors to the customer, the status filter and the caller.
    cursors: CursorSigner,
    inputs: InputValidators,
}

/// Why a call could not give an answer.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Input(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Db(#[from] DbError),
    /// A defect: a result that could not be turned into the tool's output, or a tool whose
    /// own schema does not compile.
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
    /// The tools on `db`, their input schemas compiled. Makes no network call.
    pub fn new(db: DataApi, cursors: CursorSigner) -> Self {
        let inputs = InputValidators::compile();
        Self {
            db,
            cursors,
            inputs,
        }
    }

    /// The tools, as an MCP listing would describe them.
    pub fn list() -> Vec<Tool> {
        AuroraTool::ALL
            .into_iter()
            .map(AuroraTool::listing)
            .collect()
    }

    /// Runs one tool with arguments already scoped by `access`.
    pub async fn call(&self, name: &str, arguments: JsonObject, access: &Access) -> ToolOutcome {
        let Some(tool) = AuroraTool::named(name) else {
            return ToolOutcome::error(format!("unknown Aurora tool {name:?}"));
        };
        match self.answer(tool, Value::Object(arguments), access).await {
            Ok(output) => ToolOutcome::ok(output),
            // The cause (statement, service code, endpoint) is for the logs, where the turn's
            // span adds the request id; the model gets the plain sentence.
            Err(CallError::Db(error)) if error.is_transient() => {
                tracing::warn!(tool = name, %error, "Aurora tool failed");
                ToolOutcome::error(plain_db_failure(&error))
            }
            Err(CallError::Db(error)) => {
                tracing::error!(tool = name, %error, "Aurora tool failed");
                ToolOutcome::error(plain_db_failure(&error))
            }
            Err(CallError::Internal(detail)) => {
                tracing::error!(tool = name, %detail, "Aurora tool failed");
                ToolOutcome::error(COULD_NOT_ANSWER)
            }
            Err(error) => ToolOutcome::error(error.to_string()),
        }
    }

    /// The arguments checked against the tool's own schema, then the tool run.
    async fn answer(
        &self,
        tool: AuroraTool,
        arguments: Value,
        access: &Access,
    ) -> Result<Value, CallError> {
        self.inputs
            .check(tool, &arguments)
            .map_err(|refusal| match refusal {
                Refusal::Invalid(violations) => CallError::Input(format!(
                    "invalid arguments for {}: {violations}. Fix them to match the tool's inputSchema.",
                    tool.name()
                )),
                Refusal::NoValidator(detail) => CallError::Internal(detail),
            })?;
        match tool {
            AuroraTool::CustomerProfile => self.customer_profile(parse(arguments)?, access).await,
            AuroraTool::CustomerOrders => self.customer_orders(parse(arguments)?, access).await,
            AuroraTool::Order => self.order(parse(arguments)?, access).await,
            AuroraTool::SearchProducts => self.search_products(parse(arguments)?).await,
            AuroraTool::Product => self.product(parse(arguments)?).await,
        }
    }

    /// The first row of a query, if any.
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

/// Arguments that passed the schema as the tool's input type; a failure here is what the
/// schema cannot say (an id's rule is also checked on deserialization).
fn parse<T: DeserializeOwned>(arguments: Value) -> Result<T, CallError> {
    serde_json::from_value(arguments)
        .map_err(|e| CallError::Input(format!("invalid arguments: {e}")))
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, CallError> {
    serde_json::to_value(value).map_err(|e| CallError::Internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page limits written in prose in the inputs' descriptions are the ones in force.
    #[test]
    fn page_size_descriptions_state_the_enforced_limits() {
        let limits = format!("1 to {MAX_PAGE} (default {DEFAULT_PAGE})");
        for (tool, field) in [
            (AuroraTool::CustomerOrders, "page_size"),
            (AuroraTool::SearchProducts, "limit"),
        ] {
            let schema = (tool.declaration().input)();
            let property = &schema["properties"][field];
            assert_eq!(property["maximum"], Value::from(MAX_PAGE), "{field}");
            assert_eq!(property["minimum"], Value::from(1), "{field}");
            let description = property["description"].as_str().unwrap_or_default();
            assert!(description.contains(&limits), "{field}: {description}");
        }
    }
}
