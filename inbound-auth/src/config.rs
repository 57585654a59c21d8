//! Configuration of inbound authentication: the `AUTH_*` environment variables (or the
//! matching flags) as a clap struct the binaries flatten into their own configuration, read
//! once at start, and the validated [`AuthConfig`] built from it.
//!
//! A setting missing for the chosen mode, or a bad URL, is a [`ConfigError`] whose message
//! names the variable, so the binary can stop with it before serving anything.

use std::collections::BTreeSet;
use std::time::Duration;

use clap::{Args, ValueEnum};
use reqwest::Url;

use crate::caller::TokenUse;
use crate::claims::ClaimRules;
use crate::jwks::JwksConfig;

/// How callers are authenticated (`AUTH_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// Verify each token's RS256 signature against the issuer's JWKS, then its claims.
    Verify,
    /// Trust the AgentCore JWT authorizer in front of the runtime for the signature; check the
    /// claims only. Safe only behind that authorizer.
    #[value(name = "agentcore")]
    AgentCore,
    /// No authentication at all: every caller is anonymous. Local development only.
    None,
}

impl AuthMode {
    /// The value as written in `AUTH_MODE`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Verify => "verify",
            AuthMode::AgentCore => "agentcore",
            AuthMode::None => "none",
        }
    }
}

impl std::fmt::Display for AuthMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which kinds of Cognito token are accepted (`AUTH_TOKEN_USE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TokenUsePolicy {
    /// Access tokens only (`token_use: access`, client in `client_id`).
    Access,
    /// ID tokens only (`token_use: id`, client in `aud`).
    Id,
    /// Either kind.
    Any,
}

impl TokenUsePolicy {
    /// The value as written in `AUTH_TOKEN_USE`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUsePolicy::Access => "access",
            TokenUsePolicy::Id => "id",
            TokenUsePolicy::Any => "any",
        }
    }

    /// What it accepts, in words for log messages.
    pub fn describe(self) -> &'static str {
        match self {
            TokenUsePolicy::Access => "access tokens only",
            TokenUsePolicy::Id => "ID tokens only",
            TokenUsePolicy::Any => "access and ID tokens",
        }
    }

    /// Whether a token of this kind is accepted.
    pub fn accepts(self, token_use: TokenUse) -> bool {
        match self {
            TokenUsePolicy::Access => token_use == TokenUse::Access,
            TokenUsePolicy::Id => token_use == TokenUse::Id,
            TokenUsePolicy::Any => true,
        }
    }
}

impl std::fmt::Display for TokenUsePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Inbound authentication settings, read once at start from the environment (each also a
/// flag). Flatten into the binary's clap configuration with `#[command(flatten)]`, then turn
/// into an [`AuthConfig`] with [`AuthArgs::into_config`] or straight into an authenticator
/// with [`crate::Authenticator::from_args`].
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// How callers are authenticated: `verify` (check the JWT signature against the issuer's
    /// JWKS), `agentcore` (the AgentCore JWT authorizer in front already verified it: claims
    /// are checked, the signature is not; safe only behind that authorizer) or `none` (no
    /// authentication, local development only). A service that requires a choice refuses to
    /// start without it ([`ConfigError::MissingMode`]).
    #[arg(long, env = "AUTH_MODE", value_name = "AUTH_MODE", value_enum)]
    pub auth_mode: Option<AuthMode>,
    /// The exact `iss` of accepted tokens, e.g.
    /// `https://cognito-idp.<region>.amazonaws.com/<pool-id>`. Required for `verify` and
    /// `agentcore`.
    #[arg(long, env = "AUTH_ISSUER", value_name = "AUTH_ISSUER")]
    pub auth_issuer: Option<String>,
    /// Where the issuer's signing keys are (`verify` only). Defaults to
    /// `<AUTH_ISSUER>/.well-known/jwks.json`; moto serves them at
    /// `<endpoint>/<pool-id>/.well-known/jwks.json`.
    #[arg(long, env = "AUTH_JWKS_URL", value_name = "AUTH_JWKS_URL")]
    pub auth_jwks_url: Option<String>,
    /// App client ids allowed to call, comma-separated (`client_id` of access tokens, `aud`
    /// of ID tokens). Required for `verify` and `agentcore`.
    #[arg(
        long,
        env = "AUTH_ALLOWED_CLIENT_IDS",
        value_name = "AUTH_ALLOWED_CLIENT_IDS",
        value_delimiter = ','
    )]
    pub auth_allowed_client_ids: Vec<String>,
    /// Which Cognito tokens are accepted: `access`, `id` or `any`.
    #[arg(
        long,
        env = "AUTH_TOKEN_USE",
        value_name = "AUTH_TOKEN_USE",
        value_enum,
        default_value = "access"
    )]
    pub auth_token_use: TokenUsePolicy,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds.
    #[arg(
        long,
        env = "AUTH_LEEWAY_SECONDS",
        value_name = "AUTH_LEEWAY_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(0..=300)
    )]
    pub auth_leeway_seconds: u64,
    /// Longest validity a token may have, in seconds: its `exp - iat`, or `exp - now` plus
    /// the leeway when it has no `iat`. A longer-lived token is refused: the issuer never
    /// mints one, so it comes from a misconfigured issuer or a forger, and would stay usable
    /// for as long as it claims. The default is a day, the longest access and ID token
    /// validity Cognito allows.
    #[arg(
        long,
        env = "AUTH_MAX_TOKEN_LIFETIME_SECONDS",
        value_name = "AUTH_MAX_TOKEN_LIFETIME_SECONDS",
        default_value_t = 86_400,
        value_parser = clap::value_parser!(u64).range(60..=604_800)
    )]
    pub auth_max_token_lifetime_seconds: u64,
    /// Least time between two JWKS fetches, in seconds: a token naming an unknown key
    /// triggers a refresh only when the last fetch is at least this old.
    #[arg(
        long,
        env = "AUTH_JWKS_REFRESH_SECONDS",
        value_name = "AUTH_JWKS_REFRESH_SECONDS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub auth_jwks_refresh_seconds: u64,
    /// Time budget of one JWKS fetch, in milliseconds.
    #[arg(
        long,
        env = "AUTH_JWKS_TIMEOUT_MS",
        value_name = "AUTH_JWKS_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(100..=60_000)
    )]
    pub auth_jwks_timeout_ms: u64,
}

/// A configuration that cannot work, with the variable to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// `AUTH_MODE` is not set.
    #[error(
        "AUTH_MODE is required: set verify, agentcore (behind an AgentCore JWT authorizer) or none (local development)"
    )]
    MissingMode,
    /// `AUTH_ISSUER` is missing in a mode that checks the issuer.
    #[error(
        "AUTH_ISSUER is required when AUTH_MODE={mode}: set it to the exact `iss` of the tokens, e.g. https://cognito-idp.<region>.amazonaws.com/<pool-id>"
    )]
    MissingIssuer {
        /// The configured mode.
        mode: AuthMode,
    },
    /// `AUTH_ALLOWED_CLIENT_IDS` is empty in a mode that checks the client.
    #[error(
        "AUTH_ALLOWED_CLIENT_IDS is required when AUTH_MODE={mode}: list the app client ids allowed to call, comma-separated"
    )]
    NoAllowedClients {
        /// The configured mode.
        mode: AuthMode,
    },
    /// A URL setting is not an absolute http(s) URL.
    #[error("{variable} must be an absolute http:// or https:// URL, got {value:?}")]
    InvalidUrl {
        /// The variable holding it.
        variable: &'static str,
        /// The value given.
        value: String,
    },
    /// A duration setting is out of range (only when building [`AuthConfig`] by hand).
    #[error("{variable} must be greater than zero")]
    ZeroDuration {
        /// The variable holding it.
        variable: &'static str,
    },
    /// The HTTP client for JWKS fetches could not be built.
    #[error("cannot build the HTTP client for AUTH_JWKS_URL: {0}")]
    HttpClient(String),
}

/// Validated inbound-authentication configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthConfig {
    /// `AUTH_MODE=verify`.
    Verify {
        /// The claim checks.
        rules: ClaimRules,
        /// Where and how the signing keys are fetched.
        jwks: JwksConfig,
    },
    /// `AUTH_MODE=agentcore`: claims checked, signature trusted to the AgentCore authorizer.
    AgentCore {
        /// The claim checks.
        rules: ClaimRules,
    },
    /// `AUTH_MODE=none`.
    None,
}

impl AuthConfig {
    /// The mode this configuration is for.
    pub fn mode(&self) -> AuthMode {
        match self {
            AuthConfig::Verify { .. } => AuthMode::Verify,
            AuthConfig::AgentCore { .. } => AuthMode::AgentCore,
            AuthConfig::None => AuthMode::None,
        }
    }

    /// Checks what [`AuthArgs::into_config`] checks, for configurations built by hand.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mode = self.mode();
        let rules = match self {
            AuthConfig::Verify { rules, .. } | AuthConfig::AgentCore { rules } => rules,
            AuthConfig::None => return Ok(()),
        };
        if rules.issuer.trim().is_empty() {
            return Err(ConfigError::MissingIssuer { mode });
        }
        if rules.allowed_client_ids.is_empty() {
            return Err(ConfigError::NoAllowedClients { mode });
        }
        if rules.max_lifetime.is_zero() {
            return Err(ConfigError::ZeroDuration {
                variable: "AUTH_MAX_TOKEN_LIFETIME_SECONDS",
            });
        }
        if let AuthConfig::Verify { jwks, .. } = self {
            http_url("AUTH_JWKS_URL", &jwks.url)?;
            if jwks.refresh_interval.is_zero() {
                return Err(ConfigError::ZeroDuration {
                    variable: "AUTH_JWKS_REFRESH_SECONDS",
                });
            }
            if jwks.timeout.is_zero() {
                return Err(ConfigError::ZeroDuration {
                    variable: "AUTH_JWKS_TIMEOUT_MS",
                });
            }
        }
        Ok(())
    }
}

impl AuthArgs {
    /// Validates the settings for the chosen mode. Settings a mode does not use are ignored
    /// (`AUTH_JWKS_URL` outside `verify`, everything but `AUTH_MODE` in `none`).
    pub fn into_config(self) -> Result<AuthConfig, ConfigError> {
        let mode = self.auth_mode.ok_or(ConfigError::MissingMode)?;
        if mode == AuthMode::None {
            return Ok(AuthConfig::None);
        }
        let issuer = self
            .auth_issuer
            .map(|issuer| issuer.trim().to_owned())
            .filter(|issuer| !issuer.is_empty())
            .ok_or(ConfigError::MissingIssuer { mode })?;
        let allowed_client_ids: BTreeSet<String> = self
            .auth_allowed_client_ids
            .iter()
            .map(|id| id.trim())
            .filter(|id| !id.is_empty())
            .map(str::to_owned)
            .collect();
        if allowed_client_ids.is_empty() {
            return Err(ConfigError::NoAllowedClients { mode });
        }
        let rules = ClaimRules {
            issuer,
            allowed_client_ids,
            token_use: self.auth_token_use,
            leeway: Duration::from_secs(self.auth_leeway_seconds),
            max_lifetime: Duration::from_secs(self.auth_max_token_lifetime_seconds),
        };
        if mode == AuthMode::AgentCore {
            return Ok(AuthConfig::AgentCore { rules });
        }

        let url = match self
            .auth_jwks_url
            .map(|url| url.trim().to_owned())
            .filter(|url| !url.is_empty())
        {
            Some(url) => http_url("AUTH_JWKS_URL", &url)?,
            None => {
                // The default is derived from the issuer, so the issuer must be a URL too.
                http_url("AUTH_ISSUER", &rules.issuer)?;
                let url = format!(
                    "{}/.well-known/jwks.json",
                    rules.issuer.trim_end_matches('/')
                );
                http_url("AUTH_ISSUER", &url)?
            }
        };
        let config = AuthConfig::Verify {
            rules,
            jwks: JwksConfig {
                url: url.to_string(),
                refresh_interval: Duration::from_secs(self.auth_jwks_refresh_seconds),
                timeout: Duration::from_millis(self.auth_jwks_timeout_ms),
            },
        };
        config.validate()?;
        Ok(config)
    }
}

/// Parses an absolute http(s) URL, or names the variable that holds a bad one.
pub(crate) fn http_url(variable: &'static str, value: &str) -> Result<Url, ConfigError> {
    let invalid = || ConfigError::InvalidUrl {
        variable,
        value: value.to_owned(),
    };
    let url = Url::parse(value).map_err(|_| invalid())?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(invalid());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        auth: AuthArgs,
    }

    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Test";

    fn parse(flags: &[&str]) -> Result<AuthConfig, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("test").chain(flags.iter().copied()))
            .unwrap_or_else(|error| panic!("flags parse: {error}"));
        cli.auth.into_config()
    }

    #[test]
    fn a_missing_mode_is_refused_naming_the_variable() {
        let error = parse(&[]).unwrap_err().to_string();
        assert!(error.contains("AUTH_MODE"), "{error}");
    }

    #[test]
    fn unknown_mode_is_refused() {
        let error = Cli::try_parse_from(["test", "--auth-mode", "off"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("verify") && error.contains("agentcore"),
            "{error}"
        );
    }

    #[test]
    fn verify_defaults_the_jwks_url_and_the_limits() {
        let config = parse(&[
            "--auth-mode",
            "verify",
            "--auth-issuer",
            ISSUER,
            "--auth-allowed-client-ids",
            "a, b,,",
        ])
        .unwrap();
        let AuthConfig::Verify { rules, jwks } = config else {
            panic!("verify mode expected, got {config:?}");
        };
        assert_eq!(rules.issuer, ISSUER);
        assert_eq!(
            rules.allowed_client_ids.iter().collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(rules.token_use, TokenUsePolicy::Access);
        assert_eq!(rules.leeway, Duration::from_secs(30));
        assert_eq!(rules.max_lifetime, Duration::from_secs(86_400));
        assert_eq!(jwks.url, format!("{ISSUER}/.well-known/jwks.json"));
        assert_eq!(jwks.refresh_interval, Duration::from_secs(30));
        assert_eq!(jwks.timeout, Duration::from_secs(5));
    }

    #[test]
    fn verify_takes_a_separate_jwks_url() {
        let config = parse(&[
            "--auth-mode=verify",
            &format!("--auth-issuer={ISSUER}"),
            "--auth-jwks-url=http://127.0.0.1:5000/us-east-1_Test/.well-known/jwks.json",
            "--auth-allowed-client-ids=a",
            "--auth-token-use=id",
            "--auth-leeway-seconds=0",
            "--auth-max-token-lifetime-seconds=3600",
            "--auth-jwks-refresh-seconds=600",
            "--auth-jwks-timeout-ms=250",
        ])
        .unwrap();
        let AuthConfig::Verify { rules, jwks } = config else {
            panic!("verify mode expected, got {config:?}");
        };
        assert_eq!(rules.token_use, TokenUsePolicy::Id);
        assert_eq!(rules.leeway, Duration::ZERO);
        assert_eq!(rules.max_lifetime, Duration::from_secs(3600));
        assert_eq!(
            jwks.url,
            "http://127.0.0.1:5000/us-east-1_Test/.well-known/jwks.json"
        );
        assert_eq!(jwks.refresh_interval, Duration::from_secs(600));
        assert_eq!(jwks.timeout, Duration::from_millis(250));
    }

    #[test]
    fn verify_without_issuer_names_auth_issuer() {
        let error = parse(&["--auth-mode=verify", "--auth-allowed-client-ids=a"]).unwrap_err();
        assert_eq!(
            error,
            ConfigError::MissingIssuer {
                mode: AuthMode::Verify
            }
        );
        assert!(error.to_string().starts_with("AUTH_ISSUER is required"));
    }

    #[test]
    fn verify_without_client_ids_names_auth_allowed_client_ids() {
        for flags in [
            &["--auth-mode=verify", "--auth-issuer=https://issuer.example"][..],
            &[
                "--auth-mode=verify",
                "--auth-issuer=https://issuer.example",
                "--auth-allowed-client-ids= , ",
            ][..],
        ] {
            let error = parse(flags).unwrap_err();
            assert_eq!(
                error,
                ConfigError::NoAllowedClients {
                    mode: AuthMode::Verify
                }
            );
            assert!(
                error
                    .to_string()
                    .starts_with("AUTH_ALLOWED_CLIENT_IDS is required")
            );
        }
    }

    #[test]
    fn agentcore_needs_issuer_and_clients_but_no_jwks_url() {
        assert_eq!(
            parse(&["--auth-mode=agentcore", "--auth-allowed-client-ids=a"]).unwrap_err(),
            ConfigError::MissingIssuer {
                mode: AuthMode::AgentCore
            }
        );
        assert_eq!(
            parse(&["--auth-mode=agentcore", "--auth-issuer=not a url"]).unwrap_err(),
            ConfigError::NoAllowedClients {
                mode: AuthMode::AgentCore
            }
        );
        let config = parse(&[
            "--auth-mode=agentcore",
            &format!("--auth-issuer={ISSUER}"),
            "--auth-allowed-client-ids=a",
        ])
        .unwrap();
        assert!(matches!(config, AuthConfig::AgentCore { .. }), "{config:?}");
    }

    #[test]
    fn bad_urls_name_their_variable() {
        let error = parse(&[
            "--auth-mode=verify",
            &format!("--auth-issuer={ISSUER}"),
            "--auth-jwks-url=ftp://keys.example/jwks.json",
            "--auth-allowed-client-ids=a",
        ])
        .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::InvalidUrl {
                    variable: "AUTH_JWKS_URL",
                    ..
                }
            ),
            "{error:?}"
        );
        let error = parse(&[
            "--auth-mode=verify",
            "--auth-issuer=pool-without-scheme",
            "--auth-allowed-client-ids=a",
        ])
        .unwrap_err();
        assert!(
            matches!(
                error,
                ConfigError::InvalidUrl {
                    variable: "AUTH_ISSUER",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn none_needs_nothing_else() {
        assert_eq!(parse(&["--auth-mode=none"]).unwrap(), AuthConfig::None);
    }

    #[test]
    fn out_of_range_numbers_are_refused_by_the_parser() {
        for flag in [
            "--auth-leeway-seconds=301",
            "--auth-max-token-lifetime-seconds=59",
            "--auth-max-token-lifetime-seconds=604801",
            "--auth-jwks-refresh-seconds=0",
            "--auth-jwks-timeout-ms=5",
        ] {
            let error = Cli::try_parse_from(["test", "--auth-mode=none", flag]).unwrap_err();
            assert!(error.to_string().contains("AUTH_"), "{flag}: {error}");
        }
    }
}
