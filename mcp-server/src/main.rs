//! `mcp-server`: the DynamoDB MCP server of the customer-support agent.
//!
//! `mcp-server` (or `mcp-server serve`) serves the tools over streamable HTTP; `mcp-server seed`
//! creates the tables and loads the demo data. Configuration comes from environment variables
//! (see `--help`), read once here.
//!
//! Layout: [`config`] parses settings; [`serve`] and [`seed`] are the two commands; [`tools`]
//! is the MCP surface, behind [`request_guard`], and [`caller`] names who calls it; [`store`]
//! talks to DynamoDB using the table layout in [`tables`]; [`model`] holds the records;
//! [`fixture`] the demo data set.

mod caller;
mod config;
mod fixture;
mod model;
mod request_guard;
mod seed;
mod serve;
mod store;
mod tables;
mod tools;

use std::process::ExitCode;

use clap::Parser;

use crate::config::{Cli, Command};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck) = cli.command {
        // A stateless server offers no stream on GET: 405 is its healthy answer.
        let url = format!("http://127.0.0.1:{}/mcp", cli.serve.port);
        return service_runtime::health::check(&url, |status, _| status == 405 || status == 200)
            .await;
    }
    let Ok(telemetry) = service_runtime::telemetry::init(
        "support-mcp-server",
        &cli.telemetry,
        &cli.serve.store.region,
    )
    .await
    else {
        return ExitCode::FAILURE;
    };
    let outcome = match &cli.command {
        None | Some(Command::Serve) => serve::run(cli.serve).await,
        Some(Command::Seed(seed_config)) => seed::run(&cli.serve.store, seed_config).await,
        Some(Command::Healthcheck) => Ok(()),
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
