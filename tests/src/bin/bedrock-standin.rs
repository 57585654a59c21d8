//! The Bedrock Runtime stand-in ([`system_tests::bedrock`]) as a standalone server answering
//! with the rule-based [`system_tests::demo_model`], for running the local stack with no AWS
//! credentials: point the agent's `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` at it, with any dummy
//! credentials. Its answers say plainly that no real model is behind them.
//!
//! It logs `{"message":"listening","address":...}` once it accepts connections, and stops on
//! SIGTERM or Ctrl-C.

use std::net::{IpAddr, SocketAddr};

use anyhow::Context as _;
use clap::Parser;
use system_tests::bedrock::BedrockStandIn;
use system_tests::demo_model;

#[derive(Debug, Parser)]
#[command(about = "Bedrock Converse/ConverseStream stand-in with a rule-based demo model")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "BEDROCK_STANDIN_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 for a free one).
    #[arg(long, env = "BEDROCK_STANDIN_PORT", default_value_t = 8082)]
    port: u16,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    service_runtime::logging::init();
    let address = SocketAddr::new(args.host, args.port);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address} for the Bedrock stand-in"))?;
    let address = listener.local_addr().context("the bound address")?;
    let standin = BedrockStandIn::serve_with_fallback(listener, Box::new(demo_model::answer));
    tracing::info!(%address, "listening");
    service_runtime::shutdown::signal().await;
    tracing::info!("shutting down");
    drop(standin);
    Ok(())
}
