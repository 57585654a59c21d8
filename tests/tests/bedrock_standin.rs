//! The Bedrock Runtime stand-in, driven by the real `aws-sdk-bedrockruntime` client: every
//! scripted turn decodes into what the SDK reports for the real service, so the agent's tests
//! can trust what the stand-in makes the agent see.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::Credentials;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamOutput as StreamResponse;
use aws_sdk_bedrockruntime::types::error::ConverseStreamOutputError;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ContentBlockStart, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, StopReason, SystemContentBlock, Tool, ToolConfiguration,
    ToolInputSchema, ToolResultBlock, ToolResultContentBlock, ToolSpecification, ToolUseBlock,
};
use aws_smithy_types::Document;
use aws_smithy_types::event_stream::RawMessage;
use serde_json::{Value, json};
use system_tests::bedrock::{
    BedrockStandIn, ExceptionSpelling, Operation, PARTIAL_TEXT, THROTTLING_MESSAGE, ToolCall, Turn,
};

const MODEL: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";

/// The real client, pointed at the stand-in, with static test credentials and no retries so
/// every scripted error is observed as sent.
async fn client(standin: &BedrockStandIn) -> Client {
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&standin.endpoint)
        .credentials_provider(Credentials::new("testing", "testing", None, None, "static"))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    Client::new(&config)
}

fn user(text: &str) -> Message {
    Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text(text.to_owned()))
        .build()
        .expect("valid message")
}

async fn start_stream(client: &Client) -> StreamResponse {
    client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Is my blender still under warranty?"))
        .send()
        .await
        .expect("converse-stream starts")
}

type StreamError = SdkError<ConverseStreamOutputError, RawMessage>;

/// Every event of the stream until its end or first error.
async fn drain(mut response: StreamResponse) -> (Vec<ConverseStreamOutput>, Option<StreamError>) {
    let mut events = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), response.stream.recv()).await {
            Ok(Ok(Some(event))) => events.push(event),
            Ok(Ok(None)) => return (events, None),
            Ok(Err(error)) => return (events, Some(error)),
            Err(_) => panic!("the stream stalled after {events:?}"),
        }
    }
}

/// The text of the text deltas of block `index`, piece by piece.
fn text_pieces(events: &[ConverseStreamOutput], index: i32) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            ConverseStreamOutput::ContentBlockDelta(delta)
                if delta.content_block_index == index =>
            {
                match delta.delta() {
                    Some(ContentBlockDelta::Text(text)) => Some(text.clone()),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

/// The tool input pieces of block `index`.
fn tool_input_pieces(events: &[ConverseStreamOutput], index: i32) -> Vec<String> {
    events
        .iter()
        .filter_map(|event| match event {
            ConverseStreamOutput::ContentBlockDelta(delta)
                if delta.content_block_index == index =>
            {
                match delta.delta() {
                    Some(ContentBlockDelta::ToolUse(tool)) => Some(tool.input().to_owned()),
                    _ => None,
                }
            }
            _ => None,
        })
        .collect()
}

fn stop_reason(events: &[ConverseStreamOutput]) -> Option<StopReason> {
    events.iter().find_map(|event| match event {
        ConverseStreamOutput::MessageStop(stop) => Some(stop.stop_reason().clone()),
        _ => None,
    })
}

fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), document_to_json(v)))
                .collect(),
        ),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Number(number) => match *number {
            aws_smithy_types::Number::PosInt(n) => json!(n),
            aws_smithy_types::Number::NegInt(n) => json!(n),
            aws_smithy_types::Number::Float(f) => json!(f),
        },
        Document::String(s) => json!(s),
        Document::Bool(b) => json!(b),
        Document::Null => Value::Null,
    }
}

fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_to_document(v)))
                .collect(),
        ),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Document::Number(aws_smithy_types::Number::PosInt(u)),
            (None, Some(i)) => Document::Number(aws_smithy_types::Number::NegInt(i)),
            _ => Document::Number(aws_smithy_types::Number::Float(
                n.as_f64().expect("finite number"),
            )),
        },
        Value::String(s) => Document::String(s.clone()),
        Value::Bool(b) => Document::Bool(*b),
        Value::Null => Document::Null,
    }
}

/// The `:exception-type` header of the raw event-stream message behind an error.
fn exception_type_header(error: &StreamError) -> Option<String> {
    let Some(RawMessage::Decoded(message)) = error.raw_response() else {
        return None;
    };
    message
        .headers()
        .iter()
        .find(|header| header.name().as_str() == ":exception-type")
        .and_then(|header| header.value().as_string().ok())
        .map(|value| value.as_str().to_owned())
}

#[tokio::test]
async fn text_turn_streams_deltas_then_end_turn_and_usage() {
    let text = "Your blender is covered until 14 March 2027. Anything else I can help with?";
    let standin = BedrockStandIn::start([Turn::text(text)]).await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert!(error.is_none(), "stream failed: {error:?}");
    match events.first() {
        Some(ConverseStreamOutput::MessageStart(start)) => {
            assert_eq!(start.role(), &ConversationRole::Assistant);
        }
        other => panic!("first event is not messageStart: {other:?}"),
    }
    let pieces = text_pieces(&events, 0);
    assert!(pieces.len() >= 2, "text came in {} piece(s)", pieces.len());
    assert_eq!(pieces.concat(), text);
    assert!(events.iter().any(
        |e| matches!(e, ConverseStreamOutput::ContentBlockStop(s) if s.content_block_index == 0)
    ));
    assert_eq!(stop_reason(&events), Some(StopReason::EndTurn));
    let Some(ConverseStreamOutput::Metadata(metadata)) = events.last() else {
        panic!("last event is not metadata: {:?}", events.last());
    };
    let usage = metadata.usage().expect("usage in metadata");
    assert!(usage.input_tokens() > 0 && usage.output_tokens() > 0);
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    assert!(metadata.metrics().expect("metrics").latency_ms() >= 1);
    assert_eq!(standin.remaining(), 0);
}

#[tokio::test]
async fn tool_use_turn_streams_each_call_input_in_pieces() {
    let lookup = json!({ "customer_id": "C-1001", "product": "blender" });
    let ticket = json!({ "customer_id": "C-1001", "priority": 2, "tags": ["warranty", "é"] });
    let standin = BedrockStandIn::start([Turn::ToolUse {
        text: Some("Let me check your warranty.".into()),
        calls: vec![
            ToolCall::new("tooluse_lookup1", "get_warranty", lookup.clone()),
            ToolCall::new("tooluse_ticket2", "create_ticket", ticket.clone()),
        ],
    }])
    .await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert!(error.is_none(), "stream failed: {error:?}");
    assert_eq!(
        text_pieces(&events, 0).concat(),
        "Let me check your warranty."
    );
    let starts: Vec<(i32, String, String)> = events
        .iter()
        .filter_map(|event| match event {
            ConverseStreamOutput::ContentBlockStart(start) => match start.start() {
                Some(ContentBlockStart::ToolUse(tool)) => Some((
                    start.content_block_index,
                    tool.tool_use_id().to_owned(),
                    tool.name().to_owned(),
                )),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(
        starts,
        vec![
            (1, "tooluse_lookup1".into(), "get_warranty".into()),
            (2, "tooluse_ticket2".into(), "create_ticket".into()),
        ]
    );
    for (index, expected) in [(1, &lookup), (2, &ticket)] {
        let pieces = tool_input_pieces(&events, index);
        assert!(pieces.len() >= 2, "block {index} input in {pieces:?}");
        let input: Value = serde_json::from_str(&pieces.concat()).expect("input is JSON");
        assert_eq!(&input, expected);
    }
    assert_eq!(stop_reason(&events), Some(StopReason::ToolUse));
    assert!(matches!(
        events.last(),
        Some(ConverseStreamOutput::Metadata(m)) if m.usage().is_some()
    ));
}

#[tokio::test]
async fn max_tokens_turn_stops_with_max_tokens() {
    let standin = BedrockStandIn::start([Turn::MaxTokens("The warranty covers".into())]).await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert!(error.is_none(), "stream failed: {error:?}");
    assert_eq!(text_pieces(&events, 0).concat(), "The warranty covers");
    assert_eq!(stop_reason(&events), Some(StopReason::MaxTokens));
}

#[tokio::test]
async fn throttle_before_stream_is_the_sdks_throttling_exception_on_send() {
    let standin = BedrockStandIn::start([Turn::ThrottleBeforeStream]).await;
    let client = client(&standin).await;

    let error = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .send()
        .await
        .expect_err("a 429 fails the call");

    assert_eq!(error.raw_response().map(|r| r.status().as_u16()), Some(429));
    let service = error.as_service_error().expect("a modelled service error");
    assert!(service.is_throttling_exception(), "{service:?}");
    assert_eq!(service.code(), Some("ThrottlingException"));
    assert_eq!(service.message(), Some(THROTTLING_MESSAGE));
    assert_eq!(standin.requests().len(), 1);
}

#[tokio::test]
async fn throttle_in_stream_member_name_is_the_throttling_variant() {
    let standin = BedrockStandIn::start([Turn::ThrottleInStream {
        spelling: ExceptionSpelling::MemberName,
    }])
    .await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert!(matches!(
        events.first(),
        Some(ConverseStreamOutput::MessageStart(_))
    ));
    assert_eq!(text_pieces(&events, 0).concat(), PARTIAL_TEXT);
    assert_eq!(stop_reason(&events), None);
    let error = error.expect("the stream ends in an error");
    assert_eq!(
        exception_type_header(&error).as_deref(),
        Some("throttlingException")
    );
    let service = error.as_service_error().expect("a service error");
    assert!(service.is_throttling_exception(), "{service:?}");
    // The code comes from the payload, which (as Bedrock's) carries only the message.
    assert_eq!(service.code(), None);
    assert_eq!(service.message(), Some(THROTTLING_MESSAGE));
}

#[tokio::test]
async fn throttle_in_stream_shape_name_is_an_unhandled_error() {
    let standin = BedrockStandIn::start([Turn::ThrottleInStream {
        spelling: ExceptionSpelling::ShapeName,
    }])
    .await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert_eq!(text_pieces(&events, 0).concat(), PARTIAL_TEXT);
    let error = error.expect("the stream ends in an error");
    let service = error.as_service_error().expect("a service error");
    assert!(!service.is_throttling_exception(), "{service:?}");
    assert!(
        !service.is_internal_server_exception()
            && !service.is_model_stream_error_exception()
            && !service.is_service_unavailable_exception()
            && !service.is_validation_exception(),
        "{service:?}"
    );
    assert_eq!(service.code(), None);
    assert_eq!(service.message(), Some(THROTTLING_MESSAGE));
    // Only the raw message still says what it was.
    assert_eq!(
        exception_type_header(&error).as_deref(),
        Some("ThrottlingException")
    );
}

#[tokio::test]
async fn model_stream_error_is_the_sdks_model_stream_error_exception() {
    let standin = BedrockStandIn::start([Turn::ModelStreamError]).await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert_eq!(text_pieces(&events, 0).concat(), PARTIAL_TEXT);
    let error = error.expect("the stream ends in an error");
    match error.as_service_error() {
        Some(ConverseStreamOutputError::ModelStreamErrorException(e)) => {
            assert_eq!(e.original_status_code(), Some(500));
        }
        other => panic!("not a modelStreamErrorException: {other:?}"),
    }
}

#[tokio::test]
async fn unavailable_and_scripted_errors_are_the_sdks_variants() {
    let standin = BedrockStandIn::start([
        Turn::Unavailable,
        Turn::Error {
            status: 408,
            error_type: "ModelTimeoutException".into(),
            message: "Model has timed out in processing the request.".into(),
        },
    ])
    .await;
    let client = client(&standin).await;

    let unavailable = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .send()
        .await
        .expect_err("503 fails the call");
    let timeout = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .send()
        .await
        .expect_err("408 fails the call");

    let unavailable = unavailable.as_service_error().expect("service error");
    assert!(
        unavailable.is_service_unavailable_exception(),
        "{unavailable:?}"
    );
    let timeout = timeout.as_service_error().expect("service error");
    assert!(timeout.is_model_timeout_exception(), "{timeout:?}");
    assert_eq!(
        timeout.message(),
        Some("Model has timed out in processing the request.")
    );
}

#[tokio::test]
async fn hangup_mid_stream_is_a_transport_error_after_the_partial_text() {
    let standin = BedrockStandIn::start([Turn::Hangup]).await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;

    assert_eq!(text_pieces(&events, 0).concat(), PARTIAL_TEXT);
    let error = error.expect("the cut stream ends in an error");
    assert!(
        matches!(error, SdkError::DispatchFailure(ref failure) if failure.is_io()),
        "a cut connection is an I/O dispatch failure, not a service error: {error:?}"
    );
    assert_eq!(stop_reason(&events), None);
}

#[tokio::test]
async fn converse_returns_the_scripted_text_and_tool_calls() {
    let input = json!({ "order_id": "O-7", "limit": 5 });
    let standin = BedrockStandIn::start([
        Turn::text("Your order shipped yesterday."),
        Turn::tool_use([ToolCall::new("tooluse_a", "get_order", input.clone())]),
    ])
    .await;
    let client = client(&standin).await;

    let text = client
        .converse()
        .model_id(MODEL)
        .messages(user("Where is my order?"))
        .send()
        .await
        .expect("converse answers");
    let tool = client
        .converse()
        .model_id(MODEL)
        .messages(user("Where is order O-7?"))
        .send()
        .await
        .expect("converse answers");

    let message = text
        .output()
        .and_then(|o| o.as_message().ok())
        .expect("a message");
    assert_eq!(message.role(), &ConversationRole::Assistant);
    assert_eq!(
        message.content(),
        [ContentBlock::Text("Your order shipped yesterday.".into())]
    );
    assert_eq!(text.stop_reason(), &StopReason::EndTurn);
    let usage = text.usage().expect("usage");
    assert_eq!(
        usage.total_tokens(),
        usage.input_tokens() + usage.output_tokens()
    );
    assert!(usage.output_tokens() > 0);

    assert_eq!(tool.stop_reason(), &StopReason::ToolUse);
    let message = tool
        .output()
        .and_then(|o| o.as_message().ok())
        .expect("a message");
    match message.content() {
        [ContentBlock::ToolUse(call)] => {
            assert_eq!(call.tool_use_id(), "tooluse_a");
            assert_eq!(call.name(), "get_order");
            assert_eq!(document_to_json(call.input()), input);
        }
        other => panic!("not one toolUse block: {other:?}"),
    }
    let requests = standin.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.operation == Operation::Converse));
}

#[tokio::test]
async fn requests_are_recorded_with_the_model_id_decoded() {
    let standin = BedrockStandIn::start([Turn::text("Hi!")]).await;
    let client = client(&standin).await;
    let schema = json!({
        "type": "object",
        "properties": { "customer_id": { "type": "string" } },
        "required": ["customer_id"],
    });
    let tool = Tool::ToolSpec(
        ToolSpecification::builder()
            .name("get_warranty")
            .description("Looks up a warranty")
            .input_schema(ToolInputSchema::Json(json_to_document(&schema)))
            .build()
            .expect("valid tool"),
    );

    let response = client
        .converse_stream()
        .model_id(MODEL)
        .system(SystemContentBlock::Text("You are a support agent.".into()))
        .messages(user("Hello"))
        .tool_config(
            ToolConfiguration::builder()
                .tools(tool)
                .build()
                .expect("valid tool config"),
        )
        .inference_config(
            InferenceConfiguration::builder()
                .max_tokens(512)
                .temperature(0.2)
                .build(),
        )
        .send()
        .await
        .expect("stream starts");
    let (_, error) = drain(response).await;
    assert!(error.is_none(), "{error:?}");

    let requests = standin.requests();
    let [request] = requests.as_slice() else {
        panic!("expected one request, got {requests:?}");
    };
    assert_eq!(request.operation, Operation::ConverseStream);
    assert_eq!(request.model_id, MODEL);
    assert_eq!(
        request.path,
        "/model/global.anthropic.claude-haiku-4-5-20251001-v1%3A0/converse-stream"
    );
    let body = &request.body;
    assert_eq!(body["messages"][0]["role"], "user");
    assert_eq!(body["messages"][0]["content"][0]["text"], "Hello");
    assert_eq!(body["system"][0]["text"], "You are a support agent.");
    let spec = &body["toolConfig"]["tools"][0]["toolSpec"];
    assert_eq!(spec["name"], "get_warranty");
    assert_eq!(spec["inputSchema"]["json"], schema);
    assert_eq!(body["inferenceConfig"]["maxTokens"], 512);
    assert!(
        request
            .header("authorization")
            .is_some_and(|v| v.starts_with("AWS4-HMAC-SHA256 Credential=testing/")),
        "{:?}",
        request.header("authorization")
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn an_empty_script_answers_a_validation_exception() {
    let standin = BedrockStandIn::start([]).await;
    let client = client(&standin).await;

    let stream_error = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .send()
        .await
        .expect_err("no turn left");
    let converse_error = client
        .converse()
        .model_id(MODEL)
        .messages(user("Hello"))
        .send()
        .await
        .expect_err("no turn left");

    let stream_error = stream_error.as_service_error().expect("service error");
    assert!(stream_error.is_validation_exception(), "{stream_error:?}");
    assert!(
        stream_error
            .message()
            .is_some_and(|m| m.contains("script ran out")),
        "{stream_error:?}"
    );
    let converse_error = converse_error.as_service_error().expect("service error");
    assert!(
        converse_error.is_validation_exception(),
        "{converse_error:?}"
    );
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test]
async fn a_conversation_bedrock_would_reject_is_a_validation_exception_and_keeps_the_turn() {
    let standin = BedrockStandIn::start([Turn::text("unused")]).await;
    let client = client(&standin).await;
    let asked = Message::builder()
        .role(ConversationRole::Assistant)
        .content(ContentBlock::ToolUse(
            ToolUseBlock::builder()
                .tool_use_id("tooluse_1")
                .name("get_warranty")
                .input(json_to_document(&json!({ "customer_id": "C-1" })))
                .build()
                .expect("valid tool use"),
        ))
        .build()
        .expect("valid message");
    let wrong_answer = Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::ToolResult(
            ToolResultBlock::builder()
                .tool_use_id("tooluse_other")
                .content(ToolResultContentBlock::Text("{}".into()))
                .build()
                .expect("valid tool result"),
        ))
        .build()
        .expect("valid message");

    let twice_user = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .messages(user("Hello again"))
        .send()
        .await
        .expect_err("roles must alternate");
    let unanswered = client
        .converse_stream()
        .model_id(MODEL)
        .messages(user("Hello"))
        .messages(asked)
        .messages(wrong_answer)
        .send()
        .await
        .expect_err("the tool result must answer the tool use");

    let twice_user = twice_user.as_service_error().expect("service error");
    assert!(twice_user.is_validation_exception(), "{twice_user:?}");
    assert!(
        twice_user
            .message()
            .is_some_and(|m| m.contains("alternate between user and assistant")),
        "{twice_user:?}"
    );
    let unanswered = unanswered.as_service_error().expect("service error");
    assert!(unanswered.is_validation_exception(), "{unanswered:?}");
    assert!(
        unanswered.message().is_some_and(|m| m.contains(
            "Expected toolResult blocks at messages.2.content for the following Ids: tooluse_1"
        )),
        "{unanswered:?}"
    );
    assert_eq!(standin.remaining(), 1, "rejected requests consume no turn");
    assert_eq!(standin.requests().len(), 2);
}

#[tokio::test]
async fn slow_text_counts_a_client_that_goes_away_but_not_one_that_reads_to_the_end() {
    let standin = BedrockStandIn::start([
        Turn::SlowText {
            text: "one two three four".into(),
            chunks: 4,
            delay: Duration::from_millis(20),
        },
        Turn::SlowText {
            text: "a long answer that the customer will not wait for".into(),
            chunks: 40,
            delay: Duration::from_millis(100),
        },
    ])
    .await;
    let client = client(&standin).await;

    let (events, error) = drain(start_stream(&client).await).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_pieces(&events, 0).len(), 4);
    assert_eq!(text_pieces(&events, 0).concat(), "one two three four");
    assert_eq!(standin.disconnects(), 0);

    let mut response = start_stream(&client).await;
    for _ in 0..3 {
        response
            .stream
            .recv()
            .await
            .expect("event")
            .expect("not the end yet");
    }
    drop(response);

    assert_eq!(
        standin
            .wait_for_disconnects(1, Duration::from_secs(3))
            .await,
        1
    );
}

#[tokio::test]
async fn malformed_requests_are_validation_exceptions_and_the_server_keeps_serving() {
    let standin = BedrockStandIn::start([Turn::text("Still here.")]).await;
    let http = reqwest::Client::new();

    let not_json = http
        .post(format!("{}/model/m/converse-stream", standin.endpoint))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("an answer");
    let bad_model_id = http
        .post(format!("{}/model/%FF%FE/converse", standin.endpoint))
        .header("content-type", "application/json")
        .body(r#"{"messages":[{"role":"user","content":[{"text":"hi"}]}]}"#)
        .send()
        .await
        .expect("an answer");
    let unknown = http
        .post(format!("{}/model/m/invoke", standin.endpoint))
        .send()
        .await
        .expect("an answer");

    for response in [not_json, bad_model_id] {
        assert_eq!(response.status(), 400);
        let error_type = response.headers()["x-amzn-errortype"]
            .to_str()
            .expect("text")
            .to_owned();
        assert!(
            error_type.starts_with("ValidationException:"),
            "{error_type}"
        );
        let body: Value = response.json().await.expect("a JSON body");
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        standin.requests().len(),
        2,
        "unknown paths are not model calls"
    );
    assert_eq!(standin.remaining(), 1);

    let client = client(&standin).await;
    let (events, error) = drain(start_stream(&client).await).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(text_pieces(&events, 0).concat(), "Still here.");
}

#[tokio::test]
async fn the_server_stops_when_dropped() {
    let standin = BedrockStandIn::start([]).await;
    let address = standin
        .endpoint
        .strip_prefix("http://")
        .expect("an http endpoint")
        .to_owned();
    tokio::net::TcpStream::connect(&address)
        .await
        .expect("the stand-in listens");

    drop(standin);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    loop {
        if tokio::net::TcpStream::connect(&address).await.is_err() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{address} still accepts connections after the stand-in was dropped"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
