//! The model adapter: Bedrock ConverseStream through `aws-sdk-bedrockruntime`, and the JSON
//! and `Document` conversions it needs. The agent loop sees a stream of
//! [`ModelEvent`](bedrock::ModelEvent)s and [`ModelError`](bedrock::ModelError)s that say
//! whether a retry can help; nothing else of the SDK's errors. Each call carries the prompt
//! cache points (`caching`) and the guardrail (`guardrail`) the configuration asks for, and
//! the same tools in the same bytes every time (`stable_tools`).

pub mod bedrock;
pub mod caching;
pub mod document;
pub mod guardrail;
pub mod stable_tools;
pub mod tool_blocks;
