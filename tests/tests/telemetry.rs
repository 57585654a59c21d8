//! Traces end to end: the real agent and MCP server binaries exporting over OTLP/HTTP to the
//! receiver stand-in. One tool-using turn must be one trace running from the agent's root
//! through the model and tool spans into the MCP server's spans; X-Ray export must be SigV4
//! signed; an inbound trace header must be continued; a dead exporter must slow nothing down.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use serde_json::json;
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::agentcore_runtime;
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::mcp_server::{self, McpServer};
use system_tests::moto::Moto;
use system_tests::otlp::{BlackHole, OtlpOptions, OtlpReceiver, RecordedSpan, SpanKind};

const SESSION: &str = "trace-session-0123456789abcdef0123456789abc";

fn refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn one<'a>(
    spans: &'a [RecordedSpan],
    what: &str,
    test: impl Fn(&RecordedSpan) -> bool,
) -> &'a RecordedSpan {
    let found: Vec<&RecordedSpan> = spans.iter().filter(|s| test(s)).collect();
    assert_eq!(
        found.len(),
        1,
        "exactly one {what} span in {:#?}",
        spans.iter().map(|s| (&s.name, &s.kind)).collect::<Vec<_>>()
    );
    found[0]
}

fn script() -> Vec<Turn> {
    vec![
        Turn::tool_use([ToolCall::new(
            "w",
            "check_warranty",
            json!({"serial_number": "SN-AUD-AS5BATSL"}),
        )]),
        Turn::text("It is still valid."),
    ]
}

#[tokio::test]
async fn one_tool_using_turn_is_one_trace_from_the_agent_into_the_mcp_server() {
    let receiver = OtlpReceiver::start().await;
    let export = receiver.exporter_env();
    let moto = Moto::start().await.unwrap();
    mcp_server::seed(&moto).await.unwrap();
    let mcp = McpServer::start(&moto, &refs(&export)).await.unwrap();
    let bedrock = BedrockStandIn::start(script()).await;
    let agent = Agent::start(&bedrock, Some(&mcp.url), &refs(&export))
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(10))
        .await
        .unwrap();
    let answer = agent
        .invoke(
            &json!({"prompt": "Is my warranty valid?"}),
            &[(SESSION_HEADER, SESSION)],
        )
        .await
        .unwrap();
    assert_eq!(answer.last()["type"], json!("done"));

    let spans = receiver
        .wait_for_spans(
            |spans| {
                spans.iter().any(|s| s.name.starts_with("invoke_agent"))
                    && spans.iter().any(|s| {
                        s.kind == SpanKind::Server && s.name == "tools/call check_warranty"
                    })
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let root = one(&spans, "root", |s| s.name == "invoke_agent support-agent");
    assert_eq!(root.parent_span_id, None);
    assert_eq!(root.kind, SpanKind::Server);
    assert_eq!(root.attr_str("session.id"), Some(SESSION));
    assert_eq!(root.resource_str("service.name"), Some("support-agent"));
    let trace = receiver.trace(&root.trace_id);

    let chats: Vec<&RecordedSpan> = trace
        .iter()
        .filter(|s| s.name.starts_with("chat "))
        .collect();
    assert_eq!(chats.len(), 2, "two model calls");
    for chat in &chats {
        assert_eq!(chat.parent_span_id.as_deref(), Some(root.span_id.as_str()));
        assert_eq!(chat.kind, SpanKind::Client);
        assert_eq!(chat.attr_str("gen_ai.operation.name"), Some("chat"));
        assert_eq!(chat.attr_str("gen_ai.system"), Some("aws.bedrock"));
        assert!(chat.attr("gen_ai.usage.input_tokens").is_some(), "{chat:?}");
        assert!(chat.attr_str("gen_ai.response.finish_reasons").is_some());
        assert!(chat.attr_str("gen_ai.request.model").is_some());
    }
    let tool = one(&trace, "tool", |s| s.name == "execute_tool check_warranty");
    assert_eq!(tool.parent_span_id.as_deref(), Some(root.span_id.as_str()));
    assert_eq!(tool.attr_str("tool.source"), Some("support"));
    assert_eq!(tool.attr_str("tool.outcome"), Some("ok"));
    let client = one(&trace, "MCP client", |s| {
        s.kind == SpanKind::Client && s.name == "tools/call check_warranty"
    });
    assert_eq!(
        client.parent_span_id.as_deref(),
        Some(tool.span_id.as_str())
    );
    let server = one(&trace, "MCP server", |s| {
        s.kind == SpanKind::Server && s.name == "tools/call check_warranty"
    });
    assert_eq!(
        server.parent_span_id.as_deref(),
        Some(client.span_id.as_str())
    );
    assert_eq!(
        server.resource_str("service.name"),
        Some("support-mcp-server")
    );
    let dynamodb: Vec<&RecordedSpan> = trace
        .iter()
        .filter(|s| s.attr_str("rpc.service") == Some("DynamoDB"))
        .collect();
    assert!(
        !dynamodb.is_empty(),
        "the MCP server's AWS calls are in the trace"
    );
    assert!(
        dynamodb
            .iter()
            .all(|s| s.parent_span_id.as_deref() == Some(server.span_id.as_str())),
        "{dynamodb:#?}"
    );

    let completed = agent
        .wait_for_log("turn completed", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(completed["trace_id"], json!(root.trace_id));
    assert_eq!(
        completed["xray_trace_id"],
        json!(format!("1-{}-{}", &root.trace_id[..8], &root.trace_id[8..]))
    );
    assert_eq!(completed["session_id"], json!(SESSION));
    assert!(completed["span_id"].is_string() && completed["request_id"].is_string());
}

#[tokio::test]
async fn xray_export_is_sigv4_signed_and_keeps_the_injected_resource() {
    let receiver = OtlpReceiver::start_with(OtlpOptions {
        authorizer: Some(agentcore_runtime::sigv4(
            "testing",
            "testing",
            "us-east-1",
            "xray",
        )),
    })
    .await;
    let bedrock = BedrockStandIn::start([Turn::text("Hello.")]).await;
    let resource = "service.name=support_agent.DEFAULT,cloud.resource_id=arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/support-abc/runtime-endpoint/DEFAULT";
    let env = [
        ("AGENT_OBSERVABILITY_ENABLED", "true"),
        ("AWS_ENDPOINT_URL_XRAY", receiver.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("OTEL_RESOURCE_ATTRIBUTES", resource),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();
    agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
    let spans = receiver
        .wait_for_spans(|spans| !spans.is_empty(), Duration::from_secs(10))
        .await
        .unwrap();
    let request = receiver
        .requests()
        .into_iter()
        .find(|r| r.accepted())
        .unwrap();
    assert_eq!(request.path, "/v1/traces");
    let authorization = request.header("authorization").unwrap();
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=testing/")
            && authorization.contains("/us-east-1/xray/aws4_request"),
        "{authorization}"
    );
    assert_eq!(
        spans[0].resource_str("service.name"),
        Some("support_agent.DEFAULT")
    );
    assert!(
        spans[0]
            .resource_str("cloud.resource_id")
            .unwrap()
            .contains("runtime/support-abc")
    );

    let wrong = [
        ("AGENT_OBSERVABILITY_ENABLED", "true"),
        ("AWS_ENDPOINT_URL_XRAY", receiver.endpoint()),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "wrong-secret"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
    ];
    bedrock.push(Turn::text("Hello again."));
    let unsigned = Agent::start(&bedrock, None, &wrong).await.unwrap();
    unsigned
        .invoke(&json!({"prompt": "hi"}), &[])
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !receiver.requests().iter().any(|r| r.status == 403) {
        assert!(
            Instant::now() < deadline,
            "the badly signed export was refused"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn inbound_xray_and_w3c_headers_continue_their_traces() {
    let receiver = OtlpReceiver::start().await;
    let bedrock = BedrockStandIn::start([Turn::text("One."), Turn::text("Two.")]).await;
    let agent = Agent::start(&bedrock, None, &refs(&receiver.exporter_env()))
        .await
        .unwrap();
    agent
        .invoke(
            &json!({"prompt": "hi"}),
            &[(
                "x-amzn-trace-id",
                "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
            )],
        )
        .await
        .unwrap();
    agent
        .invoke(
            &json!({"prompt": "hi"}),
            &[(
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            )],
        )
        .await
        .unwrap();
    let spans = receiver
        .wait_for_spans(
            |spans| {
                spans
                    .iter()
                    .filter(|s| s.name.starts_with("invoke_agent"))
                    .count()
                    == 2
            },
            Duration::from_secs(10),
        )
        .await
        .unwrap();
    let xray = one(&spans, "X-Ray continued", |s| {
        s.name.starts_with("invoke_agent") && s.trace_id == "5759e988bd862e3fe1be46a994272793"
    });
    assert_eq!(xray.parent_span_id.as_deref(), Some("53995c3f42cd8ad8"));
    let w3c = one(&spans, "W3C continued", |s| {
        s.name.starts_with("invoke_agent") && s.trace_id == "0af7651916cd43dd8448eb211c80319c"
    });
    assert_eq!(w3c.parent_span_id.as_deref(), Some("b7ad6b7169203331"));
}

/// How many turns the dead-exporter test times.
const TIMED_TURNS: usize = 20;

/// Runs [`TIMED_TURNS`] one-line turns on `agent` one after another and gives how long they
/// took.
async fn time_turns(agent: &Agent, bedrock: &BedrockStandIn) -> Duration {
    let started = Instant::now();
    for n in 0..TIMED_TURNS {
        bedrock.push(Turn::text(format!("answer {n}")));
        let answer = agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
        assert_eq!(answer.last()["type"], json!("done"));
    }
    started.elapsed()
}

#[tokio::test]
async fn a_dead_exporter_endpoint_slows_nothing_down() {
    let hole = BlackHole::start().await;
    let bedrock = BedrockStandIn::start([]).await;
    let unexported = Agent::start(&bedrock, None, &[]).await.unwrap();
    let baseline = time_turns(&unexported, &bedrock).await;
    drop(unexported);
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", hole.endpoint()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ];
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();
    let elapsed = time_turns(&agent, &bedrock).await;
    assert!(
        hole.wait_for_connections(1, Duration::from_secs(10)).await >= 1,
        "spans were being exported to the dead endpoint"
    );
    // A turn waiting on a hung export would wait its 5 s timeout: 100 s for 20 turns. The same
    // turns without export, timed on the same machine just before, set the pace; the factor
    // and the slack absorb a loaded machine.
    let bound = baseline * 3 + Duration::from_secs(10);
    assert!(
        elapsed < bound,
        "{TIMED_TURNS} turns took {elapsed:?} while every export hung, {baseline:?} without \
         export (bound {bound:?})"
    );
    let mut agent = agent;
    let status = agent
        .process
        .terminate(Duration::from_secs(15))
        .await
        .expect("the agent stops although its exports hang");
    assert!(status.success(), "{status:?}");
}
