//! The command line (clap) and the optional configuration file, and how the two combine.
//!
//! A setting comes from its flag, else its environment variable (clap reads both), else
//! `config.json` in the configuration directory, else its default. The configuration
//! directory is `$XDG_CONFIG_HOME/agent-cli` (`~/.config/agent-cli` on Linux, the platform's
//! equivalent elsewhere); it also holds the stored sign-in ([`crate::tokens`]). The file holds
//! no secrets, only defaults such as the app client id and the runtime ARN.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

use crate::error::Failure;
use crate::tokens::TokenKind;

/// Shown at the end of every command's `--help`.
const EXIT_CODES_AND_FILES: &str = "\
Exit codes:
  0  the agent answered
  1  the agent answered with an error event or an HTTP error, or it (or Cognito) could not be
     reached or timed out; an invocation is never retried, since the agent may already have acted
  2  usage or configuration error
  3  not signed in, sign-in refused, or the token refused by the agent (401, 403)

Files (in $XDG_CONFIG_HOME/agent-cli, else ~/.config/agent-cli, or the platform's equivalent):
  config.json  optional defaults: {\"client_id\", \"region\", \"username\", \"url\",
               \"runtime_arn\", \"qualifier\", \"token_use\"} (flags and environment
               variables win)
  tokens.json  the stored sign-in (mode 0600, directory 0700); `logout` deletes it";

/// Command-line client for the customer-support agent on Amazon Bedrock AgentCore.
///
/// Sign in once with a Cognito user (`login`), then ask questions (`ask`, `chat`) of a local
/// agent (`--url http://127.0.0.1:8080`, the default) or a deployed runtime (`--runtime-arn`).
/// Answers stream as they are written; tool activity is shown on stderr.
#[derive(Debug, Parser)]
#[command(name = "agent-cli", version, after_long_help = EXIT_CODES_AND_FILES)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sign in to Cognito with a user name and password, and store the tokens.
    ///
    /// Uses the USER_PASSWORD_AUTH flow of the user pool's app client (which must allow it,
    /// and have no client secret). The password is asked for without echo, or read from
    /// standard input with --password-stdin; it is never a flag, so it stays out of shell
    /// history and process lists. The tokens are stored in tokens.json (mode 0600) and
    /// refreshed automatically before they expire.
    #[command(after_long_help = EXIT_CODES_AND_FILES)]
    Login(LoginArgs),
    /// Delete the stored tokens.
    #[command(after_long_help = EXIT_CODES_AND_FILES)]
    Logout,
    /// Ask one question and stream the answer to stdout.
    ///
    /// Each call is a new conversation unless --session continues an earlier one (the session
    /// id is printed on stderr after the answer).
    #[command(after_long_help = EXIT_CODES_AND_FILES)]
    Ask(AskArgs),
    /// Talk with the agent interactively, in one session for the whole chat.
    ///
    /// Type a question per line; /exit or Ctrl-D ends the chat. An error is explained and the
    /// chat goes on, except a refused sign-in, which ends it (exit code 3).
    #[command(after_long_help = EXIT_CODES_AND_FILES)]
    Chat(ChatArgs),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Cognito user name; asked for when not given.
    #[arg(long, short = 'u', env = "AGENT_CLI_USER", value_name = "USER")]
    pub user: Option<String>,
    /// The user pool's app client id (config file: "client_id").
    #[arg(long, env = "AGENT_CLI_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    /// The user pool's region (config file: "region").
    #[arg(long, env = "AWS_REGION", value_name = "REGION")]
    pub region: Option<String>,
    /// Read the password from standard input (the first line) instead of asking for it.
    #[arg(long)]
    pub password_stdin: bool,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    #[command(flatten)]
    pub conversation: ConversationArgs,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub conversation: ConversationArgs,
}

/// Where to send questions and how, shared by `ask` and `chat`.
#[derive(Debug, Args)]
pub struct ConversationArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Continue this conversation (33 to 256 characters, as AgentCore requires); a new one is
    /// started when omitted.
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Which Cognito token to send: `id` (the default) or `access` (config file:
    /// "token_use").
    ///
    /// The ID token is the default: it carries the user's custom:customer_id, from which the
    /// agent knows which customer is asking (Cognito puts custom attributes in ID tokens
    /// only), and it is what the deployment in deploy/ takes (an AgentCore JWT authorizer
    /// matching its aud against allowedAudience, and AUTH_TOKEN_USE=id). Use `access` for an
    /// agent set up for access tokens (AUTH_TOKEN_USE=access, an authorizer with
    /// allowedClients), e.g. one whose issuer adds the customer id to access tokens.
    #[arg(long, value_name = "KIND", value_enum, conflicts_with = "no_auth")]
    pub token_use: Option<TokenKind>,
    /// Send no token: for a local agent started with AUTH_MODE=none.
    #[arg(long)]
    pub no_auth: bool,
    /// Print the raw events, one JSON object per line on stdout, for scripts.
    #[arg(long)]
    pub json: bool,
    /// Seconds to wait for a connection to the agent.
    #[arg(
        long,
        env = "AGENT_CLI_CONNECT_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub connect_timeout: u64,
    /// Seconds to wait for the answer to start and between two of its events; the request is
    /// abandoned after that (and not retried).
    #[arg(
        long,
        env = "AGENT_CLI_IDLE_TIMEOUT",
        value_name = "SECONDS",
        default_value_t = 120,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub idle_timeout: u64,
}

/// The agent to talk to.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// A locally running agent's address, e.g. http://127.0.0.1:8080 (config file: "url";
    /// the default when no runtime ARN is configured).
    #[arg(long, value_name = "URL", conflicts_with = "runtime_arn")]
    pub url: Option<String>,
    /// A deployed AgentCore runtime,
    /// `arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>` (config file: "runtime_arn").
    #[arg(long, value_name = "ARN")]
    pub runtime_arn: Option<String>,
    /// The runtime endpoint to invoke; DEFAULT when unset (config file: "qualifier").
    #[arg(long, value_name = "NAME")]
    pub qualifier: Option<String>,
    /// The AgentCore data-plane endpoint; `https://bedrock-agentcore.<region>.amazonaws.com`
    /// (the ARN's region) when unset.
    #[arg(long, env = "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE", value_name = "URL")]
    pub agentcore_endpoint: Option<String>,
}

/// `config.json`: defaults for settings not given as flags or environment variables.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub client_id: Option<String>,
    pub region: Option<String>,
    pub username: Option<String>,
    pub url: Option<String>,
    pub runtime_arn: Option<String>,
    pub qualifier: Option<String>,
    /// `id` or `access`, as `--token-use`.
    pub token_use: Option<TokenKind>,
}

/// The configuration directory, `<config dir>/agent-cli`.
pub fn config_dir() -> Result<PathBuf, Failure> {
    dirs::config_dir()
        .map(|dir| dir.join("agent-cli"))
        .ok_or_else(|| {
            Failure::Usage(
                "cannot find your configuration directory: set XDG_CONFIG_HOME or HOME".to_owned(),
            )
        })
}

impl FileConfig {
    /// Reads `config.json` from `dir`; no file means no defaults.
    pub fn load(dir: &Path) -> Result<Self, Failure> {
        let path = dir.join("config.json");
        let text = match fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(error) => {
                return Err(Failure::Usage(format!(
                    "cannot read {}: {error}",
                    path.display()
                )));
            }
        };
        serde_json::from_str(&text)
            .map_err(|error| Failure::Usage(format!("{} is not valid: {error}", path.display())))
    }
}
