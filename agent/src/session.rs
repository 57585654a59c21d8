//! Conversation memory per AgentCore session: each session's history, bounded in bytes, with
//! idle expiry and a global cap on sessions.
//!
//! A session's history is behind an async mutex taken with `try_lock`: a second request on a
//! session that is already answering gets [`SessionError::Busy`] (HTTP 409) instead of
//! interleaving with the first. A turn works on its own new messages and commits them only
//! when it completes, so a failed or abandoned turn leaves the history as it was.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, Message, ToolResultContentBlock,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::SessionConfig;
use crate::model::document;

/// Why a session cannot take a request now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("this session is already answering a request; wait for it to finish")]
    Busy,
    #[error("the agent holds the most sessions it may and all of them are busy")]
    Full,
}

/// One session's conversation.
#[derive(Debug, Default)]
pub struct History {
    messages: Vec<Message>,
    bytes: usize,
}

impl History {
    pub fn messages(&self) -> &[Message] {
        &self.messages
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

    /// The session's history, held exclusively until the guard is dropped.
    pub fn checkout(&self, session_id: &str) -> Result<OwnedMutexGuard<History>, SessionError> {
        let now = self.now_ms();
        let mut sessions = self
            .sessions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
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

    #[test]
    fn a_busy_session_refuses_a_second_request() {
        let sessions = Sessions::new(&config(10, 900));
        let first = sessions.checkout("s").expect("free");
        assert_eq!(sessions.checkout("s").err(), Some(SessionError::Busy));
        drop(first);
        assert!(sessions.checkout("s").is_ok());
    }

    #[test]
    fn the_cap_evicts_an_idle_session_and_refuses_when_all_are_busy() {
        let sessions = Sessions::new(&config(2, 900));
        let a = sessions.checkout("a").expect("free");
        drop(sessions.checkout("b").expect("free"));
        let c = sessions.checkout("c").expect("b was idle and is evicted");
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.checkout("d").err(), Some(SessionError::Full));
        drop((a, c));
    }

    #[test]
    fn idle_sessions_expire_but_busy_ones_stay() {
        let sessions = Sessions::new(&config(10, 0));
        let busy = sessions.checkout("busy").expect("free");
        drop(sessions.checkout("idle").expect("free"));
        assert_eq!(sessions.expire_idle(), 1);
        assert_eq!(sessions.len(), 1);
        drop(busy);
    }
}
