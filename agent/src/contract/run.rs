//! One turn started for a caller in a session, whatever the transport: the session taken (or
//! the refusal that explains why not), the `invoke_agent` span continuing the caller's trace,
//! and the turn task whose events arrive on a channel. `/invocations` streams them as SSE or
//! collects them into JSON; a WebSocket connection sends them as frames.
//!
//! The task holds the session and a busy mark for `/ping`. The [`RunningTurn`] owns an abort
//! handle: dropping it (the client went away, or asked to cancel) aborts the task, and the
//! model stream and running tool calls stop with it.
//!
//! With durable memory on, the task first restores a session this process has just created
//! (its caller's earlier turns, read under the caller's own actor: never the turns of whoever
//! else once used the session id), and a committed turn is queued for writing; a Memory
//! failure is a log line, never a failed turn.

use std::sync::Arc;

use agent_protocol::Event;
use aws_sdk_bedrockruntime::types::Message;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use inbound_auth::Caller;
use tokio::sync::{OwnedMutexGuard, mpsc};
use tokio::task::AbortHandle;
use tracing::Instrument;

use super::context::InvocationContext;
use super::{App, error_response};
use crate::memory::{Memory, MemoryKey};
use crate::session::{History, SessionError, SessionOwner};
use crate::tools::CallContext;
use crate::turn::{Conversation, EventSink, Invocation};

/// Events buffered between the turn and a slow client before the turn waits.
const EVENT_BUFFER: usize = 64;

/// A turn in progress: its events, in order, until the channel closes.
pub struct RunningTurn {
    pub events: mpsc::Receiver<Event>,
    abort: AbortOnDrop,
}

impl RunningTurn {
    /// Aborts the turn and hands back its event channel, which closes once the aborted task
    /// has let go of the session; events still buffered are the caller's to discard.
    pub fn abort(self) -> mpsc::Receiver<Event> {
        let Self { events, abort } = self;
        drop(abort);
        events
    }

    /// The events as a stream that keeps the turn alive while it is polled and aborts it when
    /// dropped.
    pub fn into_stream(self) -> impl futures::Stream<Item = Event> + Send + 'static {
        let abort = self.abort;
        futures::StreamExt::map(
            tokio_stream::wrappers::ReceiverStream::new(self.events),
            move |event| {
                let _owned_by_the_stream = &abort;
                event
            },
        )
    }
}

/// Why a turn could not start, as the transport will say it.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub error: &'static str,
    pub details: String,
}

impl Refusal {
    pub fn into_response(self) -> Response {
        error_response(self.status, self.error, self.details)
    }
}

/// Takes the session for `caller` and starts answering `prompt` in it. `headers` carry the
/// caller's trace context.
pub fn start_turn(
    app: &Arc<App>,
    caller: &Caller,
    context: &InvocationContext,
    headers: &HeaderMap,
    prompt: &str,
) -> Result<RunningTurn, Refusal> {
    let owner = SessionOwner::of(caller, context.runtime_user_id.as_deref());
    let history = app
        .sessions
        .checkout(&context.session_id, &owner)
        .map_err(|error| refusal(error, context, &owner))?;
    let span = tracing::info_span!(
        "invoke_agent",
        otel.name = "invoke_agent support-agent",
        otel.kind = "server",
        "gen_ai.operation.name" = "invoke_agent",
        "gen_ai.agent.name" = "support-agent",
        "session.id" = %context.session_id,
        "request.id" = %context.request_id,
        "enduser.id" = caller.subject().unwrap_or("anonymous"),
    );
    service_runtime::telemetry::continue_trace(
        &span,
        headers,
        &[("session.id", context.session_id.as_str())],
    );
    let invocation = Invocation {
        session_id: context.session_id.clone(),
        caller: caller.subject().unwrap_or("anonymous").to_owned(),
        prompt: prompt.to_owned(),
        context: CallContext {
            access: app.access_policy.access_for(caller),
            workload_token: context.workload_access_token.clone(),
            caller_token: context.caller_token.clone(),
            request_id: context.request_id.clone(),
        },
    };
    let memory = app.memory.as_ref().map(|memory| RecordedIn {
        memory: memory.clone(),
        key: MemoryKey::new(&owner.digest_hex(), &context.session_id),
        request_id: context.request_id.clone(),
    });
    let mut conversation = SessionConversation {
        history,
        budget: app.sessions.history_budget,
        memory,
    };
    let (tx, events) = mpsc::channel(EVENT_BUFFER);
    let busy = app.health.busy();
    let turn_app = app.clone();
    let task = tokio::spawn(
        async move {
            let _busy = busy;
            conversation.restore_if_new(&invocation.prompt).await;
            let sink = EventSink(tx);
            turn_app
                .agent
                .answer(conversation, &invocation, &turn_app.ending, &sink)
                .await;
        }
        .instrument(span),
    );
    Ok(RunningTurn {
        events,
        abort: AbortOnDrop(task.abort_handle()),
    })
}

/// The refusal for a session that cannot be taken; a request for another caller's session is
/// a security event and logged as one.
fn refusal(error: SessionError, context: &InvocationContext, caller: &SessionOwner) -> Refusal {
    let (status, title) = match &error {
        SessionError::Busy => (StatusCode::CONFLICT, "Session busy"),
        SessionError::Full => (StatusCode::SERVICE_UNAVAILABLE, "Too many sessions"),
        SessionError::OwnedByAnother {
            owner: session_owner,
        } => {
            tracing::warn!(
                security_event = "session_owner_mismatch",
                session_id = %context.session_id,
                request_id = %context.request_id,
                session_owner = %session_owner.short_hash(),
                caller = %caller.short_hash(),
                "refused a request for a session started by another caller"
            );
            (StatusCode::FORBIDDEN, "Session belongs to another caller")
        }
    };
    Refusal {
        status,
        error: title,
        details: error.to_string(),
    }
}

/// Aborts the turn when the [`RunningTurn`] that owns it is dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The session's history as the turn's conversation, kept within the session byte budget,
/// and recorded in durable memory when that is on.
struct SessionConversation {
    history: OwnedMutexGuard<History>,
    budget: usize,
    memory: Option<RecordedIn>,
}

/// Where a session's turns are recorded: the memory, the caller's key, and the request id
/// the logs name.
struct RecordedIn {
    memory: Arc<Memory>,
    key: MemoryKey,
    request_id: String,
}

impl SessionConversation {
    /// Replays the caller's earlier turns from memory into a session this process has just
    /// created, and keeps what long-term memory recalls for `question`; an outage or timeout
    /// leaves it empty, with a log line.
    async fn restore_if_new(&mut self, question: &str) {
        let Some(recorded) = &self.memory else {
            return;
        };
        if !self.history.awaits_restore() {
            return;
        }
        let turns = match recorded.memory.restore(&recorded.key, self.budget).await {
            Ok(turns) => turns,
            Err(error) => {
                tracing::warn!(
                    session_id = %recorded.key.session_id,
                    request_id = %recorded.request_id,
                    %error,
                    "the session could not be restored from memory; it starts empty"
                );
                Vec::new()
            }
        };
        self.history.restore(turns, self.budget);
        match recorded.memory.recall(&recorded.key, question).await {
            Ok(note) => self.history.set_recalled(note),
            Err(error) => tracing::warn!(
                session_id = %recorded.key.session_id,
                request_id = %recorded.request_id,
                %error,
                "long-term memory could not be recalled; the session starts without it"
            ),
        }
    }
}

impl Conversation for SessionConversation {
    fn messages(&self) -> &[Message] {
        self.history.messages()
    }

    fn system_note(&self) -> Option<&str> {
        self.history.recalled()
    }

    fn commit(&mut self, new_messages: Vec<Message>) {
        // A turn that keeps nothing (a guardrail stopped it) is no event either.
        let recorded = self
            .memory
            .as_ref()
            .filter(|_| !new_messages.is_empty())
            .map(|_| new_messages.clone());
        self.history.commit(new_messages, self.budget);
        if let (Some(memory), Some(messages)) = (&self.memory, recorded) {
            memory
                .memory
                .record_turn(memory.key.clone(), messages, &memory.request_id);
        }
    }
}
