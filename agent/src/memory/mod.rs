//! Durable short-term memory: each completed turn written to AgentCore Memory, and a session
//! this process does not know restored from it before its first turn, so a conversation
//! survives the microVM (AgentCore stops a session's microVM after 15 idle minutes, and
//! recycles it).
//!
//! - Writes never delay the answer: a committed turn is queued ([`Memory::record_turn`] does
//!   not wait) and one writer task sends the queue in order, so a session's turns land in the
//!   order they were answered. A full queue, a timeout or a failed call is a log line; the
//!   turn has been answered already.
//! - A restore reads the session's events newest first, page by page, until it holds the
//!   history budget or the events run out, then hands the turns back oldest first for the
//!   history to replay (which keeps it within the budget). A Memory outage or timeout is a
//!   log line and an empty history, never a failed turn.
//! - Events are kept per actor, and the actor is the verified caller ([`MemoryKey`]): a
//!   caller who reuses someone else's session id reads and writes under their own actor and
//!   finds nothing of the other conversation.
//! - Long-term memory, when `MEMORY_RECALL_NAMESPACE` is set: at the start of a session the
//!   records of the caller's own namespace most relevant to the first question
//!   ([`Memory::recall`]), bounded in bytes, become a note for the session's system prompt.
//!
//! An adapter: it talks to AWS ([`client`]) and encodes turns ([`codec`]); when to restore and
//! what to record is decided by the contract's turn start-up.

pub mod client;
mod codec;
mod key;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_bedrockagentcore::types::PayloadType;
use aws_sdk_bedrockruntime::types::Message;
use aws_smithy_types::{DateTime, Document};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MemoryConfig;
use crate::model::document;
use client::{MemoryCallError, MemoryClient};
pub use key::MemoryKey;

/// The most memory records one recall asks for.
const RECALL_TOP_K: i32 = 5;

/// The most `ListEvents` pages one restore reads, whatever the budget: a bound on the time a
/// session's first turn can wait.
const MAX_RESTORE_PAGES: usize = 20;

/// One completed turn waiting to be written.
struct TurnWrite {
    key: MemoryKey,
    messages: Vec<Message>,
    request_id: String,
}

/// The memory of this process's conversations, when `MEMORY_ID` is set.
#[derive(Debug)]
pub struct Memory {
    client: MemoryClient,
    /// The caller's records namespace, `{actorId}` still to fill in; `None`: no recall.
    recall_namespace: Option<String>,
    recall_bytes: usize,
    writes: mpsc::Sender<TurnWrite>,
    closing: CancellationToken,
    writer: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for TurnWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnWrite")
            .field("session_id", &self.key.session_id)
            .field("messages", &self.messages.len())
            .finish_non_exhaustive()
    }
}

impl Memory {
    /// The memory of `config`, with its writer task started; `None` when `MEMORY_ID` is unset.
    pub fn start(sdk: &aws_config::SdkConfig, config: &MemoryConfig) -> Option<Arc<Self>> {
        let memory_id = config.memory_id.clone()?;
        let client = MemoryClient::new(
            sdk,
            memory_id,
            Duration::from_millis(config.memory_timeout_ms.max(1)),
        );
        let (writes, queued) = mpsc::channel(config.memory_write_queue.max(1));
        let closing = CancellationToken::new();
        let writer = tokio::spawn(write_turns(client.clone(), queued, closing.clone()));
        Some(Arc::new(Self {
            client,
            recall_namespace: config.memory_recall_namespace.clone(),
            recall_bytes: config.memory_recall_bytes,
            writes,
            closing,
            writer: std::sync::Mutex::new(Some(writer)),
        }))
    }

    /// Queues a completed turn's messages for writing; never waits.
    pub fn record_turn(&self, key: MemoryKey, messages: Vec<Message>, request_id: &str) {
        let write = TurnWrite {
            key,
            messages,
            request_id: request_id.to_owned(),
        };
        if let Err(error) = self.writes.try_send(write) {
            let write = match error {
                mpsc::error::TrySendError::Full(write)
                | mpsc::error::TrySendError::Closed(write) => write,
            };
            tracing::warn!(
                session_id = %write.key.session_id,
                request_id = %write.request_id,
                "the memory write queue is full; this turn is not stored in memory"
            );
        }
    }

    /// The session's earlier turns, oldest first, about `budget` bytes of them (the newest).
    /// Events this agent cannot read back as a turn are skipped with a log line.
    pub async fn restore(
        &self,
        key: &MemoryKey,
        budget: usize,
    ) -> Result<Vec<Vec<Message>>, MemoryCallError> {
        let mut newest_first: Vec<(DateTime, Document)> = Vec::new();
        let mut bytes = 0;
        let mut next_token = None;
        for _ in 0..MAX_RESTORE_PAGES {
            let page = self.client.list_events(key, next_token).await?;
            for event in &page.events {
                for payload in event.payload() {
                    if let PayloadType::Blob(blob) = payload {
                        bytes += document::size(blob);
                        newest_first.push((*event.event_timestamp(), blob.clone()));
                    }
                }
            }
            next_token = page.next_token;
            if bytes >= budget || next_token.is_none() {
                break;
            }
        }
        let mut oldest_first = newest_first;
        oldest_first.reverse();
        // Stable: events with the same timestamp keep the order the service gave them.
        oldest_first.sort_by_key(|(at, _)| (at.secs(), at.subsec_nanos()));
        let mut unreadable = 0_usize;
        let turns: Vec<Vec<Message>> = oldest_first
            .iter()
            .filter_map(|(_, blob)| match codec::decode_turn(blob) {
                Ok(turn) => Some(turn),
                Err(error) => {
                    unreadable += 1;
                    tracing::warn!(session_id = %key.session_id, %error, "skipped a memory event that is not a turn");
                    None
                }
            })
            .collect();
        tracing::info!(
            session_id = %key.session_id,
            turns = turns.len(),
            unreadable,
            "session restored from memory"
        );
        Ok(turns)
    }

    /// What long-term memory holds about `key`'s caller that bears on `question`, as a note
    /// for the system prompt, at most the configured bytes (whole records only); `None` when
    /// recall is off or nothing was found. The namespace is the caller's own: `{actorId}` is
    /// filled in from the verified caller's key, never from the request.
    pub async fn recall(
        &self,
        key: &MemoryKey,
        question: &str,
    ) -> Result<Option<String>, MemoryCallError> {
        let Some(template) = &self.recall_namespace else {
            return Ok(None);
        };
        let namespace = template.replace("{actorId}", &key.actor_id);
        let records = self
            .client
            .retrieve_records(&namespace, question, RECALL_TOP_K)
            .await?;
        let mut note = String::from(
            "What earlier conversations with this caller left in memory (it may be out of date; the caller's word and the tools win):",
        );
        let header = note.len();
        for record in &records {
            if note.len() + record.len() + 3 > header + self.recall_bytes {
                break;
            }
            note.push_str("\n- ");
            note.push_str(record);
        }
        tracing::info!(
            session_id = %key.session_id,
            records = records.len(),
            note_bytes = note.len() - header,
            "long-term memory recalled"
        );
        Ok((note.len() > header).then_some(note))
    }

    /// Sends what is still queued, for at most `within`; for the shutdown.
    pub async fn finish(&self, within: Duration) {
        self.closing.cancel();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(writer) = writer
            && tokio::time::timeout(within, writer).await.is_err()
        {
            tracing::warn!("memory writes still queued at exit are not stored");
        }
    }
}

/// The writer task: the queue in order, one call at a time; what is queued when `closing`
/// fires still goes out.
async fn write_turns(
    client: MemoryClient,
    mut queued: mpsc::Receiver<TurnWrite>,
    closing: CancellationToken,
) {
    loop {
        let write = tokio::select! {
            biased;
            write = queued.recv() => match write {
                Some(write) => write,
                None => return,
            },
            () = closing.cancelled() => break,
        };
        write_turn(&client, write).await;
    }
    while let Ok(write) = queued.try_recv() {
        write_turn(&client, write).await;
    }
}

async fn write_turn(client: &MemoryClient, write: TurnWrite) {
    let started = Instant::now();
    let blob = match codec::encode_turn(&write.messages) {
        Ok(blob) => blob,
        Err(error) => {
            tracing::warn!(session_id = %write.key.session_id, request_id = %write.request_id, %error, "a turn that cannot be stored in memory");
            return;
        }
    };
    let client_token = uuid::Uuid::new_v4().to_string();
    match client.create_event(&write.key, blob, client_token).await {
        Ok(()) => tracing::info!(
            session_id = %write.key.session_id,
            request_id = %write.request_id,
            elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "turn stored in memory"
        ),
        Err(error) => tracing::warn!(
            session_id = %write.key.session_id,
            request_id = %write.request_id,
            %error,
            "a turn could not be stored in memory; the session keeps it in this process only"
        ),
    }
}
