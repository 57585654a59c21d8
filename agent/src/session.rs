//! Conversation memory per AgentCore session: each session's history, bounded in bytes, with
//! idle expiry and a global cap on sessions.
//!
//! A session belongs to the caller who started it. AgentCore lets clients choose session ids,
//! so an id alone proves nothing: every checkout names the verified caller as a
//! [`SessionOwner`], and a caller other than the session's owner gets
//! [`SessionError::OwnedByAnother`] (HTTP 403) and never a byte of its history. A refusal,
//! rather than a fresh conversation under the same id, because in AgentCore one session id is
//! one microVM: the owner's conversation stays whole, and the intruder learns nothing but that
//! the id is taken.
//!
//! A session's history is behind an async mutex taken with `try_lock`: a second request on a
//! session that is already answering gets [`SessionError::Busy`] (HTTP 409) instead of
//! interleaving with the first. A turn works on its own new messages and commits them only
//! when it completes, so a failed or abandoned turn leaves the history as it was.
//!
//! With durable memory on (`crate::memory`), a session this process has just created
//! [awaits its restore](History::awaits_restore): its owner's earlier turns in that session
//! are replayed into it before its first turn, within the same byte budget.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, ToolResultContentBlock,
};
use inbound_auth::Caller;
use sha2::{Digest, Sha256};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::SessionConfig;
use crate::model::document;

/// Why a session cannot take a request now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("this session is already answering a request; wait for it to finish")]
    Busy,
    #[error("the agent holds the most sessions it may and all of them are busy")]
    Full,
    #[error(
        "this session id belongs to a conversation started by another caller; start a new session with a new session id"
    )]
    OwnedByAnother { owner: SessionOwner },
}

/// Who a session belongs to: a SHA-256 digest of the verified caller's identity, so neither
/// the session table nor a log line ever holds the identity itself.
///
/// - a verified token: its issuer and subject (`iss`, `sub`), which Cognito never reassigns;
/// - no authentication (`AUTH_MODE=none`): the runtime's user id header when the request has
///   one (AgentCore sets `X-Amzn-Bedrock-AgentCore-Runtime-User-Id` for SigV4 callers that
///   act for a user), else one shared anonymous owner.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionOwner([u8; 32]);

impl SessionOwner {
    pub fn of(caller: &Caller, runtime_user_id: Option<&str>) -> Self {
        let identity = match caller.principal() {
            Some(principal) => {
                let issuer = principal.claim_str("iss").unwrap_or_default();
                format!("token\0{issuer}\0{}", principal.subject)
            }
            None => match runtime_user_id {
                Some(user) => format!("runtime-user\0{user}"),
                None => "anonymous".to_owned(),
            },
        };
        Self(Sha256::digest(identity.as_bytes()).into())
    }

    /// The whole digest in hex: the caller's stable id where one is stored outside this
    /// process (the AgentCore Memory actor).
    pub fn digest_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The first 8 bytes of the digest in hex: enough to tell two owners apart in a log.
    pub fn short_hash(&self) -> String {
        self.0[..8].iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl std::fmt::Debug for SessionOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionOwner({})", self.short_hash())
    }
}

/// One session's conversation.
#[derive(Debug, Default)]
pub struct History {
    messages: Vec<Message>,
    bytes: usize,
    /// Whether the earlier turns kept outside this process were asked for already.
    restored: bool,
    /// What long-term memory recalled about the caller, for the system prompt.
    recalled: Option<String>,
}

impl History {
    pub fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Whether this session's earlier turns are still to be read from durable memory: true
    /// for a session this process has just created, until [`Self::restore`] runs.
    pub fn awaits_restore(&self) -> bool {
        !self.restored
    }

    /// What long-term memory recalled about the caller when the session started.
    pub fn recalled(&self) -> Option<&str> {
        self.recalled.as_deref()
    }

    /// Keeps what long-term memory recalled, for every turn of the session.
    pub fn set_recalled(&mut self, note: Option<String>) {
        self.recalled = note;
    }

    /// Replays earlier turns, oldest first, within `budget` (the oldest exchanges dropped as
    /// in [`Self::commit`]). Called once per session, with no turns when none could be read.
    pub fn restore(&mut self, turns: Vec<Vec<Message>>, budget: usize) {
        self.restored = true;
        for turn in turns {
            self.commit(turn, budget);
        }
    }

    /// Appends a completed turn's messages, then drops the oldest exchanges while the history
    /// is over `budget` bytes. An exchange starts at a user message that carries the caller's
    /// text, so a tool call is never separated from its result, and the newest exchange is
    /// always kept.
    pub fn commit(&mut self, new_messages: Vec<Message>, budget: usize) {
        self.bytes += new_messages.iter().map(message_size).sum::<usize>();
        self.messages.extend(new_messages);
        while self.bytes > budget {
            let starts: Vec<usize> = self
                .messages
                .iter()
                .enumerate()
                .filter(|(_, m)| is_exchange_start(m))
                .map(|(i, _)| i)
                .collect();
            let Some(&second) = starts.get(1) else { break };
            let dropped: usize = self
                .messages
                .drain(..second)
                .map(|m| message_size(&m))
                .sum();
            self.bytes -= dropped;
        }
    }
}

fn is_exchange_start(message: &Message) -> bool {
    *message.role() == ConversationRole::User
        && message
            .content()
            .iter()
            .any(|block| matches!(block, ContentBlock::Text(_)))
        && !message
            .content()
            .iter()
            .any(|block| matches!(block, ContentBlock::ToolResult(_)))
}

/// Rough size of a message in bytes: its text and tool data.
pub fn message_size(message: &Message) -> usize {
    message
        .content()
        .iter()
        .map(|block| match block {
            ContentBlock::Text(text) => text.len(),
            ContentBlock::ToolUse(tool) => tool.name().len() + document::size(tool.input()),
            ContentBlock::ToolResult(result) => result
                .content()
                .iter()
                .map(|content| match content {
                    ToolResultContentBlock::Json(json) => document::size(json),
                    ToolResultContentBlock::Text(text) => text.len(),
                    _ => 64,
                })
                .sum(),
            _ => 64,
        })
        .sum::<usize>()
        + 16
}

#[derive(Debug)]
struct Session {
    owner: SessionOwner,
    history: Arc<Mutex<History>>,
    /// Milliseconds since the store's epoch at the last checkout.
    last_used_ms: AtomicU64,
}

/// All sessions of this process.
#[derive(Debug)]
pub struct Sessions {
    sessions: std::sync::Mutex<HashMap<String, Arc<Session>>>,
    epoch: Instant,
    idle: Duration,
    max_sessions: usize,
    pub history_budget: usize,
}

impl Sessions {
    pub fn new(config: &SessionConfig) -> Self {
        Self {
            sessions: std::sync::Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            idle: Duration::from_secs(config.idle_seconds),
            max_sessions: config.max_sessions.max(1),
            history_budget: config.history_bytes,
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The session's history, held exclusively until the guard is dropped. A new session
    /// belongs to `owner`; an existing one is handed only to its owner.
    pub fn checkout(
        &self,
        session_id: &str,
        owner: &SessionOwner,
    ) -> Result<OwnedMutexGuard<History>, SessionError> {
        let now = self.now_ms();
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(existing) = sessions.get(session_id)
            && existing.owner != *owner
        {
            return Err(SessionError::OwnedByAnother {
                owner: existing.owner.clone(),
            });
        }
        if !sessions.contains_key(session_id) && sessions.len() >= self.max_sessions {
            let idle_victim = sessions
                .iter()
                .filter(|(_, s)| s.history.try_lock().is_ok())
                .min_by_key(|(_, s)| s.last_used_ms.load(Ordering::Relaxed))
                .map(|(id, _)| id.clone());
            match idle_victim {
                Some(id) => {
                    sessions.remove(&id);
                }
                None => return Err(SessionError::Full),
            }
        }
        let session = sessions
            .entry(session_id.to_owned())
            .or_insert_with(|| {
                Arc::new(Session {
                    owner: owner.clone(),
                    history: Arc::new(Mutex::new(History::default())),
                    last_used_ms: AtomicU64::new(now),
                })
            })
            .clone();
        session.last_used_ms.store(now, Ordering::Relaxed);
        session
            .history
            .clone()
            .try_lock_owned()
            .map_err(|_| SessionError::Busy)
    }

    /// Forgets sessions idle for longer than the configured time. Busy ones are kept.
    pub fn expire_idle(&self) -> usize {
        let now = self.now_ms();
        let idle_ms = u64::try_from(self.idle.as_millis()).unwrap_or(u64::MAX);
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = sessions.len();
        sessions.retain(|_, s| {
            now.saturating_sub(s.last_used_ms.load(Ordering::Relaxed)) < idle_ms
                || s.history.try_lock().is_err()
        });
        before - sessions.len()
    }

    pub fn len(&self) -> usize {
        self.sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Runs [`Self::expire_idle`] periodically until `shutdown`.
    pub fn start_expiry(self: &Arc<Self>, shutdown: tokio_util::sync::CancellationToken) {
        let sessions = self.clone();
        let every = (self.idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(60));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = ticks.tick() => {
                        let expired = sessions.expire_idle();
                        if expired > 0 {
                            tracing::info!(expired, remaining = sessions.len(), "idle sessions expired");
                        }
                    }
                    () = shutdown.cancelled() => break,
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_bedrockruntime::types::{ToolResultBlock, ToolUseBlock};

    fn text(role: ConversationRole, text: &str) -> Message {
        Message::builder()
            .role(role)
            .content(ContentBlock::Text(text.to_owned()))
            .build()
            .expect("valid message")
    }

    fn exchange_with_tool(prompt: &str) -> Vec<Message> {
        let tool_use = ToolUseBlock::builder()
            .tool_use_id("t1")
            .name("get_review")
            .input(document::from_json(
                &serde_json::json!({"review_id": "REV-0001"}),
            ))
            .build()
            .expect("valid tool use");
        let tool_result = ToolResultBlock::builder()
            .tool_use_id("t1")
            .content(ToolResultContentBlock::Text("x".repeat(100)))
            .build()
            .expect("valid tool result");
        vec![
            text(ConversationRole::User, prompt),
            Message::builder()
                .role(ConversationRole::Assistant)
                .content(ContentBlock::ToolUse(tool_use))
                .build()
                .expect("valid"),
            Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::ToolResult(tool_result))
                .build()
                .expect("valid"),
            text(ConversationRole::Assistant, "answer"),
        ]
    }

    #[test]
    fn trimming_drops_whole_exchanges_and_keeps_the_newest() {
        let mut history = History::default();
        for prompt in ["one", "two", "three"] {
            history.commit(exchange_with_tool(prompt), 300);
        }
        let messages = history.messages();
        assert_eq!(messages.len() % 4, 0, "only whole exchanges remain");
        assert!(
            is_exchange_start(&messages[0]),
            "history starts at a prompt"
        );
        assert!(
            matches!(&messages[messages.len() - 4].content()[0], ContentBlock::Text(t) if t == "three")
        );
        assert!(history.bytes <= 300 || messages.len() == 4);
        let mut tiny = History::default();
        tiny.commit(exchange_with_tool("big"), 1);
        assert_eq!(
            tiny.messages().len(),
            4,
            "the newest exchange is kept even over budget"
        );
    }

    fn config(max_sessions: usize, idle_seconds: u64) -> SessionConfig {
        SessionConfig {
            history_bytes: 1000,
            idle_seconds,
            max_sessions,
        }
    }

    fn anonymous() -> SessionOwner {
        SessionOwner::of(&Caller::Anonymous, None)
    }

    fn signed_in(issuer: &str, subject: &str) -> SessionOwner {
        let mut claims = serde_json::Map::new();
        claims.insert("iss".to_owned(), serde_json::json!(issuer));
        SessionOwner::of(
            &Caller::Authenticated(inbound_auth::Principal {
                subject: subject.to_owned(),
                username: None,
                groups: Vec::new(),
                client_id: "client".to_owned(),
                scopes: Vec::new(),
                token_use: inbound_auth::TokenUse::Id,
                claims,
            }),
            Some("ignored when a token was verified"),
        )
    }

    #[test]
    fn a_restore_runs_once_and_keeps_the_budget() {
        let mut history = History::default();
        assert!(history.awaits_restore(), "a new session awaits its restore");
        history.restore(
            vec![exchange_with_tool("one"), exchange_with_tool("two")],
            300,
        );
        assert!(!history.awaits_restore());
        assert_eq!(
            history.messages().len(),
            4,
            "the newest exchange within the budget"
        );
        assert!(matches!(&history.messages()[0].content()[0], ContentBlock::Text(t) if t == "two"));
        let mut empty = History::default();
        empty.restore(Vec::new(), 300);
        assert!(
            !empty.awaits_restore(),
            "a failed restore is not tried again"
        );
    }

    #[test]
    fn a_busy_session_refuses_a_second_request() {
        let sessions = Sessions::new(&config(10, 900));
        let first = sessions.checkout("s", &anonymous()).expect("free");
        assert_eq!(
            sessions.checkout("s", &anonymous()).err(),
            Some(SessionError::Busy)
        );
        drop(first);
        assert!(sessions.checkout("s", &anonymous()).is_ok());
    }

    #[test]
    fn a_session_is_handed_only_to_the_caller_who_started_it() {
        let sessions = Sessions::new(&config(10, 900));
        let alice = signed_in("https://issuer-a", "alice");
        let mut history = sessions.checkout("s", &alice).expect("new session");
        history.commit(exchange_with_tool("alice's question"), 10_000);
        drop(history);
        for intruder in [
            signed_in("https://issuer-a", "bob"),
            signed_in("https://issuer-b", "alice"),
            anonymous(),
            SessionOwner::of(&Caller::Anonymous, Some("alice")),
        ] {
            assert_eq!(
                sessions.checkout("s", &intruder).err(),
                Some(SessionError::OwnedByAnother {
                    owner: alice.clone()
                }),
                "{intruder:?}"
            );
        }
        let again = sessions.checkout("s", &alice).expect("the owner continues");
        assert_eq!(again.messages().len(), 4, "the history is intact");
    }

    #[test]
    fn without_authentication_the_runtime_user_id_separates_owners() {
        let sessions = Sessions::new(&config(10, 900));
        let user_a = SessionOwner::of(&Caller::Anonymous, Some("user-a"));
        let user_b = SessionOwner::of(&Caller::Anonymous, Some("user-b"));
        drop(sessions.checkout("s", &user_a).expect("new"));
        assert!(matches!(
            sessions.checkout("s", &user_b),
            Err(SessionError::OwnedByAnother { .. })
        ));
        assert!(
            !format!("{user_a:?}").contains("user-a"),
            "only a digest prints"
        );
    }

    #[test]
    fn the_cap_evicts_an_idle_session_and_refuses_when_all_are_busy() {
        let sessions = Sessions::new(&config(2, 900));
        let owner = anonymous();
        let a = sessions.checkout("a", &owner).expect("free");
        drop(sessions.checkout("b", &owner).expect("free"));
        let c = sessions
            .checkout("c", &owner)
            .expect("b was idle and is evicted");
        assert_eq!(sessions.len(), 2);
        assert_eq!(
            sessions.checkout("d", &owner).err(),
            Some(SessionError::Full)
        );
        drop((a, c));
    }

    #[test]
    fn idle_sessions_expire_but_busy_ones_stay() {
        let sessions = Sessions::new(&config(10, 0));
        let busy = sessions.checkout("busy", &anonymous()).expect("free");
        drop(sessions.checkout("idle", &anonymous()).expect("free"));
        assert_eq!(sessions.expire_idle(), 1);
        assert_eq!(sessions.len(), 1);
        drop(busy);
    }
}
