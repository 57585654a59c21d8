//! Tool configurations that serialize to the same bytes whenever their content is the same, so
//! that the prompt prefix up to the tools' cache point can be a cache hit.
//!
//! A tool's JSON Schema travels as the SDK's `Document`, whose objects are `HashMap`s: each
//! newly built map iterates, and so serializes, its keys in its own random order. A catalogue
//! rebuilt for every turn would therefore send the same schemas differently spelt each time,
//! and Bedrock's cache, which matches the prefix exactly, would miss on every turn. A clone
//! keeps its original's hasher and layout, so handing out clones of the first configuration
//! built with a given content keeps the bytes stable.

use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_bedrockruntime::types::ToolConfiguration;

/// How many distinct catalogues are remembered (per-caller sources and gateway search make a
/// few); the oldest is forgotten first.
const REMEMBERED: usize = 16;

/// The configurations handed out so far, oldest first.
#[derive(Debug, Clone, Default)]
pub struct StableTools(Arc<Mutex<Vec<ToolConfiguration>>>);

impl StableTools {
    /// `fresh`, or a clone of the configuration with the same content handed out before.
    pub fn stable(&self, fresh: ToolConfiguration) -> ToolConfiguration {
        let mut remembered = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // `Document` equality compares maps by content, whatever their order.
        if let Some(known) = remembered.iter().find(|known| **known == fresh) {
            return known.clone();
        }
        if remembered.len() == REMEMBERED {
            remembered.remove(0);
        }
        remembered.push(fresh.clone());
        fresh
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_bedrockruntime::types::{Tool, ToolInputSchema, ToolSpecification};
    use aws_smithy_types::Document;
    use serde_json::json;

    use super::*;
    use crate::model::document;

    fn configuration() -> ToolConfiguration {
        let properties: serde_json::Map<String, serde_json::Value> = (0..32)
            .map(|n| (format!("field_{n}"), json!({"type": "string"})))
            .collect();
        let schema = json!({"type": "object", "properties": properties});
        let spec = ToolSpecification::builder()
            .name("get_order")
            .input_schema(ToolInputSchema::Json(document::from_json(&schema)))
            .build()
            .unwrap();
        ToolConfiguration::builder()
            .tools(Tool::ToolSpec(spec))
            .build()
            .unwrap()
    }

    /// The order the schema's `properties` keys are serialized in.
    fn key_order(configuration: &ToolConfiguration) -> Vec<String> {
        let Tool::ToolSpec(spec) = &configuration.tools[0] else {
            panic!("not a tool spec");
        };
        let Some(ToolInputSchema::Json(Document::Object(schema))) = spec.input_schema() else {
            panic!("no JSON schema");
        };
        let Some(Document::Object(properties)) = schema.get("properties") else {
            panic!("no properties");
        };
        properties.keys().cloned().collect()
    }

    #[test]
    fn the_same_content_is_handed_out_in_the_same_order_every_time() {
        let tools = StableTools::default();
        let first = tools.stable(configuration());
        let orders: Vec<Vec<String>> = (0..8)
            .map(|_| key_order(&tools.stable(configuration())))
            .collect();
        assert!(orders.iter().all(|order| *order == key_order(&first)));
    }

    #[test]
    fn other_content_is_handed_out_as_built() {
        let tools = StableTools::default();
        tools.stable(configuration());
        let other = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(
                ToolSpecification::builder()
                    .name("other")
                    .input_schema(ToolInputSchema::Json(document::from_json(&json!({}))))
                    .build()
                    .unwrap(),
            ))
            .build()
            .unwrap();
        assert_eq!(tools.stable(other.clone()), other);
    }
}
