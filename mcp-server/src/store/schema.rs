//! Table existence: creating missing tables for `seed`, and the start-up check that reports
//! which configured tables are missing or lack an index.

use std::time::Duration;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TableStatus,
};

use super::{Store, StoreError};
use crate::tables::{self, TableDef};

/// What the start-up check found for one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableState {
    Ready,
    Missing,
    MissingIndexes(Vec<&'static str>),
    NotActive(String),
}

impl Store {
    /// Each configured table with its name and state.
    pub async fn check_tables(
        &self,
    ) -> Result<Vec<(&'static TableDef, String, TableState)>, StoreError> {
        let mut states = Vec::new();
        let configured = [
            (&tables::REVIEWS, &self.reviews_table),
            (&tables::WARRANTIES, &self.warranties_table),
            (&tables::TICKETS, &self.tickets_table),
        ];
        for (table, name) in configured {
            let state = self.table_state(table, name).await?;
            states.push((table, name.clone(), state));
        }
        Ok(states)
    }

    async fn table_state(
        &self,
        table: &'static TableDef,
        name: &str,
    ) -> Result<TableState, StoreError> {
        let described = self.client.describe_table().table_name(name).send().await;
        let description = match described {
            Ok(output) => match output.table {
                Some(description) => description,
                None => return Ok(TableState::Missing),
            },
            Err(SdkError::ServiceError(e))
                if matches!(e.err(), DescribeTableError::ResourceNotFoundException(_)) =>
            {
                return Ok(TableState::Missing);
            }
            Err(e) => return Err(StoreError::unavailable("DescribeTable", table.kind, e)),
        };
        let present: Vec<String> = description
            .global_secondary_indexes()
            .iter()
            .filter_map(|index| index.index_name().map(str::to_owned))
            .collect();
        let missing: Vec<&'static str> = table
            .indexes
            .iter()
            .map(|index| index.name)
            .filter(|name| !present.iter().any(|p| p == name))
            .collect();
        Ok(match description.table_status() {
            _ if !missing.is_empty() => TableState::MissingIndexes(missing),
            Some(TableStatus::Active) | None => TableState::Ready,
            Some(other) => TableState::NotActive(other.as_str().to_owned()),
        })
    }

    /// Creates every configured table that does not exist and waits until all are active.
    /// Returns the names of the tables it created.
    pub async fn create_missing_tables(&self, wait: Duration) -> Result<Vec<String>, StoreError> {
        let mut created = Vec::new();
        for (table, name, state) in self.check_tables().await? {
            match state {
                TableState::Missing => {
                    self.create_table(table, &name).await?;
                    created.push(name);
                }
                TableState::MissingIndexes(indexes) => {
                    return Err(StoreError::Conflict(format!(
                        "table {name} exists but lacks the indexes {}; it was not created by this server",
                        indexes.join(", ")
                    )));
                }
                TableState::Ready | TableState::NotActive(_) => {}
            }
        }
        self.wait_until_active(wait).await?;
        Ok(created)
    }

    async fn create_table(&self, table: &'static TableDef, name: &str) -> Result<(), StoreError> {
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
        };
        let key = |name: &str, key_type: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(key_type)
                .build()
        };
        let build_error = |e: aws_sdk_dynamodb::error::BuildError| StoreError::Corrupt {
            kind: table.kind,
            detail: e.to_string(),
        };
        let mut request = self
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(table.partition_key, KeyType::Hash).map_err(build_error)?);
        for attribute_name in table.key_attributes() {
            request =
                request.attribute_definitions(attribute(attribute_name).map_err(build_error)?);
        }
        for index in table.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(index.name)
                    .key_schema(key(index.partition_key, KeyType::Hash).map_err(build_error)?)
                    .key_schema(key(index.sort_key, KeyType::Range).map_err(build_error)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        request
            .send()
            .await
            .map_err(|e| StoreError::unavailable("CreateTable", table.kind, e))?;
        Ok(())
    }

    async fn wait_until_active(&self, wait: Duration) -> Result<(), StoreError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let pending: Vec<String> = self
                .check_tables()
                .await?
                .into_iter()
                .filter(|(_, _, state)| *state != TableState::Ready)
                .map(|(_, name, _)| name)
                .collect();
            if pending.is_empty() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(StoreError::Conflict(format!(
                    "tables {} did not become active within {} s",
                    pending.join(", "),
                    wait.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}
