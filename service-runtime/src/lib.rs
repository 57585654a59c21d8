//! What every service binary of this project needs around its own logic, in one place so the
//! agent and the MCP server behave alike in AgentCore: JSON log lines on stdout ([`logging`])
//! and the shutdown signal the platform sends ([`shutdown`]).

pub mod logging;
pub mod shutdown;
