//! The agent's `GET /ws` over a real WebSocket client: runs streamed as one JSON event per text
//! frame, cancel and the next run on the same connection, one run at a time, authentication in
//! the header and in the browser's subprotocol form, the size limit, server pings, frames that
//! are not JSON text, and the close on shutdown.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use base64::Engine;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use system_tests::agent::{Agent, SESSION_HEADER};
use system_tests::agui_client::run_input;
use system_tests::bedrock::{BedrockStandIn, Turn};
use system_tests::cognito::CognitoPool;
use system_tests::moto::Moto;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const SESSION: &str = "websocket-session-0123456789abcdef0123456789";

/// How long any one frame may take to arrive (a 2-core machine runs many tests at once).
const FRAME_WAIT: Duration = Duration::from_secs(30);

fn slow(text: &str, chunks: usize, delay_ms: u64) -> Turn {
    Turn::SlowText {
        text: text.to_owned(),
        chunks,
        delay: Duration::from_millis(delay_ms),
    }
}

/// Opens `/ws` with `headers`; the handshake's error (e.g. an HTTP 401) when it is refused.
async fn try_connect(
    agent: &Agent,
    headers: &[(&str, &str)],
) -> Result<(Socket, tungstenite::handshake::client::Response), tungstenite::Error> {
    let url = format!("{}/ws", agent.base_url.replacen("http://", "ws://", 1));
    let mut request = url.into_client_request().unwrap();
    for (name, value) in headers {
        request.headers_mut().append(
            tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(request))
        .await
        .expect("the handshake finishes in time")
}

async fn connect(agent: &Agent) -> Socket {
    try_connect(agent, &[(SESSION_HEADER, SESSION)])
        .await
        .expect("the upgrade is accepted")
        .0
}

async fn send_json(socket: &mut Socket, value: &Value) {
    socket
        .send(Message::Text(value.to_string().into()))
        .await
        .unwrap();
}

/// The next frame that is not a ping or pong.
async fn next_message(socket: &mut Socket) -> Message {
    loop {
        let message = tokio::time::timeout(FRAME_WAIT, socket.next())
            .await
            .expect("a frame arrives in time")
            .expect("the connection is open")
            .expect("the frame reads");
        if !matches!(message, Message::Ping(_) | Message::Pong(_)) {
            return message;
        }
    }
}

/// The next event: a JSON text frame.
async fn next_event(socket: &mut Socket) -> Value {
    match next_message(socket).await {
        Message::Text(text) => serde_json::from_str(text.as_str()).expect("a frame is JSON"),
        other => panic!("expected a JSON text frame, got {other:?}"),
    }
}

/// The events up to and including the first `done` or `error`.
async fn events_until_end(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next_event(socket).await;
        let last = event["type"] == json!("done") || event["type"] == json!("error");
        events.push(event);
        if last {
            return events;
        }
    }
}

/// The close frame the server sends next.
async fn next_close(socket: &mut Socket) -> CloseFrame {
    match next_message(socket).await {
        Message::Close(Some(frame)) => frame,
        other => panic!("expected a close frame with a code, got {other:?}"),
    }
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[tokio::test]
async fn a_run_streams_one_event_per_frame_from_start_to_done() {
    let bedrock = BedrockStandIn::start([
        Turn::text("Hello over a WebSocket."),
        Turn::text("And again."),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let mut socket = connect(&agent).await;

    send_json(&mut socket, &json!({"prompt": "hi"})).await;
    let events = events_until_end(&mut socket).await;
    assert_eq!(events[0]["type"], json!("start"), "{events:?}");
    assert_eq!(events[0]["schema_version"], json!(1));
    assert_eq!(events[0]["session_id"], json!(SESSION));
    let done = events.last().unwrap();
    assert_eq!(done["type"], json!("done"), "{events:?}");
    assert_eq!(done["text"], json!("Hello over a WebSocket."));
    let streamed: String = events
        .iter()
        .filter(|e| e["type"] == json!("text_delta"))
        .filter_map(|e| e["text"].as_str())
        .collect();
    assert_eq!(streamed, "Hello over a WebSocket.");

    send_json(&mut socket, &json!({"prompt": "again"})).await;
    let second = events_until_end(&mut socket).await;
    assert_eq!(second.last().unwrap()["text"], json!("And again."));
    let requests = bedrock.requests();
    assert_eq!(requests.len(), 2);
    assert!(
        requests[1]
            .body
            .to_string()
            .contains("Hello over a WebSocket."),
        "the second run continues the session's conversation"
    );
}

#[tokio::test]
async fn cancel_stops_the_model_stream_and_the_next_run_on_the_connection_works() {
    let bedrock = BedrockStandIn::start([
        slow(&"word ".repeat(60), 60, 100),
        Turn::text("The second answer."),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let mut socket = connect(&agent).await;

    send_json(&mut socket, &json!({"prompt": "talk for a while"})).await;
    let mut before_cancel = Vec::new();
    while before_cancel
        .last()
        .is_none_or(|e: &Value| e["type"] != json!("text_delta"))
    {
        before_cancel.push(next_event(&mut socket).await);
    }
    send_json(&mut socket, &json!({"type": "cancel"})).await;
    let after_cancel = events_until_end(&mut socket).await;
    let end = after_cancel.last().unwrap();
    assert_eq!(end["type"], json!("error"), "{after_cancel:?}");
    assert_eq!(end["error_type"], json!("Cancelled"));
    assert!(
        types(&after_cancel)
            .iter()
            .all(|t| *t == "text_delta" || *t == "error"),
        "{after_cancel:?}"
    );
    assert!(
        bedrock
            .wait_for_disconnects(1, Duration::from_secs(10))
            .await
            >= 1,
        "the model stream was stopped; agent logs: {:?}",
        agent.process.logs()
    );

    send_json(&mut socket, &json!({"prompt": "and now?"})).await;
    let second = events_until_end(&mut socket).await;
    assert_eq!(second[0]["type"], json!("start"), "{second:?}");
    let done = second.last().unwrap();
    assert_eq!(done["type"], json!("done"), "{second:?}");
    assert_eq!(done["text"], json!("The second answer."));
}

#[tokio::test]
async fn a_run_request_during_a_run_is_refused_and_the_run_goes_on() {
    let bedrock = BedrockStandIn::start([slow("one two three four five six", 6, 150)]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let mut socket = connect(&agent).await;

    send_json(&mut socket, &json!({"prompt": "first"})).await;
    assert_eq!(next_event(&mut socket).await["type"], json!("start"));
    send_json(&mut socket, &json!({"prompt": "second, too early"})).await;
    let mut events = Vec::new();
    let mut refusals = Vec::new();
    loop {
        let event = next_event(&mut socket).await;
        if event["error_type"] == json!("RunInProgress") {
            refusals.push(event);
            continue;
        }
        let last = event["type"] == json!("done") || event["type"] == json!("error");
        events.push(event);
        if last {
            break;
        }
    }
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0]["type"], json!("error"));
    let done = events.last().unwrap();
    assert_eq!(done["type"], json!("done"), "{events:?}");
    assert_eq!(done["text"], json!("one two three four five six"));
    assert_eq!(
        bedrock.requests().len(),
        1,
        "the refused request started nothing"
    );
}

#[tokio::test]
async fn a_request_without_a_prompt_gets_an_error_event_and_the_connection_stays_open() {
    let bedrock = BedrockStandIn::start([Turn::text("Fine.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let mut socket = connect(&agent).await;

    send_json(&mut socket, &json!({"question": "no prompt field"})).await;
    let refusal = next_event(&mut socket).await;
    assert_eq!(refusal["type"], json!("error"));
    assert_eq!(refusal["error_type"], json!("InvalidRequest"));
    assert!(
        refusal["error"].as_str().unwrap().contains("prompt"),
        "{refusal}"
    );
    send_json(&mut socket, &json!({"type": "cancel"})).await;
    send_json(&mut socket, &json!({"prompt": "now properly"})).await;
    let events = events_until_end(&mut socket).await;
    assert_eq!(
        events[0]["type"],
        json!("start"),
        "a cancel with no run going is ignored: {events:?}"
    );
    assert_eq!(events.last().unwrap()["text"], json!("Fine."));
}

#[tokio::test]
async fn a_frame_that_is_not_json_closes_with_1007_and_a_binary_frame_with_1003() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();

    let mut socket = connect(&agent).await;
    socket
        .send(Message::Text("hello, is this JSON?".into()))
        .await
        .unwrap();
    let close = next_close(&mut socket).await;
    assert_eq!(u16::from(close.code), 1007);
    assert!(close.reason.as_str().contains("JSON"), "{close:?}");

    let mut socket = connect(&agent).await;
    socket
        .send(Message::Binary(b"{\"prompt\":\"hi\"}".to_vec().into()))
        .await
        .unwrap();
    let close = next_close(&mut socket).await;
    assert_eq!(u16::from(close.code), 1003);
    assert!(close.reason.as_str().contains("text"), "{close:?}");
    assert!(bedrock.requests().is_empty());
}

#[tokio::test]
async fn a_message_over_the_request_limit_closes_with_1009() {
    let bedrock = BedrockStandIn::start([Turn::text("Small is fine.")]).await;
    let agent = Agent::start(&bedrock, None, &[("MAX_REQUEST_BYTES", "4096")])
        .await
        .unwrap();

    let mut socket = connect(&agent).await;
    send_json(&mut socket, &json!({"prompt": "short"})).await;
    assert_eq!(
        events_until_end(&mut socket).await.last().unwrap()["text"],
        json!("Small is fine.")
    );
    send_json(&mut socket, &json!({"prompt": "x".repeat(5000)})).await;
    let close = next_close(&mut socket).await;
    assert_eq!(u16::from(close.code), 1009);
    assert!(close.reason.as_str().contains("4096"), "{close:?}");
    assert_eq!(bedrock.requests().len(), 1);
}

#[tokio::test]
async fn the_server_pings_every_keepalive_interval() {
    let bedrock = BedrockStandIn::start([]).await;
    let agent = Agent::start(&bedrock, None, &[("STREAM_KEEPALIVE_MS", "200")])
        .await
        .unwrap();
    let mut socket = connect(&agent).await;
    let mut pings = 0;
    while pings < 3 {
        let message = tokio::time::timeout(FRAME_WAIT, socket.next())
            .await
            .expect("a ping arrives in time")
            .expect("the connection is open")
            .unwrap();
        match message {
            Message::Ping(_) => pings += 1,
            other => panic!("only pings on an idle connection, got {other:?}"),
        }
    }
    socket
        .send(Message::Ping(b"mine".to_vec().into()))
        .await
        .unwrap();
    loop {
        match tokio::time::timeout(FRAME_WAIT, socket.next())
            .await
            .expect("a pong arrives in time")
            .expect("the connection is open")
            .unwrap()
        {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"mine");
                break;
            }
            Message::Ping(_) => {}
            other => panic!("expected our pong, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn shutdown_closes_an_idle_connection_with_1001() {
    let bedrock = BedrockStandIn::start([]).await;
    let mut agent = Agent::start(&bedrock, None, &[("SHUTDOWN_GRACE_MS", "300")])
        .await
        .unwrap();
    let mut socket = connect(&agent).await;
    // The signal must find the connection upgraded, not still being handed over by the server.
    agent
        .wait_for_log("WebSocket connection opened", FRAME_WAIT)
        .await
        .unwrap();
    let (close, exit) = tokio::join!(
        next_close(&mut socket),
        agent.process.terminate(Duration::from_secs(20))
    );
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    assert!(close.reason.as_str().contains("shutting down"), "{close:?}");
    assert!(exit.unwrap().success());
}

#[tokio::test]
async fn authentication_is_checked_before_the_upgrade_in_the_header_or_the_browser_subprotocol() {
    let moto = Moto::start().await.unwrap();
    let pool = CognitoPool::create(&moto).await.unwrap();
    let tokens = pool.customer_tokens().await.unwrap();
    let bedrock =
        BedrockStandIn::start([Turn::text("Hello, header."), Turn::text("Hello, browser.")]).await;
    let auth_env = pool.auth_env();
    let env: Vec<(&str, &str)> = auth_env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let agent = Agent::start(&bedrock, None, &env).await.unwrap();

    for refused in [
        vec![],
        vec![("authorization", "Bearer not.a.token".to_owned())],
        vec![(
            "sec-websocket-protocol",
            format!(
                "base64UrlBearerAuthorization.{}, base64UrlBearerAuthorization",
                { base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("not.a.token") }
            ),
        )],
    ] {
        let headers: Vec<(&str, &str)> = refused.iter().map(|(k, v)| (*k, v.as_str())).collect();
        match try_connect(&agent, &headers).await {
            Err(tungstenite::Error::Http(response)) => {
                assert_eq!(response.status(), 401, "{refused:?}");
                assert!(
                    response.headers()["www-authenticate"]
                        .to_str()
                        .unwrap()
                        .starts_with("Bearer"),
                    "{refused:?}"
                );
            }
            Err(other) => panic!("expected an HTTP 401, got {other:?}"),
            Ok(_) => panic!("the upgrade was accepted without a valid token: {refused:?}"),
        }
    }

    let bearer = format!("Bearer {}", tokens.access_token);
    let (mut socket, _) = try_connect(
        &agent,
        &[(SESSION_HEADER, SESSION), ("authorization", &bearer)],
    )
    .await
    .expect("a valid bearer header is accepted");
    send_json(&mut socket, &json!({"prompt": "hi"})).await;
    assert_eq!(
        events_until_end(&mut socket).await.last().unwrap()["text"],
        json!("Hello, header.")
    );
    socket.close(None).await.unwrap();

    let offered = format!(
        "base64UrlBearerAuthorization.{}, base64UrlBearerAuthorization",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&tokens.access_token)
    );
    let browser_session = "websocket-browser-0123456789abcdef0123456789";
    let (mut socket, response) = try_connect(
        &agent,
        &[
            (SESSION_HEADER, browser_session),
            ("sec-websocket-protocol", &offered),
        ],
    )
    .await
    .expect("a valid token in the subprotocol is accepted");
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "base64UrlBearerAuthorization",
        "the sentinel is selected, never the token"
    );
    send_json(&mut socket, &json!({"prompt": "hi from a browser"})).await;
    let events = events_until_end(&mut socket).await;
    assert_eq!(events[0]["session_id"], json!(browser_session));
    assert_eq!(events.last().unwrap()["text"], json!("Hello, browser."));
    let logs = agent.process.logs().join("\n");
    assert!(!logs.contains(&tokens.access_token), "no token in the logs");
}

#[tokio::test]
async fn the_session_id_may_come_as_a_query_parameter() {
    let bedrock = BedrockStandIn::start([Turn::text("Queried.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let url = format!(
        "{}/ws?{SESSION_HEADER}={SESSION}",
        agent.base_url.replacen("http://", "ws://", 1)
    );
    let (mut socket, _) = tokio::time::timeout(FRAME_WAIT, tokio_tungstenite::connect_async(url))
        .await
        .unwrap()
        .unwrap();
    send_json(&mut socket, &json!({"prompt": "hi"})).await;
    let events = events_until_end(&mut socket).await;
    assert_eq!(events[0]["session_id"], json!(SESSION));
    assert_eq!(events.last().unwrap()["text"], json!("Queried."));
}

#[tokio::test]
async fn shutdown_ends_a_run_past_the_grace_period_then_closes_with_1001() {
    let bedrock = BedrockStandIn::start([slow(&"word ".repeat(100), 100, 100)]).await;
    let mut agent = Agent::start(&bedrock, None, &[("SHUTDOWN_GRACE_MS", "500")])
        .await
        .unwrap();
    let mut socket = connect(&agent).await;
    send_json(&mut socket, &json!({"prompt": "talk for ten seconds"})).await;
    let mut first = Vec::new();
    while first
        .last()
        .is_none_or(|e: &Value| e["type"] != json!("text_delta"))
    {
        first.push(next_event(&mut socket).await);
    }
    let read_to_close = async {
        let events = events_until_end(&mut socket).await;
        (events, next_close(&mut socket).await)
    };
    let ((events, close), exit) = tokio::join!(
        read_to_close,
        agent.process.terminate(Duration::from_secs(20))
    );
    let end = events.last().unwrap();
    assert_eq!(end["type"], json!("error"), "{events:?}");
    assert_eq!(end["error_type"], json!("ShuttingDown"));
    assert!(
        events.len() > 1,
        "the run went on during the grace period: {events:?}"
    );
    assert_eq!(u16::from(close.code), 1001, "{close:?}");
    assert!(exit.unwrap().success());
}

#[tokio::test]
async fn another_callers_connection_to_the_session_gets_an_error_event() {
    let bedrock = BedrockStandIn::start([Turn::text("Yours."), Turn::text("Still yours.")]).await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let user = agent_protocol::headers::RUNTIME_USER_ID;
    let (mut owner, _) = try_connect(&agent, &[(SESSION_HEADER, SESSION), (user, "user-a")])
        .await
        .unwrap();
    send_json(&mut owner, &json!({"prompt": "hi"})).await;
    assert_eq!(
        events_until_end(&mut owner).await.last().unwrap()["text"],
        json!("Yours.")
    );

    let (mut other, _) = try_connect(&agent, &[(SESSION_HEADER, SESSION), (user, "user-b")])
        .await
        .unwrap();
    send_json(&mut other, &json!({"prompt": "show me their conversation"})).await;
    let refusal = next_event(&mut other).await;
    assert_eq!(refusal["type"], json!("error"), "{refusal}");
    assert_eq!(refusal["error_type"], json!("SessionOwnedByAnother"));
    assert!(!refusal.to_string().contains("Yours."), "{refusal}");

    send_json(&mut owner, &json!({"prompt": "still there?"})).await;
    assert_eq!(
        events_until_end(&mut owner).await.last().unwrap()["text"],
        json!("Still yours.")
    );
    assert_eq!(bedrock.requests().len(), 2);
}

/// The AG-UI events up to and including the first `RUN_FINISHED` or `RUN_ERROR`.
async fn agui_events_until_end(socket: &mut Socket) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next_event(socket).await;
        let last = event["type"] == json!("RUN_FINISHED") || event["type"] == json!("RUN_ERROR");
        events.push(event);
        if last {
            return events;
        }
    }
}

#[tokio::test]
async fn an_ag_ui_run_input_gets_ag_ui_events_and_its_thread_names_the_session() {
    let bedrock = BedrockStandIn::start([
        Turn::text("Hello, AG-UI."),
        Turn::text("Plain again."),
        slow(&"word ".repeat(60), 60, 100),
    ])
    .await;
    let agent = Agent::start(&bedrock, None, &[]).await.unwrap();
    let (mut socket, _) = try_connect(&agent, &[]).await.unwrap();

    send_json(&mut socket, &run_input("thread-ws", "run-1", "hi")).await;
    let events = agui_events_until_end(&mut socket).await;
    let kinds = types(&events);
    assert_eq!(kinds.first(), Some(&"RUN_STARTED"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"RUN_FINISHED"), "{kinds:?}");
    assert!(kinds.contains(&"TEXT_MESSAGE_CONTENT"), "{kinds:?}");
    assert_eq!(events[0]["threadId"], json!("thread-ws"));
    assert_eq!(events[0]["runId"], json!("run-1"));
    let text: String = events
        .iter()
        .filter(|e| e["type"] == json!("TEXT_MESSAGE_CONTENT"))
        .filter_map(|e| e["delta"].as_str())
        .collect();
    assert_eq!(text, "Hello, AG-UI.");

    send_json(&mut socket, &json!({"prompt": "and in our own schema?"})).await;
    let plain = events_until_end(&mut socket).await;
    assert_eq!(plain[0]["type"], json!("start"), "{plain:?}");
    assert_ne!(
        plain[0]["session_id"],
        json!("thread-ws"),
        "a {{\"prompt\"}} run keeps the connection's session"
    );
    assert_eq!(plain.last().unwrap()["text"], json!("Plain again."));

    send_json(&mut socket, &run_input("thread-ws", "run-2", "talk")).await;
    let mut started = Vec::new();
    while started
        .last()
        .is_none_or(|e: &Value| e["type"] != json!("TEXT_MESSAGE_CONTENT"))
    {
        started.push(next_event(&mut socket).await);
    }
    send_json(&mut socket, &json!({"type": "cancel"})).await;
    let cancelled = agui_events_until_end(&mut socket).await;
    let end = cancelled.last().unwrap();
    assert_eq!(end["type"], json!("RUN_ERROR"), "{cancelled:?}");
    assert_eq!(end["code"], json!("Cancelled"));
    assert!(
        types(&cancelled).contains(&"TEXT_MESSAGE_END"),
        "the open message is closed before the error: {cancelled:?}"
    );
    let third = bedrock.requests()[2].body.to_string();
    assert!(
        third.contains("Hello, AG-UI.") && !third.contains("Plain again."),
        "the thread's conversation continues in the thread's session"
    );

    send_json(
        &mut socket,
        &json!({"threadId": "thread-ws", "runId": "run-3", "messages": []}),
    )
    .await;
    let refusal = next_event(&mut socket).await;
    assert_eq!(refusal["type"], json!("RUN_ERROR"), "{refusal}");
    assert_eq!(refusal["code"], json!("InvalidRequest"));
}
