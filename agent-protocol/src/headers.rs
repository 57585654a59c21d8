//! The HTTP headers of an invocation, as AgentCore names them, lower-case as HTTP/2 sends them.
//!
//! AgentCore forwards the session, request and runtime-user headers to the agent; a local client
//! sends the session header itself, and the agent returns it in its answer. The workload access
//! token is the one AgentCore Identity trades for a source's OAuth token.

/// The conversation: `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`.
pub const SESSION_ID: &str = "x-amzn-bedrock-agentcore-runtime-session-id";

/// One invocation: `X-Amzn-Bedrock-AgentCore-Runtime-Request-Id`.
pub const REQUEST_ID: &str = "x-amzn-bedrock-agentcore-runtime-request-id";

/// The workload access token: `X-Amz-Bedrock-AgentCore-Identity-WAT`.
pub const WORKLOAD_ACCESS_TOKEN: &str = "x-amz-bedrock-agentcore-identity-wat";

/// The name older AgentCore releases send the workload access token under; the newer header
/// wins when both are present.
pub const LEGACY_WORKLOAD_ACCESS_TOKEN: &str = "workloadaccesstoken";

/// The user a SigV4 caller acts for: `X-Amzn-Bedrock-AgentCore-Runtime-User-Id`.
pub const RUNTIME_USER_ID: &str = "x-amzn-bedrock-agentcore-runtime-user-id";

/// Longest session id AgentCore accepts.
pub const MAX_SESSION_ID_LEN: usize = 256;
