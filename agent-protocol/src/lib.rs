//! The agent's client-facing protocol, shared by the agent, `agent-cli` and the system tests so
//! that none of it is written twice: the streamed events ([`events`]), the AgentCore headers
//! ([`headers`]), the URL that invokes a deployed runtime ([`runtime_url`]) and the [`Secret`]
//! tokens travel in ([`secret`]).
//!
//! Only `serde` and `serde_json`: every client can depend on it without pulling in a server or
//! an SDK.

pub mod events;
pub mod headers;
pub mod runtime_url;
pub mod secret;

pub use events::{Event, SCHEMA_VERSION, ToolStatus, Usage};
pub use secret::Secret;
