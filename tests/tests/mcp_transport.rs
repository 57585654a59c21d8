//! The MCP server's HTTP transport and operations, over raw HTTP and real MCP clients: the
//! AgentCore MCP runtime rules (stateless, any session id, 405 on GET), Host and Origin
//! checks, malformed bodies, protocol versions, start-up without DynamoDB, seeding, bad
//! configuration and graceful shutdown.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use reqwest::StatusCode;
use rmcp::ClientServiceExt;
use rmcp::model::{CallToolRequestParams, ProtocolVersion};
use rmcp::service::ClientLifecycleMode;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use system_tests::fixtures;
use system_tests::mcp_server::{self, McpServer, call, structured};
use system_tests::moto::Moto;
use system_tests::workspace;

const ACCEPT: &str = "application/json, text/event-stream";

fn tools_call(id: u64) -> Value {
    let review_id = fixtures::load("reviews")[0]["review_id"].clone();
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": "get_review", "arguments": {"review_id": review_id}}})
}

async fn post(
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (StatusCode, String) {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", ACCEPT);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("mcp-protocol-version"))
    {
        request = request.header("mcp-protocol-version", "2025-06-18");
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.body(body).send().await.expect("request is sent");
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn any_session_id_is_accepted_on_calls() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::seeded(&moto).await.unwrap();
    for session in [
        None,
        Some("session-the-server-never-issued"),
        Some("4f6c1d2e-0000-0000-0000-000000000000"),
    ] {
        let mut request = reqwest::Client::new()
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT)
            .header("mcp-protocol-version", "2025-06-18");
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        let response = request.json(&tools_call(1)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "session {session:?}");
        assert!(
            response.headers().get("mcp-session-id").is_none(),
            "a stateless server issues no session"
        );
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: Value = response.json().await.unwrap();
        assert_ne!(body["result"]["isError"], json!(true), "{body}");
        assert!(
            body["result"]["structuredContent"]["review_id"].is_string(),
            "{body}"
        );
    }
}

#[tokio::test]
async fn initialize_answers_with_a_session_id_the_server_never_needs_back() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::seeded(&moto).await.unwrap();
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
    let send = |session: Option<&'static str>| {
        let mut request = reqwest::Client::new()
            .post(&server.url)
            .header("content-type", "application/json")
            .header("accept", ACCEPT);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.json(&initialize).send()
    };
    let minted = send(None).await.unwrap();
    assert_eq!(minted.status(), StatusCode::OK);
    let minted_id = minted.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(minted_id.len(), 36, "a fresh UUID: {minted_id}");
    let echoed = send(Some("platform-assigned-session-0123456789abcdef"))
        .await
        .unwrap();
    assert_eq!(
        echoed.headers()["mcp-session-id"],
        "platform-assigned-session-0123456789abcdef",
        "the caller's id is kept"
    );
    // A later call with another id than the one issued still succeeds: the server holds no state.
    let (status, text) = post(
        &server.url,
        &[("mcp-session-id", "some-other-id")],
        tools_call(2).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{text}");
}

#[tokio::test]
async fn get_and_delete_on_mcp_answer_405() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::start(&moto, &[]).await.unwrap();
    let client = reqwest::Client::new();
    let get = client
        .get(&server.url)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(get.status(), StatusCode::METHOD_NOT_ALLOWED);
    let delete = client
        .delete(&server.url)
        .header("mcp-session-id", "x")
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn malformed_bodies_get_json_rpc_errors() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::start(&moto, &[("MCP_MAX_REQUEST_BYTES", "4096")])
        .await
        .unwrap();
    let cases: [(&str, StatusCode, i64); 5] = [
        ("{not json", StatusCode::BAD_REQUEST, -32700),
        ("", StatusCode::BAD_REQUEST, -32700),
        (r#"{"foo": 1}"#, StatusCode::BAD_REQUEST, -32600),
        (
            r#"{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": 5}"#,
            StatusCode::BAD_REQUEST,
            -32600,
        ),
        (
            r#"[{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}]"#,
            StatusCode::BAD_REQUEST,
            -32600,
        ),
    ];
    for (body, status, code) in cases {
        let (got_status, text) = post(&server.url, &[], body).await;
        assert_eq!(got_status, status, "{body}: {text}");
        let error: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("a JSON-RPC error body: {text}"));
        assert_eq!(error["jsonrpc"], json!("2.0"));
        assert_eq!(error["error"]["code"], json!(code), "{body}: {text}");
    }
    let (_, text) = post(
        &server.url,
        &[],
        r#"{"jsonrpc": "2.0", "id": 9, "method": "tools/call", "params": 5}"#,
    )
    .await;
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["id"],
        json!(9),
        "the request id is echoed"
    );

    let (status, text) = post(&server.url, &[], "x".repeat(10_000)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");

    let (status, text) = post(
        &server.url,
        &[],
        json!({"jsonrpc": "2.0", "id": 2, "method": "no/such/method"}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        json!(-32601),
        "{text}"
    );

    let (status, text) = post(
        &server.url,
        &[],
        json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "drop_tables", "arguments": {}}}).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        serde_json::from_str::<Value>(&text).unwrap()["error"]["code"],
        json!(-32602),
        "an unknown tool is a protocol error: {text}"
    );
}

#[tokio::test]
async fn host_header_is_checked_against_the_allow_list() {
    let moto = Moto::start().await.unwrap();
    mcp_server::seed(&moto).await.unwrap();
    let loopback_only = McpServer::start(&moto, &[]).await.unwrap();
    let (status, _) = post(
        &loopback_only.url,
        &[("host", "bedrock-agentcore.internal")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the default admits loopback only"
    );
    let (status, _) = post(&loopback_only.url, &[], tools_call(1).to_string()).await;
    assert_eq!(status, StatusCode::OK, "loopback is admitted by default");

    let named = McpServer::start(&moto, &[("MCP_ALLOWED_HOSTS", "mcp.internal,127.0.0.1")])
        .await
        .unwrap();
    let (status, _) = post(
        &named.url,
        &[("host", "mcp.internal")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &named.url,
        &[("host", "evil.example")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let any = McpServer::start(&moto, &[("MCP_ALLOWED_HOSTS", "*")])
        .await
        .unwrap();
    let (status, _) = post(
        &any.url,
        &[("host", "anything.amazonaws.com")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "`*` admits the platform's own host names"
    );
}

#[tokio::test]
async fn origin_is_validated_when_present() {
    let moto = Moto::start().await.unwrap();
    mcp_server::seed(&moto).await.unwrap();
    let default = McpServer::start(&moto, &[]).await.unwrap();
    let (status, _) = post(
        &default.url,
        &[("origin", "http://evil.example")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no browser origin is admitted by default"
    );
    let (status, _) = post(&default.url, &[], tools_call(1).to_string()).await;
    assert_eq!(status, StatusCode::OK, "requests without Origin pass");

    let configured = McpServer::start(
        &moto,
        &[("MCP_ALLOWED_ORIGINS", "https://console.example.com:443")],
    )
    .await
    .unwrap();
    let (status, _) = post(
        &configured.url,
        &[("origin", "https://console.example.com")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(
        &configured.url,
        &[("origin", "https://evil.example.com")],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn every_protocol_version_with_initialize_is_served() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::seeded(&moto).await.unwrap();
    for version in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}});
        let (status, text) = post(
            &server.url,
            &[("mcp-protocol-version", version)],
            initialize.to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{version}: {text}");
        let body: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["result"]["protocolVersion"], json!(version));
        assert!(body["result"]["capabilities"]["tools"].is_object());
        let (status, text) = post(
            &server.url,
            &[("mcp-protocol-version", version)],
            tools_call(2).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{version}: {text}");
        assert!(text.contains("structuredContent"), "{version}: {text}");
    }
}

#[tokio::test]
async fn the_stateless_2026_protocol_is_served_without_initialize() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::seeded(&moto).await.unwrap();
    let client = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(
                StreamableHttpClientTransportConfig::with_uri(server.url.clone()),
            ),
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        )
        .await
        .expect("server/discover succeeds");
    let tools = client
        .list_all_tools()
        .await
        .expect("tools/list on 2026-07-28");
    assert_eq!(tools.len(), 10);
    let review_id = fixtures::load("reviews")[0]["review_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let result = client
        .call_tool(
            CallToolRequestParams::new("get_review").with_arguments(
                json!({"review_id": review_id})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
        )
        .await
        .expect("tools/call on 2026-07-28");
    assert_eq!(structured(&result)["review_id"], json!(review_id));
}

#[tokio::test]
async fn start_up_needs_no_network_and_reports_an_unreachable_store() {
    let moto = Moto::start().await.unwrap();
    let dead_endpoint = "http://127.0.0.1:9";
    let server = McpServer::start(
        &moto,
        &[
            ("AWS_ENDPOINT_URL_DYNAMODB", dead_endpoint),
            ("DYNAMODB_TIMEOUT_MS", "500"),
            ("DYNAMODB_MAX_ATTEMPTS", "1"),
        ],
    )
    .await
    .expect("the server listens although DynamoDB is unreachable");
    let client = server.client().await.unwrap();
    let result = call(&client, "get_review", json!({"review_id": "REV-0001"})).await;
    let message = system_tests::mcp_server::error_text(&result);
    assert!(
        message.contains("try the same call again"),
        "a store failure is reported as retryable: {message}"
    );
    assert!(
        !message.contains("127.0.0.1"),
        "internal endpoints stay out of tool results: {message}"
    );
    let logs = server.process.json_logs();
    let failure = logs
        .iter()
        .find(|line| line["message"] == json!("tool call failed"))
        .unwrap_or_else(|| panic!("the failure is logged with its cause: {logs:?}"));
    assert_eq!(failure["tool"], json!("get_review"));
    assert!(
        failure["error"]
            .as_str()
            .is_some_and(|e| e.contains("GetItem")),
        "{failure}"
    );
    assert!(
        logs.iter().any(|line| line["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not check the tables"))),
        "the background table check reports the unreachable store: {logs:?}"
    );
}

#[tokio::test]
async fn missing_tables_are_logged_at_start() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::start(&moto, &[]).await.unwrap();
    let mut missing = Vec::new();
    for _ in 0..100 {
        missing = server
            .process
            .json_logs()
            .into_iter()
            .filter(|line| {
                line["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("table missing"))
            })
            .collect();
        if missing.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let tables: Vec<&str> = missing.iter().filter_map(|l| l["table"].as_str()).collect();
    assert_eq!(
        tables,
        ["support-reviews", "support-warranties", "support-tickets"]
    );
}

#[tokio::test]
async fn seeding_twice_leaves_the_same_data() {
    let moto = Moto::start().await.unwrap();
    let first = mcp_server::seed(&moto).await.unwrap();
    assert!(
        first.iter().any(|l| l.contains("support-reviews")),
        "the first run creates the tables: {first:?}"
    );
    let second = mcp_server::seed(&moto).await.unwrap();
    let tables_line: Value = second
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == json!("tables ready"))
        .expect("a tables line");
    assert_eq!(
        tables_line["created"],
        json!(""),
        "the second run creates nothing"
    );
    let dynamodb = moto.dynamodb().await;
    for (table, fixture) in [
        ("support-reviews", "reviews"),
        ("support-warranties", "warranties"),
        ("support-tickets", "tickets"),
    ] {
        let scan = dynamodb
            .scan()
            .table_name(table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        assert_eq!(
            usize::try_from(scan.count).unwrap(),
            fixtures::load(fixture).len(),
            "{table}"
        );
    }
}

#[tokio::test]
async fn bad_configuration_exits_non_zero_naming_the_setting() {
    let binary = workspace::binary("mcp-server");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[("MCP_PORT", "eighty")], "MCP_PORT"),
        (
            &[("AWS_REGION", "us-east-1"), ("DYNAMODB_TIMEOUT_MS", "0")],
            "DYNAMODB_TIMEOUT_MS",
        ),
        (&[], "AWS_REGION"),
    ];
    for (env, named) in cases {
        system_tests::process::assert_refuses_config(&binary, env, named).await;
    }
}

#[tokio::test]
async fn sigterm_lets_an_in_flight_call_finish() {
    let moto = Moto::start().await.unwrap();
    let mut server = McpServer::seeded(&moto).await.unwrap();
    let url = server.url.clone();
    // Freeze moto so the call is still waiting on DynamoDB when SIGTERM arrives.
    let moto_pid = moto.pid();
    nix::sys::signal::kill(moto_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let in_flight = tokio::spawn(async move { post(&url, &[], tools_call(1).to_string()).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let resume = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        nix::sys::signal::kill(moto_pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    });
    let status = server
        .process
        .terminate(Duration::from_secs(10))
        .await
        .unwrap();
    resume.await.unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
    let (http_status, text) = in_flight.await.unwrap();
    assert_eq!(http_status, StatusCode::OK, "{text}");
    assert!(
        text.contains("structuredContent"),
        "the in-flight call completed: {text}"
    );
}

#[tokio::test]
async fn sigterm_exits_within_the_grace_period_when_a_call_hangs() {
    let moto = Moto::start().await.unwrap();
    mcp_server::seed(&moto).await.unwrap();
    let mut server = McpServer::start(
        &moto,
        &[
            ("SHUTDOWN_GRACE_MS", "300"),
            ("DYNAMODB_TIMEOUT_MS", "30000"),
        ],
    )
    .await
    .unwrap();
    let url = server.url.clone();
    let moto_pid = moto.pid();
    nix::sys::signal::kill(moto_pid, nix::sys::signal::Signal::SIGSTOP).unwrap();
    let _in_flight = tokio::spawn(async move { post(&url, &[], tools_call(1).to_string()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let status = server.process.terminate(Duration::from_secs(3)).await;
    nix::sys::signal::kill(moto_pid, nix::sys::signal::Signal::SIGCONT).unwrap();
    let status = status.expect("the server exits well before the DynamoDB timeout");
    assert!(status.success(), "{status:?}");
    let logs = server.process.json_logs();
    assert!(
        logs.iter().any(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.contains("grace period over"))),
        "{logs:?}"
    );
}

#[tokio::test]
async fn jwts_are_required_when_auth_is_configured() {
    let moto = Moto::start().await.unwrap();
    mcp_server::seed(&moto).await.unwrap();
    let pool = system_tests::cognito::CognitoPool::create(&moto)
        .await
        .unwrap();
    let tokens = pool.customer_tokens().await.unwrap();
    let auth_env = pool.auth_env();
    let env: Vec<(&str, &str)> = auth_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let server = McpServer::start(&moto, &env).await.unwrap();
    let (status, body) = post(&server.url, &[], tools_call(1).to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let bearer = format!("Bearer {}", tokens.access_token);
    let (status, body) = post(
        &server.url,
        &[("authorization", &bearer)],
        tools_call(1).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("structuredContent"));
}
