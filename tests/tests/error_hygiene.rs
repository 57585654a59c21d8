//! Error hygiene end to end: the real agent binary driven through every failure these stand-ins
//! can produce (an MCP source gone, silent or answering 500; an OAuth token endpoint refusing;
//! AgentCore Identity refusing, or no workload access token; a Secrets Manager secret missing;
//! the Data API unreachable or refusing; Bedrock refusing, throttling until the retries are
//! spent, or breaking its stream; no AWS credentials).
//!
//! For each, the whole SSE stream (and, where a source is withheld, the system prompt the model
//! got) must be plain: no `::` (Rust paths and type names), no `http` (URLs, HTTP statuses), no
//! `arn:`, no 12-digit account id, no stand-in address. The agent's logs must hold the cause on
//! a warn or error line carrying the request id. Every case also checks that the failure did
//! happen (an error `tool_result`, an `error` event, a note in the system prompt), so none
//! passes by not failing.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use system_tests::agent::{Agent, Answer, SESSION_HEADER};
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::oauth::OAuthStandIn;
use system_tests::rds_data::{self, RdsDataStandIn};
use system_tests::serving::{Serving, bind_loopback};
use system_tests::stacks::{
    CLIENT_ID, IdentityGatewayStack, RuntimeSourceStack, SCOPE, WORKLOAD_TOKEN,
};

const REQUEST_HEADER: &str = "x-amzn-bedrock-agentcore-runtime-request-id";
const WAT_HEADER: &str = "x-amz-bedrock-agentcore-identity-wat";
const SERIAL: &str = "SN-AUD-AS5BATSL";
/// A secret ARN nothing holds, in moto's account.
const MISSING_SECRET_ARN: &str =
    "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-client-secret-AbCdEf";

/// Invokes `agent` with request and session ids made of `case` (letters only, so no digits of
/// ours can look like an account id) and returns the answer and the request id.
async fn ask(agent: &Agent, case: &str, headers: &[(&str, &str)]) -> (Answer, String) {
    let request_id = format!("hygiene-request-{case}");
    let session_id = format!("hygiene-session-{case}");
    let mut all = vec![
        (REQUEST_HEADER, request_id.as_str()),
        (SESSION_HEADER, session_id.as_str()),
    ];
    all.extend_from_slice(headers);
    let answer = agent
        .invoke(&json!({"prompt": "Is my warranty still valid?"}), &all)
        .await
        .unwrap();
    assert_eq!(answer.events[0]["request_id"], json!(request_id));
    (answer, request_id)
}

/// The whole stream as text.
fn stream_text(answer: &Answer) -> String {
    serde_json::to_string(&answer.events).unwrap()
}

/// The system prompt of every model request from `from` on.
fn system_prompts(bedrock: &BedrockStandIn, from: usize) -> String {
    bedrock.requests()[from..]
        .iter()
        .map(|r| r.body["system"].to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The port of a `http://host:port[/path]` address.
fn port_of(address: &str) -> String {
    let rest = address.split("://").nth(1).unwrap_or(address);
    let host_port = rest.split('/').next().unwrap_or(rest);
    host_port.rsplit(':').next().unwrap_or_default().to_owned()
}

/// Fails when `text` shows anything internal (see the module doc). `stand_ins` are the
/// addresses of the stand-ins in play; their ports must not appear as `host:port`.
fn assert_plain(case: &str, text: &str, stand_ins: &[&str]) {
    let lower = text.to_ascii_lowercase();
    for internal in ["::", "http", "arn:", "127.0.0.1", "localhost"] {
        assert!(
            !lower.contains(internal),
            "{case}: {internal:?} reached the caller: {text}"
        );
    }
    let tokens: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    assert!(
        !tokens
            .iter()
            .any(|t| t.len() == 12 && t.bytes().all(|b| b.is_ascii_digit())),
        "{case}: an account id reached the caller: {text}"
    );
    for address in stand_ins {
        let port = port_of(address);
        assert!(!port.is_empty(), "{address} has a port");
        // A JSON number after a key (`"input_tokens":41234`) is not an address.
        let as_address = text.match_indices(&format!(":{port}")).any(|(at, found)| {
            let after = text[at + found.len()..].chars().next();
            let before = text[..at].chars().last();
            !after.is_some_and(|c| c.is_ascii_digit()) && before != Some('"')
        });
        assert!(
            !as_address,
            "{case}: the address {address} reached the caller: {text}"
        );
    }
}

/// Waits for a warn or error line of `request_id` whose text holds every one of `causes`.
async fn assert_cause_logged(agent: &Agent, request_id: &str, causes: &[&str]) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    loop {
        let found = agent.process.json_logs().into_iter().find(|line| {
            let text = line.to_string();
            line["request_id"] == json!(request_id)
                && matches!(line["level"].as_str(), Some("WARN" | "ERROR"))
                && causes.iter().all(|cause| text.contains(cause))
        });
        if let Some(line) = found {
            return line;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no warn/error line of {request_id} names {causes:?}; logs:\n{}",
            agent.process.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The only `tool_result` of an answer, which must be an error; gives its message.
fn tool_error(answer: &Answer) -> String {
    let results = answer.of_type("tool_result");
    assert_eq!(results.len(), 1, "{:?}", answer.events);
    assert_eq!(results[0]["status"], json!("error"), "{}", results[0]);
    assert_eq!(answer.last()["type"], json!("done"), "{:?}", answer.events);
    results[0]["output"]["error"].as_str().unwrap().to_owned()
}

/// The `error` event that ends an answer; gives its `error` text.
fn error_event(answer: &Answer, error_type: &str) -> String {
    let last = answer.last();
    assert_eq!(last["type"], json!("error"), "{:?}", answer.events);
    assert_eq!(last["error_type"], json!(error_type), "{last}");
    last["error"].as_str().unwrap().to_owned()
}

fn script_warranty_call(bedrock: &BedrockStandIn, tool: &str) {
    bedrock.push(Turn::tool_use([ToolCall::new(
        "w",
        tool,
        json!({"serial_number": SERIAL}),
    )]));
    bedrock.push(Turn::text("Sorry, I cannot check that right now."));
}

// ---------------------------------------------------------------------------------------------
// An MCP endpoint that can be made to fail

const FORWARD: u8 = 0;
const HANG: u8 = 1;
const FAIL: u8 = 2;

/// A body for the 500 answers full of what must never be passed on.
const INTERNAL_FAILURE: &str = "upstream http://10.0.0.7:8000/mcp failed: arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/x-Ab12 (tokio::time::error::Elapsed)";

struct Faulty {
    upstream: String,
    mode: AtomicU8,
    http: reqwest::Client,
}

/// Forwards to the MCP server, or never answers, or answers 500, as `mode` says.
async fn faulty(
    State(faulty): State<Arc<Faulty>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match faulty.mode.load(Ordering::SeqCst) {
        HANG => std::future::pending().await,
        FAIL => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            INTERNAL_FAILURE,
        )
            .into_response(),
        _ => {
            let mut request = faulty
                .http
                .request(method, format!("{}{}", faulty.upstream, uri.path()))
                .body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let Ok(answer) = request.send().await else {
                return StatusCode::BAD_GATEWAY.into_response();
            };
            let status = answer.status();
            let mut response_headers = HeaderMap::new();
            for (name, value) in answer.headers() {
                if name != "content-length" && name != "transfer-encoding" {
                    response_headers.insert(name.clone(), value.clone());
                }
            }
            let bytes = answer.bytes().await.unwrap_or_default();
            (status, response_headers, bytes).into_response()
        }
    }
}

/// A proxy in front of `upstream` (`http://host:port`), forwarding until told otherwise.
struct FaultyProxy {
    url: String,
    state: Arc<Faulty>,
    _serving: Serving,
}

impl FaultyProxy {
    async fn start(upstream: &str) -> Self {
        let (listener, base_url) = bind_loopback().await;
        let state = Arc::new(Faulty {
            upstream: upstream.to_owned(),
            mode: AtomicU8::new(FORWARD),
            http: reqwest::Client::new(),
        });
        let app = Router::new().fallback(faulty).with_state(state.clone());
        Self {
            url: format!("{base_url}/mcp"),
            state,
            _serving: Serving::start("faulty MCP proxy", listener, app),
        }
    }

    fn set_mode(&self, mode: u8) {
        self.state.mode.store(mode, Ordering::SeqCst);
    }
}

/// moto, the MCP server behind a [`FaultyProxy`], and the agent with the proxy as its source
/// `support` (1.5 s timeout), tools listed.
struct ProxiedStack {
    _moto: Moto,
    mcp: McpServer,
    proxy: FaultyProxy,
    bedrock: BedrockStandIn,
    agent: Agent,
}

async fn proxied_stack() -> ProxiedStack {
    let moto = Moto::start().await.unwrap();
    let mcp = McpServer::seeded(&moto).await.unwrap();
    let upstream = mcp.url.trim_end_matches("/mcp").to_owned();
    let proxy = FaultyProxy::start(&upstream).await;
    let bedrock = BedrockStandIn::start([]).await;
    let sources = json!([{"name": "support", "url": proxy.url, "timeout_ms": 1500}]).to_string();
    let agent = Agent::start(&bedrock, None, &[("MCP_SOURCES", sources.as_str())])
        .await
        .unwrap();
    agent
        .wait_for_log("tools listed", Duration::from_secs(15))
        .await
        .unwrap();
    ProxiedStack {
        _moto: moto,
        mcp,
        proxy,
        bedrock,
        agent,
    }
}

#[tokio::test]
async fn an_mcp_source_that_is_gone_silent_or_failing_is_reported_plainly() {
    let stack = proxied_stack().await;
    let stand_ins = [
        stack.proxy.url.as_str(),
        stack.mcp.url.as_str(),
        stack.bedrock.endpoint.as_str(),
    ];

    stack.proxy.set_mode(HANG);
    script_warranty_call(&stack.bedrock, "check_warranty");
    let (answer, request_id) = ask(&stack.agent, "mcp-silent", &[]).await;
    assert_eq!(
        tool_error(&answer),
        "the support tools did not answer in time; try again in a moment"
    );
    assert_plain("mcp-silent", &stream_text(&answer), &stand_ins);
    assert_cause_logged(
        &stack.agent,
        &request_id,
        &["did not answer within 1500 ms"],
    )
    .await;

    stack.proxy.set_mode(FAIL);
    script_warranty_call(&stack.bedrock, "check_warranty");
    let (answer, request_id) = ask(&stack.agent, "mcp-failing", &[]).await;
    assert_eq!(
        tool_error(&answer),
        "the support tools are unavailable right now; try again in a moment"
    );
    assert_plain("mcp-failing", &stream_text(&answer), &stand_ins);
    assert_cause_logged(&stack.agent, &request_id, &["500"]).await;
}

#[tokio::test]
async fn an_mcp_source_that_went_away_is_reported_plainly() {
    let stack = proxied_stack().await;
    let proxy_url = stack.proxy.url.clone();
    let ProxiedStack {
        _moto,
        mcp,
        proxy,
        bedrock,
        agent,
    } = stack;
    let mcp_url = mcp.url.clone();
    // The listening socket closes: connections are refused from now on.
    drop(proxy);
    drop(mcp);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reqwest::get(&proxy_url).await.is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy still answers"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    script_warranty_call(&bedrock, "check_warranty");
    let (answer, request_id) = ask(&agent, "mcp-gone", &[]).await;
    assert_eq!(
        tool_error(&answer),
        "the support tools are unavailable right now; try again in a moment"
    );
    assert_plain(
        "mcp-gone",
        &stream_text(&answer),
        &[&proxy_url, &mcp_url, &bedrock.endpoint],
    );
    assert_cause_logged(&agent, &request_id, &["tool call failed", "unreachable"]).await;
}

// ---------------------------------------------------------------------------------------------
// Outbound credentials

#[tokio::test]
async fn a_token_endpoint_that_refuses_the_client_is_reported_plainly() {
    let stack = RuntimeSourceStack::start(Duration::from_secs(3600))
        .await
        .unwrap();
    let (moto, mcp, oauth, runtime, bedrock, agent) = (
        &stack.moto,
        &stack.mcp,
        &stack.oauth,
        &stack.runtime,
        &stack.bedrock,
        &stack.agent,
    );
    // The token in hand is refused, and the client's secret no longer opens the endpoint.
    oauth.revoke_all();
    oauth.register_client(CLIENT_ID, "a-rotated-secret", &[SCOPE]);
    let before = oauth.token_requests();

    script_warranty_call(bedrock, "check_warranty");
    let (answer, request_id) = ask(agent, "token-refused", &[]).await;
    assert_eq!(
        tool_error(&answer),
        "the support tools are unavailable right now because the agent could not sign in to them; try again later"
    );
    assert!(runtime.unauthorized() >= 1, "the old token was refused");
    assert!(oauth.token_requests() > before, "a new token was asked for");
    assert_plain(
        "token-refused",
        &stream_text(&answer),
        &[
            &runtime.endpoint,
            &oauth.token_url(),
            &moto.endpoint,
            &mcp.url,
            &bedrock.endpoint,
        ],
    );
    assert_cause_logged(agent, &request_id, &["invalid_client", "HTTP 401"]).await;
}

#[tokio::test]
async fn a_missing_client_secret_is_reported_plainly() {
    let moto = Moto::start().await.unwrap();
    let oauth = OAuthStandIn::start().await;
    let sources = json!([{
        "name": "support",
        "url": "http://127.0.0.1:9/mcp",
        "auth": {
            "type": "client_credentials",
            "token_url": oauth.token_url(),
            "client_id": CLIENT_ID,
            "client_secret_arn": MISSING_SECRET_ARN,
            "scopes": [SCOPE]
        }
    }])
    .to_string();
    let bedrock = BedrockStandIn::start([Turn::text("I cannot look that up right now.")]).await;
    let env = [
        ("MCP_SOURCES", sources.as_str()),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.as_str()),
    ];
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();
    agent
        .wait_for_log("listing tools failed", Duration::from_secs(15))
        .await
        .unwrap();

    let (answer, request_id) = ask(&agent, "secret-missing", &[]).await;
    assert_eq!(answer.last()["type"], json!("done"), "{:?}", answer.events);
    let system = system_prompts(&bedrock, 0);
    assert!(
        system.contains("The support tools are not available right now because the agent could not sign in to them; tell the customer you cannot look that up now and to try again later."),
        "{system}"
    );
    let stand_ins = [
        moto.endpoint.as_str(),
        "http://127.0.0.1:9/mcp",
        bedrock.endpoint.as_str(),
    ];
    assert_plain("secret-missing", &stream_text(&answer), &stand_ins);
    assert_plain("secret-missing (system prompt)", &system, &stand_ins);
    assert_cause_logged(
        &agent,
        &request_id,
        &["ResourceNotFoundException", MISSING_SECRET_ARN],
    )
    .await;
}

#[tokio::test]
async fn identity_refusing_and_no_workload_token_are_reported_plainly() {
    // Short-lived tokens, so a later request must fetch again.
    let stack = IdentityGatewayStack::start(Duration::from_secs(2))
        .await
        .unwrap();
    let (mcp, oauth, identity, gateway, bedrock, agent) = (
        &stack.mcp,
        &stack.oauth,
        &stack.identity,
        &stack.gateway,
        &stack.bedrock,
        &stack.agent,
    );
    let stand_ins = [
        identity.base_url(),
        gateway.url.as_str(),
        mcp.url.as_str(),
        oauth.base_url(),
        bedrock.endpoint.as_str(),
    ];

    script_warranty_call(bedrock, "support___check_warranty");
    let (listed, _) = ask(agent, "identity-granted", &[(WAT_HEADER, WORKLOAD_TOKEN)]).await;
    assert_eq!(listed.of_type("tool_result")[0]["status"], json!("ok"));

    let from = bedrock.requests().len();
    script_warranty_call(bedrock, "support___check_warranty");
    let (answer, request_id) = ask(agent, "identity-unsigned", &[]).await;
    let not_signed = "The gateway tools are not available in this conversation because the request was not signed by the runtime; tell the customer you cannot look that up now.";
    assert_eq!(tool_error(&answer), not_signed);
    let system = system_prompts(bedrock, from);
    assert!(system.contains(not_signed), "{system}");
    assert_plain("identity-unsigned", &stream_text(&answer), &stand_ins);
    assert_plain("identity-unsigned (system prompt)", &system, &stand_ins);
    assert_cause_logged(agent, &request_id, &["carried no workload access token"]).await;

    // Once the token has run out, a request whose workload token Identity refuses.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let from = bedrock.requests().len();
    script_warranty_call(bedrock, "support___check_warranty");
    let (answer, request_id) = ask(
        agent,
        "identity-refused",
        &[(WAT_HEADER, "a-workload-token-identity-refuses")],
    )
    .await;
    let refused = "The gateway tools are not available right now because the agent could not sign in to them; tell the customer you cannot look that up now and to try again later.";
    assert_eq!(tool_error(&answer), refused);
    assert_eq!(
        identity.requests().last().unwrap().error_type.as_deref(),
        Some("AccessDeniedException")
    );
    let system = system_prompts(bedrock, from);
    assert!(system.contains(refused), "{system}");
    assert_plain("identity-refused", &stream_text(&answer), &stand_ins);
    assert_plain("identity-refused (system prompt)", &system, &stand_ins);
    assert_cause_logged(agent, &request_id, &["AccessDeniedException"]).await;
    assert!(
        !agent.process.logs().join("\n").contains(WORKLOAD_TOKEN),
        "the workload token is never logged"
    );
}

// ---------------------------------------------------------------------------------------------
// The Data API

/// The agent with the Aurora tools on `data_api_endpoint` (reading `secret_arn`) and the model
/// calling `get_product`; gives the answer, its request id and the agent.
async fn ask_for_a_product(
    case: &str,
    data_api_endpoint: &str,
    secret_arn: &str,
    moto: &Moto,
) -> (Answer, String, Agent, BedrockStandIn) {
    let bedrock = BedrockStandIn::start([
        Turn::tool_use([ToolCall::new(
            "p",
            "get_product",
            json!({"product_id": "PROD-001"}),
        )]),
        Turn::text("Sorry, I cannot look that up right now."),
    ])
    .await;
    let env = [
        ("AURORA_CLUSTER_ARN", rds_data::CLUSTER_ARN),
        ("AURORA_SECRET_ARN", secret_arn),
        ("AURORA_DATABASE", "support"),
        ("AWS_ENDPOINT_URL_RDS_DATA", data_api_endpoint),
        ("AWS_ENDPOINT_URL_SECRETS_MANAGER", moto.endpoint.as_str()),
    ];
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();
    let (answer, request_id) = ask(&agent, case, &[]).await;
    (answer, request_id, agent, bedrock)
}

#[tokio::test]
async fn a_data_api_that_cannot_be_reached_or_refuses_is_reported_plainly() {
    let moto = Moto::start().await.unwrap();
    let closed = {
        let (listener, url) = bind_loopback().await;
        drop(listener);
        url
    };
    let (answer, request_id, agent, bedrock) =
        ask_for_a_product("data-api-unreachable", &closed, MISSING_SECRET_ARN, &moto).await;
    assert_eq!(
        tool_error(&answer),
        "the order database could not be reached; try the same call again in a moment"
    );
    assert_plain(
        "data-api-unreachable",
        &stream_text(&answer),
        &[&closed, &moto.endpoint, &bedrock.endpoint],
    );
    assert_cause_logged(
        &agent,
        &request_id,
        &["Aurora tool failed", "could not be reached"],
    )
    .await;

    let data_api = RdsDataStandIn::start(&moto).await.unwrap();
    let (answer, request_id, agent, bedrock) = ask_for_a_product(
        "data-api-refusing",
        &data_api.endpoint,
        MISSING_SECRET_ARN,
        &moto,
    )
    .await;
    assert_eq!(
        tool_error(&answer),
        "the order database could not answer this request; answer without it"
    );
    assert!(
        data_api
            .requests()
            .iter()
            .any(|r| r.secret_arn.as_deref() == Some(MISSING_SECRET_ARN)),
        "the Data API was asked"
    );
    assert_plain(
        "data-api-refusing",
        &stream_text(&answer),
        &[&data_api.endpoint, &moto.endpoint, &bedrock.endpoint],
    );
    assert_cause_logged(
        &agent,
        &request_id,
        &["Aurora tool failed", "SecretsErrorException"],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// The model

/// The agent on a Bedrock stand-in with `script` and no tools, retrying within `budget_ms`.
async fn model_stack(script: Vec<Turn>, budget_ms: &str) -> (BedrockStandIn, Agent) {
    let bedrock = BedrockStandIn::start(script).await;
    let agent = Agent::start(
        &bedrock,
        None,
        &[
            ("MODEL_RETRY_BUDGET_MS", budget_ms),
            ("MODEL_RETRY_BASE_MS", "50"),
        ],
    )
    .await
    .unwrap();
    (bedrock, agent)
}

#[tokio::test]
async fn model_refusals_are_reported_plainly() {
    let leaky = "The provided model identifier arn:aws:bedrock:us-east-1:123456789012:inference-profile/x is invalid; see https://docs.aws.amazon.com/bedrock";
    for (case, status, error_type) in [
        ("model-invalid", 400, "ValidationException"),
        ("model-denied", 403, "AccessDeniedException"),
    ] {
        let (bedrock, agent) = model_stack(
            vec![Turn::Error {
                status,
                error_type: error_type.into(),
                message: leaky.into(),
            }],
            "2000",
        )
        .await;
        let (answer, request_id) = ask(&agent, case, &[]).await;
        assert_eq!(
            error_event(&answer, error_type),
            "the model could not answer this request; try again later"
        );
        assert!(answer.of_type("model_retry").is_empty(), "{case}");
        assert_plain(case, &stream_text(&answer), &[&bedrock.endpoint]);
        assert_cause_logged(&agent, &request_id, &["turn failed", error_type, leaky]).await;
    }
}

#[tokio::test]
async fn spent_retries_and_broken_streams_are_reported_plainly() {
    let cases = [
        (
            "model-throttled",
            Turn::ThrottleBeforeStream,
            "ThrottlingException",
            "the model is busy right now; try again in a moment",
        ),
        (
            "model-hangup",
            Turn::Hangup,
            "ConnectionError",
            "the model's answer was interrupted; try again in a moment",
        ),
        (
            "model-stream-error",
            Turn::ModelStreamError,
            "ModelStreamErrorException",
            "the model's answer was interrupted; try again in a moment",
        ),
    ];
    for (case, turn, error_type, message) in cases {
        // More failures than the budget lets the agent try.
        let (bedrock, agent) = model_stack(vec![turn; 12], "300").await;
        let (answer, request_id) = ask(&agent, case, &[]).await;
        assert_eq!(error_event(&answer, error_type), message, "{case}");
        assert!(
            !answer.of_type("model_retry").is_empty(),
            "{case}: retried first"
        );
        assert!(bedrock.remaining() > 0, "{case}: the budget ended it");
        assert_plain(case, &stream_text(&answer), &[&bedrock.endpoint]);
        assert_cause_logged(&agent, &request_id, &["turn failed", error_type]).await;
    }
}

#[tokio::test]
async fn missing_aws_credentials_are_reported_plainly() {
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
    let (answer, request_id) = ask(&agent, "no-credentials", &[]).await;
    assert_eq!(
        error_event(&answer, "RequestError"),
        "the agent cannot call the model because it has no AWS credentials; its operator must fix this"
    );
    assert!(bedrock.requests().is_empty());
    assert_plain(
        "no-credentials",
        &stream_text(&answer),
        &[&bedrock.endpoint],
    );
    assert_cause_logged(&agent, &request_id, &["turn failed", "credentials"]).await;
}
