//! Configuration of the MCP server, read once at start from environment variables (or the
//! matching flags) into typed structs.
//!
//! Endpoints are not configured here: the AWS SDK reads the standard `AWS_ENDPOINT_URL` and
//! `AWS_ENDPOINT_URL_DYNAMODB` variables itself, so the same binary talks to moto, LocalStack or
//! AWS without a flag of its own.

use std::net::IpAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// DynamoDB MCP server for the customer-support agent.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings for `serve`, which is also what runs when no command is given.
    #[command(flatten)]
    pub serve: ServeConfig,
    /// Where traces go (`AGENT_OBSERVABILITY_ENABLED`, `OTEL_EXPORTER_OTLP_*`).
    #[command(flatten)]
    pub telemetry: service_runtime::telemetry::TelemetryArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve MCP over streamable HTTP (the default).
    Serve,
    /// Create any missing tables and load the demo data set into them, then exit.
    Seed(SeedConfig),
    /// Exit 0 when the server on this machine (`MCP_PORT`) answers on `/mcp` within two
    /// seconds, else 1: the container image's health check.
    Healthcheck,
}

/// Where the data lives and how patient calls to it are.
#[derive(Debug, Clone, Args)]
pub struct StoreConfig {
    /// AWS region of the tables. Required so that start-up never asks a metadata service.
    #[arg(long, env = "AWS_REGION", value_name = "AWS_REGION")]
    pub region: String,
    /// Name of the reviews table.
    #[arg(
        long,
        env = "REVIEWS_TABLE",
        value_name = "REVIEWS_TABLE",
        default_value = "support-reviews"
    )]
    pub reviews_table: String,
    /// Name of the warranties table.
    #[arg(
        long,
        env = "WARRANTIES_TABLE",
        value_name = "WARRANTIES_TABLE",
        default_value = "support-warranties"
    )]
    pub warranties_table: String,
    /// Name of the support tickets table.
    #[arg(
        long,
        env = "TICKETS_TABLE",
        value_name = "TICKETS_TABLE",
        default_value = "support-tickets"
    )]
    pub tickets_table: String,
    /// Time budget of one DynamoDB operation, retries included, in milliseconds.
    #[arg(long, env = "DYNAMODB_TIMEOUT_MS", value_name = "DYNAMODB_TIMEOUT_MS", default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub dynamodb_timeout_ms: u64,
    /// Attempts per DynamoDB operation (first try included) on throttling and transient errors.
    #[arg(long, env = "DYNAMODB_MAX_ATTEMPTS", value_name = "DYNAMODB_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub dynamodb_max_attempts: u32,
}

impl StoreConfig {
    pub fn operation_timeout(&self) -> Duration {
        Duration::from_millis(self.dynamodb_timeout_ms)
    }
}

/// Settings of the `serve` command.
#[derive(Debug, Clone, Args)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(
        long,
        env = "MCP_HOST",
        value_name = "MCP_HOST",
        default_value = "0.0.0.0"
    )]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one; the chosen address is logged).
    #[arg(
        long,
        env = "MCP_PORT",
        value_name = "MCP_PORT",
        default_value_t = 8000
    )]
    pub port: u16,
    /// `Host` header values accepted, comma-separated (`name` or `name:port`), or `*` for any.
    /// AgentCore forwards requests with its own host name, so a deployed runtime needs `*`
    /// or that name; the default admits loopback only, which protects a server on a laptop
    /// from DNS rebinding.
    #[arg(
        long,
        env = "MCP_ALLOWED_HOSTS",
        value_name = "MCP_ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1,::1"
    )]
    pub allowed_hosts: Vec<String>,
    /// Browser origins accepted, comma-separated, with scheme and port (`https://app.example.com:443`,
    /// `http://localhost:*`). A request that carries an `Origin` header is refused unless it
    /// is listed; requests without one (every non-browser client) are not affected. The
    /// default admits local pages only.
    #[arg(
        long,
        env = "MCP_ALLOWED_ORIGINS",
        value_name = "MCP_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "http://localhost:*,http://127.0.0.1:*,http://[::1]:*"
    )]
    pub allowed_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(
        long,
        env = "MCP_MAX_REQUEST_BYTES",
        value_name = "MCP_MAX_REQUEST_BYTES",
        default_value_t = 1_048_576
    )]
    pub max_request_bytes: usize,
    #[command(flatten)]
    pub shutdown: service_runtime::shutdown::ShutdownArgs,
    #[command(flatten)]
    pub store: StoreConfig,
    /// Caller authentication (`AUTH_*`, as for the agent). Optional: with `AUTH_MODE` unset
    /// the server checks no token, which is right behind an AgentCore runtime's own JWT
    /// authorizer or on a laptop.
    #[command(flatten)]
    pub auth: inbound_auth::AuthArgs,
}

impl ServeConfig {
    /// Whether every `Host` header is accepted.
    pub fn any_host(&self) -> bool {
        self.allowed_hosts.iter().any(|host| host.trim() == "*")
    }
}

/// Settings of the `seed` command.
#[derive(Debug, Clone, Args)]
pub struct SeedConfig {
    /// How long to wait for newly created tables to become active, in seconds.
    #[arg(
        long,
        env = "SEED_TABLE_WAIT_SECONDS",
        value_name = "SEED_TABLE_WAIT_SECONDS",
        default_value_t = 120
    )]
    pub table_wait_seconds: u64,
}
