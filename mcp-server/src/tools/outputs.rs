//! The tools' results: the pages of lists and the shapes built here rather than in the store.
//! Each becomes its tool's `outputSchema`, and a result's `structuredContent` is one of them.

use schemars::JsonSchema;
use serde::Serialize;

use crate::model::{PublicReview, Review, Ticket, TicketSummary, WarrantyReport};

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
