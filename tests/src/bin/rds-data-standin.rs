//! The RDS Data API stand-in ([`system_tests::rds_data`]) as a standalone server, for running
//! the local stack without Docker: point the agent's `AWS_ENDPOINT_URL_RDS_DATA` at it.
//!
//! Secrets are read from Secrets Manager at the standard SDK endpoint settings
//! (`AWS_ENDPOINT_URL_SECRETS_MANAGER`, else `AWS_ENDPOINT_URL`, e.g. a moto server) with the
//! standard credentials and region (`us-east-1` when none is set); statements run on the
//! PostgreSQL given by the options. It logs `{"message":"listening","address":...}` once it
//! accepts connections, and stops cleanly on SIGTERM or Ctrl-C.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use anyhow::Context as _;
use aws_config::meta::region::RegionProviderChain;
use clap::Parser;
use system_tests::rds_data::{Options, RdsDataStandIn};

#[derive(Debug, Parser)]
#[command(about = "RDS Data API stand-in running statements on a real PostgreSQL")]
struct Args {
    /// Address to listen on.
    #[arg(long, env = "RDS_DATA_STANDIN_HOST", default_value = "127.0.0.1")]
    host: IpAddr,
    /// Port to listen on (0 for a free one).
    #[arg(long, env = "RDS_DATA_STANDIN_PORT", default_value_t = 8081)]
    port: u16,
    /// PostgreSQL host the statements run on.
    #[arg(
        long,
        env = "RDS_DATA_STANDIN_POSTGRES_HOST",
        default_value = "127.0.0.1"
    )]
    postgres_host: String,
    /// PostgreSQL port.
    #[arg(long, env = "RDS_DATA_STANDIN_POSTGRES_PORT", default_value_t = 5432)]
    postgres_port: u16,
    /// How long a call may run before its statement is cancelled, in milliseconds (the
    /// service's is 45 s).
    #[arg(
        long,
        env = "RDS_DATA_STANDIN_CALL_TIMEOUT_MS",
        default_value_t = 45_000
    )]
    call_timeout_ms: u64,
    #[command(flatten)]
    shutdown: service_runtime::shutdown::ShutdownArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    service_runtime::logging::init();
    let region = RegionProviderChain::default_provider().or_else("us-east-1");
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(region)
        .load()
        .await;
    let secrets = aws_sdk_secretsmanager::Client::new(&config);
    let options = Options {
        postgres_host: args.postgres_host,
        postgres_port: args.postgres_port,
        call_timeout: Duration::from_millis(args.call_timeout_ms),
    };
    let standin = RdsDataStandIn::bind(SocketAddr::new(args.host, args.port), secrets, options)
        .await
        .context("starting the RDS Data stand-in")?;
    tracing::info!(address = %standin.address, "listening");
    service_runtime::shutdown::signal().await;
    tracing::info!("shutting down");
    standin.shutdown(args.shutdown.grace()).await;
    Ok(())
}
