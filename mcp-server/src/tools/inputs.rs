//! The tools' inputs. Their schemars attributes become each tool's `inputSchema`, which is
//! both what a client sees and what [`super::SupportTools`] validates arguments against, so a
//! limit written here is a limit enforced. Every id is a [`RecordId`], whose rule is written
//! once, in the `record-id` crate.

use record_id::RecordId;
use schemars::JsonSchema;
use serde::Deserialize;

use super::checks::{MAX_DESCRIPTION_LEN, MAX_NOTE_LEN, MAX_SUBJECT_LEN, MAX_TOKEN_LEN};
use crate::model::{TicketCategory, TicketPriority, TicketStatus};
use crate::store::MAX_PAGE_SIZE;

/// Longest cursor accepted: a sealed DynamoDB key of the list's last item.
const MAX_CURSOR_LEN: usize = 2048;

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReviewId {
    /// The review's id, e.g. `REV-0001`.
    pub review_id: RecordId,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductReviewsQuery {
    /// The product's id, e.g. `PROD-001`.
    pub product_id: RecordId,
    /// Reviews per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = MAX_CURSOR_LEN))]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CustomerPageQuery {
    /// The customer's id, e.g. `CUST-001`.
    pub customer_id: RecordId,
    /// Items per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = MAX_CURSOR_LEN))]
    pub cursor: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProductId {
    /// The product's id, e.g. `PROD-001`.
    pub product_id: RecordId,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct WarrantyLookup {
    /// The unit's serial number, e.g. `SN-LAP-7F3K2Q9D`.
    pub serial_number: RecordId,
    /// The customer the unit belongs to, e.g. `CUST-001`. When given, a unit of any other
    /// customer is reported as not found.
    pub customer_id: Option<RecordId>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTicketInput {
    /// The customer the ticket is for, e.g. `CUST-001`.
    pub customer_id: RecordId,
    /// One line summing up the problem.
    #[schemars(length(min = 1, max = MAX_SUBJECT_LEN))]
    pub subject: String,
    /// What happened, what the customer wants, and anything already tried.
    #[schemars(length(min = 1, max = MAX_DESCRIPTION_LEN))]
    pub description: String,
    pub category: TicketCategory,
    /// Defaults to `normal`.
    pub priority: Option<TicketPriority>,
    /// The order concerned, if any, e.g. `ORD-00001`.
    pub order_id: Option<RecordId>,
    /// The unit concerned, if any: one of this customer's units, as their warranties list
    /// them.
    pub serial_number: Option<RecordId>,
    /// A unique string chosen for this request (a UUID is ideal). Sending the same token with
    /// the same details again returns the ticket already created instead of a duplicate.
    #[schemars(length(min = 1, max = MAX_TOKEN_LEN))]
    pub client_token: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TicketLookup {
    /// The ticket's id, e.g. `TKT-0001`.
    pub ticket_id: RecordId,
    /// The customer the ticket belongs to, e.g. `CUST-001`. When given, a ticket of any other
    /// customer is reported as not found.
    pub customer_id: Option<RecordId>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct CustomerTicketsQuery {
    /// The customer's id, e.g. `CUST-001`.
    pub customer_id: RecordId,
    /// Only tickets with this status; omit for all.
    pub status: Option<TicketStatus>,
    /// Tickets per page, 1 to 50 (default 10).
    #[schemars(range(min = 1, max = MAX_PAGE_SIZE))]
    pub page_size: Option<u16>,
    /// `next_cursor` from the previous page; omit for the first page.
    #[schemars(length(max = MAX_CURSOR_LEN))]
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
    pub ticket_id: RecordId,
    /// The customer the ticket belongs to, e.g. `CUST-001`. When given, a ticket of any other
    /// customer is reported as not found and nothing is written.
    pub customer_id: Option<RecordId>,
    /// The note's text.
    #[schemars(length(min = 1, max = MAX_NOTE_LEN))]
    pub note: String,
    /// Defaults to `agent`.
    pub author: Option<NoteAuthor>,
}
