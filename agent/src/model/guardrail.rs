//! The Bedrock guardrail every model call carries (`GUARDRAIL_ID`, `GUARDRAIL_VERSION`,
//! `GUARDRAIL_STREAM_MODE`), as ConverseStream's `guardrailConfig`
//! (<https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_GuardrailStreamConfiguration.html>).
//!
//! With a guardrail, Bedrock screens the conversation's text before the model runs and the
//! answer as it streams. When it blocks either, the stream is the ordinary event sequence with
//! the guardrail's blocked message as the text and `stopReason` `guardrail_intervened`, and,
//! with trace on, the metadata event carries `trace.guardrail` (assessments and `actionReason`)
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-use-converse-api.html>).
//! Trace is always on: the turn records the guardrail's action reason in its span. The
//! assessments themselves may quote what the caller typed, so they are never logged.
//!
//! Calling ConverseStream with a guardrail needs `bedrock:ApplyGuardrail` on the guardrail
//! besides the model invocation actions
//! (<https://docs.aws.amazon.com/bedrock/latest/userguide/guardrails-permissions.html>).

use aws_sdk_bedrockruntime::types::{
    GuardrailStreamConfiguration, GuardrailStreamProcessingMode, GuardrailTrace,
};

use crate::config::{GuardrailStreamMode, ModelConfig};

/// The guardrail settings, when one is configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guardrail {
    pub identifier: String,
    pub version: String,
    mode: GuardrailStreamMode,
}

impl Guardrail {
    /// The configured guardrail; `None` without `GUARDRAIL_ID` (the settings require the id and
    /// the version together).
    pub fn from_config(config: &ModelConfig) -> Option<Self> {
        let (identifier, version) = (
            config.guardrail_id.clone()?,
            config.guardrail_version.clone()?,
        );
        Some(Self {
            identifier,
            version,
            mode: config.guardrail_stream_mode,
        })
    }

    /// The request's `guardrailConfig`.
    pub fn stream_configuration(&self) -> GuardrailStreamConfiguration {
        let mode = match self.mode {
            GuardrailStreamMode::Sync => GuardrailStreamProcessingMode::Sync,
            GuardrailStreamMode::Async => GuardrailStreamProcessingMode::Async,
        };
        GuardrailStreamConfiguration::builder()
            .guardrail_identifier(&self.identifier)
            .guardrail_version(&self.version)
            .trace(GuardrailTrace::Enabled)
            .stream_processing_mode(mode)
            .build()
    }
}
