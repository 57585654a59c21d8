//! The model adapter: Bedrock ConverseStream through `aws-sdk-bedrockruntime`, and the JSON
//! and `Document` conversions it needs. The agent loop sees a stream of
//! [`ModelEvent`](bedrock::ModelEvent)s and [`ModelError`](bedrock::ModelError)s that say
//! whether a retry can help; nothing else of the SDK's errors.

pub mod bedrock;
pub mod document;
pub mod tool_blocks;
