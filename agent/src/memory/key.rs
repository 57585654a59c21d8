//! Where a conversation lives in AgentCore Memory: the actor and the session of its events.
//!
//! The actor is the verified caller and nothing else: [`MemoryKey::new`] takes the digest of
//! the caller's identity ([`crate::session::SessionOwner`] digests `iss` and `sub`, or the
//! runtime user id without authentication), never a value from the request body, so a caller
//! can only ever write or read events under their own actor id. The digest keeps the identity
//! itself out of Memory.
//!
//! AgentCore's rules for both ids (API reference, `Event`:
//! <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_Event.html>):
//! `actorId` 1 to 255 characters matching `[a-zA-Z0-9][a-zA-Z0-9-_/]*`, `sessionId` 1 to 100
//! characters matching `[a-zA-Z0-9][a-zA-Z0-9-_]*`. A runtime session id may be up to 256
//! printable characters, so one that breaks the Memory rule is stored under a digest of it.

use sha2::{Digest, Sha256};

/// The longest `sessionId` AgentCore Memory accepts.
const MAX_MEMORY_SESSION_ID_LEN: usize = 100;

/// The actor and session of one conversation's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryKey {
    pub actor_id: String,
    pub session_id: String,
}

impl MemoryKey {
    /// `owner_digest_hex`: the caller's identity digest in hex (64 characters);
    /// `runtime_session_id`: the session id the request came with.
    pub fn new(owner_digest_hex: &str, runtime_session_id: &str) -> Self {
        let session_id = if fits_memory_session_rule(runtime_session_id) {
            runtime_session_id.to_owned()
        } else {
            let digest = Sha256::digest(runtime_session_id.as_bytes());
            let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            format!("h-{hex}")
        };
        Self {
            actor_id: format!("caller-{owner_digest_hex}"),
            session_id,
        }
    }
}

fn fits_memory_session_rule(id: &str) -> bool {
    let mut bytes = id.bytes();
    let Some(first) = bytes.next() else {
        return false;
    };
    id.len() <= MAX_MEMORY_SESSION_ID_LEN
        && first.is_ascii_alphanumeric()
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor_rule(id: &str) -> bool {
        let mut bytes = id.bytes();
        (1..=255).contains(&id.len())
            && bytes.next().is_some_and(|b| b.is_ascii_alphanumeric())
            && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
    }

    #[test]
    fn ids_follow_agentcore_rules() {
        let owner = "ab".repeat(32);
        let plain = MemoryKey::new(&owner, "0f5e7c7e-2a5b-4d0e-9c61-2f8a1d3b4c5d-session");
        assert!(actor_rule(&plain.actor_id), "{}", plain.actor_id);
        assert_eq!(
            plain.session_id, "0f5e7c7e-2a5b-4d0e-9c61-2f8a1d3b4c5d-session",
            "a session id that fits is kept"
        );
        for awkward in ["s.with.dots", "-leading-dash", &"x".repeat(101), "a:b"] {
            let key = MemoryKey::new(&owner, awkward);
            assert!(fits_memory_session_rule(&key.session_id), "{awkward}");
            assert_eq!(key, MemoryKey::new(&owner, awkward), "stable");
        }
        assert_ne!(
            MemoryKey::new(&owner, "a.b").session_id,
            MemoryKey::new(&owner, "a_b").session_id
        );
    }
}
