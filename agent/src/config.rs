//! Configuration of the agent, read once at start from environment variables (or the matching
//! flags) into typed structs. Endpoints are not configured here: the AWS SDK reads the
//! standard `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (and friends) itself.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::sources::mcp::SourceConfig;
use crate::sources::outbound_auth::AuthConfig;

/// The customer-support agent for Amazon Bedrock AgentCore.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Config {
    /// What to do; serving the AgentCore contract when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Address to listen on.
    #[arg(
        long,
        env = "AGENT_HOST",
        value_name = "AGENT_HOST",
        default_value = "0.0.0.0"
    )]
    pub host: IpAddr,
    /// Port to listen on (0 picks a free one; the chosen address is logged).
    #[arg(
        long,
        env = "AGENT_PORT",
        value_name = "AGENT_PORT",
        default_value_t = 8080
    )]
    pub port: u16,
    /// AWS region for Bedrock. Required so that start-up never asks a metadata service.
    #[arg(long, env = "AWS_REGION", value_name = "AWS_REGION")]
    pub region: String,
    /// Largest accepted `/invocations` body, in bytes (413 beyond).
    #[arg(
        long,
        env = "MAX_REQUEST_BYTES",
        value_name = "MAX_REQUEST_BYTES",
        default_value_t = 1_048_576
    )]
    pub max_request_bytes: usize,
    #[command(flatten)]
    pub shutdown: service_runtime::shutdown::ShutdownArgs,
    #[command(flatten)]
    pub model: ModelConfig,
    #[command(flatten)]
    pub sessions: SessionConfig,
    #[command(flatten)]
    pub tools: ToolConfig,
    #[command(flatten)]
    pub aurora: AuroraConfig,
    #[command(flatten)]
    pub access: AccessConfig,
    #[command(flatten)]
    pub streams: StreamConfig,
    /// The AgentCore data-plane endpoint, for MCP runtimes given by ARN (the AWS SDK's standard
    /// variable); `https://bedrock-agentcore.<region>.amazonaws.com` when unset.
    #[arg(
        long,
        env = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
        value_name = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE"
    )]
    pub agentcore_endpoint: Option<String>,
    /// How callers are authenticated (`AUTH_*`).
    #[command(flatten)]
    pub auth: inbound_auth::AuthArgs,
    /// Where traces go (`AGENT_OBSERVABILITY_ENABLED`, `OTEL_EXPORTER_OTLP_*`).
    #[command(flatten)]
    pub telemetry: service_runtime::telemetry::TelemetryArgs,
    #[command(flatten)]
    pub cors: CorsConfig,
    #[command(flatten)]
    pub memory: MemoryConfig,
}

impl Config {
    /// The AgentCore data-plane endpoint of the configured region.
    pub fn agentcore_base(&self) -> String {
        self.agentcore_endpoint
            .clone()
            .unwrap_or_else(|| format!("https://bedrock-agentcore.{}.amazonaws.com", self.region))
    }

    /// Settings each valid alone but not together, named in the error. A `caller_token` source
    /// forwards the token inbound auth verified, so `AUTH_MODE=none`, which verifies none,
    /// cannot serve it.
    pub fn check_combinations(&self) -> Result<(), String> {
        if self.auth.auth_mode != Some(inbound_auth::AuthMode::None) {
            return Ok(());
        }
        match self
            .tools
            .sources
            .0
            .iter()
            .find(|source| source.auth == Some(AuthConfig::CallerToken))
        {
            Some(source) => Err(format!(
                "AUTH_MODE=none cannot serve MCP_SOURCES source {} with auth caller_token: without inbound authentication there is no verified caller token to forward. Set AUTH_MODE to verify or agentcore, or give the source another auth type",
                source.name
            )),
            None => Ok(()),
        }
    }
}

/// Commands other than serving.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Exit 0 when the agent serving on this machine (`AGENT_PORT`) answers `/ping` as
    /// healthy within two seconds, else 1: the container image's health check.
    Healthcheck,
    /// Apply the Aurora schema migrations and set up the read-only database user named in
    /// AURORA_SECRET_ARN, through the RDS Data API as the user in AURORA_ADMIN_SECRET_ARN.
    /// Safe to run again.
    Migrate(MigrateArgs),
}

/// How answers stream to callers.
#[derive(Debug, Clone, Args)]
pub struct StreamConfig {
    /// While the model or a tool is silent, an SSE stream sends a comment line and a WebSocket
    /// a ping this often, so idle connections are not cut by proxies (milliseconds).
    #[arg(
        long,
        env = "STREAM_KEEPALIVE_MS",
        value_name = "STREAM_KEEPALIVE_MS",
        default_value_t = 15_000,
        value_parser = clap::value_parser!(u64).range(100..=600_000)
    )]
    pub keepalive_ms: u64,
}

/// What `agent migrate` does beyond the Aurora settings.
#[derive(Debug, Clone, Args)]
pub struct MigrateArgs {
    /// Also load the demo customers, products and orders (an upsert; dates relative to today).
    #[arg(long)]
    pub seed: bool,
    /// The secret of the database user that owns the schema (e.g. the cluster's master user).
    #[arg(
        long,
        env = "AURORA_ADMIN_SECRET_ARN",
        value_name = "AURORA_ADMIN_SECRET_ARN"
    )]
    pub admin_secret_arn: String,
    /// Statement timeout given to the read-only user, in milliseconds.
    #[arg(
        long,
        env = "AURORA_STATEMENT_TIMEOUT_MS",
        value_name = "AURORA_STATEMENT_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub statement_timeout_ms: u64,
}

/// Aurora PostgreSQL through the RDS Data API (its endpoint from `AWS_ENDPOINT_URL_RDS_DATA`
/// when set). The Aurora tools are offered when the cluster and secret are set.
#[derive(Debug, Clone, Args)]
pub struct AuroraConfig {
    /// The Aurora cluster, `arn:aws:rds:<region>:<account>:cluster:<name>`.
    #[arg(
        long = "aurora-cluster-arn",
        env = "AURORA_CLUSTER_ARN",
        value_name = "AURORA_CLUSTER_ARN"
    )]
    pub cluster_arn: Option<String>,
    /// The Secrets Manager secret of the agent's read-only database user.
    #[arg(
        long = "aurora-secret-arn",
        env = "AURORA_SECRET_ARN",
        value_name = "AURORA_SECRET_ARN"
    )]
    pub secret_arn: Option<String>,
    /// The database name.
    #[arg(
        long = "aurora-database",
        env = "AURORA_DATABASE",
        value_name = "AURORA_DATABASE",
        default_value = "support"
    )]
    pub database: String,
    /// Longest one Data API call may take, in milliseconds.
    #[arg(
        long = "aurora-timeout-ms",
        env = "AURORA_TIMEOUT_MS",
        value_name = "AURORA_TIMEOUT_MS",
        default_value_t = 10_000,
        id = "aurora_timeout_ms"
    )]
    pub timeout_ms: u64,
}

/// How a verified caller maps to the data they may see.
#[derive(Debug, Clone, Args)]
pub struct AccessConfig {
    /// The token claim holding the caller's customer id.
    #[arg(
        long,
        env = "CUSTOMER_ID_CLAIM",
        value_name = "CUSTOMER_ID_CLAIM",
        default_value = "custom:customer_id"
    )]
    pub customer_id_claim: String,
    /// The Cognito group whose members are support staff, who may look up any customer.
    #[arg(
        long,
        env = "STAFF_GROUP",
        value_name = "STAFF_GROUP",
        default_value = "support-staff"
    )]
    pub staff_group: String,
}

/// The model and how it is called.
#[derive(Debug, Clone, Args)]
pub struct ModelConfig {
    /// Bedrock model or inference-profile id.
    #[arg(
        long,
        env = "MODEL_ID",
        value_name = "MODEL_ID",
        default_value = "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    )]
    pub model_id: String,
    /// File holding the system prompt; the prompt shipped in the binary when unset.
    #[arg(long, env = "SYSTEM_PROMPT_FILE", value_name = "SYSTEM_PROMPT_FILE")]
    pub system_prompt_file: Option<PathBuf>,
    /// Most tokens one model call may generate.
    #[arg(
        long,
        env = "MODEL_MAX_TOKENS",
        value_name = "MODEL_MAX_TOKENS",
        default_value_t = 2048
    )]
    pub max_tokens: i32,
    /// Sampling temperature; the model's default when unset.
    #[arg(long, env = "MODEL_TEMPERATURE", value_name = "MODEL_TEMPERATURE")]
    pub temperature: Option<f32>,
    /// Most model calls in one turn (each tool round is one).
    #[arg(long, env = "MAX_MODEL_CALLS", value_name = "MAX_MODEL_CALLS", default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub max_model_calls: u32,
    /// Time budget for retrying throttled or failed model calls in one turn, in milliseconds.
    #[arg(
        long,
        env = "MODEL_RETRY_BUDGET_MS",
        value_name = "MODEL_RETRY_BUDGET_MS",
        default_value_t = 30_000
    )]
    pub retry_budget_ms: u64,
    /// First retry delay, doubled per attempt with full jitter, in milliseconds.
    #[arg(
        long,
        env = "MODEL_RETRY_BASE_MS",
        value_name = "MODEL_RETRY_BASE_MS",
        default_value_t = 500
    )]
    pub retry_base_ms: u64,
    /// Longest wait for the first or the next event of a model stream, in milliseconds.
    #[arg(
        long,
        env = "MODEL_STREAM_TIMEOUT_MS",
        value_name = "MODEL_STREAM_TIMEOUT_MS",
        default_value_t = 60_000
    )]
    pub stream_timeout_ms: u64,
    /// Bedrock prompt caching: cache points after the system prompt and after the tool specs.
    /// `auto` sets them where the model is known to take them (`model::caching`).
    #[arg(
        long,
        env = "PROMPT_CACHING",
        value_name = "PROMPT_CACHING",
        value_enum,
        default_value_t = PromptCaching::Auto
    )]
    pub prompt_caching: PromptCaching,
    /// Bedrock guardrail applied to every model call (its id or ARN); none when unset.
    #[arg(
        long,
        env = "GUARDRAIL_ID",
        value_name = "GUARDRAIL_ID",
        requires = "guardrail_version"
    )]
    pub guardrail_id: Option<String>,
    /// Version of that guardrail: a number, or `DRAFT`.
    #[arg(
        long,
        env = "GUARDRAIL_VERSION",
        value_name = "GUARDRAIL_VERSION",
        requires = "guardrail_id",
        value_parser = guardrail_version
    )]
    pub guardrail_version: Option<String>,
    /// How the guardrail screens a streamed answer: `sync` holds each chunk until it is
    /// checked; `async` sends chunks at once and checks them alongside (no PII masking).
    #[arg(
        long,
        env = "GUARDRAIL_STREAM_MODE",
        value_name = "GUARDRAIL_STREAM_MODE",
        value_enum,
        default_value_t = GuardrailStreamMode::Sync
    )]
    pub guardrail_stream_mode: GuardrailStreamMode,
}

/// Whether model calls carry prompt cache points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PromptCaching {
    /// Where the model is known to support them.
    Auto,
    /// After the system prompt and after the tool specs, whatever the model.
    On,
    Off,
}

/// Bedrock's `streamProcessingMode` for a guardrail on ConverseStream
/// (<https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-streaming.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GuardrailStreamMode {
    Sync,
    Async,
}

/// A guardrail version as `GuardrailStreamConfiguration` takes it: `[1-9][0-9]{0,7}` or
/// `DRAFT` (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailStreamConfiguration.html>).
fn guardrail_version(text: &str) -> Result<String, String> {
    let numbered = (1..=8).contains(&text.len())
        && !text.starts_with('0')
        && text.bytes().all(|b| b.is_ascii_digit());
    if numbered || text == "DRAFT" {
        Ok(text.to_owned())
    } else {
        Err("a guardrail version is a number from 1 or DRAFT".to_owned())
    }
}

/// Conversation memory.
#[derive(Debug, Clone, Args)]
pub struct SessionConfig {
    /// Budget of one session's history, in bytes of text and tool data; the oldest exchanges
    /// are dropped beyond it.
    #[arg(
        long,
        env = "SESSION_HISTORY_BYTES",
        value_name = "SESSION_HISTORY_BYTES",
        default_value_t = 200_000
    )]
    pub history_bytes: usize,
    /// Seconds of inactivity after which a session's history is forgotten.
    #[arg(
        long,
        env = "SESSION_IDLE_SECONDS",
        value_name = "SESSION_IDLE_SECONDS",
        default_value_t = 900
    )]
    pub idle_seconds: u64,
    /// Most sessions held at once; the least recently used idle one is dropped beyond it.
    #[arg(
        long,
        env = "MAX_SESSIONS",
        value_name = "MAX_SESSIONS",
        default_value_t = 1000
    )]
    pub max_sessions: usize,
}

/// Tool sources and how tools are run.
#[derive(Debug, Clone, Args)]
pub struct ToolConfig {
    /// MCP servers to take tools from, as a JSON array of `{"name": "...", then one of
    /// "url": "...", "runtime_arn": "..." (with "qualifier"?), "gateway_url": "..." (with
    /// "max_tools"?), then "auth"? and "timeout_ms"?}` (see the README). `auth` is one of
    /// `{"type": "none"}` (the default), `{"type": "bearer_env", "variable": "..."}`,
    /// `{"type": "agentcore_identity", "provider_name": "...", "scopes": [...]?}`,
    /// `{"type": "client_credentials", "token_url": "...", "client_id": "...",
    /// "client_secret_arn": "...", "scopes": [...]?}`, `{"type": "sigv4", "service": "..."?}` or
    /// `{"type": "caller_token"}` (the caller's own verified bearer token, forwarded; needs
    /// AUTH_MODE verify or agentcore).
    #[arg(long, env = "MCP_SOURCES", value_name = "MCP_SOURCES", default_value = "[]", value_parser = parse_sources)]
    pub sources: McpSources,
    /// Longest a single tool call may take, in milliseconds (a source's `timeout_ms` wins).
    #[arg(
        long,
        env = "TOOL_TIMEOUT_MS",
        value_name = "TOOL_TIMEOUT_MS",
        default_value_t = 15_000
    )]
    pub timeout_ms: u64,
    /// Most read-only tool calls run at once.
    #[arg(long, env = "TOOL_CONCURRENCY", value_name = "TOOL_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
}

/// The configured MCP sources, in order.
#[derive(Debug, Clone)]
pub struct McpSources(pub Vec<SourceConfig>);

fn parse_sources(text: &str) -> Result<McpSources, String> {
    let sources: Vec<SourceConfig> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of sources: {e}"))?;
    let mut names = std::collections::HashSet::new();
    for source in &sources {
        if !names.insert(source.name.as_str()) || source.name == "aurora" {
            return Err(format!(
                "source name {:?} is used twice (\"aurora\" is the built-in Aurora tools)",
                source.name
            ));
        }
    }
    Ok(McpSources(sources))
}

/// Cross-origin access for a browser page on another origin (`contract::cors`).
#[derive(Debug, Clone, Args)]
pub struct CorsConfig {
    /// Exact origins (`scheme://host[:port]`, comma-separated) whose pages may call
    /// `POST /invocations` from a browser; empty (the default) turns CORS off. No wildcards.
    #[arg(
        long = "cors-allowed-origins",
        env = "CORS_ALLOWED_ORIGINS",
        value_name = "CORS_ALLOWED_ORIGINS",
        default_value = ""
    )]
    pub allowed_origins: String,
}

/// Durable short-term memory in AgentCore Memory (`agent/src/memory/`): off unless `MEMORY_ID`
/// is set. Its endpoint is the AWS SDK's standard `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE`.
#[derive(Debug, Clone, Args)]
pub struct MemoryConfig {
    /// The AgentCore Memory resource (id or ARN) that keeps conversations past this process;
    /// unset keeps them in process only.
    #[arg(long, env = "MEMORY_ID", value_name = "MEMORY_ID")]
    pub memory_id: Option<String>,
    /// Timeout of one Memory call (retries included), in milliseconds; a restore that takes
    /// longer starts the session empty.
    #[arg(
        long,
        env = "MEMORY_TIMEOUT_MS",
        value_name = "MEMORY_TIMEOUT_MS",
        default_value_t = 3000
    )]
    pub memory_timeout_ms: u64,
    /// Completed turns waiting to be written to Memory; a turn beyond it is not stored.
    #[arg(
        long,
        env = "MEMORY_WRITE_QUEUE",
        value_name = "MEMORY_WRITE_QUEUE",
        default_value_t = 256
    )]
    pub memory_write_queue: usize,
    /// Long-term memory: the namespace of the caller's memory records, `{actorId}` standing for
    /// the caller's actor id (e.g. `/support/{actorId}/facts`, the memory strategy's
    /// namespace); the records most relevant to a session's first question join its system
    /// prompt. Unset retrieves none.
    #[arg(
        long,
        env = "MEMORY_RECALL_NAMESPACE",
        value_name = "MEMORY_RECALL_NAMESPACE"
    )]
    pub memory_recall_namespace: Option<String>,
    /// Most bytes of recalled records added to a session's system prompt.
    #[arg(
        long,
        env = "MEMORY_RECALL_BYTES",
        value_name = "MEMORY_RECALL_BYTES",
        default_value_t = 2000
    )]
    pub memory_recall_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Config::command().debug_assert();
    }

    fn parsed(auth_mode: &str, sources: &str) -> Config {
        Config::try_parse_from([
            "agent",
            "--region",
            "us-east-1",
            "--auth-mode",
            auth_mode,
            "--sources",
            sources,
        ])
        .expect("parses")
    }

    #[test]
    fn a_caller_token_source_needs_inbound_authentication() {
        let forwarding =
            r#"[{"name":"support","gateway_url":"https://g/mcp","auth":{"type":"caller_token"}}]"#;
        let error = parsed("none", forwarding)
            .check_combinations()
            .expect_err("nothing to forward");
        assert!(error.contains("AUTH_MODE=none"), "{error}");
        assert!(error.contains("support with auth caller_token"), "{error}");
        assert_eq!(parsed("verify", forwarding).check_combinations(), Ok(()));
        assert_eq!(parsed("agentcore", forwarding).check_combinations(), Ok(()));
        let direct = r#"[{"name":"support","url":"http://127.0.0.1:8000/mcp"}]"#;
        assert_eq!(parsed("none", direct).check_combinations(), Ok(()));
    }
}
