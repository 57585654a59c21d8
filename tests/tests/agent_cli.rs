//! The `agent-cli` binary as a person or a script runs it: signing in against moto's Cognito,
//! asking the real `agent` binary (behind real JWT checks) and reading its streamed answers,
//! and calling a deployed runtime by ARN, played here by a small recording listener that
//! answers as AgentCore would (an event stream, 409, 424, or a stream that stalls).
//!
//! Each test gets its own configuration directory (`XDG_CONFIG_HOME`), so tests never share a
//! sign-in.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt as _;
use serde_json::{Value, json};
use system_tests::agent::Agent;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::cognito::{CUSTOMER_USERNAME, CognitoPool, PASSWORD, STAFF_USERNAME};
use system_tests::moto::{Moto, REGION};
use system_tests::workspace;
use tokio::io::AsyncWriteExt;

/// Longest a single `agent-cli` run may take in these tests.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
const RUNTIME_ID: &str = "support_agent-Xy12AbCdEf";
const RUNTIME_ARN: &str =
    "arn:aws:bedrock-agentcore:us-east-1:123456789012:runtime/support_agent-Xy12AbCdEf";

/// A private configuration directory for one test, removed afterwards.
struct Home {
    dir: PathBuf,
}

impl Home {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("agent-cli-test-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    fn config_dir(&self) -> PathBuf {
        self.dir.join("config").join("agent-cli")
    }

    fn token_path(&self) -> PathBuf {
        self.config_dir().join("tokens.json")
    }

    fn tokens(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.token_path()).unwrap()).unwrap()
    }

    /// Rewrites one field of the stored sign-in, as a person editing the file would.
    fn edit_tokens(&self, field: &str, value: Value) {
        let mut tokens = self.tokens();
        tokens[field] = value;
        std::fs::write(self.token_path(), tokens.to_string()).unwrap();
    }

    /// The stored token strings and the password: none may ever be printed.
    fn secrets(&self) -> Vec<String> {
        let tokens = self.tokens();
        let mut secrets: Vec<String> = ["access_token", "id_token", "refresh_token"]
            .iter()
            .map(|field| tokens[field].as_str().unwrap().to_owned())
            .collect();
        secrets.push(PASSWORD.to_owned());
        secrets
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What one run printed and how it ended.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn printed(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

/// Runs `agent-cli args` with only `PATH`, the test's home and `env`, feeding `stdin`.
async fn cli(home: &Home, env: &[(&str, &str)], args: &[&str], stdin: &str) -> Run {
    let mut child = tokio::process::Command::new(workspace::binary("agent-cli"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", &home.dir)
        .env("XDG_CONFIG_HOME", home.dir.join("config"))
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    match input.write_all(stdin.as_bytes()).await {
        // A program that stops early (a usage error) may exit before reading its input; what
        // it printed and its exit code are what the tests check.
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(error) => panic!("writing agent-cli's standard input: {error}"),
    }
    drop(input);
    let output = tokio::time::timeout(RUN_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("agent-cli {args:?} did not finish within {RUN_TIMEOUT:?}"))
        .unwrap();
    Run {
        code: output.status.code().expect("agent-cli exits, not killed"),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// `agent-cli login` as the customer user with the password on stdin.
async fn login(home: &Home, moto: &Moto, pool: &CognitoPool, password: &str) -> Run {
    cli(
        home,
        &[("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", &moto.endpoint)],
        &[
            "login",
            "--user",
            CUSTOMER_USERNAME,
            "--client-id",
            &pool.client_id,
            "--region",
            REGION,
            "--password-stdin",
        ],
        &format!("{password}\n"),
    )
    .await
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// moto with the user pool, and the agent verifying that pool's ID tokens as deployed
/// (`AUTH_TOKEN_USE=id`), answering `answers`.
async fn signed_in_stack(answers: Vec<Turn>) -> (Moto, CognitoPool, BedrockStandIn, Agent) {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let bedrock = BedrockStandIn::start(answers).await;
    let auth_env = pool.agent_auth_env();
    let agent = Agent::start(&bedrock, None, &env_refs(&auth_env))
        .await
        .unwrap();
    (moto, pool, bedrock, agent)
}

#[tokio::test]
async fn login_then_ask_streams_the_answer_and_keeps_the_tokens_private() {
    let (moto, pool, _bedrock, agent) =
        signed_in_stack(vec![Turn::text("Your order CUST-001-7 ships tomorrow.")]).await;
    let home = Home::new();

    let login = login(&home, &moto, &pool, PASSWORD).await;
    assert_eq!(login.code, 0, "{login:?}");
    assert!(
        login.stderr.contains("Signed in as customer-001"),
        "{login:?}"
    );
    assert_eq!(mode(&home.token_path()), 0o600, "the token file is private");
    assert_eq!(mode(&home.config_dir()), 0o700, "so is its directory");

    let ask = cli(
        &home,
        &[],
        &["ask", "--url", &agent.base_url, "Where is my order?"],
        "",
    )
    .await;
    assert_eq!(ask.code, 0, "{ask:?}");
    assert_eq!(ask.stdout, "Your order CUST-001-7 ships tomorrow.\n");
    assert!(ask.stderr.contains("--session agent-cli-"), "{ask:?}");
    let subject = pool.subject_of(CUSTOMER_USERNAME).await.unwrap();
    let completed = agent
        .wait_for_log("turn completed", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        completed["caller"],
        json!(subject),
        "the agent verified the token"
    );
    assert_eq!(
        completed["access"],
        json!("customer"),
        "the ID token, sent by default, carries the customer id"
    );

    for secret in home.secrets() {
        for run in [&login, &ask] {
            assert!(
                !run.printed().contains(&secret),
                "a secret was printed: {run:?}"
            );
        }
    }

    let logout = cli(&home, &[], &["logout"], "").await;
    assert_eq!(logout.code, 0, "{logout:?}");
    assert!(!home.token_path().exists(), "logout deletes the tokens");
    let signed_out = cli(&home, &[], &["ask", "--url", &agent.base_url, "hi"], "").await;
    assert_eq!(signed_out.code, 3, "{signed_out:?}");
    assert!(
        signed_out.stderr.contains("not signed in"),
        "{signed_out:?}"
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_before_the_request() {
    let (moto, pool, _bedrock, agent) = signed_in_stack(vec![Turn::text("Refreshed.")]).await;
    let home = Home::new();
    assert_eq!(login(&home, &moto, &pool, PASSWORD).await.code, 0);
    let before = home.tokens();
    home.edit_tokens("expires_at", json!(now() - 10));

    // Cognito is reached through the stored sign-in's region and app client, and the
    // endpoint variable; no flags name them here.
    let ask = cli(
        &home,
        &[("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", &moto.endpoint)],
        &["ask", "--url", &agent.base_url, "hello"],
        "",
    )
    .await;
    assert_eq!(ask.code, 0, "{ask:?}");
    assert_eq!(ask.stdout, "Refreshed.\n");
    let after = home.tokens();
    assert_ne!(after["access_token"], before["access_token"], "new tokens");
    assert!(
        after["expires_at"].as_u64().unwrap() > now() + 600,
        "{after}"
    );
    assert_eq!(after["refresh_token"], before["refresh_token"]);
    assert_eq!(
        mode(&home.token_path()),
        0o600,
        "still private after the refresh"
    );
    for secret in home
        .secrets()
        .into_iter()
        .chain([before["access_token"].as_str().unwrap().to_owned()])
    {
        assert!(!ask.printed().contains(&secret), "{ask:?}");
    }
}

#[tokio::test]
async fn a_session_started_by_another_user_is_explained_and_shows_nothing_of_it() {
    let (moto, pool, _bedrock, agent) =
        signed_in_stack(vec![Turn::text("Your refund was approved.")]).await;
    let session = "conversation-of-customer-001-0123456789";
    let owner = Home::new();
    assert_eq!(login(&owner, &moto, &pool, PASSWORD).await.code, 0);
    let first = cli(
        &owner,
        &[],
        &[
            "ask",
            "--url",
            &agent.base_url,
            "--session",
            session,
            "My refund?",
        ],
        "",
    )
    .await;
    assert_eq!(first.code, 0, "{first:?}");

    let other = Home::new();
    let signed_in = cli(
        &other,
        &[("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", &moto.endpoint)],
        &[
            "login",
            "--user",
            STAFF_USERNAME,
            "--client-id",
            &pool.client_id,
            "--region",
            REGION,
            "--password-stdin",
        ],
        &format!("{PASSWORD}\n"),
    )
    .await;
    assert_eq!(signed_in.code, 0, "{signed_in:?}");
    let refused = cli(
        &other,
        &[],
        &[
            "ask",
            "--url",
            &agent.base_url,
            "--session",
            session,
            "What did they ask?",
        ],
        "",
    )
    .await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert!(
        refused.stderr.contains("started by another signed-in user")
            && refused.stderr.contains("without --session"),
        "{refused:?}"
    );
    assert!(!refused.printed().contains("refund"), "{refused:?}");
}

#[tokio::test]
async fn a_wrong_password_exits_3_with_a_plain_message() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let home = Home::new();
    let wrong = "Not-The-Password-1!";
    let login = login(&home, &moto, &pool, wrong).await;
    assert_eq!(login.code, 3, "{login:?}");
    assert!(
        login.stderr.contains("sign-in refused by Cognito")
            && login.stderr.contains("Incorrect username or password"),
        "{login:?}"
    );
    assert!(!login.printed().contains(wrong), "{login:?}");
    assert!(!home.token_path().exists(), "nothing stored");
}

#[tokio::test]
async fn a_tampered_token_gets_the_agents_401_explained() {
    let (moto, pool, bedrock, agent) = signed_in_stack(vec![]).await;
    let home = Home::new();
    assert_eq!(login(&home, &moto, &pool, PASSWORD).await.code, 0);
    let mut tampered = home.tokens()["id_token"].as_str().unwrap().to_owned();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    home.edit_tokens("id_token", json!(tampered));

    let ask = cli(&home, &[], &["ask", "--url", &agent.base_url, "hi"], "").await;
    assert_eq!(ask.code, 3, "{ask:?}");
    assert!(
        ask.stderr.contains("refused your ID token")
            && ask.stderr.contains("401")
            && ask.stderr.contains("agent-cli login")
            && ask.stderr.contains("--token-use access"),
        "{ask:?}"
    );
    assert!(ask.stdout.is_empty(), "{ask:?}");
    for secret in home.secrets() {
        assert!(!ask.printed().contains(&secret), "{ask:?}");
    }
    assert!(bedrock.requests().is_empty(), "refused before the model");
}

#[tokio::test]
async fn an_access_token_refused_by_an_agent_that_takes_id_tokens_is_explained() {
    let (moto, pool, bedrock, agent) = signed_in_stack(vec![Turn::text("Hello.")]).await;
    let home = Home::new();
    assert_eq!(login(&home, &moto, &pool, PASSWORD).await.code, 0);

    let ask = cli(
        &home,
        &[],
        &[
            "ask",
            "--url",
            &agent.base_url,
            "--token-use",
            "access",
            "hi",
        ],
        "",
    )
    .await;
    assert_eq!(ask.code, 3, "{ask:?}");
    assert!(
        ask.stderr.contains("refused your access token")
            && ask.stderr.contains("not the kind of token the agent takes")
            && ask.stderr.contains("leave out --token-use access"),
        "{ask:?}"
    );
    assert!(bedrock.requests().is_empty(), "refused before the model");
    for secret in home.secrets() {
        assert!(!ask.printed().contains(&secret), "{ask:?}");
    }

    // The default, the ID token, is what this agent takes.
    let ask = cli(&home, &[], &["ask", "--url", &agent.base_url, "hi"], "").await;
    assert_eq!(ask.code, 0, "{ask:?}");
    assert_eq!(ask.stdout, "Hello.\n");
}

#[tokio::test]
async fn json_prints_parseable_events_ending_in_done() {
    let bedrock = BedrockStandIn::start([Turn::text("Plain events for scripts.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let home = Home::new();
    let ask = cli(
        &home,
        &[],
        &["ask", "--url", &agent.base_url, "--no-auth", "--json", "hi"],
        "",
    )
    .await;
    assert_eq!(ask.code, 0, "{ask:?}");
    let events: Vec<Value> = ask
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    assert_eq!(events.first().unwrap()["type"], "start");
    let done = events.last().unwrap();
    assert_eq!(done["type"], "done");
    assert_eq!(done["text"], "Plain events for scripts.");
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == "text_delta")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(streamed, "Plain events for scripts.");
    assert!(ask.stderr.is_empty(), "nothing but events: {ask:?}");
}

#[tokio::test]
async fn chat_keeps_one_session_for_the_whole_conversation() {
    let bedrock =
        BedrockStandIn::start([Turn::text("Hello, Ana."), Turn::text("You are Ana.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let home = Home::new();
    let chat = cli(
        &home,
        &[],
        &["chat", "--url", &agent.base_url, "--no-auth"],
        "I am Ana.\n\nWho am I?\n/exit\nnever sent\n",
    )
    .await;
    assert_eq!(chat.code, 0, "{chat:?}");
    assert_eq!(chat.stdout, "Hello, Ana.\nYou are Ana.\n");
    let requests = bedrock.requests();
    assert_eq!(
        requests.len(),
        2,
        "blank lines are skipped, /exit ends the chat"
    );
    let second = requests[1].body["messages"].as_array().unwrap();
    assert_eq!(
        second.len(),
        3,
        "the second question carries the first exchange"
    );
    assert_eq!(second[0]["content"][0]["text"], "I am Ana.");
}

/// One request the listener received.
#[derive(Debug, Clone)]
struct Received {
    /// The raw (still percent-encoded) path.
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Value,
}

/// How the listener answers.
#[derive(Debug, Clone)]
enum Reply {
    /// `200 text/event-stream` with these events.
    Stream(Vec<Value>),
    /// These events, then nothing more, with the connection held open.
    Stall(Vec<Value>),
    /// An AWS-style error answer.
    Error(StatusCode, &'static str, Value),
}

/// A stand-in for the AgentCore data plane's invocation endpoint that records requests and
/// answers as told.
struct RuntimeListener {
    base_url: String,
    received: Arc<Mutex<Vec<Received>>>,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeListener {
    async fn start(reply: Reply) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .fallback(answer)
            .with_state((received.clone(), reply));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            base_url,
            received,
            server,
        }
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for RuntimeListener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State((received, reply)): State<(Arc<Mutex<Vec<Received>>>, Reply)>,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    received.lock().unwrap().push(Received {
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
    });
    let frames =
        |events: &[Value]| -> String { events.iter().map(|e| format!("data: {e}\n\n")).collect() };
    let sse = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/event-stream");
    match reply {
        Reply::Stream(events) => sse.body(Body::from(frames(&events))).unwrap(),
        Reply::Stall(events) => {
            let first = futures::stream::iter([Ok::<_, std::io::Error>(frames(&events))]);
            sse.body(Body::from_stream(first.chain(futures::stream::pending())))
                .unwrap()
        }
        Reply::Error(status, error_type, body) => Response::builder()
            .status(status)
            .header("content-type", "application/json")
            .header(
                "x-amzn-errortype",
                format!("{error_type}:http://internal.amazon.com/"),
            )
            .header("x-amzn-requestid", "req-0123")
            .body(Body::from(body.to_string()))
            .unwrap(),
    }
}

fn runtime_env(listener: &RuntimeListener) -> [(&str, &str); 1] {
    [(
        "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
        listener.base_url.as_str(),
    )]
}

#[tokio::test]
async fn a_runtime_arn_is_invoked_at_the_encoded_data_plane_url() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let home = Home::new();
    assert_eq!(login(&home, &moto, &pool, PASSWORD).await.code, 0);
    let listener = RuntimeListener::start(Reply::Stream(vec![
        json!({"type": "start", "schema_version": 1, "session_id": "s", "request_id": "r"}),
        json!({"type": "text_delta", "text": "Let me look."}),
        json!({"type": "tool_call", "id": "t1", "name": "list_customer_orders", "source": "aurora", "input": {}}),
        json!({"type": "tool_result", "id": "t1", "name": "list_customer_orders", "status": "ok", "output": {}}),
        json!({"type": "text_delta", "text": " You have two orders."}),
        json!({"type": "done", "text": "Let me look. You have two orders.", "stop_reason": "end_turn"}),
    ]))
    .await;

    let ask = cli(
        &home,
        &runtime_env(&listener),
        &["ask", "--runtime-arn", RUNTIME_ARN, "What did I order?"],
        "",
    )
    .await;
    assert_eq!(ask.code, 0, "{ask:?}");
    assert_eq!(ask.stdout, "Let me look. You have two orders.\n");
    assert!(
        ask.stderr.contains("→ list_customer_orders … ok"),
        "{ask:?}"
    );

    let access_token = cli(
        &home,
        &runtime_env(&listener),
        &[
            "ask",
            "--runtime-arn",
            RUNTIME_ARN,
            "--token-use",
            "access",
            "again",
        ],
        "",
    )
    .await;
    assert_eq!(access_token.code, 0, "{access_token:?}");
    // config.json sets the kind for a deployment that takes access tokens; the flag wins.
    std::fs::write(
        home.config_dir().join("config.json"),
        json!({"token_use": "access"}).to_string(),
    )
    .unwrap();
    for args in [&[][..], &["--token-use", "id"][..]] {
        let mut argv = vec!["ask", "--runtime-arn", RUNTIME_ARN];
        argv.extend_from_slice(args);
        argv.push("once more");
        let run = cli(&home, &runtime_env(&listener), &argv, "").await;
        assert_eq!(run.code, 0, "{run:?}");
    }

    let received = listener.received();
    assert_eq!(received.len(), 4);
    let first = &received[0];
    assert_eq!(
        first.path,
        "/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A123456789012%3Aruntime%2Fsupport_agent-Xy12AbCdEf/invocations"
    );
    assert_eq!(first.query.as_deref(), Some("qualifier=DEFAULT"));
    assert_eq!(first.body, json!({"prompt": "What did I order?"}));
    assert_eq!(first.headers["accept"], "text/event-stream");
    let session = first.headers["x-amzn-bedrock-agentcore-runtime-session-id"]
        .to_str()
        .unwrap();
    assert!((33..=256).contains(&session.len()), "{session}");
    let tokens = home.tokens();
    let bearer = |token: &Value| format!("Bearer {}", token.as_str().unwrap());
    assert_eq!(
        first.headers["authorization"],
        bearer(&tokens["id_token"]).as_str(),
        "the ID token is sent by default"
    );
    assert_eq!(
        received[1].headers["authorization"],
        bearer(&tokens["access_token"]).as_str(),
        "--token-use access sends the access token"
    );
    assert_eq!(
        received[2].headers["authorization"],
        bearer(&tokens["access_token"]).as_str(),
        "config.json's token_use"
    );
    assert_eq!(
        received[3].headers["authorization"],
        bearer(&tokens["id_token"]).as_str(),
        "the flag over config.json"
    );
    assert_ne!(
        received[1].headers["x-amzn-bedrock-agentcore-runtime-session-id"], session,
        "each ask is a new conversation"
    );
}

#[tokio::test]
async fn busy_sessions_and_failed_runtimes_are_explained_and_not_retried() {
    let home = Home::new();
    let session = "my-own-conversation-0123456789abcdef";
    let cases = [
        (
            Reply::Error(
                StatusCode::CONFLICT,
                "ConflictException",
                json!({"message": "Session busy"}),
            ),
            vec!["still answering".to_owned(), format!("--session {session}")],
        ),
        (
            Reply::Error(
                StatusCode::FAILED_DEPENDENCY,
                "RuntimeClientError",
                json!({"message": "Received error (500) from runtime. Please check your CloudWatch logs for more information."}),
            ),
            vec![
                "the runtime failed".to_owned(),
                format!(
                    "CloudWatch, log group /aws/bedrock-agentcore/runtimes/{RUNTIME_ID}-DEFAULT"
                ),
                format!("session {session}"),
                "request id req-0123".to_owned(),
                "not retried".to_owned(),
            ],
        ),
    ];
    for (reply, explained) in cases {
        let listener = RuntimeListener::start(reply).await;
        let ask = cli(
            &home,
            &runtime_env(&listener),
            &[
                "ask",
                "--runtime-arn",
                RUNTIME_ARN,
                "--no-auth",
                "--session",
                session,
                "Open a ticket",
            ],
            "",
        )
        .await;
        assert_eq!(ask.code, 1, "{ask:?}");
        for words in explained {
            assert!(ask.stderr.contains(&words), "{words:?} missing: {ask:?}");
        }
        assert_eq!(listener.received().len(), 1, "exactly one request");
    }
}

#[tokio::test]
async fn a_stalled_stream_times_out_without_a_retry() {
    let home = Home::new();
    let listener = RuntimeListener::start(Reply::Stall(vec![
        json!({"type": "start", "schema_version": 1, "session_id": "s", "request_id": "r"}),
        json!({"type": "text_delta", "text": "Thinking"}),
    ]))
    .await;
    let started = std::time::Instant::now();
    let ask = cli(
        &home,
        &runtime_env(&listener),
        &[
            "ask",
            "--runtime-arn",
            RUNTIME_ARN,
            "--no-auth",
            "--idle-timeout",
            "1",
            "hello",
        ],
        "",
    )
    .await;
    assert_eq!(ask.code, 1, "{ask:?}");
    assert!(ask.stdout.starts_with("Thinking"), "{ask:?}");
    assert!(ask.stderr.contains("no event from runtime"), "{ask:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(listener.received().len(), 1, "not retried");
}

#[tokio::test]
async fn usage_errors_exit_2_before_any_request() {
    let home = Home::new();
    let short = cli(
        &home,
        &[],
        &["ask", "--no-auth", "--session", "too-short", "hi"],
        "",
    )
    .await;
    assert_eq!(short.code, 2, "{short:?}");
    assert!(short.stderr.contains("33 to 256"), "{short:?}");
    let bad_arn = cli(
        &home,
        &[],
        &[
            "ask",
            "--no-auth",
            "--runtime-arn",
            "arn:aws:s3:::bucket",
            "hi",
        ],
        "",
    )
    .await;
    assert_eq!(bad_arn.code, 2, "{bad_arn:?}");
    let two_credentials = cli(
        &home,
        &[],
        &["ask", "--no-auth", "--token-use", "access", "hi"],
        "",
    )
    .await;
    assert_eq!(two_credentials.code, 2, "{two_credentials:?}");
    let unknown_kind = cli(&home, &[], &["ask", "--token-use", "refresh", "hi"], "").await;
    assert_eq!(unknown_kind.code, 2, "{unknown_kind:?}");
    assert!(
        unknown_kind.stderr.contains("id") && unknown_kind.stderr.contains("access"),
        "{unknown_kind:?}"
    );
    let no_client = cli(
        &home,
        &[],
        &["login", "--user", "u", "--password-stdin"],
        "pw\n",
    )
    .await;
    assert_eq!(no_client.code, 2, "{no_client:?}");
    assert!(no_client.stderr.contains("--client-id"), "{no_client:?}");
    let help = cli(&home, &[], &["ask", "--help"], "").await;
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("Exit codes:"), "{help:?}");
}
