//! The AgentCore stand-ins ([`system_tests::agentcore_runtime`], [`system_tests::gateway`])
//! against moto, the real seeded `mcp-server` and the rmcp client: they must accept what the
//! platform accepts, refuse what it refuses, and pass MCP traffic through unchanged, or tests
//! built on them would prove nothing about the agent's AgentCore calls.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use rmcp::RoleClient;
use rmcp::service::{RunningService, ServiceExt};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use system_tests::agentcore_runtime::{
    AgentCoreRuntimeStandIn, RuntimeOptions, escape_arn, sigv4, static_bearer,
};
use system_tests::fixtures::{self, text};
use system_tests::gateway::{GatewayOptions, GatewayStandIn, SEARCH_TOOL};
use system_tests::mcp_server::{call, error_text, seeded_stack, structured};
use system_tests::moto::REGION;

const TOKEN: &str = "test-bearer-token";
const ACCESS_KEY_ID: &str = "AKIDSTANDINTEST";
const SECRET_ACCESS_KEY: &str = "standin-secret-access-key";
/// A session id a client chose, of a length the platform accepts.
const CLIENT_SESSION_ID: &str = "0a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

/// An rmcp client on `url`, sending `Authorization: Bearer <token>` when given one.
async fn client(url: &str, token: Option<&str>) -> RunningService<RoleClient, ()> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    ().serve(StreamableHttpClientTransport::from_config(config))
        .await
        .unwrap_or_else(|e| panic!("MCP client cannot connect to {url}: {e}"))
}

/// A JSON-RPC `initialize` request body.
fn initialize() -> String {
    json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "standin-test", "version": "1" },
        },
    })
    .to_string()
}

/// POSTs a JSON-RPC body the way an MCP client does, with `extra` headers.
async fn post(url: &str, body: String, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(body);
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.send().await.expect("the stand-in answers")
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("header is text").to_owned())
}

/// The `x-amzn-errortype` and `message` of an AWS error answer.
async fn aws_error(response: reqwest::Response) -> (String, String) {
    let error_type = header(&response, "x-amzn-errortype").expect("x-amzn-errortype");
    let body: Value = response.json().await.expect("JSON error body");
    let message = body["message"].as_str().expect("message").to_owned();
    (error_type, message)
}

/// The serial number of the first warranty in the fixture.
fn a_serial_number() -> String {
    text(&fixtures::load("warranties")[0], "serial_number").to_owned()
}

// ---------------------------------------------------------------------------------------------
// Runtime

#[tokio::test]
async fn runtime_forwards_initialize_list_and_call_through_an_encoded_arn() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;
    let url = runtime.invocation_url("DEFAULT");
    let escaped = runtime.escaped_arn();
    assert!(
        !escaped.contains(':')
            && !escaped.contains('/')
            && escaped.contains("%3A")
            && escaped.contains("%2F"),
        "{escaped}"
    );
    assert_eq!(escaped, escape_arn(&runtime.runtime_arn));

    let client = client(&url, None).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    assert!(
        tools.iter().any(|t| t.name == "check_warranty"),
        "{tools:?}"
    );
    let serial = a_serial_number();
    let result =
        structured(&call(&client, "check_warranty", json!({"serial_number": serial})).await);
    assert_eq!(result["serial_number"], json!(serial));

    let invocations = runtime.invocations();
    let methods: Vec<&str> = invocations
        .iter()
        .filter_map(|i| i.jsonrpc_method.as_deref())
        .collect();
    for expected in ["initialize", "tools/list", "tools/call"] {
        assert!(
            methods.contains(&expected),
            "{expected} not forwarded: {methods:?}"
        );
    }
    let path = format!("/runtimes/{escaped}/invocations");
    for invocation in invocations.iter().filter(|i| i.method == "POST") {
        assert_eq!(invocation.raw_path, path);
        assert_eq!(invocation.qualifier, "DEFAULT");
        assert!(invocation.status.is_success(), "{invocation:?}");
    }
}

#[tokio::test]
async fn runtime_passes_get_and_delete_through_to_the_mcp_server() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;
    let http = reqwest::Client::new();
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let direct = http
            .request(method.clone(), &server.url)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", CLIENT_SESSION_ID)
            .send()
            .await
            .unwrap();
        let through = http
            .request(method.clone(), runtime.invocation_url("DEFAULT"))
            .header("accept", "text/event-stream")
            .header("mcp-session-id", CLIENT_SESSION_ID)
            .send()
            .await
            .unwrap();
        assert_eq!(through.status(), direct.status(), "{method}");
        assert_eq!(
            header(&through, "mcp-session-id"),
            Some(CLIENT_SESSION_ID.to_owned())
        );
    }
    let methods: Vec<String> = runtime
        .invocations()
        .iter()
        .map(|i| i.method.to_string())
        .collect();
    assert_eq!(methods, ["GET", "DELETE"]);
}

#[tokio::test]
async fn runtime_adds_a_session_id_when_absent_and_it_is_echoed_on_later_requests() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;
    let url = runtime.invocation_url("DEFAULT");

    // Raw HTTP: the stand-in mints an id for a request without one and echoes a client's id.
    let first = post(&url, initialize(), &[]).await;
    assert_eq!(first.status(), 200);
    let minted = header(&first, "mcp-session-id").expect("a session id is returned");
    assert!(minted.len() >= 33, "session id {minted:?} is too short");
    let again = post(&url, initialize(), &[("mcp-session-id", &minted)]).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(&again, "mcp-session-id"), Some(minted.clone()));

    // The rmcp client keeps the id it was given at initialize and sends it on every request.
    let client = client(&url, None).await;
    client.list_all_tools().await.expect("tools/list");
    let invocations = runtime.invocations();
    let by_client = &invocations[2..];
    let initialize = &by_client[0];
    assert_eq!(initialize.jsonrpc_method.as_deref(), Some("initialize"));
    assert_eq!(initialize.session_id_sent, None);
    let assigned = initialize
        .session_id
        .clone()
        .expect("forwarded with a session id");
    assert!(assigned.len() >= 33 && assigned != minted);
    let later: Vec<_> = by_client[1..]
        .iter()
        .filter(|i| i.method == "POST")
        .collect();
    assert!(
        later
            .iter()
            .any(|i| i.jsonrpc_method.as_deref() == Some("tools/list"))
    );
    for invocation in later {
        assert_eq!(
            invocation.session_id_sent.as_deref(),
            Some(assigned.as_str()),
            "{invocation:?}"
        );
    }
}

#[tokio::test]
async fn runtime_refuses_a_session_id_shorter_than_33_characters() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;
    let response = post(
        &runtime.invocation_url("DEFAULT"),
        initialize(),
        &[("mcp-session-id", "short-id")],
    )
    .await;
    assert_eq!(response.status(), 400);
    let (error_type, message) = aws_error(response).await;
    assert_eq!(error_type, "ValidationException");
    assert!(message.contains("33"), "{message}");
    assert_eq!(runtime.invocations()[0].session_id, None, "not forwarded");
}

#[tokio::test]
async fn runtime_refuses_an_arn_with_a_raw_colon_or_slash() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;
    let arn = &runtime.runtime_arn;

    let raw_colon = arn.replace('/', "%2F");
    let response = post(
        &format!(
            "{}/runtimes/{raw_colon}/invocations?qualifier=DEFAULT",
            runtime.endpoint
        ),
        initialize(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 400);
    let (error_type, message) = aws_error(response).await;
    assert_eq!(error_type, "ValidationException");
    assert!(message.contains("%3A"), "{message}");

    let raw_slash = arn.replace(':', "%3A");
    let response = post(
        &format!(
            "{}/runtimes/{raw_slash}/invocations?qualifier=DEFAULT",
            runtime.endpoint
        ),
        initialize(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 404);
    let (error_type, message) = aws_error(response).await;
    assert_eq!(error_type, "UnknownOperationException");
    assert!(message.contains("%2F"), "{message}");

    let invocations = runtime.invocations();
    assert_eq!(invocations.len(), 2);
    assert!(
        invocations.iter().all(|i| i.session_id.is_none()),
        "nothing was forwarded"
    );
}

#[tokio::test]
async fn runtime_answers_404_for_another_arn_or_an_unknown_qualifier() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let runtime =
        AgentCoreRuntimeStandIn::start(server.url.clone(), RuntimeOptions::default()).await;

    let other = runtime.runtime_arn.replace("support_mcp", "other_mcp");
    let response = post(
        &format!(
            "{}/runtimes/{}/invocations?qualifier=DEFAULT",
            runtime.endpoint,
            escape_arn(&other)
        ),
        initialize(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 404);
    let (error_type, message) = aws_error(response).await;
    assert_eq!(error_type, "ResourceNotFoundException");
    assert!(message.contains(&other), "{message}");

    let response = post(&runtime.invocation_url("prod"), initialize(), &[]).await;
    assert_eq!(response.status(), 404);
    let (error_type, message) = aws_error(response).await;
    assert_eq!(error_type, "ResourceNotFoundException");
    assert!(message.contains("prod"), "{message}");
}

#[tokio::test]
async fn runtime_bearer_authorizer_answers_401_with_www_authenticate() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let options = RuntimeOptions {
        authorizer: static_bearer(TOKEN),
        authorization_servers: vec!["https://issuer.example".into()],
        ..RuntimeOptions::default()
    };
    let runtime = AgentCoreRuntimeStandIn::start(server.url.clone(), options).await;
    let url = runtime.invocation_url("DEFAULT");

    let missing = post(&url, initialize(), &[]).await;
    assert_eq!(missing.status(), 401);
    let challenge = header(&missing, "www-authenticate").expect("WWW-Authenticate");
    let metadata_url = challenge
        .strip_prefix("Bearer resource_metadata=\"")
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or_else(|| panic!("unexpected challenge {challenge}"));
    assert!(
        metadata_url.contains(&format!(
            "/runtimes/{}/invocations/.well-known/oauth-protected-resource",
            runtime.escaped_arn()
        )),
        "{metadata_url}"
    );
    let (error_type, message) = aws_error(missing).await;
    assert_eq!(error_type, "UnauthorizedException");
    assert!(message.contains("missing"), "{message}");

    let wrong = post(
        &url,
        initialize(),
        &[("authorization", "Bearer not-the-token")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(header(&wrong, "www-authenticate").is_some());
    let (_, message) = aws_error(wrong).await;
    assert!(message.contains("invalid"), "{message}");
    assert_eq!(runtime.unauthorized(), 2);

    let metadata: Value = reqwest::get(metadata_url)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], json!(url));
    assert_eq!(
        metadata["authorization_servers"],
        json!(["https://issuer.example"])
    );

    let client = client(&url, Some(TOKEN)).await;
    client
        .list_all_tools()
        .await
        .expect("tools/list with the right token");
    assert_eq!(
        runtime.unauthorized(),
        2,
        "the right token is never refused"
    );
}

/// The headers that sign `body` for POST `url` with `secret` at `time` (SigV4, service
/// `bedrock-agentcore`), as the AWS SDK would send them.
fn sigv4_headers(url: &str, body: &str, secret: &str, time: SystemTime) -> Vec<(String, String)> {
    let headers = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    let identity = Credentials::new(ACCESS_KEY_ID, secret, None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(REGION)
        .name("bedrock-agentcore")
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .expect("signing parameters")
        .into();
    let signable = SignableRequest::new(
        "POST",
        url,
        headers.into_iter(),
        SignableBody::Bytes(body.as_bytes()),
    )
    .expect("signable request");
    let (instructions, _signature) = sign(signable, &params).expect("signing").into_parts();
    headers
        .into_iter()
        .chain(instructions.headers())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

async fn post_signed(url: &str, body: String, headers: &[(String, String)]) -> reqwest::Response {
    let mut request = reqwest::Client::new().post(url).body(body);
    for (name, value) in headers {
        request = request.header(name, value);
    }
    request.send().await.expect("the stand-in answers")
}

#[tokio::test]
async fn runtime_sigv4_authorizer_accepts_a_correct_signature_and_refuses_a_wrong_secret_or_a_tampered_body()
 {
    let (_moto, server) = seeded_stack().await.unwrap();
    let options = RuntimeOptions {
        authorizer: sigv4(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            REGION,
            "bedrock-agentcore",
        ),
        ..RuntimeOptions::default()
    };
    let runtime = AgentCoreRuntimeStandIn::start(server.url.clone(), options).await;
    let url = runtime.invocation_url("DEFAULT");
    let now = SystemTime::now();

    let good = post_signed(
        &url,
        initialize(),
        &sigv4_headers(&url, &initialize(), SECRET_ACCESS_KEY, now),
    )
    .await;
    assert_eq!(good.status(), 200);
    let answer: Value = good.json().await.expect("JSON-RPC answer");
    assert!(
        answer["result"]["serverInfo"]["name"].is_string(),
        "{answer}"
    );

    let wrong_secret = post_signed(
        &url,
        initialize(),
        &sigv4_headers(&url, &initialize(), "not-the-secret", now),
    )
    .await;
    assert_eq!(wrong_secret.status(), 403);
    assert!(
        header(&wrong_secret, "www-authenticate").is_none(),
        "SigV4 refusals carry no challenge"
    );
    let (error_type, message) = aws_error(wrong_secret).await;
    assert_eq!(error_type, "InvalidSignatureException");
    assert!(message.contains("signature"), "{message}");

    let signed_for = initialize();
    let tampered = signed_for.replace("standin-test", "standin-evil");
    let response = post_signed(
        &url,
        tampered,
        &sigv4_headers(&url, &signed_for, SECRET_ACCESS_KEY, now),
    )
    .await;
    assert_eq!(response.status(), 403);
    assert_eq!(aws_error(response).await.0, "InvalidSignatureException");

    let unsigned = post(&url, initialize(), &[]).await;
    assert_eq!(unsigned.status(), 403);
    assert_eq!(
        aws_error(unsigned).await.0,
        "MissingAuthenticationTokenException"
    );

    assert_eq!(runtime.forbidden(), 3);
    assert_eq!(runtime.unauthorized(), 0);
    let forwarded = runtime
        .invocations()
        .iter()
        .filter(|i| i.session_id.is_some())
        .count();
    assert_eq!(
        forwarded, 1,
        "only the correctly signed request reached the server"
    );
}

// ---------------------------------------------------------------------------------------------
// Gateway

#[tokio::test]
async fn gateway_lists_each_target_tool_as_target_3_underscores_tool_with_schemas_kept() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let gateway =
        GatewayStandIn::start(GatewayOptions::new().target("support", server.url.clone()))
            .await
            .expect("gateway starts");
    let direct = server
        .client()
        .await
        .unwrap()
        .list_all_tools()
        .await
        .unwrap();
    let listed = client(&gateway.url, None)
        .await
        .list_all_tools()
        .await
        .unwrap();
    assert_eq!(listed.len(), direct.len());
    let by_name: HashMap<String, _> = listed.iter().map(|t| (t.name.to_string(), t)).collect();
    for tool in &direct {
        let renamed = by_name
            .get(&format!("support___{}", tool.name))
            .unwrap_or_else(|| panic!("support___{} is not listed", tool.name));
        assert_eq!(renamed.description, tool.description);
        assert_eq!(renamed.input_schema, tool.input_schema);
        assert_eq!(renamed.output_schema, tool.output_schema);
        assert_eq!(renamed.annotations, tool.annotations);
    }
    assert_eq!(gateway.list_requests(), 1);
}

#[tokio::test]
async fn gateway_forwards_a_call_to_the_target_under_the_original_name_and_returns_its_result() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let gateway =
        GatewayStandIn::start(GatewayOptions::new().target("support", server.url.clone()))
            .await
            .expect("gateway starts");
    let direct = server.client().await.unwrap();
    let through = client(&gateway.url, None).await;
    let arguments = json!({"serial_number": a_serial_number()});

    let expected = call(&direct, "check_warranty", arguments.clone()).await;
    let got = call(&through, "support___check_warranty", arguments).await;
    assert_eq!(structured(&got), structured(&expected));
    assert_eq!(got.content, expected.content);

    let unknown = json!({"serial_number": "SN-NOPE-0000"});
    let expected = error_text(&call(&direct, "check_warranty", unknown.clone()).await);
    let got = error_text(&call(&through, "support___check_warranty", unknown).await);
    assert_eq!(got, expected, "an error result comes back unchanged");

    assert_eq!(
        gateway.calls(),
        ["support___check_warranty", "support___check_warranty"]
    );
}

#[tokio::test]
async fn gateway_search_finds_the_warranty_tool_for_a_warranty_question() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let gateway = GatewayStandIn::start(
        GatewayOptions::new()
            .target("support", server.url.clone())
            .filler_target("inventory", 50)
            .semantic_search(),
    )
    .await
    .expect("gateway starts");
    let client = client(&gateway.url, None).await;
    let listed = client.list_all_tools().await.unwrap();
    let search = listed
        .iter()
        .find(|t| t.name == SEARCH_TOOL)
        .expect("the search tool is listed");
    assert_eq!(search.input_schema["required"], json!(["query"]));
    assert_eq!(
        search.input_schema["properties"]["query"]["type"],
        json!("string")
    );

    let result = call(
        &client,
        SEARCH_TOOL,
        json!({"query": "is my warranty still valid"}),
    )
    .await;
    let found = structured(&result);
    let tools = found["tools"].as_array().expect("structuredContent.tools");
    assert!(!tools.is_empty() && tools.len() <= 10, "{found}");
    assert_eq!(
        tools[0]["name"],
        json!("support___check_warranty"),
        "{found}"
    );
    for tool in tools {
        assert!(
            tool["description"].is_string() && tool["inputSchema"].is_object(),
            "{tool}"
        );
        assert_ne!(tool["name"], json!(SEARCH_TOOL));
    }
    let text = result.content[0]
        .as_text()
        .expect("a text block")
        .text
        .clone();
    let mirrored: Value = serde_json::from_str(&text).expect("the text block is JSON");
    assert_eq!(mirrored, found);
    assert_eq!(gateway.calls(), [SEARCH_TOOL]);
}

#[tokio::test]
async fn gateway_filler_tools_are_listed_counted_and_answer() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let gateway = GatewayStandIn::start(
        GatewayOptions::new()
            .target("support", server.url.clone())
            .filler_target("inventory", 120),
    )
    .await
    .expect("gateway starts");
    let client = client(&gateway.url, None).await;
    let listed = client.list_all_tools().await.unwrap();
    let support = listed
        .iter()
        .filter(|t| t.name.starts_with("support___"))
        .count();
    let filler = listed
        .iter()
        .filter(|t| t.name.starts_with("inventory___tool_"))
        .count();
    assert_eq!(support, 10);
    assert_eq!(filler, 120);
    assert_eq!(listed.len(), 130);

    let result = call(&client, "inventory___tool_17", json!({})).await;
    assert_eq!(
        structured(&result),
        json!({"target": "inventory", "tool": "tool_17", "status": "ok"})
    );
    assert_eq!(gateway.list_requests(), 1);
    assert_eq!(gateway.calls(), ["inventory___tool_17"]);
}

#[tokio::test]
async fn gateway_refuses_a_missing_or_wrong_bearer_with_401() {
    let (_moto, server) = seeded_stack().await.unwrap();
    let gateway = GatewayStandIn::start(
        GatewayOptions::new()
            .target("support", server.url.clone())
            .authorizer(static_bearer(TOKEN)),
    )
    .await
    .expect("gateway starts");

    let missing = post(&gateway.url, initialize(), &[]).await;
    assert_eq!(missing.status(), 401);
    let challenge = header(&missing, "www-authenticate").expect("WWW-Authenticate");
    let base = gateway.url.trim_end_matches("/mcp");
    assert_eq!(
        challenge,
        format!("Bearer resource_metadata=\"{base}/.well-known/oauth-protected-resource\"")
    );
    assert!(aws_error(missing).await.1.contains("missing"));

    let wrong = post(
        &gateway.url,
        initialize(),
        &[("authorization", "Bearer nope")],
    )
    .await;
    assert_eq!(wrong.status(), 401);
    assert!(aws_error(wrong).await.1.contains("invalid"));
    assert_eq!(gateway.unauthorized(), 2);
    assert_eq!(
        gateway.list_requests(),
        0,
        "refused requests never reach MCP"
    );

    let metadata: Value = reqwest::get(format!("{base}/.well-known/oauth-protected-resource"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(metadata["resource"], json!(gateway.url));

    let tools = client(&gateway.url, Some(TOKEN))
        .await
        .list_all_tools()
        .await
        .unwrap();
    assert_eq!(tools.len(), 10);
    assert_eq!(gateway.unauthorized(), 2);
}
