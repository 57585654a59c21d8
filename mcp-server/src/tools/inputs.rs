//! The tools' inputs. Their schemars attributes become each tool's `inputSchema`, which is
//! both what a client sees and what [`super::SupportTools`] validates arguments against, so a
//! limit written here is a limit enforced.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::model::{TicketCategory, TicketPriority, TicketStatus};

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
