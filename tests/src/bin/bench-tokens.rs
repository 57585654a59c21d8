//! Benchmark of prompt caching (`scripts/bench`): the input tokens billed per turn of one
//! ten-turn conversation, with `PROMPT_CACHING=off` and `on`. The real agent binary answers
//! through the Bedrock stand-in with the real MCP server's tools (on moto) and the shipped
//! system prompt, the default Claude model id. Token counts are the stand-in's usage accounting
//! (`system_tests::bedrock`: a quarter of the request's bytes, a cached prefix of at least
//! [`CACHE_MIN_TOKENS`] written once and read after), not a real model's tokenizer; the
//! billed equivalent weighs them at Anthropic's published rates for Claude (a 5-minute cache
//! write 1.25 times the input price, a cache read 0.1 times:
//! <https://docs.anthropic.com/en/docs/build-with-claude/prompt-caching#pricing>). Prints a
//! Markdown table for `BENCHMARKS.md`.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, CACHE_MIN_TOKENS, Turn};
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;

const TURNS: usize = 10;
const SESSION: &str = "bench-tokens-session-0123456789abcdef012345";
const CACHE_WRITE_RATE: f64 = 1.25;
const CACHE_READ_RATE: f64 = 0.1;

/// One turn's usage as the `done` event reports it.
#[derive(Debug, Clone, Copy, Default)]
struct TurnUsage {
    input: u64,
    cache_write: u64,
    cache_read: u64,
}

impl TurnUsage {
    fn read(usage: &Value) -> Self {
        let count = |field: &str| usage[field].as_u64().unwrap_or(0);
        Self {
            input: count("input_tokens"),
            cache_write: count("cache_write_input_tokens"),
            cache_read: count("cache_read_input_tokens"),
        }
    }

    /// All input tokens, however billed.
    fn all_input(self) -> u64 {
        self.input + self.cache_write + self.cache_read
    }

    /// The input as plain input tokens of the same price.
    fn billed(self) -> f64 {
        as_f64(self.input)
            + CACHE_WRITE_RATE * as_f64(self.cache_write)
            + CACHE_READ_RATE * as_f64(self.cache_read)
    }
}

/// Token counts are far below 2^52, where `f64` stays exact.
fn as_f64(count: u64) -> f64 {
    u32::try_from(count).map_or(f64::MAX, f64::from)
}

async fn conversation(mcp: &McpServer, caching: &str) -> anyhow::Result<Vec<TurnUsage>> {
    let answers = (1..=TURNS).map(|n| {
        Turn::text(format!(
            "Answer {n}: your order is on its way and should arrive within three working days."
        ))
    });
    let bedrock = BedrockStandIn::start(answers).await;
    let agent = Agent::start(
        &bedrock,
        Some(&mcp.url),
        &[("PROMPT_CACHING", caching), ("RUST_LOG", "warn,agent=info")],
    )
    .await?;
    agent
        .wait_for_log("tools listed", Duration::from_secs(30))
        .await?;
    let mut usages = Vec::with_capacity(TURNS);
    for n in 1..=TURNS {
        let answer = agent
            .invoke(
                &json!({"prompt": format!("Question {n}: where is my order, and when will it arrive?")}),
                &[(SESSION_HEADER, SESSION)],
            )
            .await?;
        let done = answer.last();
        anyhow::ensure!(done["type"] == "done", "turn {n} failed: {done}");
        usages.push(TurnUsage::read(&done["usage"]));
    }
    Ok(usages)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let moto = Moto::start().await.context("starting moto")?;
    let mcp = McpServer::start(&moto, &[])
        .await
        .context("starting the MCP server")?;
    let off = conversation(&mcp, "off").await?;
    let on = conversation(&mcp, "on").await?;

    println!("### Input tokens per turn, prompt caching off and on");
    println!();
    println!(
        "Stand-in accounting (bytes / 4; prefixes of at least {CACHE_MIN_TOKENS} tokens cached); \
         billed equivalent = input + {CACHE_WRITE_RATE} × cache write + {CACHE_READ_RATE} × cache read."
    );
    println!();
    println!(
        "| turn | off: input | on: input | on: cache write | on: cache read | on: billed equivalent | saving |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    let mut totals = (0.0, 0.0);
    for (n, (off, on)) in off.iter().zip(&on).enumerate() {
        totals.0 += off.billed();
        totals.1 += on.billed();
        println!(
            "| {} | {} | {} | {} | {} | {:.0} | {:.0} % |",
            n + 1,
            off.all_input(),
            on.input,
            on.cache_write,
            on.cache_read,
            on.billed(),
            100.0 * (1.0 - on.billed() / off.billed())
        );
    }
    println!(
        "| all | {:.0} | | | | {:.0} | {:.0} % |",
        totals.0,
        totals.1,
        100.0 * (1.0 - totals.1 / totals.0)
    );
    Ok(())
}
