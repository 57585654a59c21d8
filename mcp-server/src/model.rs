//! The records the tools serve: reviews, warranties and support tickets, with the JSON shape
//! (and JSON Schema) that clients see in `structuredContent`.

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
