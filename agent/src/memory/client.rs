//! The AgentCore Memory calls the agent makes, each within its timeout: `CreateEvent` for a
//! completed turn, `ListEvents` for a session's earlier turns and, with long-term memory on,
//! `RetrieveMemoryRecords` for what was learnt about the caller, through
//! `aws-sdk-bedrockagentcore` (endpoint from the SDK's standard
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`).
//!
//! API reference: CreateEvent
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_CreateEvent.html>,
//! ListEvents
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_ListEvents.html>
//! (at most 100 events a page, `nextToken` for the next), RetrieveMemoryRecords
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_RetrieveMemoryRecords.html>
//! (records of one namespace most relevant to a search query).

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrockagentcore::error::DisplayErrorContext;
use aws_sdk_bedrockagentcore::primitives::DateTime;
use aws_sdk_bedrockagentcore::types::{Event, MemoryContent, PayloadType, SearchCriteria};
use aws_smithy_types::Document;

use super::key::MemoryKey;

/// The most events one `ListEvents` page may hold.
const PAGE_SIZE: i32 = 100;

/// A failed Memory call, its cause for the logs (no payloads, no credentials).
#[derive(Debug, thiserror::Error)]
pub enum MemoryCallError {
    #[error("{operation} did not answer within {timeout_ms} ms")]
    Timeout {
        operation: &'static str,
        timeout_ms: u64,
    },
    #[error("{operation} failed: {cause}")]
    Failed {
        operation: &'static str,
        cause: String,
    },
}

/// One page of a session's events.
pub struct EventPage {
    pub events: Vec<Event>,
    pub next_token: Option<String>,
}

/// The Memory client of one memory resource.
#[derive(Debug, Clone)]
pub struct MemoryClient {
    client: aws_sdk_bedrockagentcore::Client,
    memory_id: String,
    timeout: Duration,
}

impl MemoryClient {
    pub fn new(sdk: &aws_config::SdkConfig, memory_id: String, timeout: Duration) -> Self {
        let config = aws_sdk_bedrockagentcore::config::Builder::from(sdk)
            .timeout_config(TimeoutConfig::builder().operation_timeout(timeout).build())
            .build();
        Self {
            client: aws_sdk_bedrockagentcore::Client::from_conf(config),
            memory_id,
            timeout,
        }
    }

    /// Stores one turn's `blob` as an event of `key`. `client_token` makes the SDK's retries
    /// of this call idempotent.
    pub async fn create_event(
        &self,
        key: &MemoryKey,
        blob: Document,
        client_token: String,
    ) -> Result<(), MemoryCallError> {
        let call = self
            .client
            .create_event()
            .memory_id(&self.memory_id)
            .actor_id(&key.actor_id)
            .session_id(&key.session_id)
            .event_timestamp(DateTime::from(std::time::SystemTime::now()))
            .payload(PayloadType::Blob(blob))
            .client_token(client_token)
            .send();
        self.bounded("CreateEvent", call).await.map(|_| ())
    }

    /// One page of `key`'s events with their payloads.
    pub async fn list_events(
        &self,
        key: &MemoryKey,
        next_token: Option<String>,
    ) -> Result<EventPage, MemoryCallError> {
        let call = self
            .client
            .list_events()
            .memory_id(&self.memory_id)
            .actor_id(&key.actor_id)
            .session_id(&key.session_id)
            .include_payloads(true)
            .max_results(PAGE_SIZE)
            .set_next_token(next_token)
            .send();
        let output = self.bounded("ListEvents", call).await?;
        Ok(EventPage {
            next_token: output.next_token().map(str::to_owned),
            events: output.events,
        })
    }

    /// The text of at most `top_k` records of `namespace` most relevant to `query`, most
    /// relevant first.
    pub async fn retrieve_records(
        &self,
        namespace: &str,
        query: &str,
        top_k: i32,
    ) -> Result<Vec<String>, MemoryCallError> {
        let criteria = SearchCriteria::builder()
            .search_query(query)
            .top_k(top_k)
            .build()
            .map_err(|error| MemoryCallError::Failed {
                operation: "RetrieveMemoryRecords",
                cause: error.to_string(),
            })?;
        let call = self
            .client
            .retrieve_memory_records()
            .memory_id(&self.memory_id)
            .namespace(namespace)
            .search_criteria(criteria)
            .max_results(top_k)
            .send();
        let output = self.bounded("RetrieveMemoryRecords", call).await?;
        Ok(output
            .memory_record_summaries
            .iter()
            .filter_map(|record| match record.content() {
                Some(MemoryContent::Text(text)) => Some(text.clone()),
                _ => None,
            })
            .collect())
    }

    /// `call` within the timeout (the SDK's operation timeout bounds it too, retries
    /// included; this one also covers credential resolution).
    async fn bounded<T, E, R>(
        &self,
        operation: &'static str,
        call: impl Future<Output = Result<T, aws_sdk_bedrockagentcore::error::SdkError<E, R>>>,
    ) -> Result<T, MemoryCallError>
    where
        E: std::error::Error + 'static,
        R: std::fmt::Debug,
    {
        match tokio::time::timeout(self.timeout, call).await {
            Err(_) => Err(MemoryCallError::Timeout {
                operation,
                timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            }),
            Ok(Err(error)) => Err(MemoryCallError::Failed {
                operation,
                cause: DisplayErrorContext(&error).to_string(),
            }),
            Ok(Ok(output)) => Ok(output),
        }
    }
}
