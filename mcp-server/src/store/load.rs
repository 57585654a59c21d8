//! Loading the demo data set: every fixture record is written as it is, in batches of 25.
//!
//! Writing is a put, so loading twice leaves the same records; records created through the
//! tools have ids of another form and are never touched.

use std::time::Duration;

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};

use super::{Item, Store, StoreError};
use crate::fixture::Dataset;
use crate::tables::{self, TableDef};

/// The most items one BatchWriteItem call takes.
const BATCH_SIZE: usize = 25;
/// How often to resend items DynamoDB handed back unprocessed before giving up.
const MAX_RESENDS: u32 = 8;

/// How many records went into each table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadCounts {
    pub reviews: usize,
    pub warranties: usize,
    pub tickets: usize,
}

impl Store {
    pub async fn load(&self, dataset: &Dataset) -> Result<LoadCounts, StoreError> {
        let reviews = dataset
            .reviews
            .iter()
            .map(|review| super::to_item(&tables::REVIEWS, review))
            .collect::<Result<Vec<_>, _>>()?;
        let warranties = dataset
            .warranties
            .iter()
            .map(|warranty| super::to_item(&tables::WARRANTIES, warranty))
            .collect::<Result<Vec<_>, _>>()?;
        let tickets = dataset
            .tickets
            .iter()
            .map(super::tickets::ticket_item)
            .collect::<Result<Vec<_>, _>>()?;
        let counts = LoadCounts {
            reviews: reviews.len(),
            warranties: warranties.len(),
            tickets: tickets.len(),
        };
        self.put_all(&tables::REVIEWS, &self.reviews_table, reviews)
            .await?;
        self.put_all(&tables::WARRANTIES, &self.warranties_table, warranties)
            .await?;
        self.put_all(&tables::TICKETS, &self.tickets_table, tickets)
            .await?;
        Ok(counts)
    }

    async fn put_all(
        &self,
        table: &'static TableDef,
        name: &str,
        items: Vec<Item>,
    ) -> Result<(), StoreError> {
        let mut requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|put| WriteRequest::builder().put_request(put).build())
                    .map_err(|e| StoreError::Corrupt {
                        kind: table.kind,
                        detail: e.to_string(),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(BATCH_SIZE));
            let mut batch = std::mem::replace(&mut requests, rest);
            for resend in 0.. {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(name, batch)
                    .send()
                    .await
                    .map_err(|e| StoreError::unavailable("BatchWriteItem", table.kind, e))?;
                batch = output
                    .unprocessed_items
                    .and_then(|mut unprocessed| unprocessed.remove(name))
                    .unwrap_or_default();
                if batch.is_empty() {
                    break;
                }
                if resend == MAX_RESENDS {
                    return Err(StoreError::Conflict(format!(
                        "DynamoDB left {} {} records unprocessed after {MAX_RESENDS} resends",
                        batch.len(),
                        table.kind
                    )));
                }
                tokio::time::sleep(Duration::from_millis(50 << resend)).await;
            }
        }
        Ok(())
    }
}
