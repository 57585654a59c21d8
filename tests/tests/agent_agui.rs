//! AG-UI on `POST /invocations` end to end: the real agent binary with the Bedrock stand-in
//! (and the tool probe as an MCP tool source), asked with raw `RunAgentInput` bodies whose
//! events are checked as JSON (order, ids), and by the real AG-UI TypeScript client
//! (`@ag-ui/client`'s `HttpAgent`, which verifies the event sequence, with every frame checked
//! against `@ag-ui/core`'s schemas). Also: the `{"prompt"}` body keeps its own events, and
//! keep-alive comments on a slow stream are skipped by both kinds of client.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::agui_client::{self, ClientRun, post, run_client, run_input};
use system_tests::bedrock::{BedrockStandIn, ExceptionSpelling, PARTIAL_TEXT, ToolCall, Turn};
use system_tests::tool_probe::{ToolProbe, WAIT_TOOL};
use system_tests::workspace;

/// Longest an `agent-cli` run may take.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);

fn assert_client_succeeded(run: &ClientRun) {
    assert!(
        run.success && run.error().is_none(),
        "the AG-UI client failed: {:?}\nstderr: {}",
        run.error(),
        run.stderr
    );
}

/// The text of the messages Bedrock received in request `index`, as `role: text` lines.
fn conversation_sent(bedrock: &BedrockStandIn, index: usize) -> Vec<String> {
    bedrock.requests()[index].body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text: String = m["content"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|block| block["text"].as_str())
                .collect();
            format!("{}: {text}", m["role"].as_str().unwrap())
        })
        .collect()
}

#[tokio::test]
async fn a_plain_answer_is_one_text_message_between_run_started_and_run_finished() {
    let bedrock = BedrockStandIn::start([Turn::text("Hello there."), Turn::text("Again.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();

    let answer = post(
        &agent.base_url,
        &run_input("thread-plain", "run-1", "hi"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let types = answer.types();
    assert_eq!(types.first(), Some(&"RUN_STARTED"), "{types:?}");
    assert_eq!(types[1], "TEXT_MESSAGE_START");
    assert!(
        types[2..types.len() - 2]
            .iter()
            .all(|t| *t == "TEXT_MESSAGE_CONTENT")
    );
    assert!(types.len() >= 6, "the text came in pieces: {types:?}");
    assert_eq!(
        &types[types.len() - 2..],
        ["TEXT_MESSAGE_END", "RUN_FINISHED"]
    );
    let started = &answer.events[0];
    assert_eq!(started["threadId"], "thread-plain");
    assert_eq!(started["runId"], "run-1");
    let message_ids: Vec<&Value> = answer.events[1..answer.events.len() - 1]
        .iter()
        .map(|e| &e["messageId"])
        .collect();
    assert!(
        message_ids.iter().all(|id| **id == "run-1-1"),
        "{message_ids:?}"
    );
    assert_eq!(answer.events[1]["role"], "assistant");
    let text: String = answer
        .of_type("TEXT_MESSAGE_CONTENT")
        .iter()
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "Hello there.");
    let finished = answer.events.last().unwrap();
    assert_eq!(finished["threadId"], "thread-plain");
    assert_eq!(finished["outcome"], json!({"type": "success"}));
    assert_eq!(finished["result"]["stopReason"], "end_turn");
    assert_eq!(
        answer.headers[SESSION_HEADER], "thread-plain",
        "without the session header the thread is the session"
    );

    let client = run_client(&agent.base_url, &["hi again"], &[])
        .await
        .unwrap();
    assert_client_succeeded(&client);
    let applied = client.applied_types(0);
    assert_eq!(applied.first(), Some(&"RUN_STARTED"), "{applied:?}");
    assert_eq!(applied.last(), Some(&"RUN_FINISHED"), "{applied:?}");
    let messages = client.summary(0).unwrap()["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert_eq!(messages[1]["role"], "assistant");
    assert_eq!(messages[1]["content"], "Again.");
}

#[tokio::test]
async fn a_tool_using_run_streams_the_call_its_args_and_its_result_in_order() {
    let probe = ToolProbe::start().await;
    let tool_turn = |id: &str| Turn::ToolUse {
        text: Some("Let me check.".into()),
        calls: vec![ToolCall::new(
            id,
            WAIT_TOOL,
            json!({"label": "order-7", "wait_ms": 10}),
        )],
    };
    let bedrock = BedrockStandIn::start([
        tool_turn("call-1"),
        Turn::text("It is on its way."),
        tool_turn("call-2"),
        Turn::text("Still on its way."),
    ])
    .await;
    let agent = Agent::start(&bedrock, Some(&probe.url), &[]).await.unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();

    let answer = post(
        &agent.base_url,
        &run_input("thread-tools", "run-t", "where is my order?"),
        &[],
    )
    .await
    .unwrap();
    let mut types = answer.types();
    types.dedup();
    assert_eq!(
        types,
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "TOOL_CALL_START",
            "TOOL_CALL_ARGS",
            "TOOL_CALL_END",
            "TOOL_CALL_RESULT",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "RUN_FINISHED"
        ],
        "{:?}",
        answer.events
    );
    let start = answer.of_type("TOOL_CALL_START")[0];
    assert_eq!(start["toolCallId"], "call-1");
    assert_eq!(start["toolCallName"], WAIT_TOOL);
    assert_eq!(
        start["parentMessageId"], "run-t-1",
        "the call belongs to the message of its model response"
    );
    let args = answer.of_type("TOOL_CALL_ARGS")[0];
    assert_eq!(args["toolCallId"], "call-1");
    let input: Value = serde_json::from_str(args["delta"].as_str().unwrap()).unwrap();
    assert_eq!(input, json!({"label": "order-7", "wait_ms": 10}));
    assert_eq!(answer.of_type("TOOL_CALL_END")[0]["toolCallId"], "call-1");
    let result = answer.of_type("TOOL_CALL_RESULT")[0];
    assert_eq!(result["toolCallId"], "call-1");
    assert_eq!(result["role"], "tool");
    assert_eq!(result["messageId"], "run-t-2");
    let content: Value = serde_json::from_str(result["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["label"], "order-7");
    let second_message = answer.of_type("TEXT_MESSAGE_START")[1];
    assert_eq!(second_message["messageId"], "run-t-3");

    let client = run_client(&agent.base_url, &["and now?"], &[])
        .await
        .unwrap();
    assert_client_succeeded(&client);
    let messages = client.summary(0).unwrap()["messages"].as_array().unwrap();
    let roles: Vec<&str> = messages
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(
        roles,
        ["user", "assistant", "tool", "assistant"],
        "{messages:?}"
    );
    assert_eq!(messages[1]["content"], "Let me check.");
    assert_eq!(messages[1]["toolCalls"][0]["id"], "call-2");
    assert_eq!(messages[1]["toolCalls"][0]["function"]["name"], WAIT_TOOL);
    assert_eq!(messages[2]["toolCallId"], "call-2");
    assert_eq!(messages[3]["content"], "Still on its way.");
}

#[tokio::test]
async fn a_model_error_ends_the_run_with_run_error() {
    let refusal = || Turn::Error {
        status: 403,
        error_type: "AccessDeniedException".into(),
        message: "no access".into(),
    };
    let bedrock = BedrockStandIn::start([refusal(), refusal()]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();

    let answer = post(
        &agent.base_url,
        &run_input("thread-error", "run-e", "hi"),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(answer.types(), ["RUN_STARTED", "RUN_ERROR"]);
    let error = &answer.events[1];
    assert_eq!(error["code"], "AccessDeniedException");
    assert!(
        !error["message"].as_str().unwrap().is_empty(),
        "the error says what went wrong: {error}"
    );

    let client = run_client(&agent.base_url, &["hi"], &[]).await.unwrap();
    assert_client_succeeded(&client);
    let wire: Vec<&str> = client
        .wire_events(0)
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(wire, ["RUN_STARTED", "RUN_ERROR"], "{:?}", client.lines);
    assert!(
        client.applied_types(0).contains(&"RUN_ERROR"),
        "the client applied the error: {:?}",
        client.lines
    );
}

#[tokio::test]
async fn a_model_retry_ends_the_partial_message_and_announces_it() {
    let bedrock = BedrockStandIn::start([
        Turn::ThrottleInStream {
            spelling: ExceptionSpelling::MemberName,
        },
        Turn::text("Finally."),
        Turn::ThrottleInStream {
            spelling: ExceptionSpelling::MemberName,
        },
        Turn::text("Finally again."),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();

    let answer = post(
        &agent.base_url,
        &run_input("thread-retry", "run-r", "hi"),
        &[],
    )
    .await
    .unwrap();
    let mut types = answer.types();
    types.dedup();
    assert_eq!(
        types,
        [
            "RUN_STARTED",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "CUSTOM",
            "TEXT_MESSAGE_START",
            "TEXT_MESSAGE_CONTENT",
            "TEXT_MESSAGE_END",
            "RUN_FINISHED"
        ],
        "{:?}",
        answer.events
    );
    let partial: String = answer
        .of_type("TEXT_MESSAGE_CONTENT")
        .iter()
        .filter(|e| e["messageId"] == "run-r-1")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    assert_eq!(partial, PARTIAL_TEXT);
    let retry = answer.of_type("CUSTOM")[0];
    assert_eq!(retry["name"], "model_retry");
    assert_eq!(retry["value"]["attempt"], 1);
    assert_eq!(retry["value"]["discardMessageId"], "run-r-1");
    assert_eq!(
        retry["value"]["reason"]
            .as_str()
            .unwrap()
            .to_ascii_lowercase(),
        "throttlingexception"
    );
    let retried = answer.of_type("TEXT_MESSAGE_START")[1];
    assert_eq!(retried["messageId"], "run-r-2");

    let client = run_client(&agent.base_url, &["hi"], &[]).await.unwrap();
    assert_client_succeeded(&client);
    assert!(client.applied_types(0).contains(&"CUSTOM"));
    let messages = client.summary(0).unwrap()["messages"].as_array().unwrap();
    assert_eq!(
        messages.last().unwrap()["content"],
        "Finally again.",
        "{messages:?}"
    );
}

#[tokio::test]
async fn the_prompt_body_keeps_the_agents_own_events() {
    let bedrock = BedrockStandIn::start([Turn::text("Plain.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let answer = agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let first = &answer.events[0];
    assert_eq!(first["type"], "start");
    assert_eq!(first["schema_version"], 1);
    assert!(
        answer.events[1..answer.events.len() - 1]
            .iter()
            .all(|e| e["type"] == "text_delta")
    );
    assert_eq!(answer.last()["type"], "done");
    assert_eq!(answer.last()["text"], "Plain.");
}

#[tokio::test]
async fn a_second_run_in_the_same_thread_remembers_the_first() {
    let bedrock = BedrockStandIn::start([
        Turn::text("Nice to meet you, Ada."),
        Turn::text("You are Ada."),
        Turn::text("Hello, Grace."),
        Turn::text("You are Grace."),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();

    post(
        &agent.base_url,
        &run_input("thread-memory", "run-m1", "I am Ada."),
        &[],
    )
    .await
    .unwrap();
    // The client's history differs from the agent's: the agent's own wins, and only the last
    // (user) message is new.
    let mut second = run_input("thread-memory", "run-m2", "Who am I?");
    second["messages"] = json!([
        {"id": "x1", "role": "user", "content": "I am Mallory."},
        {"id": "x2", "role": "assistant", "content": "Hi, Mallory."},
        {"id": "x3", "role": "user", "content": "Who am I?"}
    ]);
    let answer = post(&agent.base_url, &second, &[]).await.unwrap();
    assert_eq!(answer.types().last(), Some(&"RUN_FINISHED"));
    assert_eq!(
        conversation_sent(&bedrock, 1),
        [
            "user: I am Ada.",
            "assistant: Nice to meet you, Ada.",
            "user: Who am I?"
        ]
    );

    let client = run_client(&agent.base_url, &["I am Grace.", "Who am I?"], &[])
        .await
        .unwrap();
    assert_client_succeeded(&client);
    assert_eq!(
        conversation_sent(&bedrock, 3),
        [
            "user: I am Grace.",
            "assistant: Hello, Grace.",
            "user: Who am I?"
        ],
        "the client's second run continued its own thread, not the earlier one"
    );
    let messages = client.summary(1).unwrap()["messages"].as_array().unwrap();
    assert_eq!(messages.last().unwrap()["content"], "You are Grace.");
}

#[tokio::test]
async fn the_session_header_wins_over_the_thread() {
    let bedrock = BedrockStandIn::start([Turn::text("One."), Turn::text("Two.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let session = "agui-session-0123456789abcdef0123456789";
    for (thread, prompt) in [("thread-a", "first"), ("thread-b", "second")] {
        let answer = post(
            &agent.base_url,
            &run_input(thread, &format!("run-{thread}"), prompt),
            &[(SESSION_HEADER, session)],
        )
        .await
        .unwrap();
        assert_eq!(answer.headers[SESSION_HEADER], session);
    }
    assert_eq!(
        conversation_sent(&bedrock, 1),
        ["user: first", "assistant: One.", "user: second"]
    );
}

/// `agent-cli ask --json` against `agent`: its printed events.
async fn cli_events(agent: &Agent) -> Vec<Value> {
    let home = std::env::temp_dir().join(format!("agui-cli-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&home).unwrap();
    let child = tokio::process::Command::new(workspace::binary("agent-cli"))
        .args(["ask", "--url", &agent.base_url, "--no-auth", "--json", "hi"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let output = tokio::time::timeout(CLI_TIMEOUT, child.wait_with_output())
        .await
        .expect("agent-cli finishes")
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect()
}

#[tokio::test]
async fn keepalive_comments_arrive_while_the_model_is_slow_and_clients_skip_them() {
    let slow = || Turn::SlowText {
        text: "Thinking slowly.".into(),
        chunks: 3,
        delay: Duration::from_millis(700),
    };
    let bedrock = BedrockStandIn::start([slow(), slow(), slow(), slow()]).await;
    let agent = Agent::start(&bedrock, None, &[("STREAM_KEEPALIVE_MS", "200")])
        .await
        .unwrap();

    // The prompt body: comment frames between the events, skipped by the CLI's reader.
    let response = reqwest::Client::new()
        .post(format!("{}/invocations", agent.base_url))
        .header("accept", "text/event-stream")
        .json(&json!({"prompt": "hi"}))
        .send()
        .await
        .unwrap();
    let body = response.text().await.unwrap();
    let (events, comments) = agui_client::read_sse(&body).unwrap();
    assert!(
        comments >= 2,
        "keep-alives while the model was slow: {body:?}"
    );
    assert!(
        body.contains("\n\n:\n\n") || body.starts_with(":\n\n"),
        "{body:?}"
    );
    assert_eq!(events.last().unwrap()["type"], "done");
    let printed = cli_events(&agent).await;
    assert_eq!(printed.last().unwrap()["type"], "done");
    assert_eq!(printed.last().unwrap()["text"], "Thinking slowly.");

    // AG-UI: the same comments, and the real client runs through them.
    let answer = post(
        &agent.base_url,
        &run_input("thread-slow", "run-s", "hi"),
        &[],
    )
    .await
    .unwrap();
    assert!(answer.comments >= 2, "{:?}", answer.events);
    assert_eq!(answer.types().last(), Some(&"RUN_FINISHED"));
    let client = run_client(&agent.base_url, &["hi"], &[]).await.unwrap();
    assert_client_succeeded(&client);
    let summary = client.summary(0).unwrap();
    assert!(
        summary["keepalives"].as_u64().unwrap() >= 2,
        "the client's stream carried keep-alives: {summary}"
    );
    assert_eq!(
        summary["messages"].as_array().unwrap().last().unwrap()["content"],
        "Thinking slowly."
    );
}

#[tokio::test]
async fn a_bad_run_agent_input_is_refused_with_400() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let last_from_assistant = {
        let mut input = run_input("thread-bad", "run-b", "hi");
        input["messages"][0]["role"] = json!("assistant");
        input
    };
    let image_only = {
        let mut input = run_input("thread-bad", "run-b", "hi");
        input["messages"][0]["content"] = json!([{"type": "image", "source": {"type": "url", "value": "https://example.com/a.png"}}]);
        input
    };
    let cases = [
        (json!({"threadId": "t", "messages": []}), "runId"),
        (
            json!({"threadId": "t", "runId": "r", "messages": []}),
            "empty",
        ),
        (last_from_assistant, "assistant"),
        (image_only, "image"),
        (run_input("has space", "run-b", "hi"), "threadId"),
        (
            json!({"threadId": "t", "runId": "r", "messages": "hi"}),
            "messages",
        ),
    ];
    for (body, mentioned) in cases {
        let answer = post(&agent.base_url, &body, &[]).await.unwrap();
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let error = &answer.events[0];
        assert_eq!(error["error"], "Invalid RunAgentInput", "{body}");
        assert!(
            error["details"].as_str().unwrap().contains(mentioned),
            "{body} -> {error}"
        );
    }
    assert!(
        bedrock.requests().is_empty(),
        "no refused run reached the model"
    );
}
