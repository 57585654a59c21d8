//! The records the tools serve: reviews, warranties and support tickets, with the JSON shape
//! (and JSON Schema) that clients see in `structuredContent`. The ids the tools take follow
//! [`record_id::RecordId`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A customer's review of a product they bought.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Review {
    pub review_id: String,
    pub product_id: String,
    pub customer_id: String,
    /// The order in which the customer bought the product.
    pub order_id: String,
    /// Stars, 1 to 5.
    #[schemars(range(min = 1, max = 5))]
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub verified_purchase: bool,
}

/// A review as anyone may read it: what was said about the product, not who said it.
// Reviews are public but their authorship is not: the author's customer id and the order of
// their purchase would tell any reader who bought what, so this form has neither.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct PublicReview {
    pub review_id: String,
    pub product_id: String,
    /// Stars, 1 to 5.
    #[schemars(range(min = 1, max = 5))]
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// Whether the reviewer bought the product from us.
    pub verified_purchase: bool,
}

impl From<Review> for PublicReview {
    fn from(review: Review) -> Self {
        Self {
            review_id: review.review_id,
            product_id: review.product_id,
            rating: review.rating,
            title: review.title,
            body: review.body,
            created_at: review.created_at,
            verified_purchase: review.verified_purchase,
        }
    }
}

/// A record that belongs to one customer.
pub trait Owned {
    /// The owner's `customer_id`.
    fn owner(&self) -> &str;

    /// Whether a call naming `customer` may see this record. Staff name no customer and see
    /// every record; otherwise only an exact match of the id counts, so that no spelling of an
    /// id reaches another customer's record.
    fn visible_to(&self, customer: Option<&str>) -> bool {
        customer.is_none_or(|customer| customer == self.owner())
    }
}

/// A product unit's warranty, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Warranty {
    pub serial_number: String,
    pub customer_id: String,
    pub product_id: String,
    pub order_id: String,
    /// `standard` (manufacturer) or `extended` (purchased).
    pub coverage_type: String,
    /// What the warranty covers and excludes.
    pub coverage: String,
    pub start_date: NaiveDate,
    /// Last day of cover.
    pub end_date: NaiveDate,
}

/// Where a warranty stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarrantyStatus {
    /// More than 30 days of cover left.
    Active,
    /// Still covered, but for 30 days or fewer.
    ExpiringSoon,
    /// Cover has ended.
    Expired,
}

/// A warranty with this many days left, or fewer, is reported as expiring soon.
pub const EXPIRING_SOON_DAYS: i64 = 30;

/// A warranty and its standing today.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct WarrantyReport {
    #[serde(flatten)]
    pub warranty: Warranty,
    pub status: WarrantyStatus,
    /// Days of cover left after `as_of` (0 on the last day, negative once expired).
    pub days_remaining: i64,
    /// The day the status was computed for (UTC).
    pub as_of: NaiveDate,
}

impl Owned for Warranty {
    fn owner(&self) -> &str {
        &self.customer_id
    }
}

impl WarrantyReport {
    pub fn new(warranty: Warranty, today: NaiveDate) -> Self {
        let days_remaining = (warranty.end_date - today).num_days();
        let status = if days_remaining < 0 {
            WarrantyStatus::Expired
        } else if days_remaining <= EXPIRING_SOON_DAYS {
            WarrantyStatus::ExpiringSoon
        } else {
            WarrantyStatus::Active
        };
        Self {
            warranty,
            status,
            days_remaining,
            as_of: today,
        }
    }
}

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = anyhow::Error;
            fn from_str(text: &str) -> anyhow::Result<Self> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    other => Err(anyhow::anyhow!(
                        concat!("{:?} is not a ", stringify!($name), "; expected one of: ", $($text, " "),+),
                        other
                    )),
                }
            }
        }
    };
}

string_enum!(
    /// What a support ticket is about.
    TicketCategory {
        Order => "order",
        Warranty => "warranty",
        Product => "product",
        Billing => "billing",
        Other => "other",
    }
);

string_enum!(
    /// How urgent a support ticket is.
    TicketPriority {
        Low => "low",
        Normal => "normal",
        High => "high",
        Urgent => "urgent",
    }
);

string_enum!(
    /// Where a support ticket is in its life.
    TicketStatus {
        Open => "open",
        Pending => "pending",
        Resolved => "resolved",
        Closed => "closed",
    }
);

/// A remark added to a ticket after it was opened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketNote {
    /// Who wrote it: `agent`, `customer` or `system`.
    pub author: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

/// A support ticket with its notes, oldest note first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ticket {
    pub ticket_id: String,
    pub customer_id: String,
    pub subject: String,
    pub description: String,
    pub category: TicketCategory,
    pub priority: TicketPriority,
    pub status: TicketStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub notes: Vec<TicketNote>,
}

impl Owned for Ticket {
    fn owner(&self) -> &str {
        &self.customer_id
    }
}

/// A ticket as it appears in lists: everything but the description and notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TicketSummary {
    pub ticket_id: String,
    pub customer_id: String,
    pub subject: String,
    pub category: TicketCategory,
    pub priority: TicketPriority,
    pub status: TicketStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub note_count: usize,
}

impl From<Ticket> for TicketSummary {
    fn from(ticket: Ticket) -> Self {
        Self {
            note_count: ticket.notes.len(),
            ticket_id: ticket.ticket_id,
            customer_id: ticket.customer_id,
            subject: ticket.subject,
            category: ticket.category,
            priority: ticket.priority,
            status: ticket.status,
            order_id: ticket.order_id,
            serial_number: ticket.serial_number,
            created_at: ticket.created_at,
            updated_at: ticket.updated_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warranty(owner: &str) -> Warranty {
        Warranty {
            serial_number: "SN-1".into(),
            customer_id: owner.into(),
            product_id: "PROD-001".into(),
            order_id: "ORD-00001".into(),
            coverage_type: "standard".into(),
            coverage: "parts".into(),
            start_date: NaiveDate::MIN,
            end_date: NaiveDate::MAX,
        }
    }

    #[test]
    fn only_the_exact_owner_or_a_call_naming_nobody_sees_a_record() {
        let record = warranty("CUST-001");
        assert!(record.visible_to(None));
        assert!(record.visible_to(Some("CUST-001")));
        for other in ["CUST-002", "cust-001", "CUST-001 ", "CUST-0010", ""] {
            assert!(!record.visible_to(Some(other)), "{other:?}");
        }
    }

    #[test]
    fn the_public_form_of_a_review_names_neither_author_nor_order() {
        let review = Review {
            review_id: "REV-0001".into(),
            product_id: "PROD-001".into(),
            customer_id: "CUST-001".into(),
            order_id: "ORD-00001".into(),
            rating: 4,
            title: "Good".into(),
            body: "Works.".into(),
            created_at: DateTime::UNIX_EPOCH,
            verified_purchase: true,
        };
        let public = serde_json::to_value(PublicReview::from(review)).unwrap_or_default();
        let text = public.to_string();
        assert!(
            !text.contains("customer_id") && !text.contains("CUST-001"),
            "{text}"
        );
        assert!(
            !text.contains("order_id") && !text.contains("ORD-00001"),
            "{text}"
        );
        assert_eq!(public["verified_purchase"], serde_json::json!(true));
    }
}
