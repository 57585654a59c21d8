//! The stored sign-in: Cognito's ID, access and refresh tokens with their expiry, kept in
//! `tokens.json` in the configuration directory so that `ask` and `chat` work without signing
//! in each time.
//!
//! The file is private to the user: the directory is made (and kept) mode 0700 and the file is
//! written as a fresh mode-0600 file that replaces the old one by rename, so a reader never sees
//! half a file and the tokens are never readable by others, not even for a moment. Tokens live
//! in [`Secret`], which never prints them, so no error or debug print can show one.
//!
//! The sign-in also records the app client and region it came from: refreshing
//! (`REFRESH_TOKEN_AUTH`, in [`crate::login`]) needs both, and must use the same ones.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use agent_protocol::Secret;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::Failure;

/// A token is refreshed when it expires within this many seconds: enough for clock skew
/// between this machine and the service and for the request to reach it.
const REFRESH_MARGIN_SECS: u64 = 60;

/// One sign-in, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    /// The user pool app client that issued the tokens (refreshing needs it).
    pub client_id: String,
    /// The region of the user pool.
    pub region: String,
    /// Who signed in, for messages.
    pub username: String,
    pub access_token: Secret,
    pub id_token: Secret,
    pub refresh_token: Secret,
    /// Unix seconds at which the first of the access and ID tokens expires.
    pub expires_at: u64,
}

impl SignIn {
    /// Whether the tokens must be refreshed before a request made at `now`.
    pub fn expires_soon(&self, now: u64) -> bool {
        now.saturating_add(REFRESH_MARGIN_SECS) >= self.expires_at
    }

    /// The token of `kind`, to send.
    pub fn token(&self, kind: TokenKind) -> &Secret {
        match kind {
            TokenKind::Access => &self.access_token,
            TokenKind::Id => &self.id_token,
        }
    }
}

/// Which token a request carries: `--token-use` (or `"token_use"` in config.json), the ID
/// token unless told otherwise (see the flag's help for why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// The ID token (`token_use: id`), which carries the user's attributes.
    Id,
    /// The access token (`token_use: access`).
    Access,
}

impl TokenKind {
    /// Its name in messages.
    pub fn name(self) -> &'static str {
        match self {
            TokenKind::Access => "access",
            TokenKind::Id => "ID",
        }
    }
}

/// The current time in Unix seconds.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or_default()
}

/// When tokens issued at `now` with Cognito's `ExpiresIn` stop working: the earliest of that
/// and the `exp` of each token. Cognito's `ExpiresIn` describes the access token only, and an
/// app client may give ID tokens a shorter life, and the ID token is the one sent by default.
pub fn expiry(now: u64, expires_in: u64, tokens: &[&Secret]) -> u64 {
    tokens
        .iter()
        .filter_map(|token| jwt_exp(token.expose()))
        .fold(now.saturating_add(expires_in), u64::min)
}

/// The `exp` claim of a JWT, read without checking the signature (the agent checks it; this is
/// only to know when to refresh).
fn jwt_exp(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    claims.get("exp")?.as_u64()
}

/// `tokens.json` in the configuration directory.
pub struct TokenFile {
    dir: PathBuf,
    path: PathBuf,
}

impl TokenFile {
    pub fn in_dir(dir: &Path) -> Self {
        Self {
            dir: dir.to_path_buf(),
            path: dir.join("tokens.json"),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored sign-in, or `None` when there is none.
    pub fn load(&self) -> Result<Option<SignIn>, Failure> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(Failure::Usage(format!(
                    "cannot read the stored sign-in {}: {error}",
                    self.path.display()
                )));
            }
        };
        // serde_json's messages can quote the offending value, which may be a token: report
        // only where and what kind of problem it is.
        serde_json::from_str(&text).map(Some).map_err(|error| {
            Failure::Auth(format!(
                "the stored sign-in {} is damaged ({:?} error at line {}, column {}); sign in again with `agent-cli login`",
                self.path.display(),
                error.classify(),
                error.line(),
                error.column()
            ))
        })
    }

    /// Stores `sign_in`, replacing any earlier one.
    pub fn save(&self, sign_in: &SignIn) -> Result<(), Failure> {
        self.write(sign_in).map_err(|error| {
            Failure::Usage(format!(
                "cannot store the sign-in in {}: {error}",
                self.path.display()
            ))
        })
    }

    fn write(&self, sign_in: &SignIn) -> io::Result<()> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)?;
        // The directory may predate us with a wider mode; it holds nothing but our files.
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))?;
        let json = serde_json::to_vec_pretty(sign_in).map_err(io::Error::other)?;
        let temporary = self.dir.join("tokens.json.tmp");
        // A left-over temporary file could have another mode; `mode` only applies to new files.
        match fs::remove_file(&temporary) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
            _ => {}
        }
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(&json)?;
        file.sync_all()?;
        fs::rename(&temporary, &self.path)
    }

    /// Deletes the stored sign-in; `false` when there was none.
    pub fn delete(&self) -> Result<bool, Failure> {
        match fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(Failure::Usage(format!(
                "cannot delete the stored sign-in {}: {error}",
                self.path.display()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> Secret {
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        Secret::new(format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2lnbmF0dXJl"))
    }

    #[test]
    fn debug_never_shows_a_token() {
        let secret = Secret::new("eyJ-very-secret".to_owned());
        assert_eq!(format!("{secret:?}"), "Secret(..)");
        let sign_in = SignIn {
            client_id: "client".to_owned(),
            region: "us-east-1".to_owned(),
            username: "customer-001".to_owned(),
            access_token: secret.clone(),
            id_token: secret.clone(),
            refresh_token: secret,
            expires_at: 0,
        };
        assert!(!format!("{sign_in:?}").contains("very-secret"));
    }

    #[test]
    fn expiry_is_the_earliest_of_expires_in_and_each_exp() {
        let access = jwt(serde_json::json!({"exp": 5_000}));
        let id = jwt(serde_json::json!({"exp": 4_000}));
        assert_eq!(expiry(1_000, 3_600, &[&access, &id]), 4_000);
        assert_eq!(expiry(1_000, 600, &[&access, &id]), 1_600);
        let opaque = Secret::new("not-a-jwt".to_owned());
        assert_eq!(expiry(1_000, 3_600, &[&opaque]), 4_600);
    }

    #[test]
    fn tokens_are_refreshed_shortly_before_they_expire() {
        let sign_in = |expires_at| SignIn {
            client_id: String::new(),
            region: String::new(),
            username: String::new(),
            access_token: Secret::new(String::new()),
            id_token: Secret::new(String::new()),
            refresh_token: Secret::new(String::new()),
            expires_at,
        };
        assert!(sign_in(900).expires_soon(1_000));
        assert!(sign_in(1_030).expires_soon(1_000));
        assert!(!sign_in(1_100).expires_soon(1_000));
    }
}
