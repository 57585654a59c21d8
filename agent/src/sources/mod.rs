//! Where MCP tools come from: the adapters that reach an MCP server (directly, in an AgentCore
//! runtime given by its ARN, or behind an AgentCore Gateway) with each source's outbound
//! credentials. They speak MCP and HTTP and know nothing of the tool policy above them.
//!
//! - [`mcp`]: one source, its endpoint, its rmcp client, per-request timeouts and the plain
//!   failure sentences the model reads;
//! - [`authorized_http`]: rmcp's HTTP client with the source's credentials on every request;
//! - [`outbound_auth`]: the credentials themselves, one kind per configured `auth` type.
//!
//! `tools` decides which of these tools a caller may use and how their arguments and results
//! are scoped; `config` names a source's settings with [`mcp::SourceConfig`].

pub mod authorized_http;
pub mod mcp;
pub mod outbound_auth;
