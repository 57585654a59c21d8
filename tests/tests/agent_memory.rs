//! Durable short-term memory end to end: the real agent binary writing turns to the AgentCore
//! Memory stand-in (`system_tests::agentcore_memory`; moto has no Memory data plane) and a new
//! process restoring them. Callers are told apart by their verified identity (`SessionOwner`):
//! without inbound authentication the runtime user id header AgentCore sets, with Cognito ID
//! tokens (moto's) the token's issuer and subject, whatever the headers say. The actor a turn
//! is stored under comes from that identity only.

// Test code: a failed setup step fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::agentcore_memory::MemoryStandIn;
use system_tests::bedrock::{BedrockStandIn, ToolCall, Turn};
use system_tests::tool_probe::{ToolProbe, WAIT_TOOL};

const USER_HEADER: &str = agent_protocol::headers::RUNTIME_USER_ID;
const SESSION: &str = "memory-session-0123456789abcdef0123456789";
const WAIT: Duration = Duration::from_secs(20);

async fn start_agent(
    bedrock: &BedrockStandIn,
    memory: &MemoryStandIn,
    tools: Option<&ToolProbe>,
    extra: &[(&str, &str)],
) -> Agent {
    let memory_env = memory.agent_env();
    let mut env: Vec<(&str, &str)> = memory_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    let agent = Agent::start(bedrock, tools.map(|probe| probe.url.as_str()), &env)
        .await
        .unwrap();
    if tools.is_some() {
        agent.wait_for_log("tools listed", WAIT).await.unwrap();
    }
    agent
}

async fn ask(agent: &Agent, user: &str, prompt: &str) -> system_tests::agent::Answer {
    agent
        .invoke(
            &json!({ "prompt": prompt }),
            &[(SESSION_HEADER, SESSION), (USER_HEADER, user)],
        )
        .await
        .unwrap()
}

/// The `messages` of the last model request the stand-in received.
fn last_model_messages(bedrock: &BedrockStandIn) -> Vec<Value> {
    let requests = bedrock.requests();
    let last = requests.last().expect("the model was called");
    last.body["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_new_process_continues_the_callers_session_and_another_caller_gets_nothing_of_it() {
    let memory = MemoryStandIn::start().await;
    let probe = ToolProbe::start().await;
    let bedrock = BedrockStandIn::start([
        Turn::ToolUse {
            text: Some("Let me check.".into()),
            calls: vec![ToolCall::new(
                "call-1",
                WAIT_TOOL,
                json!({"label": "order-7", "wait_ms": 1}),
            )],
        },
        Turn::text("It is on its way."),
    ])
    .await;

    let mut first = start_agent(&bedrock, &memory, Some(&probe), &[]).await;
    let answer = ask(&first, "alice", "where is my order?").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let stored = memory.wait_for_events(1, WAIT).await;
    assert_eq!(stored.len(), 1, "one event per completed turn");
    let alice_actor = stored[0].actor_id.clone();
    assert!(
        !alice_actor.contains("alice"),
        "the actor id is a digest, not the identity: {alice_actor}"
    );
    first.process.terminate(WAIT).await.unwrap();

    // A new process (a new microVM): the session is unknown to it.
    bedrock.push(Turn::text("You asked where your order is."));
    let second = start_agent(&bedrock, &memory, Some(&probe), &[]).await;
    let answer = ask(&second, "alice", "what did I ask?").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let messages = last_model_messages(&bedrock);
    assert_eq!(
        messages.len(),
        5,
        "the restored turn, then the new prompt: {messages:#?}"
    );
    assert_eq!(messages[0]["role"], "user");
    assert_eq!(messages[0]["content"][0]["text"], "where is my order?");
    let tool_use = messages[1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|block| block.get("toolUse"))
        .expect("the model's tool use is restored");
    assert_eq!(tool_use["toolUseId"], "call-1");
    assert_eq!(tool_use["name"], WAIT_TOOL);
    assert_eq!(tool_use["input"], json!({"label": "order-7", "wait_ms": 1}));
    let tool_result = &messages[2]["content"][0]["toolResult"];
    assert_eq!(tool_result["toolUseId"], "call-1", "paired with its result");
    assert!(tool_result["content"].is_array(), "{tool_result}");
    assert_eq!(messages[3]["role"], "assistant");
    assert_eq!(messages[3]["content"][0]["text"], "It is on its way.");
    assert_eq!(messages[4]["content"][0]["text"], "what did I ask?");
    assert_eq!(
        memory.list_calls(),
        [
            (alice_actor.clone(), SESSION.to_owned()),
            (alice_actor.clone(), SESSION.to_owned())
        ],
        "each process restored the new session once, under the caller's own actor"
    );

    assert_eq!(memory.wait_for_events(2, WAIT).await.len(), 2);

    // In this process the session is alice's now: another caller is refused outright.
    let refused = ask(&second, "mallory", "what did alice ask?").await;
    assert_eq!(refused.status, 403);

    // In yet another process, the other caller comes first with the same session id: the
    // restore reads under their own actor and finds nothing of alice's conversation.
    bedrock.push(Turn::text("How can I help?"));
    let third = start_agent(&bedrock, &memory, Some(&probe), &[]).await;
    let answer = ask(&third, "mallory", "what did the last caller ask?").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let messages = last_model_messages(&bedrock);
    assert_eq!(messages.len(), 1, "nothing of alice's turns: {messages:#?}");
    assert_eq!(
        messages[0]["content"][0]["text"],
        "what did the last caller ask?"
    );
    let calls = memory.list_calls();
    let (mallory_actor, session) = calls.last().unwrap().clone();
    assert_eq!(session, SESSION);
    assert_ne!(mallory_actor, alice_actor);
    let stored = memory.wait_for_events(3, WAIT).await;
    assert_eq!(stored.len(), 3);
    assert_eq!(
        stored[1].actor_id, alice_actor,
        "alice's second turn is hers"
    );
    assert_eq!(
        stored[2].actor_id, mallory_actor,
        "mallory's turn is under mallory"
    );
}

#[tokio::test]
async fn writes_do_not_delay_the_answer() {
    let memory = MemoryStandIn::start().await;
    memory.hold_writes(true);
    let bedrock = BedrockStandIn::start([Turn::text("Hello.")]).await;
    let agent = start_agent(&bedrock, &memory, None, &[]).await;

    let answer = ask(&agent, "alice", "hi").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    assert!(
        memory.events().is_empty(),
        "the answer came while no write had been answered"
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    while memory.writes_waiting() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the write never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    memory.hold_writes(false);
    let stored = memory.wait_for_events(1, WAIT).await;
    assert_eq!(stored.len(), 1, "the held write lands once released");
    assert_eq!(stored[0].session_id, SESSION);
    assert_eq!(
        stored[0].payload[0]["blob"]["messages"][0]["content"][0]["text"],
        "hi"
    );
}

#[tokio::test]
async fn a_memory_outage_still_answers_and_keeps_the_history_in_process() {
    let memory = MemoryStandIn::start().await;
    memory.fail_all(true);
    let bedrock = BedrockStandIn::start([Turn::text("Hello."), Turn::text("Still here.")]).await;
    let agent = start_agent(&bedrock, &memory, None, &[("MEMORY_TIMEOUT_MS", "2000")]).await;

    let answer = ask(&agent, "alice", "hi").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    assert_eq!(answer.streamed_text(), "Hello.");
    agent
        .wait_for_log(
            "the session could not be restored from memory; it starts empty",
            WAIT,
        )
        .await
        .unwrap();
    agent
        .wait_for_log(
            "a turn could not be stored in memory; the session keeps it in this process only",
            WAIT,
        )
        .await
        .unwrap();

    let restore_calls = memory.list_calls().len();
    let answer = ask(&agent, "alice", "are you there?").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let messages = last_model_messages(&bedrock);
    assert_eq!(
        messages.len(),
        3,
        "the first turn from this process's history"
    );
    assert_eq!(messages[0]["content"][0]["text"], "hi");
    assert_eq!(
        memory.list_calls().len(),
        restore_calls,
        "a failed restore is not tried again on the next turn"
    );
}

#[tokio::test]
async fn without_memory_id_nothing_is_called() {
    let memory = MemoryStandIn::start().await;
    let bedrock = BedrockStandIn::start([Turn::text("Hello.")]).await;
    let mut agent = Agent::start(
        &bedrock,
        None,
        &[(
            "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE",
            memory.endpoint.as_str(),
        )],
    )
    .await
    .unwrap();
    let answer = ask(&agent, "alice", "hi").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    agent.process.terminate(WAIT).await.unwrap();
    assert!(memory.list_calls().is_empty());
    assert!(memory.events().is_empty());
}

/// Asks in [`SESSION`] with a bearer token and a runtime user id header.
async fn ask_as(
    agent: &Agent,
    token: &str,
    user_header: &str,
    prompt: &str,
) -> system_tests::agent::Answer {
    let bearer = format!("Bearer {token}");
    agent
        .invoke(
            &json!({ "prompt": prompt }),
            &[
                (SESSION_HEADER, SESSION),
                (USER_HEADER, user_header),
                ("authorization", bearer.as_str()),
            ],
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn with_verified_tokens_the_actor_is_the_token_subject_whatever_the_headers_say() {
    let moto = system_tests::moto::Moto::start().await.unwrap();
    let pool = system_tests::cognito::CognitoPool::create(&moto)
        .await
        .unwrap();
    let customer = pool.customer_tokens().await.unwrap().id_token;
    let staff = pool.staff_tokens().await.unwrap().id_token;
    let memory = MemoryStandIn::start().await;
    let bedrock = BedrockStandIn::start([Turn::text("Noted: order 7.")]).await;
    let auth_env = pool.agent_auth_env();
    let auth_env: Vec<(&str, &str)> = auth_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let mut first = start_agent(&bedrock, &memory, None, &auth_env).await;
    let answer = ask_as(&first, &customer, "customer", "remember order 7").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let stored = memory.wait_for_events(1, WAIT).await;
    assert_eq!(stored.len(), 1);
    let customer_actor = stored[0].actor_id.clone();
    first.process.terminate(WAIT).await.unwrap();

    // Another signed-in user, in a new process, with the same session id and the first
    // caller's runtime user id in the header: the token decides the actor, so nothing of the
    // customer's turn is read.
    bedrock.push(Turn::text("Nothing on record."));
    let second = start_agent(&bedrock, &memory, None, &auth_env).await;
    let answer = ask_as(&second, &staff, "customer", "what was remembered?").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let messages = last_model_messages(&bedrock);
    assert_eq!(messages.len(), 1, "nothing restored: {messages:#?}");
    let (staff_actor, _) = memory.list_calls().last().unwrap().clone();
    assert_ne!(staff_actor, customer_actor);
}

#[tokio::test]
async fn long_term_memory_adds_the_callers_own_records_within_the_bound_to_a_new_session() {
    let memory = MemoryStandIn::start().await;
    let bedrock = BedrockStandIn::start([
        Turn::text("Hi."),
        Turn::text("Welcome back."),
        Turn::text("Hello."),
    ])
    .await;
    let agent = start_agent(
        &bedrock,
        &memory,
        None,
        &[
            ("MEMORY_RECALL_NAMESPACE", "/support/{actorId}/facts"),
            ("MEMORY_RECALL_BYTES", "60"),
        ],
    )
    .await;
    let ask_in = |session: &'static str, user: &'static str, prompt: &'static str| {
        let agent = &agent;
        async move {
            agent
                .invoke(
                    &json!({ "prompt": prompt }),
                    &[(SESSION_HEADER, session), (USER_HEADER, user)],
                )
                .await
                .unwrap()
        }
    };
    let system_of_last_request = || bedrock.requests().last().unwrap().body["system"].to_string();

    let answer = ask_in("first-session-0123456789abcdef01234567", "alice", "hi").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let alice_actor = memory.wait_for_events(1, WAIT).await[0].actor_id.clone();
    let alice_namespace = format!("/support/{alice_actor}/facts");
    memory.add_record(&alice_namespace, "Prefers to be contacted by email.");
    memory.add_record(
        &alice_namespace,
        &"A record too long for the bound. ".repeat(4),
    );
    memory.add_record(
        "/support/caller-someone-else/facts",
        "Someone else's secret.",
    );

    let answer = ask_in(
        "second-session-0123456789abcdef0123456",
        "alice",
        "hello again",
    )
    .await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let system = system_of_last_request();
    assert!(
        system.contains("Prefers to be contacted by email."),
        "{system}"
    );
    assert!(
        !system.contains("too long for the bound"),
        "bounded in bytes: {system}"
    );
    assert!(!system.contains("Someone else's secret."), "{system}");
    assert_eq!(memory.retrieve_calls().last(), Some(&alice_namespace));

    let answer = ask_in("third-session-0123456789abcdef01234567", "mallory", "hello").await;
    assert_eq!(answer.last()["type"], "done", "{:?}", answer.events);
    let system = system_of_last_request();
    assert!(
        !system.contains("Prefers to be contacted by email."),
        "{system}"
    );
    let mallory_namespace = memory.retrieve_calls().last().unwrap().clone();
    assert_ne!(
        mallory_namespace, alice_namespace,
        "each caller's own namespace"
    );
    assert!(
        mallory_namespace.starts_with("/support/caller-"),
        "{mallory_namespace}"
    );
}
