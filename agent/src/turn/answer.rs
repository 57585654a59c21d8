//! The event protocol of one turn: `start`, then the loop's events, then `done` (after the
//! turn's messages are committed to the conversation) or `error`. A client gone mid-turn gets
//! nothing more, and nothing is committed.
//!
//! The conversation is released before the last event is sent: a client that asks its next
//! question the moment it reads `done` must find the session free, not busy.
//!
//! The conversation is a trait so the loop stays free of the session store: the caller decides
//! where the history lives and how much of it is kept.

use std::time::Instant;

use agent_protocol::{Event, SCHEMA_VERSION};
use aws_sdk_bedrockruntime::types::Message;
use tokio_util::sync::CancellationToken;

use super::{Agent, EventSink, TurnError};
use crate::tools::CallContext;

/// The history a turn builds on and commits to.
pub trait Conversation {
    fn messages(&self) -> &[Message];
    /// Appends a completed turn's messages.
    fn commit(&mut self, new_messages: Vec<Message>);
    /// A note for the system prompt that belongs to this conversation (what memory recalled
    /// about the caller), if any.
    fn system_note(&self) -> Option<&str> {
        None
    }
}

/// What one request asks of the agent, and who asks it.
#[derive(Debug)]
pub struct Invocation {
    pub session_id: String,
    /// The caller's subject, for the logs.
    pub caller: String,
    pub prompt: String,
    pub context: CallContext,
}

impl Agent {
    /// Answers `invocation` on top of `conversation`, sending every event of the turn to
    /// `sink`. A cancelled `ending` ends the turn with a shutting-down error.
    pub async fn answer(
        &self,
        mut conversation: impl Conversation,
        invocation: &Invocation,
        ending: &CancellationToken,
        sink: &EventSink,
    ) {
        let started = Instant::now();
        let context = &invocation.context;
        let start = Event::Start {
            schema_version: SCHEMA_VERSION,
            session_id: invocation.session_id.clone(),
            request_id: context.request_id.clone(),
        };
        if sink.0.send(start).await.is_err() {
            return;
        }
        // Boxed: the loop's future inline here overflows the compiler's layout depth limit.
        let outcome = tokio::select! {
            outcome = Box::pin(self.run(conversation.messages(), conversation.system_note(), &invocation.prompt, context, sink)) => outcome,
            () = ending.cancelled() => Err(TurnError::ShuttingDown),
        };
        match outcome {
            Ok(turn) => {
                tracing::info!(
                    session_id = %invocation.session_id,
                    request_id = %context.request_id,
                    caller = invocation.caller.as_str(),
                    access = context.access.kind(),
                    workload_token = context.workload_token.is_some(),
                    caller_token = context.caller_token.is_some(),
                    model_calls = turn.model_calls,
                    stop_reason = %turn.stop_reason,
                    input_tokens = turn.usage.input_tokens,
                    output_tokens = turn.usage.output_tokens,
                    elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                    "turn completed"
                );
                conversation.commit(turn.new_messages);
                drop(conversation);
                let done = Event::Done {
                    text: turn.text,
                    stop_reason: turn.stop_reason,
                    usage: turn.usage,
                    model_calls: turn.model_calls,
                };
                let _ = sink.0.send(done).await;
            }
            Err(TurnError::ClientGone) => {
                tracing::info!(session_id = %invocation.session_id, request_id = %context.request_id, "client went away; turn dropped");
            }
            Err(error) => {
                // The cause is for the logs; the caller gets the plain sentence and the code.
                tracing::warn!(session_id = %invocation.session_id, request_id = %context.request_id, %error, "turn failed");
                drop(conversation);
                let _ = sink
                    .0
                    .send(Event::error(error.public_message(), error.error_type()))
                    .await;
            }
        }
    }
}
