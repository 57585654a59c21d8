//! Benchmark of the MCP server (`scripts/bench`): start-up time, memory, and `tools/call`
//! throughput, latency and server CPU per call at several concurrencies, against moto seeded
//! with the fixture. Prints a Markdown report for `BENCHMARKS.md`.
//!
//! Latency includes moto, a Python emulator far slower than DynamoDB, so throughput here is a
//! floor; the server's own cost is the CPU-per-call column, read from `/proc`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};
use system_tests::fixtures;
use system_tests::mcp_server::{self, McpServer};
use system_tests::measure::{cpu_ms, memory_mib, percentile};
use system_tests::moto::Moto;
use system_tests::process::ServerProcess;
use system_tests::workspace;

/// Calls per concurrency level.
const CALLS_PER_LEVEL: usize = 3000;
const CONCURRENCY_LEVELS: [usize; 3] = [1, 16, 64];
const START_RUNS: usize = 20;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let moto = Moto::start().await?;
    mcp_server::seed(&moto).await?;

    let (ready_ms, first_ms) = start_up_times(&moto).await?;

    let server = McpServer::start(&moto, &[("RUST_LOG", "warn,mcp_server::serve=info")]).await?;
    let pid = server.process.pid().context("server pid")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(128)
        .build()?;
    // One call first, so the idle figure includes the connection pool and the credentials.
    let serials: Vec<String> = fixtures::load("warranties")
        .iter()
        .map(|w| fixtures::text(w, "serial_number").to_owned())
        .collect();
    check_warranty(&client, &server.url, &serials[0]).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = memory_mib(pid, "VmRSS")?;
    let idle_anon = memory_mib(pid, "RssAnon")?;

    let mut rows = Vec::new();
    for concurrency in CONCURRENCY_LEVELS {
        rows.push(load(&client, &server.url, pid, &serials, concurrency).await?);
    }
    let peak_rss = memory_mib(pid, "VmHWM")?;

    println!("| measure | value |\n|---|---|");
    println!(
        "| exec to `listening` log line, median of {START_RUNS} | {:.1} ms |",
        percentile(&ready_ms, 0.5)
    );
    println!(
        "| exec to first served `tools/list`, median of {START_RUNS} | {:.1} ms |",
        percentile(&first_ms, 0.5)
    );
    println!(
        "| exec to first served `tools/list`, worst of {START_RUNS} | {:.1} ms |",
        percentile(&first_ms, 1.0)
    );
    println!(
        "| resident memory, idle after first call (of it anonymous) | {idle_rss:.1} MiB ({idle_anon:.1} MiB) |"
    );
    println!("| resident memory, peak under load | {peak_rss:.1} MiB |");
    println!();
    println!(
        "`tools/call check_warranty` (one DynamoDB GetItem on moto), {CALLS_PER_LEVEL} calls per row:\n"
    );
    println!(
        "| concurrency | calls/s | p50 | p99 | server CPU per call | errors |\n|---|---|---|---|---|---|"
    );
    for row in rows {
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {:.3} ms | {} |",
            row.concurrency,
            row.throughput,
            row.p50_ms,
            row.p99_ms,
            row.cpu_ms_per_call,
            row.errors
        );
    }
    Ok(())
}

/// Spawn-to-`listening` and spawn-to-first-answer times over several starts.
async fn start_up_times(moto: &Moto) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let binary = workspace::binary("mcp-server");
    let mut env = mcp_server::env(moto);
    env.push(("RUST_LOG".into(), "warn,mcp_server::serve=info".into()));
    let client = reqwest::Client::new();
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let mut ready = Vec::new();
    let mut first = Vec::new();
    for _ in 0..START_RUNS {
        let started = Instant::now();
        let server = ServerProcess::spawn(&binary, &[], &env).await?;
        let url = format!("http://{}/mcp", server.address);
        loop {
            let answered = client
                .post(&url)
                .header("content-type", "application/json")
                .header("accept", "application/json, text/event-stream")
                .json(&list)
                .send()
                .await;
            if answered.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the server did not answer within 10 s");
            }
        }
        first.push(started.elapsed().as_secs_f64() * 1000.0);
        ready.push(server.ready_after.as_secs_f64() * 1000.0);
    }
    Ok((ready, first))
}

struct Row {
    concurrency: usize,
    throughput: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_ms_per_call: f64,
    errors: usize,
}

async fn load(
    client: &reqwest::Client,
    url: &str,
    pid: u32,
    serials: &[String],
    concurrency: usize,
) -> anyhow::Result<Row> {
    let cpu_before = cpu_ms(pid)?;
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let client = client.clone();
        let url = url.to_owned();
        let serials = serials.to_vec();
        let calls =
            CALLS_PER_LEVEL / concurrency + usize::from(worker < CALLS_PER_LEVEL % concurrency);
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(calls);
            let mut errors = 0;
            for call in 0..calls {
                let serial = &serials[(worker + call) % serials.len()];
                let began = Instant::now();
                if check_warranty(&client, &url, serial).await.is_err() {
                    errors += 1;
                }
                latencies.push(began.elapsed().as_secs_f64() * 1000.0);
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for worker in workers {
        let (worker_latencies, worker_errors) = worker.await?;
        latencies.extend(worker_latencies);
        errors += worker_errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_used_ms = cpu_ms(pid)? - cpu_before;
    Ok(Row {
        concurrency,
        throughput: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 0.50),
        p99_ms: percentile(&latencies, 0.99),
        cpu_ms_per_call: cpu_used_ms / latencies.len() as f64,
        errors,
    })
}

async fn check_warranty(client: &reqwest::Client, url: &str, serial: &str) -> anyhow::Result<()> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "check_warranty", "arguments": {"serial_number": serial}}});
    let response: Value = client
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    if response["result"]["structuredContent"]["serial_number"] != json!(serial) {
        bail!("unexpected answer: {response}");
    }
    Ok(())
}
