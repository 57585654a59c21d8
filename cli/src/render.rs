//! Showing an answer as it streams.
//!
//! For people: the answer's text goes to stdout as each delta arrives, so it can be piped or
//! saved; tool activity and retries go to stderr, one compact line each (`→ get_order … ok`),
//! so they never mix into the answer. When stdout and stderr share a terminal, a tool line
//! must not continue a half-written line of text, so the renderer remembers whether the
//! terminal's line is open and starts a new one (on stderr, keeping stdout the pure answer).
//!
//! A guardrail intervention (`done` with stop reason `guardrail_intervened`) reads as an
//! answer: the guardrail's blocked message on stdout (the `done` text, should no delta have
//! carried it), and one line on stderr saying the agent's guardrail stopped the question.
//!
//! For scripts (`--json`): every event exactly as received, one JSON object per line on
//! stdout, and nothing else (the usage's cache read and write token counts included).

use std::io::{self, Write};

use serde_json::Value;

use agent_protocol::events::GUARDRAIL_INTERVENED;

use crate::error::Failure;
use crate::events::{Event, tool_failure};

/// How answers are shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Json,
}

/// Renders the events of one answer.
pub struct Renderer {
    mode: Mode,
    /// The terminal's current line holds text without a line end yet.
    line_open: bool,
    /// The answer text written last ended with a line end (or none was written).
    text_ended: bool,
    /// Some answer text has been written.
    text_written: bool,
    /// The tool call whose `→ name …` line waits for its result on the same line.
    pending_tool: Option<String>,
}

impl Renderer {
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            line_open: false,
            text_ended: true,
            text_written: false,
            pending_tool: None,
        }
    }

    /// Shows one event (`value` as received, `event` as read).
    pub fn show(&mut self, value: &Value, event: &Event) -> Result<(), Failure> {
        self.write(value, event)
            .map_err(|error| Failure::Failed(format!("cannot write the answer: {error}")))
    }

    fn write(&mut self, value: &Value, event: &Event) -> io::Result<()> {
        if self.mode == Mode::Json {
            let mut out = io::stdout().lock();
            serde_json::to_writer(&mut out, value)?;
            out.write_all(b"\n")?;
            return out.flush();
        }
        match event {
            Event::TextDelta { text } if !text.is_empty() => {
                self.close_tool_line()?;
                let mut out = io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
                self.text_ended = text.ends_with('\n');
                self.text_written = true;
                self.line_open = !self.text_ended;
            }
            Event::ToolCall { id, name, .. } => {
                self.new_line()?;
                write!(io::stderr(), "→ {name} …")?;
                self.line_open = true;
                self.pending_tool = Some(id.clone());
            }
            Event::ToolResult {
                id,
                name,
                status,
                output,
            } => {
                let outcome = match tool_failure(*status, output) {
                    None => "ok".to_owned(),
                    Some(failure) => format!("error: {}", one_line(&failure)),
                };
                if self.pending_tool.as_deref() == Some(id.as_str()) {
                    writeln!(io::stderr(), " {outcome}")?;
                } else {
                    self.new_line()?;
                    writeln!(io::stderr(), "← {name} {outcome}")?;
                }
                self.pending_tool = None;
                self.line_open = false;
            }
            Event::ModelRetry {
                attempt, reason, ..
            } => {
                self.new_line()?;
                writeln!(
                    io::stderr(),
                    "↻ the model call is retried (attempt {attempt}: {reason}); the text since the last tool result starts again"
                )?;
            }
            Event::Done {
                text, stop_reason, ..
            } if stop_reason == GUARDRAIL_INTERVENED => {
                self.close_tool_line()?;
                let mut out = io::stdout().lock();
                if !self.text_written && !text.is_empty() {
                    out.write_all(text.as_bytes())?;
                    self.text_ended = text.ends_with('\n');
                }
                if !self.text_ended {
                    out.write_all(b"\n")?;
                    self.text_ended = true;
                }
                out.flush()?;
                drop(out);
                writeln!(
                    io::stderr(),
                    "⊘ the agent's guardrail stopped this question; nothing of it was kept in the conversation"
                )?;
                self.line_open = false;
            }
            Event::Done { .. } | Event::Error { .. } => {
                self.close_tool_line()?;
                // The answer ends with a line end, as command output should.
                if !self.text_ended {
                    let mut out = io::stdout().lock();
                    out.write_all(b"\n")?;
                    out.flush()?;
                    self.text_ended = true;
                }
                self.line_open = false;
            }
            Event::Start { .. } | Event::TextDelta { .. } | Event::Unknown => {}
        }
        Ok(())
    }

    /// Ends an open line on the terminal, so that the next line starts at its beginning.
    fn new_line(&mut self) -> io::Result<()> {
        if self.line_open {
            io::stderr().write_all(b"\n")?;
            self.line_open = false;
        }
        self.pending_tool = None;
        Ok(())
    }

    /// Ends a `→ name …` line still waiting for its result.
    fn close_tool_line(&mut self) -> io::Result<()> {
        if self.pending_tool.is_some() {
            self.new_line()?;
        }
        Ok(())
    }
}

/// `text` on one line, shortened for a status line.
fn one_line(text: &str) -> String {
    const LIMIT: usize = 120;
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &flat[..end]),
        None => flat,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_failures_are_shown_on_one_short_line() {
        assert_eq!(one_line("no such\norder"), "no such order");
        let long = "x".repeat(500);
        assert_eq!(one_line(&long).chars().count(), 121);
    }
}
