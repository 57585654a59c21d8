//! Prompt caching end to end: the real agent binary against the Bedrock stand-in, which checks
//! where cache points may go and accounts cache writes and reads (its documented model, see
//! `system_tests::bedrock`). `PROMPT_CACHING` `on`, `off` and `auto` shape the requests; the
//! `done` event's usage and the exported model spans report what was read from and written to
//! the cache.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, CACHE_MIN_TOKENS, ToolCall, Turn};
use system_tests::otlp::OtlpReceiver;
use system_tests::tool_probe::{ToolProbe, WAIT_TOOL};

const SESSION: &str = "caching-session-0123456789abcdef0123456789ab";
const CACHE_POINT: &str = r#"{"cachePoint":{"type":"default"}}"#;

fn cache_point() -> Value {
    serde_json::from_str(CACHE_POINT).unwrap()
}

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A system prompt file long enough that the prefix up to its cache point is cached.
struct LongPrompt(PathBuf);

impl LongPrompt {
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("prompt-{}.md", uuid::Uuid::new_v4()));
        let line =
            "You help customers of the demo shop with their orders, warranties and returns.\n";
        let bytes = usize::try_from(CACHE_MIN_TOKENS * 4 * 2).unwrap();
        std::fs::write(&path, line.repeat(bytes / line.len() + 1)).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for LongPrompt {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

async fn ask(agent: &Agent, prompt: &str) -> Value {
    let answer = agent
        .invoke(&json!({"prompt": prompt}), &[(SESSION_HEADER, SESSION)])
        .await
        .unwrap();
    let done = answer.last().clone();
    assert_eq!(done["type"], "done", "{:?}", answer.events);
    done
}

fn has_cache_point(value: &Value) -> bool {
    value.to_string().contains("cachePoint")
}

#[tokio::test]
async fn caching_on_puts_a_cache_point_after_the_system_prompt_and_after_the_tools() {
    let probe = ToolProbe::start().await;
    let bedrock = BedrockStandIn::start([
        Turn::tool_use([ToolCall::new(
            "c1",
            WAIT_TOOL,
            json!({"label": "a", "wait_ms": 1}),
        )]),
        Turn::text("Done."),
    ])
    .await;
    let agent = Agent::start(&bedrock, Some(&probe.url), &[("PROMPT_CACHING", "on")])
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    ask(&agent, "check it").await;

    let requests = bedrock.requests();
    assert_eq!(requests.len(), 2, "the tool round and the answer");
    for request in &requests {
        let system = request.body["system"].as_array().unwrap();
        assert_eq!(system.len(), 3, "prompt, cache point, caller: {system:?}");
        assert!(system[0]["text"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(system[1], cache_point(), "after the configured prompt");
        assert!(
            system[2]["text"].as_str().is_some(),
            "the per-caller part comes after the cache point: {system:?}"
        );
        let tools = request.body["toolConfig"]["tools"].as_array().unwrap();
        assert_eq!(tools.last(), Some(&cache_point()), "after the tool specs");
        assert!(
            tools[..tools.len() - 1]
                .iter()
                .all(|t| t.get("toolSpec").is_some())
        );
        assert!(
            !has_cache_point(&request.body["messages"]),
            "none in messages"
        );
    }
}

#[tokio::test]
async fn caching_off_sends_no_cache_point_and_reports_no_cache_tokens() {
    let probe = ToolProbe::start().await;
    let bedrock = BedrockStandIn::start([Turn::text("Hello.")]).await;
    let agent = Agent::start(&bedrock, Some(&probe.url), &[("PROMPT_CACHING", "off")])
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    let done = ask(&agent, "hi").await;

    let request = &bedrock.requests()[0];
    assert!(request.body["toolConfig"].is_object(), "the tools are sent");
    assert!(!has_cache_point(&request.body), "{}", request.body);
    assert_eq!(done["usage"]["cache_read_input_tokens"], 0);
    assert_eq!(done["usage"]["cache_write_input_tokens"], 0);
}

#[tokio::test]
async fn auto_caches_for_a_claude_model_and_not_for_one_without_caching() {
    for (model_id, cached) in [
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", true),
        ("meta.llama3-70b-instruct-v1:0", false),
    ] {
        let bedrock = BedrockStandIn::start([Turn::text("Hello.")]).await;
        let agent = Agent::start(&bedrock, None, &[("MODEL_ID", model_id)])
            .await
            .unwrap();
        ask(&agent, "hi").await;
        let body = &bedrock.requests()[0].body;
        assert_eq!(
            has_cache_point(&body["system"]),
            cached,
            "{model_id}: {body}"
        );
    }
}

#[tokio::test]
async fn usage_reports_a_cache_write_then_cache_reads_in_done_and_in_the_model_spans() {
    let prompt = LongPrompt::new();
    let receiver = OtlpReceiver::start().await;
    let mut env = receiver.exporter_env();
    env.push(("PROMPT_CACHING".into(), "on".into()));
    env.push(("SYSTEM_PROMPT_FILE".into(), prompt.path().to_owned()));
    let bedrock = BedrockStandIn::start([Turn::text("First."), Turn::text("Second.")]).await;
    let agent = Agent::start(&bedrock, None, &refs(&env)).await.unwrap();

    let first = ask(&agent, "hello").await["usage"].clone();
    let second = ask(&agent, "and again").await["usage"].clone();

    let written = first["cache_write_input_tokens"].as_u64().unwrap();
    assert!(
        written >= CACHE_MIN_TOKENS,
        "the first turn writes the prefix: {first}"
    );
    assert_eq!(first["cache_read_input_tokens"], 0, "{first}");
    assert_eq!(
        second["cache_read_input_tokens"],
        json!(written),
        "{second}"
    );
    assert_eq!(second["cache_write_input_tokens"], 0, "{second}");
    for usage in [&first, &second] {
        let sum: u64 = [
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_write_input_tokens",
        ]
        .iter()
        .map(|field| usage[field].as_u64().unwrap())
        .sum();
        assert_eq!(usage["total_tokens"], json!(sum), "{usage}");
    }
    assert!(
        second["input_tokens"].as_u64().unwrap() < written,
        "the cached prefix is not billed as plain input again: {second}"
    );

    let spans = receiver
        .wait_for_spans(
            |spans| spans.iter().filter(|s| s.name.starts_with("chat ")).count() >= 2,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let chats: Vec<_> = spans
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    // A u64 attribute arrives as a number or, from `tracing`, as its decimal text.
    let count = |span: &system_tests::otlp::RecordedSpan, name: &str| -> Option<u64> {
        match span.attr(name)? {
            Value::Number(n) => n.as_u64(),
            Value::String(text) => text.parse().ok(),
            _ => None,
        }
    };
    let (write_span, read_span) =
        if count(chats[0], "gen_ai.usage.cache_creation.input_tokens") == Some(written) {
            (chats[0], chats[1])
        } else {
            (chats[1], chats[0])
        };
    assert_eq!(
        count(write_span, "gen_ai.usage.cache_creation.input_tokens"),
        Some(written),
        "{chats:?}"
    );
    assert_eq!(
        count(write_span, "gen_ai.usage.cache_read.input_tokens"),
        Some(0)
    );
    assert_eq!(
        count(read_span, "gen_ai.usage.cache_read.input_tokens"),
        Some(written)
    );
    let input = |usage: &Value| {
        usage["input_tokens"].as_u64().unwrap()
            + usage["cache_read_input_tokens"].as_u64().unwrap()
            + usage["cache_write_input_tokens"].as_u64().unwrap()
    };
    assert_eq!(
        count(read_span, "gen_ai.usage.input_tokens"),
        Some(input(&second)),
        "the span's input tokens include the cached ones, as the conventions ask"
    );
}

#[tokio::test]
async fn the_tools_go_out_in_the_same_bytes_every_turn_so_their_prefix_stays_cached() {
    let prompt = LongPrompt::new();
    let probe = ToolProbe::start().await;
    let bedrock = BedrockStandIn::start((1..=3).map(|n| Turn::text(format!("Answer {n}.")))).await;
    let agent = Agent::start(
        &bedrock,
        Some(&probe.url),
        &[
            ("PROMPT_CACHING", "on"),
            ("SYSTEM_PROMPT_FILE", prompt.path()),
        ],
    )
    .await
    .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    let mut usages = Vec::new();
    for n in 1..=3 {
        usages.push(ask(&agent, &format!("question {n}")).await["usage"].clone());
    }

    // Recorded bodies keep the key order they arrived in (serde_json's `preserve_order`).
    let tools: Vec<String> = bedrock
        .requests()
        .iter()
        .map(|r| r.body["toolConfig"].to_string())
        .collect();
    assert!(tools.iter().all(|t| *t == tools[0]), "{tools:#?}");
    let written = usages[0]["cache_write_input_tokens"].as_u64().unwrap();
    assert!(written >= CACHE_MIN_TOKENS, "{}", usages[0]);
    for usage in &usages[1..] {
        assert_eq!(usage["cache_read_input_tokens"], json!(written), "{usage}");
        assert_eq!(usage["cache_write_input_tokens"], 0, "{usage}");
    }
}

#[tokio::test]
async fn the_stand_in_refuses_a_malformed_cache_point_as_bedrock_does() {
    let bedrock = BedrockStandIn::start([Turn::text("never sent")]).await;
    let url = format!("{}/model/demo/converse-stream", bedrock.endpoint);
    let message = json!([{"role": "user", "content": [{"text": "hi"}]}]);
    for (body, what) in [
        (
            json!({"messages": message, "system": [{"text": "s"}, {"cachePoint": {"type": "ephemeral"}}]}),
            "another type",
        ),
        (
            json!({"messages": message, "system": [{"text": "s"}, {"cachePoint": "default"}]}),
            "not an object",
        ),
        (
            json!({"messages": message, "system": [{"text": "s"}, {"cachePoint": {"type": "default", "ttl": "1d"}}]}),
            "a bad ttl",
        ),
        (
            json!({"messages": message, "system": [{"text": "s"}, {"cachePoint": {}}]}),
            "no type",
        ),
        (
            json!({"messages": message, "system": [{"text": "s"}, {"cachePoint": {"type": "default"}}, {"text": "t"}, {"cachePoint": {"type": "default"}}, {"text": "u"}, {"cachePoint": {"type": "default"}}, {"text": "v"}, {"cachePoint": {"type": "default"}}, {"text": "w"}, {"cachePoint": {"type": "default"}}]}),
            "five cache points",
        ),
    ] {
        let response = reqwest::Client::new()
            .post(&url)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{what}");
        let error_type = response.headers()["x-amzn-errortype"].to_str().unwrap();
        assert!(
            error_type.starts_with("ValidationException:"),
            "{what}: {error_type}"
        );
    }
    assert_eq!(
        bedrock.remaining(),
        1,
        "no refused request consumed the turn"
    );
}
