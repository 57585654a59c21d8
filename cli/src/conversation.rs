//! `ask` and `chat`: questions to the agent in one conversation (session), each sent once
//! with a fresh-enough token and its answer rendered as it streams.
//!
//! The token is read from the store before every question and refreshed first when it is
//! about to expire ([`crate::login::current_sign_in`]), so a long chat keeps working; a
//! refused token is reported and never answered by retrying the question.

use std::io::{self, BufRead, Write};
use std::time::Duration;

use crate::config::{AskArgs, ChatArgs, ConversationArgs, FileConfig};
use crate::error::Failure;
use crate::events::Event;
use crate::invoke::{Credential, Invoker, Request};
use crate::login;
use crate::render::{Mode, Renderer};
use crate::session::SessionId;
use crate::target::Target;
use crate::tokens::{TokenFile, TokenKind};

/// `agent-cli ask`.
pub async fn ask(args: &AskArgs, file: &FileConfig, store: &TokenFile) -> Result<(), Failure> {
    let conversation = Conversation::new(&args.conversation, file, store)?;
    conversation.turn(&args.question).await?;
    if conversation.mode == Mode::Human {
        let session = &conversation.session;
        eprintln!("(session {session}; continue it with --session {session})");
    }
    Ok(())
}

/// `agent-cli chat`.
pub async fn chat(args: &ChatArgs, file: &FileConfig, store: &TokenFile) -> Result<(), Failure> {
    let conversation = Conversation::new(&args.conversation, file, store)?;
    if conversation.token_kind.is_some() {
        // A chat that cannot send a single question should say so before the first one.
        login::current_sign_in(store).await?;
    }
    eprintln!(
        "Chatting with {} in session {}. One question per line; /exit or Ctrl-D ends the chat.",
        conversation.target.describe(),
        conversation.session
    );
    loop {
        eprint!("> ");
        io::stderr().flush().ok();
        let Some(line) = read_line().await? else {
            eprintln!();
            return Ok(());
        };
        let question = line.trim();
        match question {
            "" => continue,
            "/exit" | "/quit" => return Ok(()),
            _ => {}
        }
        match conversation.turn(question).await {
            Ok(()) => {}
            // Every further question would be refused the same way.
            Err(failure @ Failure::Auth(_)) => return Err(failure),
            Err(failure) => eprintln!("agent-cli: {failure}"),
        }
    }
}

/// One line of stdin, or `None` at its end. Read on a blocking thread: stdin has no async
/// reader in the runtime's features.
async fn read_line() -> Result<Option<String>, Failure> {
    tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        match io::stdin().lock().read_line(&mut line)? {
            0 => Ok(None),
            _ => Ok(Some(line)),
        }
    })
    .await
    .map_err(|error| Failure::Failed(format!("reading your input stopped: {error}")))?
    .map_err(|error: io::Error| Failure::Failed(format!("cannot read your input: {error}")))
}

/// A conversation with one agent in one session.
struct Conversation<'a> {
    invoker: Invoker,
    target: Target,
    session: SessionId,
    /// The token sent, or `None` with `--no-auth`.
    token_kind: Option<TokenKind>,
    store: &'a TokenFile,
    mode: Mode,
}

impl<'a> Conversation<'a> {
    fn new(
        args: &ConversationArgs,
        file: &FileConfig,
        store: &'a TokenFile,
    ) -> Result<Self, Failure> {
        let session = match &args.session {
            Some(id) => SessionId::parse(id)?,
            None => SessionId::generate(),
        };
        let token_kind =
            (!args.no_auth).then(|| args.token_use.or(file.token_use).unwrap_or(TokenKind::Id));
        Ok(Self {
            invoker: Invoker::new(
                Duration::from_secs(args.connect_timeout),
                Duration::from_secs(args.idle_timeout),
            )?,
            target: Target::resolve(&args.target, file)?,
            session,
            token_kind,
            store,
            mode: if args.json { Mode::Json } else { Mode::Human },
        })
    }

    /// Sends `prompt` once and renders the answer until its `done` or `error` event.
    async fn turn(&self, prompt: &str) -> Result<(), Failure> {
        let sign_in = match self.token_kind {
            Some(_) => Some(login::current_sign_in(self.store).await?),
            None => None,
        };
        let credential = match (&sign_in, self.token_kind) {
            (Some(sign_in), Some(kind)) => Credential::Bearer {
                token: sign_in.token(kind),
                kind,
                client_id: &sign_in.client_id,
            },
            _ => Credential::None,
        };
        let request = Request {
            target: &self.target,
            session: &self.session,
            prompt,
            credential,
        };
        let mut stream = self.invoker.send(&request).await?;
        let mut renderer = Renderer::new(self.mode);
        while let Some(value) = stream.next().await? {
            let event = Event::read(&value);
            renderer.show(&value, &event)?;
            match event {
                Event::Done { .. } => return Ok(()),
                Event::Error {
                    error, error_type, ..
                } => {
                    return Err(Failure::Failed(explain_error_event(
                        &error,
                        &error_type,
                        &self.session,
                    )));
                }
                _ => {}
            }
        }
        Err(Failure::Failed(format!(
            "the answer from {} ended before it was complete (no done or error event), session {}. Not retried, since the agent may already have acted; ask again if needed.",
            self.target.describe(),
            self.session
        )))
    }
}

/// An `error` event in plain words, with what to do about the usual kinds.
fn explain_error_event(error: &str, error_type: &str, session: &SessionId) -> String {
    let hint = match error_type {
        "ThrottlingException" => " The model is busy; ask again in a moment.",
        "AccessDeniedException" => {
            " The agent may not call its model: check its role's Bedrock permissions and model access."
        }
        "ShuttingDown" => " The agent was shutting down; ask again.",
        _ => "",
    };
    let kind = if error_type.is_empty() {
        String::new()
    } else {
        format!(" ({error_type})")
    };
    format!("the agent could not answer: {error}{kind}, session {session}.{hint}")
}
