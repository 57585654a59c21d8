//! Inbound caller authentication shared by the project's services (the agent and the MCP
//! server): who is calling, from the `Authorization: Bearer <jwt>` header of each request.
//!
//! The tokens are Amazon Cognito user-pool tokens (RS256 JWTs). One setting, `AUTH_MODE`,
//! chooses how much of the work this crate does itself:
//!
//! | mode | what happens | where it is right |
//! |---|---|---|
//! | `verify` | the signature is checked against the issuer's JWKS (fetched lazily, cached, refreshed on an unknown `kid` at most once per `AUTH_JWKS_REFRESH_SECONDS`), then the claims (below) | anywhere the service is reachable by callers that did not pass an authorizer: local runs against moto, a runtime without a JWT authorizer |
//! | `agentcore` | the claims are read **without** checking the signature or fetching keys; the header and the claims are still checked as in `verify` | **only** behind an AgentCore runtime whose custom JWT authorizer already verified the token (see below) |
//! | `none` | no token is needed; every caller is [`Caller::Anonymous`] | local development only; the service logs a loud warning at start ([`Authenticator::log_startup`]) |
//!
//! In both token modes the header must name RS256 and no critical extension (`crit`, which
//! RFC 7515 §4.1.11 makes a recipient refuse when it does not understand it: none is
//! understood here), and the claims must pass: `exp` (and `nbf`) with `AUTH_LEEWAY_SECONDS`,
//! `iat` not in the future beyond that leeway, a lifetime (`exp - iat`) of at most
//! `AUTH_MAX_TOKEN_LIFETIME_SECONDS`, the exact `iss`, a `token_use` that `AUTH_TOKEN_USE`
//! accepts, an allowed client (`client_id` of access tokens, `aud` of ID tokens) and a `sub`.
//!
//! # When `agentcore` mode is safe
//!
//! An AgentCore runtime configured with a custom JWT authorizer (discovery URL and allowed
//! clients of the Cognito pool) verifies the token's signature before the request reaches the
//! container, and forwards the `Authorization` header only when it is in the runtime's
//! request-header allowlist. In a private VPC the container has no route to Cognito's JWKS,
//! so it cannot verify the signature again; this mode trusts the authorizer for that part.
//! Anyone who can reach the container by another path can forge claims in this mode: never
//! use it for a service that is reachable other than through that authorizer (a public load
//! balancer, a sidecar port, a local run). When in doubt, use `verify`. The runtime must also
//! list `Authorization` in its request-header allowlist, or every request arrives without a
//! token and is refused.
//!
//! # Use
//!
//! Read [`AuthArgs`] once at start (flatten it into the binary's clap configuration), build
//! an [`Authenticator`] (no network call), log its mode, and put an [`AuthLayer`] in front of
//! the routes that need a caller. Handlers take the [`Caller`] as an extractor (or from the
//! request extensions):
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use inbound_auth::{AuthArgs, AuthLayer, Authenticator, Caller};
//!
//! async fn handler(caller: Caller) -> String {
//!     caller.subject().unwrap_or("anonymous").to_owned()
//! }
//!
//! fn app(args: AuthArgs) -> Result<Router, inbound_auth::ConfigError> {
//!     let authenticator = Authenticator::from_args(args)?;
//!     authenticator.log_startup();
//!     Ok(Router::new()
//!         .route("/invocations", post(handler))
//!         .route_layer(AuthLayer::new(authenticator)))
//! }
//! ```
//!
//! Refusals are HTTP 401 with `WWW-Authenticate: Bearer` (plus `error="invalid_token"` when a
//! bearer token was sent but is not acceptable) and the body `{"error":"unauthorized"}`: the
//! reason is logged (at info, or debug for a missing token), never sent. Tokens are never
//! logged.

mod authenticator;
mod caller;
mod claims;
mod config;
mod error;
mod jwks;
mod layer;

pub use authenticator::{Authenticator, NONE_MODE_WARNING};
pub use caller::{Caller, MissingCaller, Principal, TokenUse};
pub use claims::ClaimRules;
pub use config::{AuthArgs, AuthConfig, AuthMode, ConfigError, TokenUsePolicy};
pub use error::{AuthError, Rejection};
pub use jwks::JwksConfig;
pub use layer::{AuthLayer, AuthService};
