//! The agent's opt-in CORS layer (`CORS_ALLOWED_ORIGINS`), with real preflights as a browser
//! sends them: an allowed origin may POST `/invocations` with its bearer token and read the
//! session header, any other origin gets no permission, a 401 still carries the permission so
//! the page can read it, and without the setting there is no CORS at all.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::{Method, StatusCode};
use serde_json::json;
use system_tests::agent::Agent;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::cognito::CognitoPool;
use system_tests::moto::Moto;
use system_tests::workspace;

const PAGE: &str = "http://127.0.0.1:5173";
const SESSION_HEADER: &str = agent_protocol::headers::SESSION_ID;

/// The preflight a browser sends before a `fetch` with these headers from `origin`.
async fn preflight(agent: &Agent, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, format!("{}/invocations", agent.base_url))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            format!("authorization,content-type,{SESSION_HEADER}"),
        )
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test]
async fn an_allowed_origin_is_granted_the_preflight_and_reads_the_answer() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let tokens = pool.customer_tokens().await.unwrap();
    let bedrock = BedrockStandIn::start([Turn::text("Hello from afar.")]).await;
    let mut env = pool.agent_auth_env();
    env.push((
        "CORS_ALLOWED_ORIGINS".to_owned(),
        format!("{PAGE}, https://chat.example.com"),
    ));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();

    let answer = preflight(&agent, PAGE).await;
    assert!(answer.status().is_success(), "{}", answer.status());
    assert_eq!(header(&answer, "access-control-allow-origin"), Some(PAGE));
    assert_eq!(
        header(&answer, "access-control-allow-methods"),
        Some("POST")
    );
    let allowed = header(&answer, "access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for needed in ["authorization", "content-type", "accept", SESSION_HEADER] {
        assert!(allowed.contains(needed), "{needed} not in {allowed}");
    }
    assert!(header(&answer, "access-control-max-age").is_some());
    assert!(
        header(&answer, "access-control-allow-credentials").is_none(),
        "the page sends its token itself: no credentials mode"
    );
    let second = preflight(&agent, "https://chat.example.com").await;
    assert_eq!(
        header(&second, "access-control-allow-origin"),
        Some("https://chat.example.com")
    );

    let id_token = tokens.id_token;
    let post = reqwest::Client::new()
        .post(format!("{}/invocations", agent.base_url))
        .header("origin", PAGE)
        .header("authorization", format!("Bearer {id_token}"))
        .header("content-type", "application/json")
        .header(SESSION_HEADER, "cors-session-0000000000000000000000001")
        .body(json!({"prompt": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), StatusCode::OK);
    assert_eq!(header(&post, "access-control-allow-origin"), Some(PAGE));
    let exposed = header(&post, "access-control-expose-headers")
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains(SESSION_HEADER), "{exposed}");
    assert!(post.text().await.unwrap().contains("Hello from afar."));

    let unauthenticated = reqwest::Client::new()
        .post(format!("{}/invocations", agent.base_url))
        .header("origin", PAGE)
        .header("content-type", "application/json")
        .body(json!({"prompt": "hi"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        header(&unauthenticated, "access-control-allow-origin"),
        Some(PAGE),
        "the page must be able to read a 401 to ask for a new sign-in"
    );
}

#[tokio::test]
async fn another_origin_is_refused_the_preflight() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[("CORS_ALLOWED_ORIGINS", PAGE)])
        .await
        .unwrap();
    for origin in [
        "http://127.0.0.1:5174",
        "http://localhost:5173",
        "https://127.0.0.1:5173",
        "null",
    ] {
        let answer = preflight(&agent, origin).await;
        assert_eq!(
            header(&answer, "access-control-allow-origin"),
            None,
            "{origin} must not be allowed"
        );
    }
    assert_eq!(bedrock.requests().len(), 0, "a preflight never runs a turn");
}

#[tokio::test]
async fn without_the_setting_no_origin_is_allowed() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let answer = preflight(&agent, PAGE).await;
    assert_eq!(header(&answer, "access-control-allow-origin"), None);
    assert_eq!(header(&answer, "access-control-allow-methods"), None);
}

#[tokio::test]
async fn wildcards_and_malformed_origins_are_refused_at_start() {
    for bad in ["*", "https://*.example.com", "http://127.0.0.1:5173/"] {
        let output = tokio::process::Command::new(workspace::binary("agent"))
            .env_clear()
            .envs([
                ("AWS_REGION", "us-east-1"),
                ("AUTH_MODE", "none"),
                ("AGENT_HOST", "127.0.0.1"),
                ("AGENT_PORT", "0"),
                ("CORS_ALLOWED_ORIGINS", bad),
            ])
            .output()
            .await
            .unwrap();
        assert!(!output.status.success(), "{bad} must not start");
        // The refusal is the log line the agent exits with (JSON logs on stdout).
        let said = String::from_utf8_lossy(&output.stdout);
        assert!(
            said.contains("CORS_ALLOWED_ORIGINS") && said.contains("is not an origin"),
            "{bad}: {said}"
        );
    }
}
