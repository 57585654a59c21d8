//! The test harness every end-to-end test builds on.
//!
//! Tests run the project's real binaries as processes against real protocol peers: moto for
//! AWS services ([`moto`]), wire-faithful stand-ins for the services moto lacks ([`bedrock`],
//! [`rds_data`] on throw-away [`postgres`] databases),
//! and the binaries themselves ([`process`], [`mcp_server`]). Each test starts its own moto,
//! stand-ins and servers on free ports, so tests share no state and run in parallel. The Python
//! virtual environment holding moto is created by the README's test command (`scripts/test`).

// The harness is test support: a setup step that cannot go on fails the test that called it,
// which is what unwrap, expect and panic do. The workspace denies them in shipped code only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod agent;
pub mod agentcore_memory;
pub mod agentcore_runtime;
pub mod agui_client;
pub mod aurora;
pub mod bedrock;
pub mod cedar_policy_engine;
pub mod cloudformation;
pub mod cognito;
pub mod demo_model;
pub mod fixtures;
pub mod gateway;
pub mod identity;
pub mod mcp_server;
pub mod measure;
pub mod moto;
pub mod npm;
pub mod oauth;
pub mod otlp;
pub mod postgres;
pub mod process;
pub mod rds_data;
pub mod serving;
pub mod stacks;
pub mod tool_probe;
pub mod web;
pub mod workspace;
