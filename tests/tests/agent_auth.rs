//! Callers of the agent binary authenticated by real Cognito JWTs from moto: verified tokens
//! are served, anything else gets 401 with a Bearer challenge before the model is called.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use reqwest::StatusCode;
use serde_json::json;
use system_tests::agent::Agent;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::cognito::CognitoPool;
use system_tests::moto::Moto;

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

#[tokio::test]
async fn verify_mode_serves_valid_tokens_and_refuses_the_rest() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let tokens = pool.customer_tokens().await.unwrap();
    let other_client = pool
        .sign_in("customer-001", &pool.other_client_id)
        .await
        .unwrap();
    let bedrock = BedrockStandIn::start([Turn::text("Hello, customer.")]).await;
    let auth_env = pool.auth_env();
    let agent = Agent::start(&bedrock, None, &env_refs(&auth_env))
        .await
        .unwrap();

    let bearer = format!("Bearer {}", tokens.access_token);
    let answer = agent
        .invoke(&json!({"prompt": "hi"}), &[("authorization", &bearer)])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.last()["text"], json!("Hello, customer."));
    let subject = pool.subject_of("customer-001").await.unwrap();
    let completed = agent
        .wait_for_log("turn completed", std::time::Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(
        completed["caller"],
        json!(subject),
        "the verified subject travels with the request"
    );

    let mut tampered = tokens.access_token.clone();
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases = [
        (None, "Bearer"),
        (
            Some(format!("Bearer {tampered}")),
            "Bearer error=\"invalid_token\"",
        ),
        (
            Some(format!("Bearer {}", other_client.access_token)),
            "Bearer error=\"invalid_token\"",
        ),
        (
            Some(format!("Bearer {}", tokens.id_token)),
            "Bearer error=\"invalid_token\"",
        ),
        (Some("Basic dXNlcjpwYXNz".to_owned()), "Bearer"),
    ];
    for (authorization, challenge) in cases {
        let headers: Vec<(&str, &str)> = authorization
            .iter()
            .map(|a| ("authorization", a.as_str()))
            .collect();
        let answer = agent
            .invoke(&json!({"prompt": "hi"}), &headers)
            .await
            .unwrap();
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{authorization:?}");
        assert_eq!(
            answer.headers["www-authenticate"], challenge,
            "{authorization:?}"
        );
        assert_eq!(
            answer.events[0],
            json!({"error": "unauthorized"}),
            "no detail leaks"
        );
    }
    assert_eq!(
        bedrock.requests().len(),
        1,
        "refused callers never reach the model"
    );
    let ping = reqwest::get(format!("{}/ping", agent.base_url))
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::OK, "/ping needs no token");
}

#[tokio::test]
async fn agentcore_mode_reads_claims_without_fetching_keys() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let tokens = pool.staff_tokens().await.unwrap();
    let bedrock = BedrockStandIn::start([Turn::text("Hello, staff.")]).await;
    let agent = Agent::start(
        &bedrock,
        None,
        &[
            ("AUTH_MODE", "agentcore"),
            ("AUTH_ISSUER", &pool.issuer),
            ("AUTH_ALLOWED_CLIENT_IDS", &pool.client_id),
            ("AUTH_JWKS_URL", "http://127.0.0.1:9/unreachable"),
        ],
    )
    .await
    .unwrap();
    let bearer = format!("Bearer {}", tokens.access_token);
    let answer = agent
        .invoke(&json!({"prompt": "hi"}), &[("authorization", &bearer)])
        .await
        .unwrap();
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.events);
    let answer = agent.invoke(&json!({"prompt": "hi"}), &[]).await.unwrap();
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn none_mode_warns_loudly_at_start() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let logs = agent.process.json_logs();
    assert!(
        logs.iter().any(|l| l["level"] == json!("WARN")
            && l["message"]
                .as_str()
                .is_some_and(|m| m.contains("AUTH_MODE=none"))),
        "{logs:?}"
    );
}
