//! The agent's Bedrock tool loop end to end: the real agent binary, the Bedrock stand-in
//! driven by scripted model turns, and the real MCP server on moto as the tool source (or, to
//! measure how many calls overlap, the in-process [`ToolProbe`]).

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, ExceptionSpelling, ToolCall, Turn};
use system_tests::fixtures::{self, text};
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::tool_probe::{ToolProbe, WAIT_TOOL};

const SESSION: &str = "loop-session-0123456789abcdef0123456789abcd";

struct Stack {
    _moto: Moto,
    _mcp: McpServer,
    bedrock: BedrockStandIn,
    agent: Agent,
}

/// moto seeded with the fixture, the MCP server, the stand-in with `script`, and the agent
/// with its tools listed.
async fn stack(script: Vec<Turn>, extra_env: &[(&str, &str)]) -> Stack {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let bedrock = BedrockStandIn::start(script).await;
    let agent = Agent::start(&bedrock, Some(&mcp.url), extra_env)
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    Stack {
        _moto: moto,
        _mcp: mcp,
        bedrock,
        agent,
    }
}

fn expiring_serial() -> String {
    fixtures::load("warranties")
        .into_iter()
        .find(|w| {
            let left = w["duration_days"].as_i64().unwrap() - w["start_days_ago"].as_i64().unwrap();
            (1..=30).contains(&left)
        })
        .map(|w| text(&w, "serial_number").to_owned())
        .expect("an expiring warranty in the fixture")
}

/// The tool results the model received in request `index`, by tool-use id.
fn tool_results(stack: &Stack, index: usize) -> Vec<Value> {
    let request = &stack.bedrock.requests()[index];
    let messages = request.body["messages"].as_array().unwrap();
    messages.last().unwrap()["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|block| block.get("toolResult").cloned())
        .collect()
}

#[tokio::test]
async fn the_model_is_offered_the_mcp_tools() {
    let stack = stack(vec![Turn::text("ok")], &[]).await;
    stack
        .agent
        .invoke(&json!({"prompt": "hi"}), &[])
        .await
        .unwrap();
    let tools = stack.bedrock.requests()[0].body["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .clone();
    // The tool specs, without the prompt cache point after them.
    let names: Vec<&str> = tools
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str())
        .collect();
    assert_eq!(names.len(), 10, "{names:?}");
    assert!(names.contains(&"check_warranty") && names.contains(&"create_support_ticket"));
    let check = tools
        .iter()
        .find(|t| t["toolSpec"]["name"] == json!("check_warranty"))
        .unwrap();
    assert!(check["toolSpec"]["inputSchema"]["json"]["properties"]["serial_number"].is_object());
}

#[tokio::test]
async fn a_tool_using_answer_streams_the_call_its_result_and_the_answer() {
    let serial = expiring_serial();
    let stack = stack(
        vec![
            Turn::ToolUse {
                text: Some("Let me check.".into()),
                calls: vec![ToolCall::new(
                    "call-1",
                    "check_warranty",
                    json!({"serial_number": serial}),
                )],
            },
            Turn::text("Your warranty expires soon."),
        ],
        &[],
    )
    .await;
    let answer = stack
        .agent
        .invoke(
            &json!({"prompt": "is my warranty valid?"}),
            &[(SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    let kinds: Vec<&str> = answer
        .events
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    let call_at = kinds.iter().position(|k| *k == "tool_call").unwrap();
    let result_at = kinds.iter().position(|k| *k == "tool_result").unwrap();
    assert!(
        call_at < result_at && result_at < kinds.len() - 1,
        "{kinds:?}"
    );
    let call = answer.of_type("tool_call")[0];
    assert_eq!(call["name"], json!("check_warranty"));
    assert_eq!(call["source"], json!("support"));
    assert_eq!(call["input"]["serial_number"], json!(serial));
    let result = answer.of_type("tool_result")[0];
    assert_eq!(result["status"], json!("ok"));
    assert_eq!(result["output"]["status"], json!("expiring_soon"));
    let done = answer.last();
    assert_eq!(
        done["text"],
        json!("Let me check.Your warranty expires soon.")
    );
    assert_eq!(done["model_calls"], json!(2));
    let fed_back = tool_results(&stack, 1);
    assert_eq!(fed_back[0]["toolUseId"], json!("call-1"));
    assert_eq!(fed_back[0]["status"], json!("success"));
    assert_eq!(
        fed_back[0]["content"][0]["json"]["serial_number"],
        json!(serial)
    );
}

/// How long each probe call waits, first call longest: long enough that a call the agent
/// starts while another runs arrives before that one ends, even on a loaded machine, and
/// descending so that calls run together finish in the reverse of their order.
const PROBE_WAITS_MS: [u64; 4] = [1_200, 900, 600, 300];

/// The probe's tool called once per entry of [`PROBE_WAITS_MS`] in one model response, by
/// an agent with `TOOL_CONCURRENCY=concurrency`; gives the answer and the probe, whose
/// [`ToolProbe::peak_in_flight`] tells how many calls overlapped.
async fn probe_calls(concurrency: &str) -> (Answer, BedrockStandIn, ToolProbe) {
    let probe = ToolProbe::start().await;
    let calls = PROBE_WAITS_MS
        .iter()
        .enumerate()
        .map(|(i, wait_ms)| {
            ToolCall::new(
                format!("call-{i}"),
                WAIT_TOOL,
                json!({"label": format!("label-{i}"), "wait_ms": wait_ms}),
            )
        })
        .collect();
    let bedrock = BedrockStandIn::start(vec![
        Turn::ToolUse { text: None, calls },
        Turn::text("All done."),
    ])
    .await;
    let agent = Agent::start(
        &bedrock,
        Some(&probe.url),
        &[("TOOL_CONCURRENCY", concurrency)],
    )
    .await
    .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    let answer = agent
        .invoke(&json!({"prompt": "run them all"}), &[])
        .await
        .unwrap();
    assert_eq!(answer.last()["type"], json!("done"), "{:?}", answer.events);
    (answer, bedrock, probe)
}

/// Every call got its own result, streamed and fed back to the model in call order.
fn assert_results_in_call_order(answer: &Answer, bedrock: &BedrockStandIn) {
    let expected_ids: Vec<String> = (0..PROBE_WAITS_MS.len())
        .map(|i| format!("call-{i}"))
        .collect();
    let streamed: Vec<(Value, Value)> = answer
        .of_type("tool_result")
        .into_iter()
        .map(|result| (result["id"].clone(), result["output"]["label"].clone()))
        .collect();
    let expected: Vec<(Value, Value)> = (0..PROBE_WAITS_MS.len())
        .map(|i| (json!(format!("call-{i}")), json!(format!("label-{i}"))))
        .collect();
    assert_eq!(streamed, expected);
    let request = &bedrock.requests()[1];
    let fed_back: Vec<&str> =
        request.body["messages"].as_array().unwrap().last().unwrap()["content"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|block| block["toolResult"]["toolUseId"].as_str())
            .collect();
    assert_eq!(fed_back, expected_ids);
}

#[tokio::test]
async fn parallel_read_only_calls_overlap_and_their_results_keep_call_order() {
    let (answer, bedrock, probe) = probe_calls("4").await;
    assert!(
        probe.peak_in_flight() >= 2,
        "read-only calls ran one at a time: at most {} in flight",
        probe.peak_in_flight()
    );
    assert_results_in_call_order(&answer, &bedrock);
}

#[tokio::test]
async fn parallel_read_only_calls_never_exceed_tool_concurrency() {
    let (answer, bedrock, probe) = probe_calls("2").await;
    assert_eq!(
        probe.peak_in_flight(),
        2,
        "TOOL_CONCURRENCY=2 with four calls"
    );
    assert_eq!(probe.arrivals().len(), PROBE_WAITS_MS.len());
    assert_results_in_call_order(&answer, &bedrock);
}

#[tokio::test]
async fn read_only_calls_run_one_at_a_time_with_tool_concurrency_1() {
    let (answer, bedrock, probe) = probe_calls("1").await;
    assert_eq!(probe.peak_in_flight(), 1);
    let expected: Vec<String> = (0..PROBE_WAITS_MS.len())
        .map(|i| format!("label-{i}"))
        .collect();
    assert_eq!(probe.arrivals(), expected, "started in call order");
    assert_results_in_call_order(&answer, &bedrock);
}

#[tokio::test]
async fn an_unknown_tool_and_a_failing_tool_become_error_results() {
    let stack = stack(
        vec![
            Turn::ToolUse {
                text: None,
                calls: vec![
                    ToolCall::new("call-a", "delete_all_customers", json!({})),
                    ToolCall::new(
                        "call-b",
                        "check_warranty",
                        json!({"serial_number": "SN-NOPE-0000"}),
                    ),
                ],
            },
            Turn::text("Sorry, I could not find that."),
        ],
        &[],
    )
    .await;
    let answer = stack
        .agent
        .invoke(&json!({"prompt": "check SN-NOPE-0000"}), &[])
        .await
        .unwrap();
    assert_eq!(answer.last()["type"], json!("done"), "{:?}", answer.events);
    let results = answer.of_type("tool_result");
    assert_eq!(results[0]["status"], json!("error"));
    assert!(
        results[0]["output"]["error"]
            .as_str()
            .unwrap()
            .contains("check_warranty"),
        "the model is told what exists"
    );
    assert_eq!(results[1]["status"], json!("error"));
    assert!(
        results[1]["output"]["error"]
            .as_str()
            .unwrap()
            .contains("SN-NOPE-0000")
    );
    let fed_back = tool_results(&stack, 1);
    assert!(
        fed_back.iter().all(|r| r["status"] == json!("error")),
        "{fed_back:?}"
    );
}

#[tokio::test]
async fn throttling_before_and_inside_the_stream_is_retried() {
    let stack = stack(
        vec![
            Turn::ThrottleBeforeStream,
            Turn::ThrottleInStream {
                spelling: ExceptionSpelling::MemberName,
            },
            Turn::ThrottleInStream {
                spelling: ExceptionSpelling::ShapeName,
            },
            Turn::Unavailable,
            Turn::text("Finally."),
        ],
        &[],
    )
    .await;
    let answer = stack
        .agent
        .invoke(&json!({"prompt": "hello"}), &[])
        .await
        .unwrap();
    let retries = answer.of_type("model_retry");
    assert_eq!(retries.len(), 4, "{:?}", answer.events);
    let reasons: Vec<String> = retries
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_ascii_lowercase())
        .collect();
    assert_eq!(reasons[..3], ["throttlingexception"; 3]);
    assert_eq!(reasons[3], "serviceunavailableexception");
    assert!(
        retries
            .iter()
            .enumerate()
            .all(|(i, r)| r["attempt"] == json!(i + 1))
    );
    assert_eq!(answer.last()["type"], json!("done"));
    assert_eq!(answer.last()["text"], json!("Finally."));
}

#[tokio::test]
async fn retries_stop_at_the_budget_and_other_errors_are_not_retried() {
    let stack = stack(
        vec![
            Turn::ThrottleBeforeStream,
            Turn::ThrottleBeforeStream,
            Turn::ThrottleBeforeStream,
            Turn::ThrottleBeforeStream,
            Turn::ThrottleBeforeStream,
            Turn::ThrottleBeforeStream,
        ],
        &[
            ("MODEL_RETRY_BUDGET_MS", "300"),
            ("MODEL_RETRY_BASE_MS", "100"),
        ],
    )
    .await;
    let answer = stack
        .agent
        .invoke(&json!({"prompt": "hello"}), &[])
        .await
        .unwrap();
    let last = answer.last();
    assert_eq!(last["type"], json!("error"));
    assert_eq!(last["error_type"], json!("ThrottlingException"));
    assert!(
        stack.bedrock.remaining() > 0,
        "the budget ended the retries before the script did"
    );
    assert!(
        stack.bedrock.requests().len() >= 2,
        "it did retry before giving up"
    );

    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let bedrock = BedrockStandIn::start([Turn::Error {
        status: 403,
        error_type: "AccessDeniedException".into(),
        message: "no access".into(),
    }])
    .await;
    let agent = Agent::start(&bedrock, Some(&mcp.url), &[]).await.unwrap();
    let answer = agent
        .invoke(&json!({"prompt": "hello"}), &[])
        .await
        .unwrap();
    assert!(answer.of_type("model_retry").is_empty());
    assert_eq!(answer.last()["error_type"], json!("AccessDeniedException"));
}

#[tokio::test]
async fn the_turn_stops_at_the_model_call_limit_and_the_session_stays_usable() {
    let serial = expiring_serial();
    let check = |id: &str| Turn::ToolUse {
        text: None,
        calls: vec![ToolCall::new(
            id,
            "check_warranty",
            json!({"serial_number": serial}),
        )],
    };
    let stack = stack(
        vec![check("c1"), check("c2"), Turn::text("Back to normal.")],
        &[("MAX_MODEL_CALLS", "2")],
    )
    .await;
    let answer = stack
        .agent
        .invoke(&json!({"prompt": "loop"}), &[(SESSION_HEADER, SESSION)])
        .await
        .unwrap();
    let done = answer.last();
    assert_eq!(done["stop_reason"], json!("max_model_calls"));
    assert_eq!(done["model_calls"], json!(2));
    let next = stack
        .agent
        .invoke(&json!({"prompt": "and now?"}), &[(SESSION_HEADER, SESSION)])
        .await
        .unwrap();
    assert_eq!(
        next.last()["text"],
        json!("Back to normal."),
        "the stand-in accepted the history: {:?}",
        next.events
    );
}

#[tokio::test]
async fn a_ticket_opened_through_the_agent_lands_in_dynamodb() {
    let ticket = json!({
        "customer_id": "CUST-001", "subject": "Buds crackle", "description": "Left earbud crackles.",
        "category": "product", "client_token": "agent-test-token-1"
    });
    let stack = stack(
        vec![
            Turn::ToolUse {
                text: None,
                calls: vec![ToolCall::new("t1", "create_support_ticket", ticket)],
            },
            Turn::text("I opened a ticket for you."),
        ],
        &[],
    )
    .await;
    let answer = stack
        .agent
        .invoke(&json!({"prompt": "open a ticket"}), &[])
        .await
        .unwrap();
    let result = answer.of_type("tool_result")[0];
    assert_eq!(result["status"], json!("ok"));
    assert_eq!(result["output"]["created"], json!(true));
    assert!(
        result["output"]["ticket"]["ticket_id"]
            .as_str()
            .unwrap()
            .starts_with("TKT-")
    );
}

#[tokio::test]
async fn an_mcp_source_with_a_static_bearer_token_is_used() {
    let moto = Moto::start().await.unwrap();
    system_tests::mcp_server::seed(&moto).await.unwrap();
    let pool = system_tests::cognito::CognitoPool::create(&moto)
        .await
        .unwrap();
    let token = pool.customer_tokens().await.unwrap().access_token;
    let auth_env = pool.auth_env();
    let env: Vec<(&str, &str)> = auth_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mcp = McpServer::start(&moto, &env).await.unwrap();
    let serial = expiring_serial();
    let bedrock = BedrockStandIn::start([
        Turn::ToolUse {
            text: None,
            calls: vec![ToolCall::new(
                "t1",
                "check_warranty",
                json!({"serial_number": serial}),
            )],
        },
        Turn::text("Checked."),
    ])
    .await;
    let sources =
        json!([{"name": "support", "url": mcp.url, "auth": {"type": "bearer_env", "variable": "SUPPORT_MCP_TOKEN"}}])
            .to_string();
    let agent = Agent::start(
        &bedrock,
        None,
        &[("MCP_SOURCES", &sources), ("SUPPORT_MCP_TOKEN", &token)],
    )
    .await
    .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    let answer = agent
        .invoke(&json!({"prompt": "check"}), &[])
        .await
        .unwrap();
    assert_eq!(
        answer.of_type("tool_result")[0]["status"],
        json!("ok"),
        "{:?}",
        answer.events
    );
    assert!(
        !agent
            .process
            .logs()
            .iter()
            .chain(mcp.process.logs().iter())
            .any(|line| line.contains(&token)),
        "the token is never logged"
    );
}
