//! The deployed identity path, end to end and taken from the templates: an app client with the
//! attribute permissions of `deploy/identity.yaml`'s `AppClient`, the agent binary with the
//! token settings of `deploy/runtimes.yaml`'s `AgentRuntime` (its `AUTH_*`, `CUSTOMER_ID_CLAIM`
//! and `STAFF_GROUP`, the stack imports replaced by moto's pool), a user whom an administrator
//! links to a customer with AdminUpdateUserAttributes, and that user's real tokens from moto.
//! The templates are decoded here (by cfn-lint's decoder from the project's `.venv`, as
//! `deploy_templates.rs` does), so this test follows the deployment instead of restating it.
//!
//! One part moto cannot show: it ignores an app client's `WriteAttributes` (its
//! UpdateUserAttributes writes any attribute; moto 5.2, `cognitoidp/models.py`), so a
//! customer's own attempt to set `custom:customer_id` would succeed there whatever the
//! template says. That the template forbids it is checked on the template instead
//! (`deploy_templates.rs`, `the_agent_reads_the_customer_from_id_tokens_and_users_cannot_write_it`).

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Map, Value, json};
use system_tests::agent::Agent;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::cognito::{CUSTOMER_ID, CUSTOMER_ID_ATTRIBUTE, CUSTOMER_USERNAME, CognitoPool};
use system_tests::moto::Moto;
use system_tests::workspace;

/// A user of the pool who is no customer until an administrator links them.
const NEW_USER: &str = "new-customer-007";
/// The demo-data customer the administrator links them to. Not [`CUSTOMER_ID`], which the
/// default system prompt quotes as an example of an id.
const LINKED_CUSTOMER: &str = "CUST-007";

/// A template as JSON, decoded by cfn-lint (intrinsic tags become `{"Fn::...": ...}`).
fn template(name: &str) -> Value {
    let script = "import json, sys\nfrom cfnlint.decode import decode\ntemplate, matches = decode(sys.argv[1])\nif matches:\n    sys.exit('\\n'.join(str(m) for m in matches))\nprint(json.dumps(template))";
    let path = workspace::root()
        .join("deploy")
        .join(format!("{name}.yaml"));
    let output = Command::new(workspace::venv_program("python"))
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("the venv's python runs");
    assert!(
        output.status.success(),
        "decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the decoder prints JSON")
}

/// `ReadAttributes` and `WriteAttributes` of the deployed app client.
fn deployed_client_attributes() -> (Vec<String>, Vec<String>) {
    let identity = template("identity");
    let client = &identity["Resources"]["AppClient"]["Properties"];
    let names = |property: &str| -> Vec<String> {
        client[property]
            .as_array()
            .unwrap_or_else(|| panic!("AppClient sets {property}"))
            .iter()
            .map(|name| name.as_str().expect("an attribute name").to_owned())
            .collect()
    };
    (names("ReadAttributes"), names("WriteAttributes"))
}

/// The deployed agent's identity settings, with the identity stack's exports replaced by
/// this pool's issuer and `client_id`.
fn deployed_agent_env(pool: &CognitoPool, client_id: &str) -> Vec<(String, String)> {
    let runtimes = template("runtimes");
    let env = runtimes["Resources"]["AgentRuntime"]["Properties"]["EnvironmentVariables"]
        .as_object()
        .expect("the agent runtime has environment variables");
    let resolve = |value: &Value| -> String {
        if let Some(text) = value.as_str() {
            return text.to_owned();
        }
        if let Some(parameter) = value["Ref"].as_str() {
            return runtimes["Parameters"][parameter]["Default"]
                .as_str()
                .unwrap_or_else(|| panic!("parameter {parameter} has a default"))
                .to_owned();
        }
        match value["Fn::ImportValue"]["Fn::Sub"].as_str() {
            Some("${EnvironmentName}-AuthIssuer") => pool.issuer.clone(),
            Some("${EnvironmentName}-AppClientId") => client_id.to_owned(),
            _ => panic!("an identity setting this test cannot stand in for: {value}"),
        }
    };
    let settings: Vec<(String, String)> = env
        .iter()
        .filter(|(name, _)| {
            name.starts_with("AUTH_") || *name == "CUSTOMER_ID_CLAIM" || *name == "STAFF_GROUP"
        })
        .map(|(name, value)| (name.clone(), resolve(value)))
        .collect();
    assert!(
        settings.iter().any(|(name, _)| name == "AUTH_MODE"),
        "{settings:?}"
    );
    settings
}

fn env_refs(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fn claims_of(token: &str) -> Map<String, Value> {
    let payload = token.split('.').nth(1).expect("a compact JWS");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url payload");
    serde_json::from_slice(&bytes).expect("a JSON object payload")
}

/// moto's pool with the deployed app client, and the agent configured as deployed.
struct Deployed {
    _moto: Moto,
    pool: CognitoPool,
    client_id: String,
    bedrock: BedrockStandIn,
    agent: Agent,
}

async fn deployed(answers: Vec<Turn>) -> Deployed {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let (read, write) = deployed_client_attributes();
    let read: Vec<&str> = read.iter().map(String::as_str).collect();
    let write: Vec<&str> = write.iter().map(String::as_str).collect();
    let client_id = pool
        .create_client_with_attributes("support-app-as-deployed", &read, &write)
        .await
        .unwrap();
    let bedrock = BedrockStandIn::start(answers).await;
    let env = deployed_agent_env(&pool, &client_id);
    let agent = Agent::start(&bedrock, None, &env_refs(&env)).await.unwrap();
    Deployed {
        _moto: moto,
        pool,
        client_id,
        bedrock,
        agent,
    }
}

impl Deployed {
    async fn ask(&self, token: &str) -> system_tests::agent::Answer {
        let bearer = format!("Bearer {token}");
        self.agent
            .invoke(
                &json!({"prompt": "Where are my orders?"}),
                &[("authorization", &bearer)],
            )
            .await
            .unwrap()
    }

    /// The system prompt of the latest model request, which says who the caller is.
    fn last_system_prompt(&self) -> String {
        let requests = self.bedrock.requests();
        requests.last().expect("a model request").body["system"].to_string()
    }
}

#[tokio::test]
async fn an_administrator_links_a_user_and_the_deployed_agent_serves_them_as_that_customer() {
    let stack = deployed(vec![Turn::text("Hello."), Turn::text("Hello, customer.")]).await;
    stack
        .pool
        .create_user(NEW_USER, &[("email", "new-customer-007@example.com")], &[])
        .await
        .unwrap();

    // Signed in, but linked to no customer yet.
    let before = stack
        .pool
        .sign_in(NEW_USER, &stack.client_id)
        .await
        .unwrap();
    assert!(
        !claims_of(&before.id_token).contains_key(CUSTOMER_ID_ATTRIBUTE),
        "{:?}",
        claims_of(&before.id_token)
    );
    let answer = stack.ask(&before.id_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.events);
    let turns = stack
        .agent
        .wait_for_logs("turn completed", 1, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(turns[0]["access"], json!("unlinked"), "{:?}", turns[0]);
    assert!(!stack.last_system_prompt().contains(LINKED_CUSTOMER));

    // The administrator links the user; their next ID token carries the link.
    stack
        .pool
        .link_customer(NEW_USER, LINKED_CUSTOMER)
        .await
        .unwrap();
    let after = stack
        .pool
        .sign_in(NEW_USER, &stack.client_id)
        .await
        .unwrap();
    assert_eq!(
        claims_of(&after.id_token)[CUSTOMER_ID_ATTRIBUTE],
        json!(LINKED_CUSTOMER)
    );
    assert!(
        !claims_of(&after.access_token).contains_key(CUSTOMER_ID_ATTRIBUTE),
        "Cognito puts custom attributes in ID tokens only, which is why the agent takes those"
    );
    let answer = stack.ask(&after.id_token).await;
    assert_eq!(answer.status, StatusCode::OK, "{:?}", answer.events);
    assert_eq!(answer.last()["text"], json!("Hello, customer."));
    let turns = stack
        .agent
        .wait_for_logs("turn completed", 2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(turns[1]["access"], json!("customer"), "{:?}", turns[1]);
    assert_eq!(
        turns[1]["caller"],
        json!(stack.pool.subject_of(NEW_USER).await.unwrap())
    );
    assert!(
        stack.last_system_prompt().contains(LINKED_CUSTOMER),
        "the model is told which customer is signed in: {}",
        stack.last_system_prompt()
    );
}

#[tokio::test]
async fn the_deployed_agent_refuses_an_access_token_and_logs_why() {
    let stack = deployed(vec![Turn::text("Hello, customer.")]).await;
    // The harness's customer is linked to CUST-001 from the start.
    let tokens = stack
        .pool
        .sign_in(CUSTOMER_USERNAME, &stack.client_id)
        .await
        .unwrap();

    let refused = stack.ask(&tokens.access_token).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refused.headers["www-authenticate"],
        r#"Bearer error="invalid_token""#
    );
    assert_eq!(
        refused.events[0],
        json!({"error": "unauthorized"}),
        "the caller is told nothing more"
    );
    assert!(
        stack.bedrock.requests().is_empty(),
        "refused before the model"
    );
    let line = stack
        .agent
        .wait_for_log(
            "request refused: bearer token not accepted",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    let reason = line["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("token_use=access") && reason.contains("AUTH_TOKEN_USE=id"),
        "the log names the kind of token sent and the kind accepted: {line}"
    );
    let logged = stack.agent.process.logs().join("\n");
    for segment in tokens.access_token.split('.') {
        assert!(!logged.contains(segment), "a token segment was logged");
    }

    // The same sign-in's ID token is served: the refusal was about the kind of token.
    assert_eq!(
        claims_of(&tokens.id_token)[CUSTOMER_ID_ATTRIBUTE],
        json!(CUSTOMER_ID)
    );
    let served = stack.ask(&tokens.id_token).await;
    assert_eq!(served.status, StatusCode::OK, "{:?}", served.events);
    let turn = stack
        .agent
        .wait_for_log("turn completed", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(turn["access"], json!("customer"), "{turn}");
}
