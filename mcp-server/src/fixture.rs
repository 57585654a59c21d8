//! The demo data set's DynamoDB part (reviews, warranties and support tickets), compiled into
//! the binary from the shared `fixtures/` folder so that `seed` works from the container image
//! alone.
//!
//! Dates in the fixture are relative (days before the day of seeding); [`Dataset::dated`] turns
//! them into the records the tools serve, so warranties are active, expiring soon or expired on
//! whatever day the data is loaded.

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use serde::Deserialize;

use crate::model::{Review, Ticket, TicketNote, Warranty};

const REVIEWS: &str = include_str!("../../fixtures/reviews.json");
const WARRANTIES: &str = include_str!("../../fixtures/warranties.json");
const TICKETS: &str = include_str!("../../fixtures/tickets.json");

#[derive(Debug, Deserialize)]
struct FixtureReview {
    review_id: String,
    product_id: String,
    customer_id: String,
    order_id: String,
    rating: u8,
    title: String,
    body: String,
    created_days_ago: i64,
    time: String,
    verified_purchase: bool,
}

#[derive(Debug, Deserialize)]
struct FixtureWarranty {
    serial_number: String,
    customer_id: String,
    product_id: String,
    order_id: String,
    coverage_type: String,
    coverage: String,
    start_days_ago: i64,
    duration_days: i64,
}

#[derive(Debug, Deserialize)]
struct FixtureNote {
    author: String,
    body: String,
    days_ago: i64,
}

#[derive(Debug, Deserialize)]
struct FixtureTicket {
    ticket_id: String,
    customer_id: String,
    subject: String,
    description: String,
    category: String,
    priority: String,
    status: String,
    order_id: Option<String>,
    serial_number: Option<String>,
    created_days_ago: i64,
    time: String,
    notes: Vec<FixtureNote>,
}

/// The fixture's records with real dates.
#[derive(Debug)]
pub struct Dataset {
    pub reviews: Vec<Review>,
    pub warranties: Vec<Warranty>,
    pub tickets: Vec<Ticket>,
}

impl Dataset {
    /// Parses the embedded fixture and dates it relative to `today`.
    pub fn dated(today: NaiveDate) -> anyhow::Result<Self> {
        let reviews: Vec<FixtureReview> = parse("reviews.json", REVIEWS)?;
        let warranties: Vec<FixtureWarranty> = parse("warranties.json", WARRANTIES)?;
        let tickets: Vec<FixtureTicket> = parse("tickets.json", TICKETS)?;
        Ok(Self {
            reviews: reviews
                .into_iter()
                .map(|r| {
                    Ok(Review {
                        created_at: timestamp(today, r.created_days_ago, &r.time)?,
                        review_id: r.review_id,
                        product_id: r.product_id,
                        customer_id: r.customer_id,
                        order_id: r.order_id,
                        rating: r.rating,
                        title: r.title,
                        body: r.body,
                        verified_purchase: r.verified_purchase,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            warranties: warranties
                .into_iter()
                .map(|w| {
                    let start = today - Duration::days(w.start_days_ago);
                    Warranty {
                        serial_number: w.serial_number,
                        customer_id: w.customer_id,
                        product_id: w.product_id,
                        order_id: w.order_id,
                        coverage_type: w.coverage_type,
                        coverage: w.coverage,
                        start_date: start,
                        end_date: start + Duration::days(w.duration_days),
                    }
                })
                .collect(),
            tickets: tickets
                .into_iter()
                .map(|t| {
                    let created_at = timestamp(today, t.created_days_ago, &t.time)?;
                    let notes = t
                        .notes
                        .into_iter()
                        .map(|n| TicketNote {
                            author: n.author,
                            body: n.body,
                            created_at: (created_at
                                + Duration::days(t.created_days_ago - n.days_ago))
                            .max(created_at),
                        })
                        .collect::<Vec<_>>();
                    let updated_at = notes
                        .iter()
                        .map(|n| n.created_at)
                        .max()
                        .unwrap_or(created_at);
                    Ok(Ticket {
                        ticket_id: t.ticket_id,
                        customer_id: t.customer_id,
                        subject: t.subject,
                        description: t.description,
                        category: t.category.parse()?,
                        priority: t.priority.parse()?,
                        status: t.status.parse()?,
                        order_id: t.order_id,
                        serial_number: t.serial_number,
                        created_at,
                        updated_at,
                        notes,
                    })
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

fn parse<T: for<'de> Deserialize<'de>>(file: &str, text: &str) -> anyhow::Result<Vec<T>> {
    serde_json::from_str(text).map_err(|e| anyhow::anyhow!("fixtures/{file} is malformed: {e}"))
}

fn timestamp(today: NaiveDate, days_ago: i64, time: &str) -> anyhow::Result<DateTime<Utc>> {
    let time = NaiveTime::parse_from_str(time, "%H:%M")
        .map_err(|e| anyhow::anyhow!("fixture time {time:?} is not HH:MM: {e}"))?;
    Ok((today - Duration::days(days_ago)).and_time(time).and_utc())
}
