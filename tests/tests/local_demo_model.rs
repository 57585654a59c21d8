//! The standalone Bedrock stand-in (`bedrock-standin`), which `scripts/run-local` starts when
//! no AWS credentials are found: the real agent, pointed at it, answers a question through the
//! real MCP server's tools, and every answer says no real model is behind it.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use serde_json::json;
use system_tests::agent::Agent;
use system_tests::bedrock::BedrockStandIn;
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::process::ServerProcess;

const BANNER: &str = "[local model stand-in, not a real model]";

async fn start_standin() -> ServerProcess {
    ServerProcess::spawn(
        Path::new(env!("CARGO_BIN_EXE_bedrock-standin")),
        &[],
        &[("BEDROCK_STANDIN_PORT".into(), "0".into())],
    )
    .await
    .expect("the stand-in binary starts")
}

#[tokio::test]
async fn the_agent_answers_a_warranty_question_through_the_real_tools_and_says_no_model_is_behind_it()
 {
    let mut standin = start_standin().await;
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    // The harness's in-process stand-in only gives the agent dummy credentials: its endpoint
    // is replaced by the binary's, and it must see no call.
    let unused = BedrockStandIn::start([]).await;
    let endpoint = format!("http://{}", standin.address);
    let agent = Agent::start(
        &unused,
        Some(&mcp.url),
        &[("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint)],
    )
    .await
    .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(15))
        .await
        .unwrap();

    let answer = agent
        .invoke(
            &json!({"prompt": "Is the warranty on SN-AUD-AS5BATSL still valid?"}),
            &[],
        )
        .await
        .unwrap();

    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let calls = answer.of_type("tool_call");
    assert_eq!(calls.len(), 1, "{:?}", answer.events);
    assert_eq!(calls[0]["name"], "check_warranty");
    assert_eq!(
        calls[0]["input"],
        json!({"serial_number": "SN-AUD-AS5BATSL"})
    );
    let results = answer.of_type("tool_result");
    assert_eq!(results[0]["status"], "ok", "{:?}", results[0]);
    let text = answer.streamed_text();
    assert!(text.starts_with(BANNER), "{text}");
    assert!(
        text.contains("SN-AUD-AS5BATSL"),
        "the tool's answer is quoted: {text}"
    );
    assert!(unused.requests().is_empty());

    let status = standin
        .terminate(Duration::from_secs(10))
        .await
        .expect("the stand-in stops on SIGTERM");
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn a_question_it_cannot_map_to_a_tool_gets_an_explanation_not_an_error() {
    let standin = start_standin().await;
    let unused = BedrockStandIn::start([]).await;
    let endpoint = format!("http://{}", standin.address);
    let agent = Agent::start(
        &unused,
        None,
        &[("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", &endpoint)],
    )
    .await
    .unwrap();

    let answer = agent
        .invoke(&json!({"prompt": "Tell me a joke"}), &[])
        .await
        .unwrap();

    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let text = answer.streamed_text();
    assert!(text.starts_with(BANNER), "{text}");
    assert!(text.contains("Configure AWS credentials"), "{text}");
    assert!(answer.of_type("tool_call").is_empty());
}
