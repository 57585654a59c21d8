//! Where a model call puts Bedrock prompt cache points (`PROMPT_CACHING`).
//!
//! A cache point marks the end of a prompt prefix Bedrock may cache: the request up to it is
//! billed as a cache write the first time and as a (much cheaper) cache read while it stays
//! unchanged and warm (<https://docs.aws.amazon.com/bedrock/latest/userguide/prompt-caching.html>).
//! The agent sets at most two: after the tool specs and after the configured system prompt,
//! before the per-caller part of the system prompt, which changes from caller to caller.
//!
//! Models take cache points in different fields: Anthropic's Claude models (3.7 Sonnet, 3.5
//! Haiku, and the Sonnet, Opus and Haiku 4 families) in `system`, `messages` and `tools`;
//! Amazon Nova (Micro, Lite, Pro, Premier) in `system` and `messages` only, so `auto` puts none
//! in Nova's tools. Each checkpoint needs a minimum prefix (1,024 tokens for Claude 3.7 Sonnet
//! and the Sonnet and Opus 4 models, 2,048 for Claude 3.5 Haiku, 4,096 for Claude Haiku 4.5, 1,000
//! for Nova, as the page's table lists); below it Bedrock accepts the request and caches nothing,
//! so a cache point is never a failure, at worst no saving.

use crate::config::PromptCaching;

/// The cache points of every model call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CachePoints {
    /// After the configured system prompt.
    pub system: bool,
    /// After the last tool spec.
    pub tools: bool,
}

impl CachePoints {
    /// The cache points for `model_id` (a model id, an inference profile id such as
    /// `global.anthropic...`, or an ARN ending in one) under `setting`.
    pub fn for_model(setting: PromptCaching, model_id: &str) -> Self {
        match setting {
            PromptCaching::Off => Self::default(),
            PromptCaching::On => Self {
                system: true,
                tools: true,
            },
            PromptCaching::Auto => Self::known(model_id),
        }
    }

    fn known(model_id: &str) -> Self {
        const CLAUDE: [&str; 5] = ["3-7-sonnet", "3-5-haiku", "sonnet-4", "opus-4", "haiku-4"];
        const NOVA: [&str; 4] = ["micro", "lite", "pro", "premier"];
        let id = model_id.to_ascii_lowercase();
        if let Some((_, family)) = id.split_once("anthropic.claude-")
            && CLAUDE.iter().any(|name| family.starts_with(name))
        {
            return Self {
                system: true,
                tools: true,
            };
        }
        if let Some((_, family)) = id.split_once("amazon.nova-")
            && NOVA.iter().any(|name| family.starts_with(name))
        {
            return Self {
                system: true,
                tools: false,
            };
        }
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: CachePoints = CachePoints {
        system: true,
        tools: true,
    };

    #[test]
    fn auto_caches_system_and_tools_for_claude_models_that_support_it() {
        for id in [
            "global.anthropic.claude-haiku-4-5-20251001-v1:0",
            "us.anthropic.claude-sonnet-4-20250514-v1:0",
            "anthropic.claude-3-7-sonnet-20250219-v1:0",
            "anthropic.claude-3-5-haiku-20241022-v1:0",
            "eu.anthropic.claude-opus-4-1-20250805-v1:0",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-sonnet-4-5-20250929-v1:0",
        ] {
            assert_eq!(
                CachePoints::for_model(PromptCaching::Auto, id),
                BOTH,
                "{id}"
            );
        }
    }

    #[test]
    fn auto_caches_only_the_system_prompt_for_nova() {
        let points = CachePoints::for_model(PromptCaching::Auto, "us.amazon.nova-pro-v1:0");
        assert_eq!(
            points,
            CachePoints {
                system: true,
                tools: false
            }
        );
    }

    #[test]
    fn auto_sets_none_for_models_not_known_to_cache() {
        for id in [
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
            "meta.llama3-70b-instruct-v1:0",
            "demo-model",
        ] {
            let points = CachePoints::for_model(PromptCaching::Auto, id);
            assert_eq!(points, CachePoints::default(), "{id}");
        }
    }

    #[test]
    fn on_and_off_do_what_they_say_whatever_the_model() {
        assert_eq!(
            CachePoints::for_model(PromptCaching::On, "demo-model"),
            BOTH
        );
        let claude = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
        let points = CachePoints::for_model(PromptCaching::Off, claude);
        assert_eq!(points, CachePoints::default());
    }
}
