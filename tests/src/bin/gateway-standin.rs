//! The AgentCore Gateway stand-in ([`system_tests::gateway`]) as a standalone server, for
//! running the local stack through a gateway as deployed: `scripts/run-local` puts it between
//! the agent and the MCP server, with the JWT authorizer on the local Cognito (moto) and the
//! project's Cedar policies enforced.
//!
//! Settings (each a flag or an environment variable): the listen address, the `Host` names
//! accepted besides loopback (`GATEWAY_STANDIN_ALLOWED_HOSTS`, for a container), the targets as
//! `name=url` (`GATEWAY_STANDIN_TARGETS`, comma-separated), the policies directory
//! (`GATEWAY_STANDIN_POLICIES_DIR`; the directory's `*.cedar` files and `schema.cedarschema`,
//! `${GatewayArn}` replaced by the stand-in's ARN), semantic search on or off, and the inbound
//! JWT checks as the services read them (`AUTH_MODE`, `AUTH_ISSUER`, `AUTH_JWKS_URL`,
//! `AUTH_ALLOWED_CLIENT_IDS` as the gateway's allowed audience with `AUTH_TOKEN_USE=id`).
//! Policies need `AUTH_MODE=verify` (or `agentcore`): the principal comes from the token.
//! `AUTH_MODE=none` runs an open pass-through gateway.
//!
//! Targets are called without credentials (the deployed gateway uses its credential provider).
//! It logs `{"message":"listening","address":...}` once it accepts connections, and stops on
//! SIGTERM or Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use clap::Parser;
use inbound_auth::{AuthArgs, AuthMode, Authenticator};
use system_tests::gateway::{GATEWAY_ARN, GatewayOptions, GatewayStandIn};

#[derive(Debug, Parser)]
#[command(
    about = "AgentCore Gateway stand-in: MCP targets behind one endpoint, JWT-authorized, Cedar policies enforced"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "GATEWAY_STANDIN_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 for a free one).
    #[arg(long, env = "GATEWAY_STANDIN_PORT", default_value_t = 8083)]
    port: u16,
    /// `Host` header values accepted besides the loopback address, comma-separated (`name` or
    /// `name:port`): the name other containers call it by, when it runs in one.
    #[arg(
        long = "allowed-host",
        env = "GATEWAY_STANDIN_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// The targets, `name=url` of each MCP server, comma-separated; tools are listed as
    /// `<name>___<tool>`.
    #[arg(
        long = "target",
        env = "GATEWAY_STANDIN_TARGETS",
        value_delimiter = ',',
        required = true
    )]
    targets: Vec<String>,
    /// A directory of Cedar policies (`*.cedar`) and their `schema.cedarschema`, enforced on
    /// every tool call and listing. Without it every authenticated call is forwarded.
    #[arg(long, env = "GATEWAY_STANDIN_POLICIES_DIR")]
    policies_dir: Option<PathBuf>,
    /// Adds the gateway's semantic search tool.
    #[arg(long, env = "GATEWAY_STANDIN_SEMANTIC_SEARCH", default_value_t = false)]
    semantic_search: bool,
    #[command(flatten)]
    auth: AuthArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    service_runtime::logging::init();
    let mut options = GatewayOptions::new().bind(SocketAddr::new(args.host, args.port));
    for host in &args.allowed_hosts {
        options = options.allowed_host(host.trim());
    }
    for target in &args.targets {
        let Some((name, url)) = target.split_once('=') else {
            bail!("GATEWAY_STANDIN_TARGETS: {target:?} is not name=url");
        };
        options = options.target(name.trim(), url.trim());
    }
    if args.semantic_search {
        options = options.semantic_search();
    }
    let authenticator =
        Authenticator::from_args(args.auth).context("the inbound JWT settings (AUTH_*)")?;
    authenticator.log_startup();
    if authenticator.mode() != AuthMode::None {
        options = options.jwt(authenticator);
    }
    if let Some(dir) = &args.policies_dir {
        options = options
            .policies_from(dir)
            .with_context(|| format!("loading the policies in {}", dir.display()))?;
        tracing::info!(policies = %dir.display(), gateway_arn = GATEWAY_ARN, "gateway policies enforced");
    }
    let gateway = GatewayStandIn::start(options).await?;
    tracing::info!(address = %gateway.address(), url = %gateway.url, "listening");
    service_runtime::shutdown::signal().await;
    tracing::info!("shutting down");
    drop(gateway);
    Ok(())
}
