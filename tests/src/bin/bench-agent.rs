//! Benchmark of the agent (`scripts/bench`): exec-to-healthy time, idle memory, the agent's
//! own latency and CPU per model round trip with a stand-in model that answers at once, the same
//! with traces exported over OTLP (to the receiver stand-in) to measure tracing's cost, the same
//! turns asked in AG-UI (a `RunAgentInput`, answered with AG-UI events) to compare the two
//! protocols, the same with durable memory on (AgentCore Memory, against the in-process
//! Memory stand-in: moto has no Memory data plane) to measure its added latency, and many
//! streaming sessions at once. Prints a Markdown report for `BENCHMARKS.md`.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;
use system_tests::agent::{Agent, SESSION_HEADER, parse_sse};
use system_tests::agentcore_memory::MemoryStandIn;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::measure::{cpu_ms, memory_mib, percentile};
use system_tests::otlp::OtlpReceiver;
use system_tests::process::ServerProcess;
use system_tests::workspace;

const START_RUNS: usize = 20;
const ROUND_TRIPS: usize = 2000;
const CONCURRENT_SESSIONS: usize = 500;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let bedrock = BedrockStandIn::start([]).await;
    let healthy_ms = exec_to_healthy(&bedrock).await?;

    let agent = Agent::start(&bedrock, None, &[("RUST_LOG", "warn,agent=info")]).await?;
    let pid = agent.process.pid().context("agent pid")?;
    let client = reqwest::Client::new();
    bedrock.push(Turn::text("warm up"));
    invoke(
        &client,
        &agent.base_url,
        "warm-up-session-0123456789abcdef0123456789",
        Protocol::V1,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_mib = memory_mib(pid, "VmRSS")?;
    let idle_anon_mib = memory_mib(pid, "RssAnon")?;

    let untraced = turns(&bedrock, &agent, &client, "plain", Protocol::V1).await?;
    let agui = turns(&bedrock, &agent, &client, "agui", Protocol::AgUi).await?;
    let receiver = OtlpReceiver::start().await;
    // The exporter's production batching (the stand-in's short test delay removed).
    let mut traced_env = receiver.exporter_env();
    traced_env.retain(|(name, _)| name != "OTEL_BSP_SCHEDULE_DELAY");
    traced_env.push(("RUST_LOG".into(), "warn,agent=info".into()));
    let traced_env: Vec<(&str, &str)> = traced_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let traced_agent = Agent::start(&bedrock, None, &traced_env).await?;
    let traced = turns(&bedrock, &traced_agent, &client, "traced", Protocol::V1).await?;
    let exported = receiver.spans().len();
    drop(traced_agent);
    // Every turn in a new session, so each one restores (ListEvents) before it answers and
    // queues its write (CreateEvent) after: the most Memory can add to a turn.
    let memory = MemoryStandIn::start().await;
    let mut memory_env: Vec<(&str, String)> = memory.agent_env();
    memory_env.push(("RUST_LOG", "warn,agent=info".into()));
    let memory_env: Vec<(&str, &str)> = memory_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let remembering_agent = Agent::start(&bedrock, None, &memory_env).await?;
    let remembered = turns(
        &bedrock,
        &remembering_agent,
        &client,
        "memory",
        Protocol::V1,
    )
    .await?;
    let stored = memory
        .wait_for_events(ROUND_TRIPS, Duration::from_secs(60))
        .await
        .len();
    drop(remembering_agent);
    let (latencies, cpu_ms_per_turn) = (&untraced.latencies, untraced.cpu_ms_per_turn);

    // Many streams at once: each answer is 10 deltas 100 ms apart.
    for _ in 0..CONCURRENT_SESSIONS {
        bedrock.push(Turn::SlowText {
            text: "one two three four five six seven eight nine ten".into(),
            chunks: 10,
            delay: Duration::from_millis(100),
        });
    }
    let started = Instant::now();
    let mut streams = Vec::new();
    for i in 0..CONCURRENT_SESSIONS {
        let client = client.clone();
        let base = agent.base_url.clone();
        streams.push(tokio::spawn(async move {
            invoke(
                &client,
                &base,
                &format!("concurrent-session-{i:032}"),
                Protocol::V1,
            )
            .await
        }));
    }
    let mut errors = 0;
    for stream in streams {
        if !matches!(stream.await, Ok(Ok(()))) {
            errors += 1;
        }
    }
    let concurrent_secs = started.elapsed().as_secs_f64();
    let peak_mib = memory_mib(pid, "VmHWM")?;

    println!("| measure | value |\n|---|---|");
    println!(
        "| exec to first healthy `/ping`, median of {START_RUNS} | {:.1} ms |",
        percentile(&healthy_ms, 0.5)
    );
    println!(
        "| exec to first healthy `/ping`, worst of {START_RUNS} | {:.1} ms |",
        healthy_ms.iter().copied().fold(0.0, f64::max)
    );
    println!(
        "| resident memory, idle after one turn (of it anonymous) | {idle_mib:.1} MiB ({idle_anon_mib:.1} MiB) |"
    );
    println!(
        "| turn with an instant model, client-side latency p50 / p99 ({ROUND_TRIPS} turns) | {:.2} ms / {:.2} ms |",
        percentile(latencies, 0.5),
        percentile(latencies, 0.99)
    );
    println!("| agent CPU per turn (one model round trip, SSE answer) | {cpu_ms_per_turn:.3} ms |");
    println!(
        "| the same with traces exported over OTLP: latency p50, CPU per turn ({exported} spans received) | {:.2} ms, {:.3} ms |",
        percentile(&traced.latencies, 0.5),
        traced.cpu_ms_per_turn
    );
    println!(
        "| the same asked in AG-UI (`RunAgentInput`, AG-UI events): latency p50, CPU per turn | {:.2} ms, {:.3} ms ({:+.1} % CPU against schema v1) |",
        percentile(&agui.latencies, 0.5),
        agui.cpu_ms_per_turn,
        (agui.cpu_ms_per_turn / cpu_ms_per_turn - 1.0) * 100.0
    );
    println!(
        "| tracing's added cost per turn: latency p50, CPU | {:+.1} %, {:+.1} % |",
        (percentile(&traced.latencies, 0.5) / percentile(latencies, 0.5) - 1.0) * 100.0,
        (traced.cpu_ms_per_turn / cpu_ms_per_turn - 1.0) * 100.0
    );
    println!(
        "| the same with AgentCore Memory on, each turn a new session (restore, then the write queued), against the loopback Memory stand-in that answers at once: latency p50 / p99, CPU per turn ({stored} events stored) | {:.2} ms / {:.2} ms, {:.3} ms ({:+.1} % latency p50) |",
        percentile(&remembered.latencies, 0.5),
        percentile(&remembered.latencies, 0.99),
        remembered.cpu_ms_per_turn,
        (percentile(&remembered.latencies, 0.5) / percentile(latencies, 0.5) - 1.0) * 100.0
    );
    println!(
        "| {CONCURRENT_SESSIONS} concurrent streaming sessions (1 s streams) | {concurrent_secs:.2} s wall, {errors} errors |"
    );
    println!("| resident memory, peak | {peak_mib:.1} MiB |");
    Ok(())
}

/// Latencies and CPU of [`ROUND_TRIPS`] turns.
struct TurnCost {
    latencies: Vec<f64>,
    cpu_ms_per_turn: f64,
}

/// Runs [`ROUND_TRIPS`] turns, one session each so history does not grow.
async fn turns(
    bedrock: &BedrockStandIn,
    agent: &Agent,
    client: &reqwest::Client,
    label: &str,
    protocol: Protocol,
) -> anyhow::Result<TurnCost> {
    let pid = agent.process.pid().context("agent pid")?;
    for _ in 0..ROUND_TRIPS {
        bedrock.push(Turn::text("Sure."));
    }
    let cpu_before = cpu_ms(pid)?;
    let mut latencies = Vec::with_capacity(ROUND_TRIPS);
    for i in 0..ROUND_TRIPS {
        let started = Instant::now();
        invoke(
            client,
            &agent.base_url,
            &format!("{label}-round-trip-session-{i:032}"),
            protocol,
        )
        .await?;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let cpu_ms_per_turn = (cpu_ms(pid)? - cpu_before) / ROUND_TRIPS as f64;
    Ok(TurnCost {
        latencies,
        cpu_ms_per_turn,
    })
}

/// The two request bodies the agent answers on `/invocations`.
#[derive(Debug, Clone, Copy)]
enum Protocol {
    /// `{"prompt"}`, answered with the agent's own events, ending in `done`.
    V1,
    /// An AG-UI `RunAgentInput`, answered with AG-UI events, ending in `RUN_FINISHED`.
    AgUi,
}

async fn invoke(
    client: &reqwest::Client,
    base: &str,
    session: &str,
    protocol: Protocol,
) -> anyhow::Result<()> {
    let (body, last_type) = match protocol {
        Protocol::V1 => (json!({"prompt": "hello"}), "done"),
        Protocol::AgUi => (
            json!({
                "threadId": session,
                "runId": format!("run-{session}"),
                "messages": [{"id": "question-1", "role": "user", "content": "hello"}],
                "tools": [],
                "state": {},
                "context": [],
                "forwardedProps": {},
            }),
            "RUN_FINISHED",
        ),
    };
    let answer = client
        .post(format!("{base}/invocations"))
        .header(SESSION_HEADER, session)
        .json(&body)
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let events = parse_sse(&answer)?;
    match events.last() {
        Some(last) if last["type"] == json!(last_type) => Ok(()),
        other => bail!("the stream did not end with {last_type}: {other:?}"),
    }
}

async fn exec_to_healthy(bedrock: &BedrockStandIn) -> anyhow::Result<Vec<f64>> {
    let binary = workspace::binary("agent");
    let mut env = bedrock.sdk_env();
    env.extend(
        [
            ("AGENT_HOST", "127.0.0.1"),
            ("AGENT_PORT", "0"),
            ("AUTH_MODE", "none"),
            ("RUST_LOG", "warn,agent=info"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let client = reqwest::Client::new();
    let mut times = Vec::new();
    for _ in 0..START_RUNS {
        let started = Instant::now();
        let agent = ServerProcess::spawn(&binary, &[], &env).await?;
        loop {
            if let Ok(response) = client
                .get(format!("http://{}/ping", agent.address))
                .send()
                .await
                && response.status().is_success()
            {
                break;
            }
            if started.elapsed() > Duration::from_secs(10) {
                bail!("the agent was not healthy within 10 s");
            }
        }
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(times)
}
