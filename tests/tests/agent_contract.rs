//! The agent's AgentCore HTTP contract, on the real binary with the Bedrock stand-in as its
//! model: `/ping` semantics, the SSE and JSON answers, session headers and memory, request
//! errors, overlapping requests, client disconnects, shutdown and configuration errors.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::workspace;

const SESSION: &str = "contract-session-0123456789abcdef0123456789";

fn slow(text: &str, chunks: usize, delay_ms: u64) -> Turn {
    Turn::SlowText {
        text: text.to_owned(),
        chunks,
        delay: Duration::from_millis(delay_ms),
    }
}

#[tokio::test]
async fn a_plain_answer_streams_start_deltas_and_done() {
    let bedrock = BedrockStandIn::start([Turn::text("Hello! How can I help you today?")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let answer = agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let first = &answer.events[0];
    assert_eq!(first["type"], json!("start"));
    assert_eq!(first["schema_version"], json!(1));
    let session = answer.headers[SESSION_HEADER].to_str().unwrap();
    assert_eq!(
        first["session_id"],
        json!(session),
        "a generated session id is returned"
    );
    assert!((33..=256).contains(&session.len()));
    assert!(
        answer.of_type("text_delta").len() >= 2,
        "text arrives in pieces: {:?}",
        answer.events
    );
    assert_eq!(answer.streamed_text(), "Hello! How can I help you today?");
    let done = answer.last();
    assert_eq!(done["type"], json!("done"));
    assert_eq!(done["text"], json!("Hello! How can I help you today?"));
    assert_eq!(done["stop_reason"], json!("end_turn"));
    assert!(done["usage"]["total_tokens"].as_u64().unwrap() > 0);
    assert_eq!(done["model_calls"], json!(1));
    let request = &bedrock.requests()[0];
    assert_eq!(
        request.model_id,
        "global.anthropic.claude-haiku-4-5-20251001-v1:0"
    );
    assert!(
        request.body["system"][0]["text"]
            .as_str()
            .unwrap()
            .contains("AnyCompany"),
        "the system prompt is sent"
    );
}

#[tokio::test]
async fn accept_json_only_gets_one_json_answer() {
    let bedrock = BedrockStandIn::start([Turn::text("Fine, thanks.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let answer = agent
        .invoke(
            &json!({"prompt": "how are you?", "actor_id": "ignored-extra-field"}),
            &[("accept", "application/json"), (SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[SESSION_HEADER], SESSION);
    let body = &answer.events[0];
    assert_eq!(body["text"], json!("Fine, thanks."));
    assert_eq!(body["session_id"], json!(SESSION));
    assert_eq!(body["stop_reason"], json!("end_turn"));
    assert_eq!(body["tool_calls"], json!([]));
}

#[tokio::test]
async fn a_session_remembers_its_conversation_and_others_do_not_see_it() {
    let bedrock = BedrockStandIn::start([
        Turn::text("Noted."),
        Turn::text("You said blue."),
        Turn::text("I don't know."),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    agent
        .invoke(
            &json!({"prompt": "my colour is blue"}),
            &[(SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    agent
        .invoke(
            &json!({"prompt": "what is my colour?"}),
            &[(SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    let other = "another-session-0123456789abcdef0123456789";
    agent
        .invoke(
            &json!({"prompt": "what is my colour?"}),
            &[(SESSION_HEADER, other)],
        )
        .await
        .unwrap();
    let requests = bedrock.requests();
    let messages = |i: usize| requests[i].body["messages"].as_array().unwrap().clone();
    assert_eq!(
        messages(1).len(),
        3,
        "the second turn carries the first exchange"
    );
    assert_eq!(
        messages(1)[0]["content"][0]["text"],
        json!("my colour is blue")
    );
    assert_eq!(messages(1)[1]["content"][0]["text"], json!("Noted."));
    assert_eq!(messages(2).len(), 1, "another session starts empty");
}

#[tokio::test]
async fn bad_requests_get_clear_json_errors() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[("MAX_REQUEST_BYTES", "1000")])
        .await
        .unwrap();
    let cases: [(String, StatusCode, &str); 5] = [
        ("{not json".into(), StatusCode::BAD_REQUEST, "Invalid JSON"),
        ("{}".into(), StatusCode::BAD_REQUEST, "Missing prompt"),
        (
            json!({"prompt": "   "}).to_string(),
            StatusCode::BAD_REQUEST,
            "Missing prompt",
        ),
        (
            json!({"prompt": 42}).to_string(),
            StatusCode::BAD_REQUEST,
            "Missing prompt",
        ),
        (
            json!({"prompt": "x".repeat(2000)}).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "Payload too large",
        ),
    ];
    for (body, status, error) in cases {
        let answer = agent.invoke_raw(body.clone(), &[]).await.unwrap();
        assert_eq!(answer.status, status, "{body:.40}");
        assert_eq!(answer.events[0]["error"], json!(error), "{body:.40}");
        assert!(
            answer.events[0]["details"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
    }
    let long_session = "s".repeat(300);
    let answer = agent
        .invoke(&json!({"prompt": "hi"}), &[(SESSION_HEADER, &long_session)])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        bedrock.requests().is_empty(),
        "no bad request reached the model"
    );
}

#[tokio::test]
async fn ping_reports_busy_while_a_turn_runs_and_stamps_only_changes() {
    let bedrock = BedrockStandIn::start([slow("one two three four five six", 6, 250)]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let idle = agent.ping().await;
    assert_eq!(idle["status"], json!("Healthy"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        agent.ping().await,
        idle,
        "polling does not move the timestamp"
    );
    let invoking = agent.invoke_in_background(Some(SESSION), "count");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let busy = agent.ping().await;
    assert_eq!(busy["status"], json!("HealthyBusy"));
    assert!(
        busy["time_of_last_update"].as_u64() > idle["time_of_last_update"].as_u64(),
        "becoming busy is a change"
    );
    invoking.await.unwrap();
    let after = agent.ping().await;
    assert_eq!(after["status"], json!("Healthy"));
    assert!(after["time_of_last_update"].as_u64() >= busy["time_of_last_update"].as_u64());
}

#[tokio::test]
async fn overlapping_requests_on_one_session_are_refused_with_409() {
    let bedrock =
        BedrockStandIn::start([slow("a b c d", 4, 200), Turn::text("other session")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let first = agent.invoke_in_background(Some(SESSION), "first");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = agent
        .invoke(&json!({"prompt": "second"}), &[(SESSION_HEADER, SESSION)])
        .await
        .unwrap();
    assert_eq!(second.status, StatusCode::CONFLICT);
    assert_eq!(second.events[0]["error"], json!("Session busy"));
    let other = agent
        .invoke(
            &json!({"prompt": "meanwhile"}),
            &[(SESSION_HEADER, "other-session-0123456789abcdef0123456789ab")],
        )
        .await
        .unwrap();
    assert_eq!(
        other.status,
        StatusCode::OK,
        "other sessions are not blocked"
    );
    let first = system_tests::agent::parse_sse(&first.await.unwrap()).unwrap();
    assert_eq!(first.last().unwrap()["type"], json!("done"));
}

#[tokio::test]
async fn the_next_question_sent_the_moment_done_arrives_finds_the_session_free() {
    // Many conversations at once keep the agent's two worker threads busy, which widens the
    // gap a turn would leave between sending `done` and letting go of its session.
    const CONVERSATIONS: usize = 16;
    const QUESTIONS: usize = 25;
    let bedrock = BedrockStandIn::start(
        (0..CONVERSATIONS * QUESTIONS).map(|i| Turn::text(format!("answer {i}"))),
    )
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let client = reqwest::Client::new();
    let conversations = (0..CONVERSATIONS).map(|c| {
        let client = client.clone();
        let url = format!("{}/invocations", agent.base_url);
        async move {
            let session = format!("next-question-session-{c:032}");
            for i in 0..QUESTIONS {
                let response = client
                    .post(&url)
                    .header(SESSION_HEADER, &session)
                    .json(&json!({"prompt": format!("question {i}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), StatusCode::OK, "{session}, question {i}");
                // Read only up to the done frame, as a chat client does before it sends the
                // next question; the rest of the response is never awaited.
                let mut body = response.bytes_stream();
                let mut seen = String::new();
                while !seen.contains("\"type\":\"done\"") {
                    let chunk = body.next().await.unwrap().unwrap();
                    seen.push_str(&String::from_utf8_lossy(&chunk));
                }
            }
        }
    });
    futures::future::join_all(conversations).await;
    assert_eq!(bedrock.requests().len(), CONVERSATIONS * QUESTIONS);
}

#[tokio::test]
async fn a_client_disconnect_stops_the_model_stream() {
    let bedrock = BedrockStandIn::start([
        slow(&"word ".repeat(40), 40, 100),
        Turn::text("still usable"),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let response = reqwest::Client::new()
        .post(format!("{}/invocations", agent.base_url))
        .header(SESSION_HEADER, SESSION)
        .json(&json!({"prompt": "talk"}))
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("\"type\":\"text_delta\"") {
        seen.push_str(&String::from_utf8_lossy(
            &body.next().await.unwrap().unwrap(),
        ));
    }
    drop(body);
    assert!(
        bedrock
            .wait_for_disconnects(1, Duration::from_secs(5))
            .await
            >= 1,
        "the model stream was cancelled; agent logs: {:?}; ping: {}",
        agent.process.logs(),
        agent.ping().await
    );
    let mut ping = agent.ping().await;
    for _ in 0..50 {
        if ping["status"] == json!("Healthy") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        ping = agent.ping().await;
    }
    assert_eq!(
        ping["status"],
        json!("Healthy"),
        "the abandoned turn no longer counts as work"
    );
    let again = agent
        .invoke(
            &json!({"prompt": "are you there?"}),
            &[(SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    assert_eq!(again.status, StatusCode::OK, "the session is free again");
    let messages = bedrock.requests().last().unwrap().body["messages"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(
        messages, 1,
        "the abandoned turn left nothing in the history"
    );
}

#[tokio::test]
async fn sigterm_ends_running_streams_with_an_error_frame_within_the_grace_period() {
    let bedrock = BedrockStandIn::start([slow(&"word ".repeat(100), 100, 100)]).await;
    let mut agent = Agent::start(&bedrock, None, &[("SHUTDOWN_GRACE_MS", "300")])
        .await
        .unwrap();
    let streaming = agent.invoke_in_background(None, "talk");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = agent
        .process
        .terminate(Duration::from_secs(5))
        .await
        .expect("exits within the grace period");
    assert!(status.success(), "{status:?}");
    let events = system_tests::agent::parse_sse(&streaming.await.unwrap()).unwrap();
    let last = events.last().unwrap();
    assert_eq!(last["type"], json!("error"));
    assert_eq!(last["error_type"], json!("ShuttingDown"));
    assert_eq!(last["message"], json!("An error occurred during streaming"));
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_naming_the_setting() {
    let binary = workspace::binary("agent");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "AWS_REGION"),
        (
            &[("AWS_REGION", "us-east-1"), ("MCP_SOURCES", "not json")],
            "MCP_SOURCES",
        ),
        (
            &[("AWS_REGION", "us-east-1"), ("AGENT_PORT", "http")],
            "AGENT_PORT",
        ),
    ];
    for (env, named) in cases {
        system_tests::process::assert_refuses_config(&binary, env, named).await;
    }
    let missing_token = tokio::process::Command::new(&binary)
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AUTH_MODE", "none")
        .env("MCP_SOURCES", json!([{"name": "s", "url": "http://127.0.0.1:1/mcp", "auth": {"type": "bearer_env", "variable": "NO_SUCH_TOKEN_VAR"}}]).to_string())
        .output()
        .await
        .unwrap();
    assert!(!missing_token.status.success());
    let logs = String::from_utf8_lossy(&missing_token.stdout);
    let line: Value = logs
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON error line");
    assert!(
        line["error"]
            .as_str()
            .unwrap()
            .contains("NO_SUCH_TOKEN_VAR"),
        "{line}"
    );
}

#[tokio::test]
async fn missing_aws_credentials_end_the_turn_at_once_with_a_clear_error() {
    let bedrock = BedrockStandIn::start([Turn::text("never sent")]).await;
    let agent = Agent::start(
        &bedrock,
        None,
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    )
    .await
    .unwrap();
    let answer = agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
    assert!(
        answer.of_type("model_retry").is_empty(),
        "a local failure is not retried: {:?}",
        answer.events
    );
    let last = answer.last();
    assert_eq!(last["type"], json!("error"));
    assert_eq!(last["error_type"], json!("RequestError"));
    assert!(
        last["error"].as_str().unwrap().contains("credentials"),
        "{last}"
    );
    assert!(bedrock.requests().is_empty());
}

/// `<binary> healthcheck` with `port`, as the image's HEALTHCHECK runs it.
async fn healthcheck(binary: &str, port_variable: &str, port: u16) -> std::process::Output {
    tokio::process::Command::new(workspace::binary(binary))
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env(port_variable, port.to_string())
        .arg("healthcheck")
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_health_check_commands_pass_only_while_their_server_answers() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let moto = system_tests::moto::Moto::start().await.unwrap();
    let mcp = system_tests::mcp_server::McpServer::start(&moto, &[])
        .await
        .unwrap();
    let agent_port = agent.process.address.port();
    let mcp_port = mcp.process.address.port();
    assert!(
        healthcheck("agent", "AGENT_PORT", agent_port)
            .await
            .status
            .success()
    );
    assert!(
        healthcheck("mcp-server", "MCP_PORT", mcp_port)
            .await
            .status
            .success()
    );
    drop(agent);
    drop(mcp);
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (binary, variable, port) in [
        ("agent", "AGENT_PORT", agent_port),
        ("mcp-server", "MCP_PORT", mcp_port),
    ] {
        let down = healthcheck(binary, variable, port).await;
        assert!(!down.status.success(), "{binary}: no server, no health");
        assert!(
            String::from_utf8_lossy(&down.stderr).contains("unhealthy"),
            "{binary}: the reason is printed"
        );
    }
}
