//! `agent`: the customer-support agent for Amazon Bedrock AgentCore.
//!
//! Serves the AgentCore HTTP contract on port 8080 ([`contract`]); each invocation runs a turn
//! of the Bedrock tool loop ([`turn`]) over the model adapter ([`model`]) and the tools
//! ([`tools`]: the Aurora tools over the Data API, [`aurora`], and MCP servers reached through
//! [`sources`]), with per-session memory ([`session`], kept in AgentCore Memory too with
//! `MEMORY_ID`: [`memory`]). Configuration comes from environment variables
//! ([`config`], `agent --help`), read once here. Start-up makes no network call: tools are
//! listed in the background, credentials resolve on first use.
//!
//! `agent migrate [--seed]` applies the Aurora schema migrations instead of serving.

mod aurora;
mod config;
mod contract;
mod memory;
mod model;
mod session;
mod sources;
mod tools;
mod turn;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use service_runtime::signed_cursor::CursorSigner;
use tokio_util::sync::CancellationToken;

use crate::aurora::data_api::{DataApi, DataApiTarget};
use crate::config::{Command, Config, MigrateArgs};
use crate::contract::App;
use crate::contract::health::Health;
use crate::model::bedrock::Model;
use crate::session::Sessions;
use crate::sources::mcp::McpSource;
use crate::tools::access::AccessPolicy;
use crate::tools::aurora::AuroraTools;
use crate::tools::caller_cursors::CallerCursors;
use crate::tools::{Source, Toolbox};
use crate::turn::{Agent, LoopSettings};

/// The system prompt shipped with the binary, used when `SYSTEM_PROMPT_FILE` is not set.
const DEFAULT_SYSTEM_PROMPT: &str = include_str!("../prompts/system.md");

#[tokio::main]
async fn main() -> ExitCode {
    let mut config = Config::parse();
    let migration = match config.command.take() {
        Some(Command::Healthcheck) => {
            let url = format!("http://127.0.0.1:{}/ping", config.port);
            return service_runtime::health::check(&url, |status, body| {
                status == 200 && body.contains("Healthy")
            })
            .await;
        }
        Some(Command::Migrate(arguments)) => Some(arguments),
        None => None,
    };
    let Ok(telemetry) =
        service_runtime::telemetry::init("support-agent", &config.telemetry, &config.region).await
    else {
        return ExitCode::FAILURE;
    };
    let outcome = match migration {
        Some(arguments) => migrate(config, arguments).await,
        None => run(config).await,
    };
    telemetry.shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "exiting after an error");
            ExitCode::FAILURE
        }
    }
}

/// The AWS SDK configuration shared by the tool adapters (the model has its own).
async fn sdk_config(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()))
        .load()
        .await
}

/// The Data API client of the configured cluster, when one is configured.
fn data_api(config: &Config, sdk: &aws_config::SdkConfig) -> anyhow::Result<Option<DataApi>> {
    let aurora = &config.aurora;
    match (&aurora.cluster_arn, &aurora.secret_arn) {
        (None, None) => Ok(None),
        (Some(cluster_arn), Some(secret_arn)) => Ok(Some(DataApi::new(
            sdk,
            DataApiTarget {
                cluster_arn: cluster_arn.clone(),
                secret_arn: secret_arn.clone(),
                database: aurora.database.clone(),
            },
            std::time::Duration::from_millis(aurora.timeout_ms),
        ))),
        _ => anyhow::bail!("set both AURORA_CLUSTER_ARN and AURORA_SECRET_ARN, or neither"),
    }
}

/// `agent migrate`: the schema, the read-only user and, with `--seed`, the demo data.
async fn migrate(config: Config, arguments: MigrateArgs) -> anyhow::Result<()> {
    let MigrateArgs {
        seed,
        admin_secret_arn,
        statement_timeout_ms,
    } = arguments;
    let sdk = sdk_config(&config.region).await;
    let reader = data_api(&config, &sdk)?.context(
        "agent migrate needs AURORA_CLUSTER_ARN and AURORA_SECRET_ARN (the read-only user to set up)",
    )?;
    let admin = reader.with_secret(&admin_secret_arn);
    let timeout = std::time::Duration::from_millis(config.aurora.timeout_ms);
    let credentials =
        aurora::migrate::reader_credentials(&sdk, &reader.target().secret_arn, timeout).await?;
    let report = aurora::migrate::migrate(
        &admin,
        Some(credentials),
        std::time::Duration::from_millis(statement_timeout_ms),
    )
    .await?;
    tracing::info!(applied = ?report.applied, reader = ?report.reader, "migrations done");
    if seed {
        let counts = aurora::seed::seed(&admin, chrono::Utc::now().date_naive()).await?;
        tracing::info!(
            customers = counts.customers,
            products = counts.products,
            orders = counts.orders,
            order_lines = counts.order_lines,
            "demo data loaded"
        );
    }
    Ok(())
}

async fn run(config: Config) -> anyhow::Result<()> {
    config.check_combinations().map_err(anyhow::Error::msg)?;
    let authenticator = inbound_auth::Authenticator::from_args(config.auth.clone())
        .context("authentication settings")?;
    authenticator.log_startup();
    let system_prompt = match &config.model.system_prompt_file {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read SYSTEM_PROMPT_FILE {}", path.display()))?,
        None => DEFAULT_SYSTEM_PROMPT.to_owned(),
    };
    let tool_timeout = std::time::Duration::from_millis(config.tools.timeout_ms);
    let sdk = sdk_config(&config.region).await;
    let cursor_signer = CursorSigner::new().context("pagination cursors")?;
    let mut sources = Vec::new();
    if let Some(db) = data_api(&config, &sdk)? {
        sources.push(Source::Aurora(AuroraTools::new(db, cursor_signer.clone())));
    }
    let agentcore_base = config.agentcore_base();
    for source in &config.tools.sources.0 {
        let endpoint = source
            .endpoint(&agentcore_base)
            .map_err(|e| anyhow::anyhow!("MCP_SOURCES: {e}"))?;
        sources.push(Source::Mcp(
            McpSource::new(source, endpoint, &sdk, tool_timeout)
                .with_context(|| format!("MCP_SOURCES: source {}", source.name))?,
        ));
    }
    let stopping = CancellationToken::new();
    let toolbox = Toolbox::new(sources, CallerCursors::new(cursor_signer.clone()));
    toolbox.start_listing(stopping.clone());
    let sessions = Arc::new(Sessions::new(&config.sessions));
    sessions.start_expiry(stopping.clone());
    let model = Model::new(&config.model, &config.region, system_prompt).await;
    let access_policy = AccessPolicy {
        customer_claim: config.access.customer_id_claim.clone(),
        staff_group: config.access.staff_group.clone(),
    };
    let app = Arc::new(App {
        access_policy,
        agent: Agent {
            model,
            toolbox,
            settings: LoopSettings::new(&config.model, config.tools.concurrency),
        },
        sessions,
        health: Health::default(),
        max_request_bytes: config.max_request_bytes,
        keepalive: std::time::Duration::from_millis(config.streams.keepalive_ms),
        ending: CancellationToken::new(),
        websockets: contract::websocket::Connections::default(),
        memory: memory::Memory::start(&sdk, &config.memory),
    });
    let router = contract::router(app.clone(), inbound_auth::AuthLayer::new(authenticator));
    let router = match contract::cors::layer(&config.cors).map_err(anyhow::Error::msg)? {
        Some(cors) => router.layer(cors),
        None => router,
    };
    let (listener, address) = service_runtime::serve::bind(config.host, config.port).await?;
    tracing::info!(%address, model_id = %app.agent.model.model_id(), "listening");

    let grace = config.shutdown.grace();
    let ending = app.ending.clone();
    let draining = app.clone();
    // Streams end shortly after `ending` fires; this bounds the wait if a client stops reading.
    let linger = std::time::Duration::from_secs(2);
    let stages = service_runtime::serve::ShutdownStages {
        grace,
        linger,
        on_signal: Box::new(move || {
            tracing::info!(
                grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX),
                "shutdown requested; finishing running turns"
            );
            draining.websockets.drain();
        }),
        on_grace_over: Box::new(move || {
            tracing::warn!("grace period over; ending the turns still running");
            ending.cancel();
        }),
    };
    let stopped = service_runtime::serve::serve_until_shutdown(listener, router, stages).await?;
    // WebSocket connections outlive their upgrade request, so serving can end before they do:
    // the same grace for their runs, then `ending`, then the linger.
    if tokio::time::timeout(grace, app.websockets.closed())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; ending the WebSocket runs still going");
        app.ending.cancel();
        let _ = tokio::time::timeout(linger, app.websockets.closed()).await;
    }
    if stopped == service_runtime::serve::Stopped::Abandoned {
        tracing::warn!("connections still open after the grace period; exiting");
    }
    if let Some(memory) = &app.memory {
        memory.finish(linger).await;
    }
    stopping.cancel();
    tracing::info!("stopped");
    Ok(())
}
