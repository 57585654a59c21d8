//! The web chat (`web/`) in a real browser against the real system: the agent (Cognito ID
//! tokens verified, CORS for the page's origin, MCP tools from the real MCP server on moto's
//! DynamoDB), moto's Cognito for the page's own sign-in, and the Bedrock stand-in scripted per
//! scenario. `tests/web/chat.mjs` drives Chromium; screenshots of each state land in
//! `target/web-screenshots/` for review.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use system_tests::agent::Agent;
use system_tests::bedrock::{BedrockStandIn, ExceptionSpelling, PARTIAL_TEXT, ToolCall, Turn};
use system_tests::cognito::{
    CUSTOMER_ID, CUSTOMER_ID_ATTRIBUTE, CUSTOMER_USERNAME, CognitoPool, PASSWORD, STAFF_USERNAME,
};
use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::web::{self, PageServer, Scenario};
use system_tests::workspace;

const OTHER_USERNAME: &str = "customer-002";
const OTHER_CUSTOMER_ID: &str = "CUST-002";

/// Everything one browser scenario runs against; dropping it stops it all.
struct System {
    _moto: Moto,
    _mcp: McpServer,
    _page: PageServer,
    page_url: String,
    bedrock: BedrockStandIn,
    agent: Agent,
}

impl System {
    async fn start(script: Vec<Turn>, extra_env: &[(&str, &str)]) -> Self {
        let dist = std::env::temp_dir().join(format!(
            "web-chat-dist-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        web::build_page(&dist).await.unwrap();
        let page = PageServer::start(&dist).await.unwrap();

        let moto = Moto::start().await.unwrap();
        let pool = CognitoPool::create(&moto).await.unwrap();
        pool.create_user(
            OTHER_USERNAME,
            &[
                ("email", "customer-002@example.com"),
                (CUSTOMER_ID_ATTRIBUTE, OTHER_CUSTOMER_ID),
            ],
            &[],
        )
        .await
        .unwrap();
        let mcp = McpServer::seeded(&moto).await.unwrap();
        let bedrock = BedrockStandIn::start(script).await;
        let mut env = pool.agent_auth_env();
        env.push(("CORS_ALLOWED_ORIGINS".into(), page.origin.clone()));
        for (key, value) in extra_env {
            env.push(((*key).to_owned(), (*value).to_owned()));
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let agent = Agent::start(&bedrock, Some(&mcp.url), &env).await.unwrap();
        let config = json!({
            "agentUrl": format!("{}/invocations", agent.base_url),
            "region": "us-east-1",
            "userPoolId": pool.pool_id,
            "clientId": pool.client_id,
            "cognitoEndpoint": format!("{}/", moto.endpoint),
        });
        std::fs::write(dist.join("config.json"), config.to_string()).unwrap();
        Self {
            page_url: format!("{}/", page.origin),
            _moto: moto,
            _mcp: mcp,
            _page: page,
            bedrock,
            agent,
        }
    }

    /// Runs `scenario` with `users`; fails the test with the script's report and the agent's
    /// logs unless every step passed.
    async fn run(&self, scenario: &str, users: Value) -> Scenario {
        let mut settings = json!({
            "scenario": scenario,
            "pageUrl": self.page_url,
            "password": PASSWORD,
            "screenshots": screenshots(),
        });
        for (key, value) in users.as_object().unwrap() {
            settings[key] = value.clone();
        }
        let outcome = web::run_scenario(&settings).await.unwrap();
        assert!(
            outcome.success && outcome.step("done").is_some(),
            "the browser scenario failed: {:?}\n{}\nagent logs:\n{}",
            outcome.lines,
            outcome.stderr,
            self.agent.process.logs().join("\n")
        );
        assert!(
            !self.agent.process.logs().join("\n").contains("eyJ"),
            "no token in the agent's logs"
        );
        outcome
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn screenshots() -> PathBuf {
    workspace::root().join("target").join("web-screenshots")
}

fn assert_screenshots(outcome: &Scenario, steps: &[&str]) {
    for step in steps {
        let shot = outcome.step(step).unwrap()["screenshot"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(std::path::Path::new(&shot).exists(), "{step}: {shot}");
    }
}

#[tokio::test]
async fn a_customer_chats_with_tools_stops_resumes_and_signs_out_and_another_sees_nothing() {
    let system = System::start(
        vec![
            Turn::ToolUse {
                text: Some("Let me look that up.".into()),
                calls: vec![ToolCall::new(
                    "call-1",
                    "list_customer_tickets",
                    json!({"customer_id": CUSTOMER_ID}),
                )],
            },
            Turn::SlowText {
                text: "You have **2** open tickets. <b>raw</b> <img src=x onerror=alert(1)>".into(),
                chunks: 8,
                delay: Duration::from_millis(150),
            },
            Turn::SlowText {
                text: "Once upon a time ".repeat(40),
                chunks: 40,
                delay: Duration::from_millis(250),
            },
        ],
        &[],
    )
    .await;
    let outcome = system
        .run(
            "customer",
            json!({
                "customer": {"username": CUSTOMER_USERNAME, "customerId": CUSTOMER_ID,
                    "finalAnswer": "open tickets", "boldWord": "2"},
                "otherCustomer": {"username": OTHER_USERNAME, "customerId": OTHER_CUSTOMER_ID},
            }),
        )
        .await;

    let partial = outcome.step("answered").unwrap()["partial"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !partial.contains("open tickets."),
        "the answer was seen while streaming, before it was complete: {partial:?}"
    );
    assert!(
        system
            .bedrock
            .wait_for_disconnects(1, Duration::from_secs(10))
            .await
            >= 1,
        "Stop ended the model stream of the stopped run"
    );
    assert_screenshots(
        &outcome,
        &[
            "sign-in-form",
            "signed-in",
            "answered",
            "stopped",
            "resumed",
            "other-customer-refused",
            "signed-out",
        ],
    );
}

#[tokio::test]
async fn staff_see_their_role_and_failures_retries_busy_and_throttling_are_explained() {
    let slow = Turn::SlowText {
        text: "Thinking it over carefully. ".repeat(20),
        chunks: 20,
        delay: Duration::from_millis(300),
    };
    let mut script = vec![
        Turn::tool_use([ToolCall::new(
            "call-1",
            "get_support_ticket",
            json!({"ticket_id": "TKT-9999"}),
        )]),
        Turn::text("I could not find that ticket."),
        Turn::ThrottleInStream {
            spelling: ExceptionSpelling::MemberName,
        },
        Turn::text("Finally, an answer."),
        slow,
    ];
    // Throttling until the retry budget is spent: more than the budget allows.
    script.extend(std::iter::repeat_with(|| Turn::ThrottleBeforeStream).take(40));
    let system = System::start(script, &[("MODEL_RETRY_BUDGET_MS", "400")]).await;
    let outcome = system
        .run(
            "staff",
            json!({
                "staff": {"username": STAFF_USERNAME, "retriedAnswer": "Finally, an answer.",
                    "partialText": PARTIAL_TEXT},
            }),
        )
        .await;
    assert_screenshots(
        &outcome,
        &[
            "staff-signed-in",
            "tool-failed",
            "retried",
            "busy",
            "throttled",
        ],
    );
}
