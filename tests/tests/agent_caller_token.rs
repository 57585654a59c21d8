//! An MCP source with outbound auth `{"type":"caller_token"}`, end to end through the real agent
//! binary: callers sign in to moto's Cognito (ID tokens, verified by the agent with
//! `AUTH_MODE=verify`), and the gateway stand-in in front of the real MCP server admits only the
//! exact token the test says is current. Each turn lists and calls the gateway with its own
//! caller's token and no other; a second caller's turn never carries the first caller's token; a
//! token refused mid-turn gives the model a "sign in again" tool result and the turn completes;
//! and `AUTH_MODE=none` with such a source refuses to start.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use reqwest::StatusCode;
use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer};
use system_tests::agentcore_runtime::{Authorizer, Denial, bearer_token};
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::cognito::{CognitoPool, STAFF_GROUP};
use system_tests::gateway::{GatewayOptions, GatewayStandIn};
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::workspace;

/// The gateway tool the scripted model calls: open to any caller, no customer id involved.
const TOOL: &str = "support___get_product_rating_summary";

/// One request the gateway stand-in received: its JSON-RPC method (empty for a GET or DELETE)
/// and the bearer token it carried (empty when none).
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    method: String,
    token: String,
}

/// What the gateway's authorizer admits, and what it saw.
#[derive(Default)]
struct Gate {
    /// The caller tokens admitted now.
    admitted: Mutex<HashSet<String>>,
    /// When set, every `tools/call` is refused with 401, as when the token expires mid-turn.
    refuse_calls: AtomicBool,
    seen: Mutex<Vec<Seen>>,
}

impl Gate {
    fn admit_only(&self, token: &str) {
        *self.admitted.lock().unwrap() = HashSet::from([token.to_owned()]);
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// An authorizer that records every request and admits it only with an admitted token.
    fn authorizer(self: &Arc<Self>) -> Authorizer {
        let gate = self.clone();
        Arc::new(move |request: &axum::http::Request<Bytes>| {
            let token = bearer_token(request.headers())
                .unwrap_or_default()
                .to_owned();
            let method = serde_json::from_slice::<Value>(request.body())
                .ok()
                .and_then(|body| body["method"].as_str().map(str::to_owned))
                .unwrap_or_default();
            gate.seen.lock().unwrap().push(Seen {
                method: method.clone(),
                token: token.clone(),
            });
            if method == "tools/call" && gate.refuse_calls.load(Ordering::SeqCst) {
                return Err(Denial::unauthorized("the token has expired"));
            }
            if gate.admitted.lock().unwrap().contains(&token) {
                Ok(())
            } else {
                Err(Denial::unauthorized("this token is not admitted"))
            }
        })
    }
}

struct Stack {
    _moto: Moto,
    _mcp: McpServer,
    pool: CognitoPool,
    gate: Arc<Gate>,
    gateway: GatewayStandIn,
    bedrock: BedrockStandIn,
    agent: Agent,
}

impl Stack {
    async fn start() -> Self {
        let moto = Moto::start().await.unwrap();
        let mcp = McpServer::seeded(&moto).await.unwrap();
        let pool = CognitoPool::create(&moto).await.unwrap();
        let gate = Arc::new(Gate::default());
        let gateway = GatewayStandIn::start(
            GatewayOptions::new()
                .target("support", mcp.url.clone())
                .authorizer(gate.authorizer()),
        )
        .await
        .unwrap();
        let bedrock = BedrockStandIn::start([]).await;
        let sources = json!([{
            "name": "support",
            "gateway_url": gateway.url,
            "auth": {"type": "caller_token"},
        }])
        .to_string();
        let mut env = pool.agent_auth_env();
        env.push(("STAFF_GROUP".into(), STAFF_GROUP.into()));
        env.push(("MCP_SOURCES".into(), sources));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let agent = Agent::start(&bedrock, None, &env).await.unwrap();
        Self {
            _moto: moto,
            _mcp: mcp,
            pool,
            gate,
            gateway,
            bedrock,
            agent,
        }
    }

    /// One turn of `id_token`'s caller in which the model calls [`TOOL`] once.
    async fn ask(&self, id_token: &str) -> Answer {
        self.bedrock.push(Turn::tool_use([ToolCall::new(
            "r",
            TOOL,
            json!({"product_id": "PROD-001"}),
        )]));
        self.bedrock.push(Turn::text("Here is what I found."));
        let bearer = format!("Bearer {id_token}");
        let answer = self
            .agent
            .invoke(
                &json!({"prompt": "How is PROD-001 rated?"}),
                &[("authorization", &bearer)],
            )
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.events);
        answer
    }
}

fn only_result(answer: &Answer) -> Value {
    let results = answer.of_type("tool_result");
    assert_eq!(results.len(), 1, "{:?}", answer.events);
    results[0].clone()
}

/// The tool names the model was offered in its latest request.
fn offered(bedrock: &BedrockStandIn) -> Vec<String> {
    let requests = bedrock.requests();
    let last = requests.last().expect("the model was called");
    last.body["toolConfig"]["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .filter_map(|tool| tool["toolSpec"]["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON-RPC requests (a method named) among `seen`.
fn json_rpc(seen: &[Seen]) -> Vec<&Seen> {
    seen.iter().filter(|s| !s.method.is_empty()).collect()
}

#[tokio::test]
async fn each_turn_sends_exactly_its_own_callers_token_and_no_one_elses() {
    let stack = Stack::start().await;
    let customer = stack.pool.customer_tokens().await.unwrap().id_token;
    let staff = stack.pool.staff_tokens().await.unwrap().id_token;
    assert_ne!(customer, staff);

    // (a) The first caller's turn lists and calls the gateway with exactly that caller's token.
    stack.gate.admit_only(&customer);
    let answer = stack.ask(&customer).await;
    let result = only_result(&answer);
    assert_eq!(result["status"], json!("ok"), "{result}");
    assert_eq!(
        result["output"]["product_id"],
        json!("PROD-001"),
        "{result}"
    );
    assert!(
        offered(&stack.bedrock).contains(&TOOL.to_owned()),
        "the tools were listed with the caller's token"
    );
    let first_turn = stack.gate.seen();
    let methods: Vec<&str> = json_rpc(&first_turn)
        .iter()
        .map(|s| s.method.as_str())
        .collect();
    assert!(methods.contains(&"tools/list"), "{methods:?}");
    assert!(methods.contains(&"tools/call"), "{methods:?}");
    assert!(
        first_turn.iter().all(|s| s.token == customer),
        "every request carried exactly the caller's token"
    );
    assert_eq!(stack.gateway.unauthorized(), 0);
    assert_eq!(stack.gateway.calls(), vec![TOOL.to_owned()]);

    // (b) The second caller's turn carries only the second token: the first is admitted no more,
    // and a turn that reused it would be refused and offered no tools.
    stack.gate.admit_only(&staff);
    let answer = stack.ask(&staff).await;
    let result = only_result(&answer);
    assert_eq!(result["status"], json!("ok"), "{result}");
    let second_turn = stack.gate.seen()[first_turn.len()..].to_vec();
    let requests = json_rpc(&second_turn);
    assert!(
        requests.iter().any(|s| s.method == "tools/list")
            && requests.iter().any(|s| s.method == "tools/call"),
        "{second_turn:?}"
    );
    assert!(
        requests.iter().all(|s| s.token == staff),
        "no request of the second turn carried another token"
    );
    assert_eq!(stack.gateway.unauthorized(), 0);
    assert_eq!(stack.gateway.calls(), vec![TOOL.to_owned(); 2]);

    let logs = stack.agent.process.logs().join("\n");
    for token in [&customer, &staff] {
        assert!(
            !logs.contains(token.as_str()),
            "no caller token in the logs"
        );
    }
}

#[tokio::test]
async fn a_token_refused_mid_turn_tells_the_model_to_have_the_customer_sign_in_again() {
    let stack = Stack::start().await;
    let customer = stack.pool.customer_tokens().await.unwrap().id_token;
    stack.gate.admit_only(&customer);
    // Listing succeeds; the call is refused, as when the token expires during the turn.
    stack.gate.refuse_calls.store(true, Ordering::SeqCst);
    let answer = stack.ask(&customer).await;
    let result = only_result(&answer);
    assert_eq!(result["status"], json!("error"), "{result}");
    let message = result["output"]["error"].as_str().unwrap();
    assert!(message.contains("sign in again"), "{message}");
    assert!(!message.contains(&customer), "{message}");
    let last = answer.last();
    assert_eq!(last["type"], json!("done"), "the turn completes: {last}");
    assert_eq!(last["text"], json!("Here is what I found."));
    let calls = json_rpc(&stack.gate.seen())
        .into_iter()
        .filter(|s| s.method == "tools/call")
        .count();
    assert_eq!(calls, 1, "the refused token is not sent again");
    assert_eq!(stack.gateway.unauthorized(), 1);
    // The model's next request carried the tool result that says so.
    let requests = stack.bedrock.requests();
    let sent = requests.last().unwrap().body.to_string();
    assert!(sent.contains("sign in again"), "{sent}");
}

#[tokio::test]
async fn no_inbound_authentication_with_a_caller_token_source_refuses_to_start() {
    let sources = json!([{
        "name": "support",
        "gateway_url": "http://127.0.0.1:1/mcp",
        "auth": {"type": "caller_token"},
    }])
    .to_string();
    let output = tokio::process::Command::new(workspace::binary("agent"))
        .env_clear()
        .env("AWS_REGION", "us-east-1")
        .env("AGENT_PORT", "0")
        .env("AUTH_MODE", "none")
        .env("MCP_SOURCES", &sources)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!stdout.contains("\"listening\""), "{stdout}");
    let line: Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON error line");
    let error = line["error"].as_str().unwrap();
    assert!(error.contains("AUTH_MODE=none"), "{error}");
    assert!(error.contains("caller_token"), "{error}");
}
