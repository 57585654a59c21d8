//! Support tickets: idempotent creation, reading, listing by customer and status, and notes.
//!
//! A new ticket's id is derived from the customer and the caller's client token, and the write
//! is conditional on that id being free. Retries of one request (even concurrent ones) therefore
//! all land on the same item and return the same ticket; a token reused for a different request
//! is refused instead of silently returning the wrong ticket.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{SubsecRound, Utc};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{Page, PageRequest, Store, StoreError};
use crate::model::{Owned, Ticket, TicketCategory, TicketNote, TicketPriority, TicketStatus};
use crate::tables::{TICKETS, TICKETS_BY_CUSTOMER, TICKETS_BY_CUSTOMER_STATUS};

/// The most notes one ticket holds.
pub const MAX_NOTES: usize = 100;

/// What a caller supplies to open a ticket.
#[derive(Debug, Clone)]
pub struct NewTicket {
    pub customer_id: String,
    pub subject: String,
    pub description: String,
    pub category: TicketCategory,
    pub priority: TicketPriority,
    pub order_id: Option<String>,
    pub serial_number: Option<String>,
    pub client_token: String,
}

impl NewTicket {
    /// The ticket id this request maps to: the same customer and token give the same id.
    fn ticket_id(&self) -> String {
        let digest = Sha256::new()
            .chain_update(self.customer_id.as_bytes())
            .chain_update([0x1f])
            .chain_update(self.client_token.as_bytes())
            .finalize();
        format!("TKT-{}", hex(&digest[..6]))
    }

    /// A digest of everything but the token, to recognise a retry of the same request.
    fn fingerprint(&self) -> String {
        let mut hasher = Sha256::new();
        for field in [
            self.customer_id.as_str(),
            &self.subject,
            &self.description,
            self.category.as_str(),
            self.priority.as_str(),
            self.order_id.as_deref().unwrap_or(""),
            self.serial_number.as_deref().unwrap_or(""),
        ] {
            hasher.update((field.len() as u64).to_be_bytes());
            hasher.update(field.as_bytes());
        }
        hex(&hasher.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// The attribute that holds [`NewTicket::fingerprint`] on tickets created through the tool.
const FINGERPRINT: &str = "request_fingerprint";

/// A ticket as read back after a refused conditional write.
#[derive(Deserialize)]
struct StoredTicket {
    #[serde(flatten)]
    ticket: Ticket,
    request_fingerprint: Option<String>,
}

/// Whether a ticket was written by this call or already existed from an earlier identical one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Creation {
    Created,
    AlreadyExisted,
}

impl Store {
    /// Writes a ticket, or returns the one an earlier call with the same client token wrote.
    pub async fn create_ticket(
        &self,
        request: &NewTicket,
    ) -> Result<(Ticket, Creation), StoreError> {
        let now = Utc::now().trunc_subsecs(0);
        let ticket = Ticket {
            ticket_id: request.ticket_id(),
            customer_id: request.customer_id.clone(),
            subject: request.subject.clone(),
            description: request.description.clone(),
            category: request.category,
            priority: request.priority,
            status: TicketStatus::Open,
            order_id: request.order_id.clone(),
            serial_number: request.serial_number.clone(),
            created_at: now,
            updated_at: now,
            notes: Vec::new(),
        };
        let fingerprint = request.fingerprint();
        let mut item = ticket_item(&ticket)?;
        item.insert(
            FINGERPRINT.to_owned(),
            AttributeValue::S(fingerprint.clone()),
        );
        let written = self
            .client
            .put_item()
            .table_name(&self.tickets_table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", TICKETS.partition_key)
            .send()
            .await;
        match written {
            Ok(_) => Ok((ticket, Creation::Created)),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), PutItemError::ConditionalCheckFailedException(_)) =>
            {
                self.earlier_creation(&ticket.ticket_id, &fingerprint).await
            }
            Err(e) => Err(StoreError::unavailable("PutItem", TICKETS.kind, e)),
        }
    }

    async fn earlier_creation(
        &self,
        ticket_id: &str,
        fingerprint: &str,
    ) -> Result<(Ticket, Creation), StoreError> {
        let existing: Option<StoredTicket> = self
            .get(&TICKETS, &self.tickets_table, ticket_id, true)
            .await?;
        let Some(stored) = existing else {
            return Err(StoreError::Conflict(format!(
                "ticket {ticket_id} was being created concurrently; retry the same call"
            )));
        };
        if stored.request_fingerprint.as_deref() != Some(fingerprint) {
            return Err(StoreError::Conflict(format!(
                "this client_token was already used to create ticket {ticket_id} with different details; \
                 use a new client_token for a new ticket, or repeat the original details to retry"
            )));
        }
        Ok((stored.ticket, Creation::AlreadyExisted))
    }

    /// The ticket. With `owner`, a ticket of any other customer is reported exactly as one
    /// that does not exist.
    pub async fn ticket(&self, ticket_id: &str, owner: Option<&str>) -> Result<Ticket, StoreError> {
        self.get(&TICKETS, &self.tickets_table, ticket_id, false)
            .await?
            .filter(|ticket: &Ticket| ticket.visible_to(owner))
            .ok_or_else(|| StoreError::NotFound {
                kind: "ticket",
                id: ticket_id.to_owned(),
            })
    }

    /// A customer's tickets, newest first, optionally only those with one status.
    pub async fn customer_tickets(
        &self,
        customer_id: &str,
        status: Option<TicketStatus>,
        page: &PageRequest,
    ) -> Result<Page<Ticket>, StoreError> {
        match status {
            None => {
                self.query_page(
                    &["customer_tickets", "any"],
                    &TICKETS,
                    &self.tickets_table,
                    &TICKETS_BY_CUSTOMER,
                    customer_id,
                    page,
                )
                .await
            }
            Some(status) => {
                let partition = customer_status(customer_id, status);
                self.query_page(
                    &["customer_tickets", status.as_str()],
                    &TICKETS,
                    &self.tickets_table,
                    &TICKETS_BY_CUSTOMER_STATUS,
                    &partition,
                    page,
                )
                .await
            }
        }
    }

    /// Appends `note` to a ticket and returns the updated ticket. With `owner`, the ticket must
    /// belong to that customer: a ticket of anyone else is reported exactly as one that does not
    /// exist, and nothing is written.
    pub async fn add_ticket_note(
        &self,
        ticket_id: &str,
        owner: Option<&str>,
        note: TicketNote,
    ) -> Result<Ticket, StoreError> {
        let note_value =
            serde_dynamo::to_attribute_value(&note).map_err(|e| StoreError::Corrupt {
                kind: TICKETS.kind,
                detail: e.to_string(),
            })?;
        let mut condition = "attribute_exists(#id) AND size(notes) < :max".to_owned();
        let mut update = self
            .client
            .update_item()
            .table_name(&self.tickets_table)
            .key(
                TICKETS.partition_key,
                AttributeValue::S(ticket_id.to_owned()),
            );
        if let Some(owner) = owner {
            condition.push_str(" AND customer_id = :owner");
            update =
                update.expression_attribute_values(":owner", AttributeValue::S(owner.to_owned()));
        }
        let updated = update
            .update_expression("SET notes = list_append(notes, :note), updated_at = :now")
            .condition_expression(condition)
            .expression_attribute_names("#id", TICKETS.partition_key)
            .expression_attribute_values(":note", AttributeValue::L(vec![note_value]))
            .expression_attribute_values(
                ":now",
                AttributeValue::S(
                    note.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                ),
            )
            .expression_attribute_values(":max", AttributeValue::N(MAX_NOTES.to_string()))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match updated {
            Ok(output) => super::from_item(&TICKETS, output.attributes.unwrap_or_default()),
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), UpdateItemError::ConditionalCheckFailedException(_)) =>
            {
                // Either the ticket is missing, not the owner's, or full; only the last is
                // worth saying, and only to its owner.
                self.ticket(ticket_id, owner).await?;
                Err(StoreError::Conflict(format!(
                    "ticket {ticket_id} already has the maximum of {MAX_NOTES} notes; open a new ticket that refers to it"
                )))
            }
            Err(e) => Err(StoreError::unavailable("UpdateItem", TICKETS.kind, e)),
        }
    }
}

/// A ticket as stored: the record plus the `customer_status` key of the status index.
pub(super) fn ticket_item(ticket: &Ticket) -> Result<super::Item, StoreError> {
    let mut item = super::to_item(&TICKETS, ticket)?;
    item.insert(
        TICKETS_BY_CUSTOMER_STATUS.partition_key.to_owned(),
        AttributeValue::S(customer_status(&ticket.customer_id, ticket.status)),
    );
    Ok(item)
}

fn customer_status(customer_id: &str, status: TicketStatus) -> String {
    format!("{customer_id}#{status}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(token: &str) -> NewTicket {
        NewTicket {
            customer_id: "CUST-001".into(),
            subject: "Screen flickers".into(),
            description: "Since yesterday.".into(),
            category: TicketCategory::Product,
            priority: TicketPriority::Normal,
            order_id: None,
            serial_number: None,
            client_token: token.into(),
        }
    }

    #[test]
    fn the_same_customer_and_token_give_the_same_ticket_id() {
        assert_eq!(request("a").ticket_id(), request("a").ticket_id());
        assert_ne!(request("a").ticket_id(), request("b").ticket_id());
        let mut other_customer = request("a");
        other_customer.customer_id = "CUST-002".into();
        assert_ne!(request("a").ticket_id(), other_customer.ticket_id());
        assert!(request("a").ticket_id().starts_with("TKT-"));
    }

    #[test]
    fn the_fingerprint_tells_different_details_apart() {
        let mut changed = request("a");
        changed.subject.push('!');
        assert_eq!(request("a").fingerprint(), request("b").fingerprint());
        assert_ne!(request("a").fingerprint(), changed.fingerprint());
    }
}
