//! Conversation (runtime session) ids, sent in `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`.
//!
//! AgentCore rejects ids shorter than 33 or longer than 256 characters, and the agent keeps a
//! conversation's history per id, so `chat` keeps one id for the whole chat, `ask` makes a new
//! one each time, and `--session` continues a given one after checking it here, before any
//! request is made.

use std::fmt;

use crate::error::Failure;

const MIN_LEN: usize = 33;
const MAX_LEN: usize = 256;

/// A valid session id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionId(String);

impl SessionId {
    /// A new id: `agent-cli-` and a random UUID, 46 characters.
    pub fn generate() -> Self {
        Self(format!("agent-cli-{}", uuid::Uuid::new_v4()))
    }

    /// A caller's id, checked against AgentCore's rules (length, and visible ASCII so that it
    /// is a valid header value).
    pub fn parse(id: &str) -> Result<Self, Failure> {
        if !(MIN_LEN..=MAX_LEN).contains(&id.len()) {
            return Err(Failure::Usage(format!(
                "--session must be {MIN_LEN} to {MAX_LEN} characters long (AgentCore's rule), not {}",
                id.len()
            )));
        }
        if !id.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(Failure::Usage(
                "--session may contain only visible ASCII characters (no spaces)".to_owned(),
            ));
        }
        Ok(Self(id.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_meet_agentcore_rules() {
        let id = SessionId::generate();
        assert_eq!(SessionId::parse(id.as_str()).unwrap(), id);
        assert_ne!(SessionId::generate(), id);
    }

    #[test]
    fn ids_outside_33_to_256_visible_characters_are_refused() {
        assert!(SessionId::parse(&"a".repeat(32)).is_err());
        assert!(SessionId::parse(&"a".repeat(33)).is_ok());
        assert!(SessionId::parse(&"a".repeat(256)).is_ok());
        assert!(SessionId::parse(&"a".repeat(257)).is_err());
        assert!(SessionId::parse(&format!("{} b", "a".repeat(40))).is_err());
    }
}
