//! The MCP tools: reviews, warranties and support tickets.
//!
//! Arguments are first validated against the tool's own input schema (so the limits a client
//! sees are the limits enforced), then each tool checks what a schema cannot, asks the
//! [`Store`], and answers with `structuredContent` matching its output schema. Anything the caller can fix (a bad argument, an unknown id, a
//! stale cursor) comes back as an `isError` result whose text says what to change; a store
//! failure is logged with its cause and reported as retryable. Unknown tools and malformed
//! requests stay JSON-RPC errors, which rmcp produces.
//!
//! Reviews are public and anonymous to everyone (only a customer's own list names them); every
//! other record belongs to a customer. A call that names a `customer_id` (the agent fills in a
//! signed-in customer's own) finds only that customer's records, and another customer's record
//! gets word for word the answer of one that does not exist, so no answer tells which ids are
//! real. Staff name no customer and find every record.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{SubsecRound, Utc};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, Json, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use crate::caller::CallerSubject;
use crate::model::{
    PublicReview, Review, Ticket, TicketCategory, TicketNote, TicketPriority, TicketStatus,
    TicketSummary, WarrantyReport,
};
use crate::store::{
    Creation, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, NewTicket, Page, PageRequest, Store, StoreError,
};

/// Longest id accepted for any record.
const MAX_ID_LEN: usize = 64;
const MAX_SUBJECT_LEN: usize = 200;
const MAX_DESCRIPTION_LEN: usize = 4000;
const MAX_NOTE_LEN: usize = 2000;
const MAX_TOKEN_LEN: usize = 128;

/// What follows "no ticket with id .. exists" wherever a ticket is looked up, so that a ticket
/// of another customer and a missing one get one answer whatever the tool.
const TICKET_HINT: &str = "list the customer's tickets to find the right id";
/// The same for a serial number.
const SERIAL_HINT: &str =
    "check the serial number with the customer, or list the customer's warranties";

/// The tool set served at `/mcp`. Cheap to clone: one instance is built at start and cloned
/// for each request.
#[derive(Clone)]
pub struct SupportTools {
    store: Store,
    tool_router: ToolRouter<Self>,
    input_validators: Arc<HashMap<String, jsonschema::Validator>>,
}

/// At most this many schema violations are reported for one call.
const MAX_REPORTED_VIOLATIONS: usize = 5;

// ---- inputs ----

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewId {
    /// The review's id, e.g. `REV-0001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub review_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductReviewsQuery {
    /// The product's id, e.g. `PROD-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub product_id: String,
    /// Reviews per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = 2048))]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CustomerPageQuery {
    /// The customer's id, e.g. `CUST-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: String,
    /// Items per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = 2048))]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductId {
    /// The product's id, e.g. `PROD-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub product_id: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WarrantyLookup {
    /// The unit's serial number, e.g. `SN-LAP-7F3K2Q9D`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub serial_number: String,
    /// The customer the unit belongs to, e.g. `CUST-001`. When given, a unit of any other
    /// customer is reported as not found.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTicketInput {
    /// The customer the ticket is for, e.g. `CUST-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: String,
    /// One line summing up the problem.
    #[schemars(length(min = 1, max = 200))]
    pub subject: String,
    /// What happened, what the customer wants, and anything already tried.
    #[schemars(length(min = 1, max = 4000))]
    pub description: String,
    pub category: TicketCategory,
    /// Defaults to `normal`.
    pub priority: Option<TicketPriority>,
    /// The order concerned, if any, e.g. `ORD-00001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub order_id: Option<String>,
    /// The unit concerned, if any: one of this customer's units, as their warranties list
    /// them.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub serial_number: Option<String>,
    /// A unique string chosen for this request (a UUID is ideal). Sending the same token with
    /// the same details again returns the ticket already created instead of a duplicate.
    #[schemars(length(min = 1, max = 128))]
    pub client_token: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TicketLookup {
    /// The ticket's id, e.g. `TKT-0001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub ticket_id: String,
    /// The customer the ticket belongs to, e.g. `CUST-001`. When given, a ticket of any other
    /// customer is reported as not found.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CustomerTicketsQuery {
    /// The customer's id, e.g. `CUST-001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: String,
    /// Only tickets with this status; omit for all.
    pub status: Option<TicketStatus>,
    /// Tickets per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = 50))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = 2048))]
    pub cursor: Option<String>,
}

/// Who writes a note.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoteAuthor {
    Agent,
    Customer,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddNoteInput {
    /// The ticket's id, e.g. `TKT-0001`.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub ticket_id: String,
    /// The customer the ticket belongs to, e.g. `CUST-001`. When given, a ticket of any other
    /// customer is reported as not found and nothing is written.
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._-]+$"))]
    pub customer_id: Option<String>,
    /// The note's text.
    #[schemars(length(min = 1, max = 2000))]
    pub note: String,
    /// Defaults to `agent`.
    pub author: Option<NoteAuthor>,
}

// ---- outputs ----

#[derive(Debug, Serialize, JsonSchema)]
pub struct PublicReviewPage {
    /// Newest first, without who wrote them.
    pub reviews: Vec<PublicReview>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReviewPage {
    /// Newest first.
    pub reviews: Vec<Review>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StarCounts {
    pub one: u32,
    pub two: u32,
    pub three: u32,
    pub four: u32,
    pub five: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct RatingSummary {
    pub product_id: String,
    pub review_count: u32,
    /// Mean star rating to two decimals; absent when there are no reviews.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<f64>,
    pub star_counts: StarCounts,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct WarrantyPage {
    /// Latest-ending first.
    pub warranties: Vec<WarrantyReport>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CreatedTicket {
    /// False when an earlier call with the same client_token already created this ticket.
    pub created: bool,
    pub ticket: Ticket,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct TicketPage {
    /// Newest first.
    pub tickets: Vec<TicketSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

// ---- argument checks ----

/// A record id: 1 to 64 letters, digits, `.`, `_` or `-`.
fn check_id(field: &str, value: &str) -> Result<(), String> {
    let valid = !value.is_empty()
        && value.len() <= MAX_ID_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{field} must be 1 to {MAX_ID_LEN} letters, digits, '.', '_' or '-' (for example CUST-001); got {value:?}"
        ))
    }
}

fn check_text(field: &str, value: &str, max_chars: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    let chars = value.chars().count();
    if chars > max_chars {
        return Err(format!(
            "{field} is {chars} characters long; shorten it to at most {max_chars}"
        ));
    }
    Ok(())
}

fn page_request(
    page_size: Option<u16>,
    cursor: Option<String>,
    caller: CallerSubject,
) -> Result<PageRequest, String> {
    let size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&size) {
        return Err(format!(
            "page_size must be between 1 and {MAX_PAGE_SIZE}; got {size}"
        ));
    }
    Ok(PageRequest {
        size,
        cursor,
        caller: caller.0,
    })
}

/// Turns a store failure into what the model reads, logging what the operator needs.
fn explain(tool: &'static str, error: StoreError) -> String {
    match error {
        StoreError::NotFound { .. } | StoreError::InvalidCursor | StoreError::Conflict(_) => {
            tracing::info!(tool, outcome = "rejected", reason = %error, "tool call refused");
            error.to_string()
        }
        StoreError::Unavailable { .. } | StoreError::Corrupt { .. } => {
            tracing::error!(tool, outcome = "failed", error = %error, "tool call failed");
            "the support database did not answer in time; try the same call again in a moment"
                .to_owned()
        }
    }
}

fn not_found_hint(error: StoreError, hint: &str) -> StoreError {
    match error {
        StoreError::NotFound { kind, id } => {
            StoreError::Conflict(format!("no {kind} with id {id:?} exists; {hint}"))
        }
        other => other,
    }
}

#[tool_router(router = tool_router)]
impl SupportTools {
    /// Builds the tool set, compiling a validator for each tool's input schema.
    pub fn new(store: Store) -> anyhow::Result<Self> {
        let tool_router = Self::tool_router();
        let mut input_validators = HashMap::new();
        for tool in tool_router.list_all() {
            let schema = serde_json::Value::Object((*tool.input_schema).clone());
            let validator = jsonschema::validator_for(&schema).map_err(|e| {
                anyhow::anyhow!("the input schema of {} does not compile: {e}", tool.name)
            })?;
            input_validators.insert(tool.name.to_string(), validator);
        }
        Ok(Self {
            store,
            tool_router,
            input_validators: Arc::new(input_validators),
        })
    }

    /// What is wrong with `arguments` for `tool`, if anything, in one line per violation.
    fn schema_violations(&self, tool: &str, arguments: &serde_json::Value) -> Option<String> {
        let validator = self.input_validators.get(tool)?;
        let violations: Vec<String> = validator
            .iter_errors(arguments)
            .take(MAX_REPORTED_VIOLATIONS)
            .map(
                |error| match error.instance_path().as_str().trim_start_matches('/') {
                    "" => error.to_string(),
                    field => format!("{field}: {error}"),
                },
            )
            .collect();
        (!violations.is_empty()).then(|| violations.join("; "))
    }

    #[tool(
        name = "get_review",
        description = "Get one product review by its id: product, rating (1-5 stars), title, text, date and whether it is a verified purchase. Reviews are public, their authors are not: no customer or order is shown.",
        annotations(
            title = "Get a review",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_review(
        &self,
        Parameters(input): Parameters<ReviewId>,
    ) -> Result<Json<PublicReview>, String> {
        check_id("review_id", &input.review_id)?;
        self.store
            .review(&input.review_id)
            .await
            .map(|review| Json(PublicReview::from(review)))
            .map_err(|e| explain("get_review", not_found_hint(e, "review ids look like REV-0001; list the product's or customer's reviews to find one")))
    }

    #[tool(
        name = "list_product_reviews",
        description = "List a product's reviews, newest first, one page at a time: rating, title, text, date and whether each is a verified purchase, without who wrote it. Pass next_cursor back as cursor for the next page. For the average rating use get_product_rating_summary instead.",
        annotations(
            title = "List a product's reviews",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_product_reviews(
        &self,
        Parameters(input): Parameters<ProductReviewsQuery>,
        caller: CallerSubject,
    ) -> Result<Json<PublicReviewPage>, String> {
        check_id("product_id", &input.product_id)?;
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .product_reviews(&input.product_id, &page)
            .await
            .map_err(|e| explain("list_product_reviews", e))?;
        Ok(Json(PublicReviewPage {
            reviews: items.into_iter().map(PublicReview::from).collect(),
            next_cursor,
        }))
    }

    #[tool(
        name = "list_customer_reviews",
        description = "List the reviews a customer has written, with the order each one is about, newest first, one page at a time. Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's reviews",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_reviews(
        &self,
        Parameters(input): Parameters<CustomerPageQuery>,
        caller: CallerSubject,
    ) -> Result<Json<ReviewPage>, String> {
        check_id("customer_id", &input.customer_id)?;
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_reviews(&input.customer_id, &page)
            .await
            .map_err(|e| explain("list_customer_reviews", e))?;
        Ok(Json(ReviewPage {
            reviews: items,
            next_cursor,
        }))
    }

    #[tool(
        name = "get_product_rating_summary",
        description = "Summarise a product's reviews: how many there are, the average star rating, and how many reviews gave each number of stars. A product without reviews has review_count 0 and no average.",
        annotations(
            title = "Summarise a product's ratings",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_product_rating_summary(
        &self,
        Parameters(input): Parameters<ProductId>,
    ) -> Result<Json<RatingSummary>, String> {
        check_id("product_id", &input.product_id)?;
        let counts = self
            .store
            .product_star_counts(&input.product_id)
            .await
            .map_err(|e| explain("get_product_rating_summary", e))?;
        let total = counts.total();
        let weighted: u32 = counts
            .0
            .iter()
            .zip(1..)
            .map(|(count, stars)| count * stars)
            .sum();
        let [one, two, three, four, five] = counts.0;
        Ok(Json(RatingSummary {
            product_id: input.product_id,
            review_count: total,
            average_rating: (total > 0)
                .then(|| (f64::from(weighted) / f64::from(total) * 100.0).round() / 100.0),
            star_counts: StarCounts {
                one,
                two,
                three,
                four,
                five,
            },
        }))
    }

    #[tool(
        name = "check_warranty",
        description = "Check a unit's warranty by serial number: status (active, expiring_soon when 30 days or fewer remain, or expired), days remaining, start and end dates, coverage type and what it covers, and the owner, product and order. With customer_id, only that customer's units are found.",
        annotations(
            title = "Check a warranty",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn check_warranty(
        &self,
        Parameters(input): Parameters<WarrantyLookup>,
    ) -> Result<Json<WarrantyReport>, String> {
        check_id("serial_number", &input.serial_number)?;
        if let Some(customer_id) = &input.customer_id {
            check_id("customer_id", customer_id)?;
        }
        let warranty = self
            .store
            .warranty(&input.serial_number, input.customer_id.as_deref())
            .await
            .map_err(|e| explain("check_warranty", not_found_hint(e, SERIAL_HINT)))?;
        Ok(Json(WarrantyReport::new(warranty, Utc::now().date_naive())))
    }

    #[tool(
        name = "list_customer_warranties",
        description = "List a customer's warranties with their status today, latest-ending first, one page at a time. Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's warranties",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_warranties(
        &self,
        Parameters(input): Parameters<CustomerPageQuery>,
        caller: CallerSubject,
    ) -> Result<Json<WarrantyPage>, String> {
        check_id("customer_id", &input.customer_id)?;
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_warranties(&input.customer_id, &page)
            .await
            .map_err(|e| explain("list_customer_warranties", e))?;
        let today = Utc::now().date_naive();
        Ok(Json(WarrantyPage {
            warranties: items
                .into_iter()
                .map(|w| WarrantyReport::new(w, today))
                .collect(),
            next_cursor,
        }))
    }

    #[tool(
        name = "create_support_ticket",
        description = "Open a support ticket for a customer. A serial_number must be one of that customer's units. Choose a fresh client_token (for example a UUID) for each new ticket and reuse it only to retry the same request: a retry returns the existing ticket with created=false instead of opening a duplicate.",
        annotations(
            title = "Open a support ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn create_support_ticket(
        &self,
        Parameters(input): Parameters<CreateTicketInput>,
    ) -> Result<Json<CreatedTicket>, String> {
        check_id("customer_id", &input.customer_id)?;
        check_text("subject", &input.subject, MAX_SUBJECT_LEN)?;
        check_text("description", &input.description, MAX_DESCRIPTION_LEN)?;
        check_text("client_token", &input.client_token, MAX_TOKEN_LEN)?;
        if let Some(order_id) = &input.order_id {
            check_id("order_id", order_id)?;
        }
        if let Some(serial_number) = &input.serial_number {
            check_id("serial_number", serial_number)?;
            // A customer's ticket may only name their own unit; another customer's unit gets
            // the answer of an unknown one, as check_warranty gives it.
            self.store
                .warranty(serial_number, Some(&input.customer_id))
                .await
                .map_err(|e| explain("create_support_ticket", not_found_hint(e, SERIAL_HINT)))?;
        }
        let request = NewTicket {
            customer_id: input.customer_id,
            subject: input.subject.trim().to_owned(),
            description: input.description.trim().to_owned(),
            category: input.category,
            priority: input.priority.unwrap_or(TicketPriority::Normal),
            order_id: input.order_id,
            serial_number: input.serial_number,
            client_token: input.client_token,
        };
        let (ticket, creation) = self
            .store
            .create_ticket(&request)
            .await
            .map_err(|e| explain("create_support_ticket", e))?;
        tracing::info!(tool = "create_support_ticket", ticket_id = %ticket.ticket_id, created = (creation == Creation::Created), "ticket written");
        Ok(Json(CreatedTicket {
            created: creation == Creation::Created,
            ticket,
        }))
    }

    #[tool(
        name = "get_support_ticket",
        description = "Get a support ticket by id with its full description and notes (oldest note first). With customer_id, only that customer's tickets are found.",
        annotations(
            title = "Get a support ticket",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn get_support_ticket(
        &self,
        Parameters(input): Parameters<TicketLookup>,
    ) -> Result<Json<Ticket>, String> {
        check_id("ticket_id", &input.ticket_id)?;
        if let Some(customer_id) = &input.customer_id {
            check_id("customer_id", customer_id)?;
        }
        self.store
            .ticket(&input.ticket_id, input.customer_id.as_deref())
            .await
            .map(Json)
            .map_err(|e| explain("get_support_ticket", not_found_hint(e, TICKET_HINT)))
    }

    #[tool(
        name = "list_customer_tickets",
        description = "List a customer's support tickets, newest first, optionally only those with one status (open, pending, resolved, closed). Pass next_cursor back as cursor for the next page.",
        annotations(
            title = "List a customer's tickets",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn list_customer_tickets(
        &self,
        Parameters(input): Parameters<CustomerTicketsQuery>,
        caller: CallerSubject,
    ) -> Result<Json<TicketPage>, String> {
        check_id("customer_id", &input.customer_id)?;
        let page = page_request(input.page_size, input.cursor, caller)?;
        let Page { items, next_cursor } = self
            .store
            .customer_tickets(&input.customer_id, input.status, &page)
            .await
            .map_err(|e| explain("list_customer_tickets", e))?;
        Ok(Json(TicketPage {
            tickets: items.into_iter().map(TicketSummary::from).collect(),
            next_cursor,
        }))
    }

    #[tool(
        name = "add_ticket_note",
        description = "Append a note to an existing support ticket and return the updated ticket. Each call adds a note, so do not repeat a call that succeeded.",
        annotations(
            title = "Add a note to a ticket",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    async fn add_ticket_note(
        &self,
        Parameters(input): Parameters<AddNoteInput>,
    ) -> Result<Json<Ticket>, String> {
        check_id("ticket_id", &input.ticket_id)?;
        if let Some(customer_id) = &input.customer_id {
            check_id("customer_id", customer_id)?;
        }
        check_text("note", &input.note, MAX_NOTE_LEN)?;
        let author = match input.author.unwrap_or(NoteAuthor::Agent) {
            NoteAuthor::Agent => "agent",
            NoteAuthor::Customer => "customer",
        };
        let note = TicketNote {
            author: author.to_owned(),
            body: input.note.trim().to_owned(),
            created_at: Utc::now().trunc_subsecs(0),
        };
        self.store
            .add_ticket_note(&input.ticket_id, input.customer_id.as_deref(), note)
            .await
            .map(Json)
            .map_err(|e| explain("add_ticket_note", not_found_hint(e, TICKET_HINT)))
    }
}

#[tool_handler(
    router = self.tool_router,
    name = "support-dynamodb-mcp",
    instructions = "Customer-support data in DynamoDB: product reviews, product warranties and support tickets. Ids look like CUST-001 (customer), PROD-001 (product), ORD-00001 (order), REV-0001 (review), TKT-0001 (ticket). Lists are paged: pass next_cursor back as cursor."
)]
impl ServerHandler for SupportTools {
    /// Runs the call in a server span that continues the caller's trace, read from the HTTP
    /// headers or, failing them, from the request's `_meta`.
    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let span = tracing::info_span!(
            "mcp_tool",
            otel.name = format!("tools/call {}", request.name),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            "mcp.method.name" = "tools/call",
            "gen_ai.operation.name" = "execute_tool",
            "gen_ai.tool.name" = %request.name,
        );
        let mut carrier = context
            .extensions
            .get::<axum::http::request::Parts>()
            .map(|parts| parts.headers.clone())
            .unwrap_or_default();
        if !carrier.contains_key("traceparent")
            && let Some(meta) = &request.meta
        {
            for (name, value) in &service_runtime::trace_meta::extract(&meta.0.0) {
                carrier.insert(name, value.clone());
            }
        }
        service_runtime::telemetry::continue_trace(&span, &carrier, &[]);
        let answer = self
            .call_tool_in_span(request, context)
            .instrument(span.clone())
            .await;
        if answer.is_err() {
            span.record("otel.status_code", "ERROR");
        }
        answer
    }
}

impl SupportTools {
    async fn call_tool_in_span(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let arguments = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
        if let Some(violations) = self.schema_violations(&request.name, &arguments) {
            tracing::info!(tool = %request.name, outcome = "rejected", "arguments do not match the input schema");
            let message = format!(
                "invalid arguments for {}: {violations}. Fix them to match the tool's inputSchema.",
                request.name
            );
            return Ok(CallToolResult::error(vec![ContentBlock::text(message)]).into());
        }
        self.tool_router
            .call(ToolCallContext::new(self, request, context))
            .await
    }
}

impl std::fmt::Debug for SupportTools {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SupportTools")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}
