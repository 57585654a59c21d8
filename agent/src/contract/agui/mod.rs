//! AG-UI, the Agent-User Interaction protocol, as a second way to ask the agent: a
//! `RunAgentInput` in, AG-UI events out. AgentCore runtimes with `ServerProtocol` `AGUI` pass
//! the body of `POST /invocations` (SSE) and `/ws` (WebSocket) through unchanged
//! (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/runtime-agui-protocol-contract.html>);
//! the wire format is the protocol's own, taken from the schemas of `@ag-ui/core`
//! (<https://github.com/ag-ui-protocol/ag-ui>, `sdks/typescript/packages/core`) and
//! <https://docs.ag-ui.com/concepts/events>.
//!
//! Nothing here knows a transport: [`input`] reads a run request, [`events`] is the events'
//! wire form, [`translate`] turns a turn's [`agent_protocol::Event`]s into AG-UI events.
//! `/invocations` sends them as SSE frames; a WebSocket sends them as text frames.
//!
//! How a run maps onto the agent:
//! - **Conversation.** The agent keeps each session's history itself, so the server-side
//!   history wins: of the client's `messages` only the last one is read, and it must be the
//!   user's new message (its text is the prompt). Earlier messages the client replays are not
//!   read again, so a client cannot rewrite what the agent remembers.
//! - **Session.** The AgentCore session header, when present, names the session (in a runtime
//!   the platform always sends one). Without it (a local run) the `threadId` is the session id,
//!   under the same rule as the header (1 to 256 visible ASCII characters), so runs of one
//!   thread share a conversation. Another caller's thread is refused as another caller's
//!   session is.
//! - **Client input the agent does not use.** `tools` (frontend tools), `context`, `state` and
//!   `forwardedProps` are accepted and ignored: the agent's tools are its own.
//! - **`model_retry`.** AG-UI has no event that withdraws streamed text. A retried model call
//!   ends the partial text message (`TEXT_MESSAGE_END`), then sends
//!   `CUSTOM` `{"name":"model_retry","value":{"attempt","reason","delayMs","discardMessageId"}}`,
//!   and the retried answer streams as a new message. A standard client (`@ag-ui/client`'s
//!   verifier lets `CUSTOM` through anywhere in a run) keeps rendering a valid conversation; a
//!   client that knows the event drops the message named by `discardMessageId`. Throttling
//!   usually strikes before any text, and then no message is discarded at all.

pub mod events;
pub mod input;
pub mod translate;
