//! Calling Bedrock ConverseStream: building the request, turning the event stream into
//! [`ModelEvent`]s, and classifying failures as retryable or not.
//!
//! The SDK's own retries are off: the agent loop retries with jittered backoff within a time
//! budget and tells the client, which the SDK could not do for errors inside a stream.
//!
//! A [`ModelError`] keeps the service's code and message for the logs (they may name the
//! model's ARN, an account or an endpoint); the caller only ever gets
//! [`ModelError::public_message`], one plain sentence per failure class, and the code.
//!
//! Every request carries the configured prompt cache points ([`CachePoints`]) and guardrail
//! ([`Guardrail`]); the stream's metadata gives the usage, cache reads and writes included,
//! and the guardrail's action reason when it intervened.

use std::time::Duration;

use agent_protocol::Usage;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use std::collections::VecDeque;

use aws_sdk_bedrockruntime::types::{
    CachePointBlock, CachePointType, ContentBlockDelta, ContentBlockStart, ConverseStreamOutput,
    InferenceConfiguration, Message, SystemContentBlock, Tool, ToolConfiguration,
    error::ConverseStreamOutputError,
};
use aws_smithy_types::event_stream::RawMessage;

use super::caching::CachePoints;
use super::guardrail::Guardrail;
use super::stable_tools::StableTools;
use crate::config::ModelConfig;

/// What a model stream says, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelEvent {
    Text(String),
    ToolUseStart {
        index: i32,
        id: String,
        name: String,
    },
    ToolUseInput {
        index: i32,
        json: String,
    },
    BlockStop {
        index: i32,
    },
    Stop {
        reason: String,
    },
    Usage(Usage),
    /// The guardrail's trace said why it acted (`actionReason`, such as `Guardrail blocked.`).
    GuardrailAction {
        reason: String,
    },
}

/// Why a model call failed. The `Display` is for the logs.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ModelError {
    /// The service's error code (`ThrottlingException`, ...) or a local one (`Timeout`).
    pub code: String,
    pub message: String,
    /// Throttling, a timeout or a transient service fault: the same call may succeed later.
    pub retryable: bool,
    /// What the caller is told.
    public: &'static str,
}

const BUSY: &str = "the model is busy right now; try again in a moment";
const SLOW: &str = "the model did not answer in time; try again in a moment";
const INTERRUPTED: &str = "the model's answer was interrupted; try again in a moment";
const NO_CREDENTIALS: &str =
    "the agent cannot call the model because it has no AWS credentials; its operator must fix this";
const REFUSED: &str = "the model could not answer this request; try again later";

impl ModelError {
    fn new(code: impl Into<String>, message: impl Into<String>, retryable: bool) -> Self {
        let code = code.into();
        let public = match code.to_ascii_lowercase().as_str() {
            "throttlingexception"
            | "serviceunavailableexception"
            | "modelnotreadyexception"
            | "servicequotaexceededexception" => BUSY,
            "timeout" | "modeltimeoutexception" => SLOW,
            _ if retryable => INTERRUPTED,
            _ => REFUSED,
        };
        Self {
            code,
            message: message.into(),
            retryable,
            public,
        }
    }

    /// A request that could not be built; retrying cannot help.
    pub(super) fn local(message: impl Into<String>) -> Self {
        Self::new("RequestError", message, false)
    }

    /// The plain sentence for the caller: no cause, URL, ARN or type name.
    pub fn public_message(&self) -> &'static str {
        self.public
    }
}

/// Whether the cause of `error` is credentials that could not be loaded.
fn lacks_credentials(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(error);
    while let Some(current) = cause {
        if current
            .downcast_ref::<aws_credential_types::provider::error::CredentialsError>()
            .is_some()
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// Service error codes worth retrying, compared without case.
const RETRYABLE_CODES: [&str; 6] = [
    "throttlingexception",
    "serviceunavailableexception",
    "internalserverexception",
    "modelnotreadyexception",
    "modelstreamerrorexception",
    "modeltimeoutexception",
];

fn classify<E, R>(error: &SdkError<E, R>) -> ModelError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match error {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or("UnknownError").to_owned();
            let retryable = RETRYABLE_CODES.contains(&code.to_ascii_lowercase().as_str());
            ModelError::new(
                code,
                service.err().message().unwrap_or("no message"),
                retryable,
            )
        }
        SdkError::TimeoutError(_) => {
            ModelError::new("Timeout", "the model did not answer in time", true)
        }
        // A dispatch failure that is not I/O or a timeout is local, such as credentials that
        // cannot be loaded: retrying cannot help, and the message says what is missing.
        SdkError::DispatchFailure(failure) if !(failure.is_io() || failure.is_timeout()) => {
            let mut local = ModelError::new(
                "RequestError",
                DisplayErrorContext(error).to_string(),
                false,
            );
            if lacks_credentials(error) {
                local.public = NO_CREDENTIALS;
            }
            local
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => ModelError::new(
            "ConnectionError",
            DisplayErrorContext(error).to_string(),
            true,
        ),
        _ => ModelError::new(
            "RequestError",
            DisplayErrorContext(error).to_string(),
            false,
        ),
    }
}

/// An error inside the stream. Its code is not in the payload, so it comes from the modelled
/// variant, or, for an exception type the SDK does not model under that spelling (Bedrock has
/// sent both `throttlingException` and `ThrottlingException`), from the frame's
/// `:exception-type` header.
fn classify_stream(error: &SdkError<ConverseStreamOutputError, RawMessage>) -> ModelError {
    let SdkError::ServiceError(service) = error else {
        return classify(error);
    };
    let code = match service.err() {
        ConverseStreamOutputError::ThrottlingException(_) => "ThrottlingException".to_owned(),
        ConverseStreamOutputError::ServiceUnavailableException(_) => {
            "ServiceUnavailableException".to_owned()
        }
        ConverseStreamOutputError::InternalServerException(_) => {
            "InternalServerException".to_owned()
        }
        ConverseStreamOutputError::ModelStreamErrorException(_) => {
            "ModelStreamErrorException".to_owned()
        }
        ConverseStreamOutputError::ValidationException(_) => "ValidationException".to_owned(),
        other => match service.raw() {
            RawMessage::Decoded(message) => message
                .headers()
                .iter()
                .find(|header| header.name().as_str() == ":exception-type")
                .and_then(|header| header.value().as_string().ok())
                .map_or_else(
                    || other.code().unwrap_or("UnknownError").to_owned(),
                    |value| value.as_str().to_owned(),
                ),
            _ => other.code().unwrap_or("UnknownError").to_owned(),
        },
    };
    let retryable = RETRYABLE_CODES.contains(&code.to_ascii_lowercase().as_str());
    ModelError::new(
        code,
        service.err().message().unwrap_or("no message"),
        retryable,
    )
}

/// The Bedrock client and the fixed parts of every request.
#[derive(Debug, Clone)]
pub struct Model {
    client: Client,
    model_id: String,
    system: Vec<SystemContentBlock>,
    inference: InferenceConfiguration,
    stream_timeout: Duration,
    cache_points: CachePoints,
    guardrail: Option<Guardrail>,
    stable_tools: StableTools,
}

/// What one call sends besides the fixed parts.
pub struct ModelRequest {
    pub messages: Vec<Message>,
    pub tools: Option<ToolConfiguration>,
    /// Appended to the configured system prompt for this call (who the caller is).
    pub system_suffix: Option<String>,
}

impl Model {
    /// Builds the client without any network call.
    pub async fn new(config: &ModelConfig, region: &str, system_prompt: String) -> Self {
        let sdk_config = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(3))
                    .build(),
            )
            .load()
            .await;
        let mut inference = InferenceConfiguration::builder().max_tokens(config.max_tokens);
        if let Some(temperature) = config.temperature {
            inference = inference.temperature(temperature);
        }
        let cache_points = CachePoints::for_model(config.prompt_caching, &config.model_id);
        let guardrail = Guardrail::from_config(config);
        tracing::info!(
            model_id = %config.model_id,
            cache_point_after_system = cache_points.system,
            cache_point_after_tools = cache_points.tools,
            guardrail = guardrail.as_ref().map(|g| g.identifier.as_str()),
            "model calls configured"
        );
        Self {
            client: Client::new(&sdk_config),
            model_id: config.model_id.clone(),
            system: vec![SystemContentBlock::Text(system_prompt)],
            inference: inference.build(),
            stream_timeout: Duration::from_millis(config.stream_timeout_ms),
            cache_points,
            guardrail,
            stable_tools: StableTools::default(),
        }
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    pub fn guardrail(&self) -> Option<&Guardrail> {
        self.guardrail.as_ref()
    }

    /// Starts a ConverseStream call.
    pub async fn stream(&self, request: ModelRequest) -> Result<ModelStream, ModelError> {
        let mut system = self.system.clone();
        // The configured prompt is the same for every caller; the suffix is not, so the cache
        // point goes between them.
        if self.cache_points.system {
            system.push(SystemContentBlock::CachePoint(cache_point()?));
        }
        if let Some(suffix) = request.system_suffix {
            system.push(SystemContentBlock::Text(suffix));
        }
        let mut tools = request.tools.map(|tools| self.stable_tools.stable(tools));
        if self.cache_points.tools
            && let Some(config) = tools.as_mut()
        {
            config.tools.push(Tool::CachePoint(cache_point()?));
        }
        let guardrail = self.guardrail.as_ref().map(Guardrail::stream_configuration);
        let call = self
            .client
            .converse_stream()
            .model_id(&self.model_id)
            .set_system(Some(system))
            .set_messages(Some(request.messages))
            .set_tool_config(tools)
            .inference_config(self.inference.clone())
            .set_guardrail_config(guardrail)
            .send();
        let output = tokio::time::timeout(self.stream_timeout, call)
            .await
            .map_err(|_| stream_timeout())?
            .map_err(|e| classify(&e))?;
        Ok(ModelStream {
            receiver: output.stream,
            timeout: self.stream_timeout,
            translated: VecDeque::new(),
        })
    }
}

/// A cache point of the default type, with the model's default time to live.
fn cache_point() -> Result<CachePointBlock, ModelError> {
    CachePointBlock::builder()
        .r#type(CachePointType::Default)
        .build()
        .map_err(|error| ModelError::local(error.to_string()))
}

fn stream_timeout() -> ModelError {
    ModelError::new("Timeout", "the model stream went quiet for too long", true)
}

/// An open model stream.
pub struct ModelStream {
    receiver: EventReceiver<ConverseStreamOutput, ConverseStreamOutputError>,
    timeout: Duration,
    /// Events of one stream output not yet returned (a metadata event gives two).
    translated: VecDeque<ModelEvent>,
}

impl ModelStream {
    /// The next event, `None` at the end of the stream.
    pub async fn next(&mut self) -> Result<Option<ModelEvent>, ModelError> {
        loop {
            if let Some(event) = self.translated.pop_front() {
                return Ok(Some(event));
            }
            let received = tokio::time::timeout(self.timeout, self.receiver.recv())
                .await
                .map_err(|_| stream_timeout())?
                .map_err(|e| classify_stream(&e))?;
            let Some(output) = received else {
                return Ok(None);
            };
            self.translated.extend(translate(output));
        }
    }
}

fn translate(output: ConverseStreamOutput) -> Vec<ModelEvent> {
    if let ConverseStreamOutput::Metadata(metadata) = output {
        let count = |n: i32| u64::try_from(n).unwrap_or(0);
        let usage = metadata.usage.map(|usage| {
            ModelEvent::Usage(Usage {
                input_tokens: count(usage.input_tokens),
                output_tokens: count(usage.output_tokens),
                total_tokens: count(usage.total_tokens),
                cache_read_input_tokens: usage.cache_read_input_tokens.map_or(0, count),
                cache_write_input_tokens: usage.cache_write_input_tokens.map_or(0, count),
            })
        });
        let action = metadata
            .trace
            .and_then(|trace| trace.guardrail)
            .and_then(|guardrail| guardrail.action_reason)
            .map(|reason| ModelEvent::GuardrailAction { reason });
        return usage.into_iter().chain(action).collect();
    }
    translate_content(output).into_iter().collect()
}

fn translate_content(output: ConverseStreamOutput) -> Option<ModelEvent> {
    match output {
        ConverseStreamOutput::ContentBlockStart(start) => match start.start {
            Some(ContentBlockStart::ToolUse(tool)) => Some(ModelEvent::ToolUseStart {
                index: start.content_block_index,
                id: tool.tool_use_id,
                name: tool.name,
            }),
            _ => None,
        },
        ConverseStreamOutput::ContentBlockDelta(delta) => match delta.delta {
            Some(ContentBlockDelta::Text(text)) => Some(ModelEvent::Text(text)),
            Some(ContentBlockDelta::ToolUse(tool)) => Some(ModelEvent::ToolUseInput {
                index: delta.content_block_index,
                json: tool.input,
            }),
            _ => None,
        },
        ConverseStreamOutput::ContentBlockStop(stop) => Some(ModelEvent::BlockStop {
            index: stop.content_block_index,
        }),
        ConverseStreamOutput::MessageStop(stop) => Some(ModelEvent::Stop {
            reason: stop.stop_reason.as_str().to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_gets_one_plain_sentence_per_failure_class() {
        let leaky = "arn:aws:bedrock:us-east-1:123456789012:model/x at https://bedrock.example (aws_smithy::Error)";
        let cases = [
            ("ThrottlingException", true, BUSY),
            ("throttlingException", true, BUSY),
            ("ServiceUnavailableException", true, BUSY),
            ("Timeout", true, SLOW),
            ("ModelTimeoutException", true, SLOW),
            ("ConnectionError", true, INTERRUPTED),
            ("ModelStreamErrorException", true, INTERRUPTED),
            ("ValidationException", false, REFUSED),
            ("AccessDeniedException", false, REFUSED),
            ("RequestError", false, REFUSED),
        ];
        for (code, retryable, expected) in cases {
            let error = ModelError::new(code, leaky, retryable);
            assert_eq!(error.public_message(), expected, "{code}");
            assert!(error.to_string().contains(leaky), "the logs keep the cause");
        }
        for message in [BUSY, SLOW, INTERRUPTED, NO_CREDENTIALS, REFUSED] {
            for internal in ["::", "http", "arn:", "Exception"] {
                assert!(!message.contains(internal), "{message}");
            }
        }
    }
}
