//! MCP tool sources as a deployment has them, end to end through the real agent binary: the MCP
//! server behind the AgentCore runtime invocation path (given by ARN), and behind a gateway;
//! each outbound auth method (OAuth client credentials with the secret in moto's Secrets
//! Manager, AgentCore Identity M2M with the request's workload access token, SigV4); token
//! caching, expiry and the one refresh after a 401; a request without a workload access token,
//! which never uses the token another request's paid for; and a large gateway narrowed by its
//! search.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer};
use system_tests::agentcore_runtime::{self, AgentCoreRuntimeStandIn, RuntimeOptions};
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::gateway::{GatewayOptions, GatewayStandIn};
use system_tests::identity::IdentityStandIn;
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::oauth::OAuthStandIn;
use system_tests::stacks::{
    CLIENT_ID, CLIENT_SECRET, IdentityGatewayStack, RuntimeSourceStack, SCOPE, WORKLOAD_TOKEN,
};

const SERIAL: &str = "SN-AUD-AS5BATSL";
const WAT_HEADER: &str = "x-amz-bedrock-agentcore-identity-wat";
/// What the model is told, and what a call gets, when the gateway needs a workload access token
/// the request did not bring.
const NOT_SIGNED: &str = "The gateway tools are not available in this conversation because the request was not signed by the runtime; tell the customer you cannot look that up now.";

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Asks once with the model calling `tool` on the serial number, and returns the answer.
async fn ask_warranty(
    agent: &Agent,
    bedrock: &BedrockStandIn,
    tool: &str,
    headers: &[(&str, &str)],
) -> Answer {
    bedrock.push(Turn::tool_use([ToolCall::new(
        "w",
        tool,
        json!({"serial_number": SERIAL}),
    )]));
    bedrock.push(Turn::text("Checked."));
    agent
        .invoke(&json!({"prompt": "Is my warranty still valid?"}), headers)
        .await
        .unwrap()
}

fn only_result(answer: &Answer) -> Value {
    let results = answer.of_type("tool_result");
    assert_eq!(results.len(), 1, "{:?}", answer.events);
    results[0].clone()
}

fn assert_warranty(answer: &Answer) {
    let result = only_result(answer);
    assert_eq!(result["status"], json!("ok"), "{result}");
    assert_eq!(result["output"]["serial_number"], json!(SERIAL));
}

#[tokio::test]
async fn a_runtime_given_by_arn_is_called_on_its_encoded_path_with_the_session_echoed() {
    let stack = RuntimeSourceStack::start(Duration::from_secs(3600))
        .await
        .unwrap();
    let answer = ask_warranty(&stack.agent, &stack.bedrock, "check_warranty", &[]).await;
    assert_warranty(&answer);

    let invocations = stack.runtime.invocations();
    assert!(
        invocations.len() >= 3,
        "initialize, list, call: {invocations:?}"
    );
    let encoded = agentcore_runtime::escape_arn(&stack.runtime.runtime_arn);
    assert!(encoded.contains("%3A") && encoded.contains("%2F"));
    for invocation in &invocations {
        assert_eq!(
            invocation.raw_path,
            format!("/runtimes/{encoded}/invocations"),
            "{invocation:?}"
        );
        assert_eq!(invocation.qualifier, "DEFAULT");
    }
    let first_session = invocations[0]
        .session_id
        .clone()
        .expect("the runtime hands out a session id");
    assert!(
        invocations[1..]
            .iter()
            .all(|i| i.session_id_sent.as_deref() == Some(first_session.as_str())),
        "later requests echo the session id: {invocations:?}"
    );
    assert_eq!(
        stack.oauth.token_requests(),
        1,
        "one token served the listing and the call"
    );
}

#[tokio::test]
async fn a_token_is_fetched_again_when_it_expires() {
    let stack = RuntimeSourceStack::start(Duration::from_secs(2))
        .await
        .unwrap();
    assert_warranty(&ask_warranty(&stack.agent, &stack.bedrock, "check_warranty", &[]).await);
    let after_first = stack.oauth.token_requests();
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_warranty(&ask_warranty(&stack.agent, &stack.bedrock, "check_warranty", &[]).await);
    assert_eq!(
        stack.oauth.token_requests(),
        after_first + 1,
        "the expired token was replaced before the call"
    );
    assert_eq!(
        stack.runtime.unauthorized(),
        0,
        "no request went out with an expired token"
    );
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_and_the_call_goes_through() {
    let stack = RuntimeSourceStack::start(Duration::from_secs(3600))
        .await
        .unwrap();
    assert_warranty(&ask_warranty(&stack.agent, &stack.bedrock, "check_warranty", &[]).await);
    stack.oauth.revoke_all();
    let answer = ask_warranty(&stack.agent, &stack.bedrock, "check_warranty", &[]).await;
    assert_warranty(&answer);
    assert_eq!(
        stack.runtime.unauthorized(),
        1,
        "one 401, then the new token"
    );
    assert_eq!(stack.oauth.token_requests(), 2);
    let logs = stack.agent.process.logs().join("\n");
    assert!(
        !logs.contains(CLIENT_SECRET) && !logs.contains("eyJ"),
        "no secret or token in the logs"
    );
}

#[tokio::test]
async fn a_gateway_with_identity_m2m_tokens_serves_its_target_tools() {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let oauth = OAuthStandIn::start().await;
    oauth.register_client(CLIENT_ID, CLIENT_SECRET, &[SCOPE]);
    let identity = IdentityStandIn::start().await;
    identity.allow_workload_token(WORKLOAD_TOKEN);
    identity.add_provider("gateway-m2m", &oauth, CLIENT_ID);
    let gateway = GatewayStandIn::start(
        GatewayOptions::new()
            .target("support", mcp.url.clone())
            .authorizer(oauth.authorizer()),
    )
    .await
    .unwrap();
    let sources = json!([{
        "name": "gateway",
        "gateway_url": gateway.url,
        "auth": {"type": "agentcore_identity", "provider_name": "gateway-m2m", "scopes": [SCOPE]}
    }])
    .to_string();
    let bedrock = BedrockStandIn::start([]).await;
    let mut env = identity.sdk_env();
    env.push(("MCP_SOURCES".into(), sources));
    let agent = Agent::start(&bedrock, None, &env_refs(&env)).await.unwrap();

    bedrock.push(Turn::text("I cannot check that right now."));
    let without = agent
        .invoke(&json!({"prompt": "Is my warranty still valid?"}), &[])
        .await
        .unwrap();
    assert_eq!(without.last()["type"], json!("done"));
    assert!(
        bedrock.requests()[0].body.get("toolConfig").is_none(),
        "without a workload token the gateway's tools are not offered"
    );
    let warning = agent
        .wait_for_log(
            "the source's tools are not available to this request",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert!(
        warning["error"]
            .as_str()
            .unwrap()
            .contains("workload access token"),
        "{warning}"
    );
    assert!(
        bedrock.requests()[0].body["system"]
            .to_string()
            .contains(NOT_SIGNED),
        "the model is told why the tools are missing"
    );

    let header = [(WAT_HEADER, WORKLOAD_TOKEN)];
    let answer = ask_warranty(&agent, &bedrock, "support___check_warranty", &header).await;
    assert_warranty(&answer);
    let offered = bedrock.requests().last().unwrap().body["toolConfig"]["tools"].to_string();
    assert!(
        offered.contains("support___list_customer_tickets"),
        "{offered}"
    );
    assert_eq!(identity.calls(), 1, "one M2M token for listing and calling");
    assert_eq!(gateway.calls(), vec!["support___check_warranty".to_owned()]);
    assert!(
        !agent.process.logs().join("\n").contains(WORKLOAD_TOKEN),
        "the workload token is never logged"
    );
}

/// The text of the system prompt blocks of one Bedrock request.
fn system_prompt(body: &Value) -> String {
    body["system"]
        .as_array()
        .map(|blocks| {
            blocks
                .iter()
                .filter_map(|b| b["text"].as_str())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// The tool names offered in one Bedrock request.
fn offered_tools(body: &Value) -> Vec<String> {
    body["toolConfig"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t["toolSpec"]["name"].as_str())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_request_without_a_workload_token_never_uses_the_token_another_request_paid_for() {
    let stack = IdentityGatewayStack::start(Duration::from_secs(3600))
        .await
        .unwrap();
    let (identity, gateway, bedrock, agent) = (
        &stack.identity,
        &stack.gateway,
        &stack.bedrock,
        &stack.agent,
    );

    // Request 1 brings a workload token: the gateway is listed and called with an M2M token.
    let first = ask_warranty(
        agent,
        bedrock,
        "support___check_warranty",
        &[(WAT_HEADER, WORKLOAD_TOKEN)],
    )
    .await;
    assert_warranty(&first);
    assert_eq!(identity.calls(), 1);
    assert_eq!(gateway.calls(), vec!["support___check_warranty".to_owned()]);
    let requests_before = bedrock.requests().len();

    // Request 2 brings none; its model names the gateway's tool anyway.
    let second = ask_warranty(agent, bedrock, "support___check_warranty", &[]).await;
    assert_eq!(second.last()["type"], json!("done"), "{:?}", second.events);
    let result = only_result(&second);
    assert_eq!(result["status"], json!("error"), "{result}");
    assert_eq!(result["output"]["error"], json!(NOT_SIGNED));

    let model_requests = &bedrock.requests()[requests_before..];
    assert_eq!(model_requests.len(), 2, "the call and the answer");
    for request in model_requests {
        let offered = offered_tools(&request.body);
        assert!(
            offered.contains(&"check_warranty".to_owned()),
            "the other source's tools stay: {offered:?}"
        );
        assert!(
            !offered.iter().any(|name| name.starts_with("support___")),
            "none of the gateway's tools is offered: {offered:?}"
        );
        let system = system_prompt(&request.body);
        assert!(system.contains(NOT_SIGNED), "{system}");
        for internal in ["http", "arn:", "::", "Identity", "workload", "JWT"] {
            assert!(!system.contains(internal), "{internal:?} in {system}");
        }
    }
    assert_eq!(
        identity.calls(),
        1,
        "request 2 neither used the cached token's source nor fetched one"
    );
    assert_eq!(
        gateway.calls(),
        vec!["support___check_warranty".to_owned()],
        "the gateway saw no call for request 2"
    );
    let refusal = agent
        .wait_for_log(
            "refused a call to a tool withheld from this turn",
            Duration::from_secs(2),
        )
        .await
        .unwrap();
    assert_eq!(
        refusal["request_id"], second.events[0]["request_id"],
        "{refusal}"
    );
}

#[tokio::test]
async fn a_refused_identity_token_is_replaced_with_the_requests_own_workload_token() {
    let stack = IdentityGatewayStack::gateway_only(Duration::from_secs(3600))
        .await
        .unwrap();
    let (identity, gateway, oauth, bedrock, agent) = (
        &stack.identity,
        &stack.gateway,
        &stack.oauth,
        &stack.bedrock,
        &stack.agent,
    );
    assert_warranty(
        &ask_warranty(
            agent,
            bedrock,
            "support___check_warranty",
            &[(WAT_HEADER, WORKLOAD_TOKEN)],
        )
        .await,
    );
    assert_eq!(identity.calls(), 1);

    // The gateway stops accepting the cached token, and request 1's workload token has
    // expired: only request 2's own can fetch the next token.
    oauth.revoke_all();
    identity.forbid_workload_token(WORKLOAD_TOKEN);
    let second_wat = "workload-token-of-request-two";
    identity.allow_workload_token(second_wat);
    let answer = ask_warranty(
        agent,
        bedrock,
        "support___check_warranty",
        &[(WAT_HEADER, second_wat)],
    )
    .await;
    assert_warranty(&answer);
    assert_eq!(gateway.unauthorized(), 1, "one 401, then the new token");
    let fetches = identity.requests();
    assert_eq!(fetches.len(), 2, "{fetches:?}");
    assert_eq!(
        fetches[1].status, 200,
        "fetched with request 2's token: {fetches:?}"
    );
    assert_eq!(
        gateway.calls(),
        vec!["support___check_warranty".to_owned(); 2]
    );
}

#[tokio::test]
async fn a_turn_left_without_tools_still_answers_in_a_session_that_used_them() {
    let stack = IdentityGatewayStack::gateway_only(Duration::from_secs(3600))
        .await
        .unwrap();
    let session = "session-that-used-gateway-tools-0123456789";
    let signed = ask_warranty(
        &stack.agent,
        &stack.bedrock,
        "support___check_warranty",
        &[
            (WAT_HEADER, WORKLOAD_TOKEN),
            (system_tests::agent::SESSION_HEADER, session),
        ],
    )
    .await;
    assert_warranty(&signed);

    // No workload token: the gateway, the only source, is withheld, so this turn has no tools
    // while the session's history holds the earlier tool call. Bedrock refuses tool blocks
    // without a toolConfig, so the agent must show them to the model as text.
    stack
        .bedrock
        .push(Turn::text("I cannot look that up right now."));
    let unsigned = stack
        .agent
        .invoke(
            &json!({"prompt": "And my other unit?"}),
            &[(system_tests::agent::SESSION_HEADER, session)],
        )
        .await
        .unwrap();
    assert_eq!(
        unsigned.last()["type"],
        json!("done"),
        "{:?}",
        unsigned.events
    );
    let request = stack.bedrock.requests().last().unwrap().body.clone();
    assert!(request.get("toolConfig").is_none(), "{request}");
    let messages = request["messages"].to_string();
    assert!(
        !messages.contains("toolUse") && !messages.contains("toolResult"),
        "{messages}"
    );
    assert!(
        messages.contains("earlier tool call") && messages.contains(SERIAL),
        "the model still reads what was looked up: {messages}"
    );

    // With a workload token again, the tools and the history's blocks are back as they were.
    let again = ask_warranty(
        &stack.agent,
        &stack.bedrock,
        "support___check_warranty",
        &[
            (WAT_HEADER, WORKLOAD_TOKEN),
            (system_tests::agent::SESSION_HEADER, session),
        ],
    )
    .await;
    assert_warranty(&again);
    let request = stack.bedrock.requests().last().unwrap().body.to_string();
    assert!(request.contains("toolUse"), "{request}");
}

#[tokio::test]
async fn a_large_gateway_offers_only_the_tools_its_search_finds() {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let gateway = GatewayStandIn::start(
        GatewayOptions::new()
            .target("support", mcp.url.clone())
            .filler_target("inventory", 60)
            .semantic_search(),
    )
    .await
    .unwrap();
    let sources =
        json!([{"name": "gateway", "gateway_url": gateway.url, "max_tools": 5}]).to_string();
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[("MCP_SOURCES", sources.as_str())])
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(15))
        .await
        .unwrap();
    let answer = ask_warranty(&agent, &bedrock, "support___check_warranty", &[]).await;
    assert_warranty(&answer);
    let tools: Vec<String> = bedrock.requests()[0].body["toolConfig"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["toolSpec"]["name"].as_str().map(str::to_owned))
        .collect();
    assert!(tools.len() <= 5, "{tools:?}");
    assert!(
        tools.contains(&"support___check_warranty".to_owned()),
        "{tools:?}"
    );
    assert!(
        !tools.iter().any(|t| t.contains("agentcore_search")),
        "{tools:?}"
    );
}

#[tokio::test]
async fn sigv4_signed_requests_reach_an_iam_authorized_runtime_and_wrong_keys_are_refused() {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let runtime = AgentCoreRuntimeStandIn::start(
        mcp.url.clone(),
        RuntimeOptions {
            authorizer: agentcore_runtime::sigv4(
                "testing",
                "testing",
                "us-east-1",
                "bedrock-agentcore",
            ),
            ..RuntimeOptions::default()
        },
    )
    .await;
    let sources = json!([{"name": "support", "runtime_arn": runtime.runtime_arn, "auth": {"type": "sigv4"}, "timeout_ms": 3000}]).to_string();
    let bedrock = BedrockStandIn::start([]).await;
    let env = [
        ("MCP_SOURCES", sources.as_str()),
        (
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
            runtime.endpoint.as_str(),
        ),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(15))
        .await
        .unwrap();
    assert_warranty(&ask_warranty(&agent, &bedrock, "check_warranty", &[]).await);
    assert_eq!(runtime.forbidden(), 0);

    let wrong = [
        ("MCP_SOURCES", sources.as_str()),
        (
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
            runtime.endpoint.as_str(),
        ),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "not-the-key"),
    ];
    let refused = Agent::start(&bedrock, None, &wrong).await.unwrap();
    refused
        .wait_for_log("listing tools failed", Duration::from_secs(15))
        .await
        .unwrap();
    assert!(runtime.forbidden() >= 1, "the wrong signature was refused");
}
