//! `GET /ws`: the WebSocket half of AgentCore's HTTP protocol contract, on the same port as
//! `/invocations` and behind the same authentication. One connection serves the session named
//! on the upgrade (or, without one, each AG-UI run's thread) and any number of runs, one at a
//! time:
//!
//! - the client sends a text frame `{"prompt": "..."}` and receives the run's events as text
//!   frames, one [`Event`] per frame, from `start` to `done` or `error`, exactly as
//!   `/invocations` streams them. A frame that is an AG-UI `RunAgentInput` ([`super::agui`])
//!   is answered in AG-UI instead, one AG-UI event per frame from `RUN_STARTED` to
//!   `RUN_FINISHED` or `RUN_ERROR`, and every error below reaches it as a `RUN_ERROR` whose
//!   `code` is the `error_type` named here; when the upgrade named no session, its `threadId`
//!   does, as on `/invocations`;
//! - `{"type": "cancel"}` aborts the running run (the model stream and tool calls stop with
//!   it); the client receives an `error` event with `error_type` `Cancelled` as the run's
//!   last frame, and the connection stays open for the next run. A cancel with no run going is
//!   ignored: the run it meant has already ended;
//! - a run request while a run is going (`error_type` `RunInProgress`), or one that cannot
//!   start (`InvalidRequest`: no prompt; `SessionBusy`, `SessionOwnedByAnother`,
//!   `TooManySessions`: the session refused as `/invocations` refuses it), is answered with one
//!   `error` event and starts nothing; a running run goes on and still ends with its own
//!   `done` or `error`;
//! - the server pings every [`App::keepalive`]; client pings are answered by the library.
//!
//! Errors that end the connection close it with a code and a reason: 1003 for a binary frame,
//! 1007 for a text frame that is not JSON (or not UTF-8), 1009 for a message over
//! `MAX_REQUEST_BYTES`, 1002 for a WebSocket protocol violation, 1011 for an internal
//! failure, and 1001 when the agent shuts down: at the signal when no run is going, otherwise
//! once the run has ended (by itself within the grace period, or with its `ShuttingDown`
//! error after it). A refused authentication never upgrades: the auth layer answers 401.
//!
//! What reaches the container, per AgentCore's WebSocket guide
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-get-started-websocket.html>):
//! the session id `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`, which clients may give as a
//! header or as a URL query parameter (read here from either, the header first); OAuth as an
//! `Authorization: Bearer` header; and, for browsers, which cannot set headers, the bearer
//! token base64url-encoded in `Sec-WebSocket-Protocol` as `base64UrlBearerAuthorization.<token>`
//! next to the sentinel `base64UrlBearerAuthorization`. The guide says the upgrade reaches
//! the container without modification, so [`bearer_from_subprotocol`] turns that form into
//! the `Authorization` header before the auth layer reads it, and the upgrade selects the
//! sentinel protocol (a browser fails a handshake that selects none of those it offered).
//! SigV4, in headers or as a presigned URL's query parameters, is checked by AgentCore itself
//! and never reaches the container.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use agent_protocol::Event;
use agent_protocol::headers::SESSION_ID;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Query, Request, State};
use axum::http::header::{AUTHORIZATION, SEC_WEBSOCKET_PROTOCOL};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use base64::Engine;
use inbound_auth::Caller;
use serde_json::Value;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::agui::input::{RunAgentInput, prompt_of};
use super::agui::translate::AguiRun;
use super::context::InvocationContext;
use super::run::{RunningTurn, start_turn};
use super::{App, error_response};

/// The subprotocol that marks a browser's bearer token in `Sec-WebSocket-Protocol`; the token
/// itself comes as this name, a dot, and the token base64url-encoded.
pub const BEARER_SUBPROTOCOL: &str = "base64UrlBearerAuthorization";

/// The `error_type` of each error event this endpoint sends itself (the turn's own errors keep
/// theirs).
const CANCELLED: &str = "Cancelled";
const RUN_IN_PROGRESS: &str = "RunInProgress";
const INVALID_REQUEST: &str = "InvalidRequest";
const SESSION_BUSY: &str = "SessionBusy";
const SESSION_OWNED_BY_ANOTHER: &str = "SessionOwnedByAnother";
const TOO_MANY_SESSIONS: &str = "TooManySessions";
const INTERNAL_ERROR: &str = "InternalError";

/// How long a run's task may take to end after its last event or an abort before the
/// connection stops waiting; both are immediate, this only bounds a wait that is never long.
const END_WAIT: Duration = Duration::from_secs(5);

/// How long the client has to answer our close frame before the connection is dropped; short,
/// since at shutdown it adds to the grace period.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// RFC 6455 §5.5: a control frame's payload is at most 125 bytes, two of them the close code.
const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Gives a browser's bearer token (see the module doc) to the auth layer as the
/// `Authorization: Bearer` header it reads. A request that already has an `Authorization`
/// header keeps it, and one without the subprotocol form is left as it is.
pub async fn bearer_from_subprotocol(mut request: Request) -> Request {
    if request.headers().contains_key(AUTHORIZATION) {
        return request;
    }
    let Some(token) = subprotocol_bearer(request.headers()) else {
        return request;
    };
    if let Ok(mut value) = HeaderValue::from_str(&format!("Bearer {token}")) {
        value.set_sensitive(true);
        request.headers_mut().insert(AUTHORIZATION, value);
    }
    request
}

/// The token of the first `base64UrlBearerAuthorization.<base64url>` subprotocol offered, if it
/// decodes to UTF-8 text.
fn subprotocol_bearer(headers: &HeaderMap) -> Option<String> {
    let prefix = format!("{BEARER_SUBPROTOCOL}.");
    let encoded = headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .find_map(|protocol| protocol.trim().strip_prefix(prefix.as_str()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .ok()?;
    String::from_utf8(bytes)
        .ok()
        .filter(|token| !token.is_empty())
}

/// The open connections. A connection outlives the HTTP request that upgraded it, so the
/// server's graceful shutdown does not wait for it: the shutdown [`drain`](Self::drain)s them
/// at the signal (an idle connection closes with 1001 at once, a busy one after its run) and
/// waits until they are [`closed`](Self::closed).
#[derive(Debug, Default)]
pub struct Connections {
    draining: CancellationToken,
    open: TaskTracker,
}

impl Connections {
    /// Asks every connection to close once it has no run going; new runs are not started.
    pub fn drain(&self) {
        self.draining.cancel();
        self.open.close();
    }

    /// Completes when, after [`drain`](Self::drain), the last connection has closed.
    pub async fn closed(&self) {
        self.open.wait().await;
    }
}

/// The upgrade: the session from the header or the query, then the connection.
pub async fn handle(
    State(app): State<Arc<App>>,
    caller: Caller,
    Query(query): Query<HashMap<String, String>>,
    mut headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    if !headers.contains_key(SESSION_ID)
        && let Some(session_id) = query.get(SESSION_ID)
    {
        match HeaderValue::from_str(session_id) {
            Ok(value) => {
                headers.insert(SESSION_ID, value);
            }
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "Invalid session id",
                    "the session id must be visible ASCII characters",
                );
            }
        }
    }
    let context = match InvocationContext::from_headers(&headers) {
        Ok(context) => context,
        Err(e) => return error_response(StatusCode::BAD_REQUEST, "Invalid session id", e),
    };
    let session_named = headers.contains_key(SESSION_ID);
    let limit = app.max_request_bytes;
    let open = app.websockets.open.token();
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .protocols([BEARER_SUBPROTOCOL])
        .on_failed_upgrade(|error| tracing::warn!(%error, "WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let _counted_as_open = open;
            Connection {
                app,
                caller,
                context,
                session_named,
                headers,
            }
            .serve(socket)
            .await;
        })
}

/// One upgraded connection: who it is for and the headers its runs are started with.
struct Connection {
    app: Arc<App>,
    caller: Caller,
    context: InvocationContext,
    /// Whether the client named the session; if not, an AG-UI run's thread names it.
    session_named: bool,
    /// The upgrade's headers, for the runs' trace context.
    headers: HeaderMap,
}

/// A run in progress and how its events are written.
struct Run {
    turn: RunningTurn,
    format: Format,
}

/// How a run's events go out: the agent's own schema, one [`Event`] per frame, or (for a run
/// asked for with a `RunAgentInput`) AG-UI, each event as the AG-UI events it becomes.
enum Format {
    Events,
    Agui(AguiRun),
}

impl Format {
    /// The format of the answer to `request`, run or refusal.
    fn for_request(request: &Value) -> Self {
        if !RunAgentInput::is_meant(request) {
            return Self::Events;
        }
        let id = |field: &str| {
            request
                .get(field)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        Self::Agui(AguiRun::new(id("threadId"), id("runId")))
    }

    /// The JSON text frames for one event of the run.
    fn frames(&mut self, event: Event) -> Result<Vec<String>, serde_json::Error> {
        match self {
            Self::Events => Ok(vec![serde_json::to_string(&event)?]),
            Self::Agui(run) => run
                .translate(event)
                .iter()
                .map(serde_json::to_string)
                .collect(),
        }
    }

    /// The frames that end a run whose turn stopped without a last event.
    fn end_without_last_event(&mut self) -> Result<Vec<String>, serde_json::Error> {
        match self {
            Self::Events => Ok(vec![serde_json::to_string(&error_event(
                "the agent could not finish this answer; try again",
                INTERNAL_ERROR,
            ))?]),
            Self::Agui(run) => run
                .end_of_stream()
                .iter()
                .map(serde_json::to_string)
                .collect(),
        }
    }
}

/// What to do after a client message.
enum Next {
    Continue,
    /// Close with this code and reason.
    Close(CloseFrame),
    /// The client closed or the connection failed: nothing more can be sent.
    Gone,
}

impl Connection {
    async fn serve(self, mut socket: WebSocket) {
        tracing::info!(
            session_id = %self.context.session_id,
            request_id = %self.context.request_id,
            "WebSocket connection opened"
        );
        let keepalive = self.app.keepalive;
        let mut pings = tokio::time::interval_at(Instant::now() + keepalive, keepalive);
        pings.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut run: Option<Run> = None;
        let close = loop {
            tokio::select! {
                biased;
                // A running run goes on while the agent drains; when the grace period is over it
                // sees `ending` itself and ends with its `ShuttingDown` error, which the client
                // receives before the close.
                () = self.app.websockets.draining.cancelled(), if run.is_none() => {
                    break Some(close_frame(close_code::AWAY, "the agent is shutting down"));
                }
                // The client's messages before the run's events: a busy stream must not hold
                // back a cancel.
                message = socket.recv() => match self.on_message(message, &mut run, &mut socket).await {
                    Next::Continue => {}
                    Next::Close(frame) => break Some(frame),
                    Next::Gone => break None,
                },
                event = next_event(&mut run) => {
                    let Some(mut current) = run.take() else { continue };
                    let frames = match event {
                        // The run's last event goes out once its task has let go of the
                        // session, so a client may start the next run as soon as it reads it.
                        Some(event @ (Event::Done { .. } | Event::Error { .. })) => {
                            wait_for_end(current.turn.events, &self.context).await;
                            current.format.frames(event)
                        }
                        Some(event) => {
                            let frames = current.format.frames(event);
                            run = Some(current);
                            frames
                        }
                        None => current.format.end_without_last_event(),
                    };
                    if let Err(frame) = send_frames(&mut socket, frames).await {
                        break frame;
                    }
                },
                _ = pings.tick() => {
                    if socket.send(Message::Ping(Default::default())).await.is_err() {
                        break None;
                    }
                }
            }
        };
        // The run, if any, is aborted here: nobody is left to read its events.
        drop(run);
        if let Some(frame) = close {
            close_politely(&mut socket, frame).await;
        }
        tracing::info!(
            session_id = %self.context.session_id,
            request_id = %self.context.request_id,
            "WebSocket connection closed"
        );
    }

    async fn on_message(
        &self,
        message: Option<Result<Message, axum::Error>>,
        run: &mut Option<Run>,
        socket: &mut WebSocket,
    ) -> Next {
        let text = match message {
            None | Some(Ok(Message::Close(_))) => return Next::Gone,
            Some(Err(error)) => return self.on_read_error(error),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => return Next::Continue,
            Some(Ok(Message::Binary(_))) => {
                return Next::Close(close_frame(
                    close_code::UNSUPPORTED,
                    "this endpoint takes JSON text frames only",
                ));
            }
            Some(Ok(Message::Text(text))) => text,
        };
        let request: Value = match serde_json::from_str(text.as_str()) {
            Ok(request) => request,
            Err(error) => {
                return Next::Close(close_frame(
                    close_code::INVALID,
                    &format!("a frame must be one JSON object: {error}"),
                ));
            }
        };
        let frames = if request.get("type").and_then(Value::as_str) == Some("cancel") {
            let Some(mut cancelled) = run.take() else {
                return Next::Continue;
            };
            wait_for_end(cancelled.turn.abort(), &self.context).await;
            cancelled.format.frames(error_event(
                "the run was cancelled at the client's request",
                CANCELLED,
            ))
        } else {
            let mut format = Format::for_request(&request);
            let refusal = if run.is_some() {
                error_event(
                    "a run is already going on this connection; wait for its last event, or send {\"type\":\"cancel\"}",
                    RUN_IN_PROGRESS,
                )
            } else {
                match self.start(request) {
                    Ok(turn) => {
                        *run = Some(Run { turn, format });
                        return Next::Continue;
                    }
                    Err(refusal) => *refusal,
                }
            };
            format.frames(refusal)
        };
        match send_frames(socket, frames).await {
            Ok(()) => Next::Continue,
            Err(Some(frame)) => Next::Close(frame),
            Err(None) => Next::Gone,
        }
    }

    /// Starts the run `request` asks for (`{"prompt"}` or a `RunAgentInput`), or says why not.
    fn start(&self, request: Value) -> Result<RunningTurn, Box<Event>> {
        let invalid = |details: String| Box::new(error_event(&details, INVALID_REQUEST));
        let mut context = self.context.clone();
        let prompt = if RunAgentInput::is_meant(&request) {
            let input = RunAgentInput::parse(request).map_err(|e| invalid(e.to_string()))?;
            if !self.session_named {
                context.session_id = input
                    .thread_session_id()
                    .map_err(|e| invalid(e.to_string()))?;
            }
            prompt_of(&input).map_err(|e| invalid(e.to_string()))?
        } else {
            request
                .get("prompt")
                .and_then(Value::as_str)
                .filter(|p| !p.trim().is_empty())
                .ok_or_else(|| {
                    invalid(
                        "a run request must be a JSON object with a non-empty \"prompt\" string, or an AG-UI RunAgentInput"
                            .to_owned(),
                    )
                })?
                .to_owned()
        };
        start_turn(&self.app, &self.caller, &context, &self.headers, &prompt).map_err(|refusal| {
            let error_type = match refusal.status {
                StatusCode::CONFLICT => SESSION_BUSY,
                StatusCode::FORBIDDEN => SESSION_OWNED_BY_ANOTHER,
                StatusCode::SERVICE_UNAVAILABLE => TOO_MANY_SESSIONS,
                _ => INVALID_REQUEST,
            };
            Box::new(Event::Error {
                error: refusal.details,
                error_type: error_type.to_owned(),
                message: refusal.error.to_owned(),
            })
        })
    }

    /// A failed read: an oversized message gets 1009, bad UTF-8 1007, a protocol violation
    /// 1002; any other failure means the connection is gone.
    fn on_read_error(&self, error: axum::Error) -> Next {
        let cause = error.into_inner();
        let Some(error) = cause.downcast_ref::<tungstenite::Error>() else {
            return Next::Gone;
        };
        match error {
            tungstenite::Error::Capacity(_) => Next::Close(close_frame(
                close_code::SIZE,
                &format!(
                    "a message must be at most {} bytes",
                    self.app.max_request_bytes
                ),
            )),
            tungstenite::Error::Utf8(_) => Next::Close(close_frame(
                close_code::INVALID,
                "a text frame must be UTF-8",
            )),
            tungstenite::Error::Protocol(violation) => Next::Close(close_frame(
                close_code::PROTOCOL,
                &format!("WebSocket protocol violation: {violation}"),
            )),
            _ => {
                tracing::debug!(
                    session_id = %self.context.session_id,
                    error = %error,
                    "WebSocket read failed"
                );
                Next::Gone
            }
        }
    }
}

/// The next event of the running run, `None` when it has ended; never ready without a run.
async fn next_event(run: &mut Option<Run>) -> Option<Event> {
    match run {
        Some(run) => run.turn.events.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits (bounded) until the turn task behind `events` has ended. Its event sender is dropped
/// with the task, after the turn it drives and that turn's hold on the session, so the channel
/// closing marks the end; events still buffered are discarded.
async fn wait_for_end(mut events: tokio::sync::mpsc::Receiver<Event>, context: &InvocationContext) {
    let ended =
        tokio::time::timeout(END_WAIT, async { while events.recv().await.is_some() {} }).await;
    if ended.is_err() {
        tracing::warn!(
            session_id = %context.session_id,
            request_id = %context.request_id,
            "a run's task did not end in time after its last event or its cancel"
        );
    }
}

/// Sends a run's frames. `Err(Some(_))` is a close to send (an event could not be written as
/// JSON), `Err(None)` a connection that is gone.
async fn send_frames(
    socket: &mut WebSocket,
    frames: Result<Vec<String>, serde_json::Error>,
) -> Result<(), Option<CloseFrame>> {
    let frames = frames.map_err(|error| {
        tracing::error!(%error, "an event could not be written as JSON");
        Some(close_frame(close_code::ERROR, "internal error"))
    })?;
    for frame in frames {
        socket
            .send(Message::Text(frame.into()))
            .await
            .map_err(|_| None)?;
    }
    Ok(())
}

/// Sends `frame` and waits (bounded) for the client's close in answer, reading and discarding
/// what it still sends, so the closing handshake completes.
async fn close_politely(socket: &mut WebSocket, frame: CloseFrame) {
    if socket.send(Message::Close(Some(frame))).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_WAIT, async {
        while let Some(Ok(_)) = socket.recv().await {}
    })
    .await;
}

fn error_event(error: &str, error_type: &str) -> Event {
    Event::Error {
        error: error.to_owned(),
        error_type: error_type.to_owned(),
        message: "An error occurred during streaming".to_owned(),
    }
}

/// A close frame whose reason fits the control frame's payload, cut at a character boundary.
fn close_frame(code: u16, reason: &str) -> CloseFrame {
    let mut end = reason.len().min(MAX_CLOSE_REASON_BYTES);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    CloseFrame {
        code,
        reason: reason[..end].into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocols(values: &[&str]) -> HeaderMap {
        values
            .iter()
            .map(|v| {
                (
                    SEC_WEBSOCKET_PROTOCOL,
                    v.parse().expect("valid header value"),
                )
            })
            .collect()
    }

    #[test]
    fn a_browser_token_is_read_from_the_subprotocol_list() {
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("a.b.c?~");
        let offered = format!("{BEARER_SUBPROTOCOL}.{encoded}, {BEARER_SUBPROTOCOL}");
        assert_eq!(
            subprotocol_bearer(&protocols(&[offered.as_str()])),
            Some("a.b.c?~".to_owned())
        );
        let padded = format!(
            "{BEARER_SUBPROTOCOL}.{}",
            base64::engine::general_purpose::URL_SAFE.encode("x")
        );
        assert_eq!(
            subprotocol_bearer(&protocols(&["chat", padded.as_str()])),
            Some("x".to_owned())
        );
    }

    #[test]
    fn no_token_without_the_prefixed_subprotocol_or_with_bad_base64() {
        for none in [
            &[][..],
            &[BEARER_SUBPROTOCOL],
            &["chat, superchat"],
            &["base64UrlBearerAuthorization.***"],
            &["base64UrlBearerAuthorization."],
        ] {
            assert_eq!(subprotocol_bearer(&protocols(none)), None, "{none:?}");
        }
    }

    #[test]
    fn a_close_reason_fits_a_control_frame_without_splitting_a_character() {
        let frame = close_frame(close_code::INVALID, &"é".repeat(100));
        assert!(frame.reason.len() <= MAX_CLOSE_REASON_BYTES);
        assert!(frame.reason.as_str().chars().all(|c| c == 'é'));
        assert_eq!(close_frame(1000, "bye").reason.as_str(), "bye");
    }
}
