//! Who is calling: the typed value that [`crate::AuthLayer`] puts into each request's
//! extensions once the caller is authenticated, and that handlers take as an extractor.
//!
//! It carries the claims the services use (subject, user name, groups, client, scopes) as
//! fields, and every claim of the token in [`Principal::claims`] for custom ones
//! (`custom:customer_id`, ...). It never holds the token itself.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

/// The authenticated caller of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Caller {
    /// No authentication took place (`AUTH_MODE=none`, local development only).
    Anonymous,
    /// A caller whose token was accepted.
    Authenticated(Principal),
}

/// The identity carried by an accepted Cognito token.
#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    /// `sub`: the user's (or, for machine tokens, the client's) stable id.
    pub subject: String,
    /// `username` (access tokens) or `cognito:username` (ID tokens), when present.
    pub username: Option<String>,
    /// `cognito:groups`, empty when the user is in no group.
    pub groups: Vec<String>,
    /// The app client the token was issued to: `client_id` (access tokens) or `aud` (ID
    /// tokens). Always one of the allowed client ids.
    pub client_id: String,
    /// `scope`, split on spaces (access tokens; empty for ID tokens).
    pub scopes: Vec<String>,
    /// Which kind of Cognito token it was.
    pub token_use: TokenUse,
    /// Every claim of the token, for custom ones.
    pub claims: Map<String, Value>,
}

/// Cognito's `token_use` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenUse {
    /// An access token (`token_use: access`), the usual bearer token for APIs.
    Access,
    /// An ID token (`token_use: id`), which carries the user's attributes.
    Id,
}

impl TokenUse {
    /// The claim's value: `access` or `id`.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenUse::Access => "access",
            TokenUse::Id => "id",
        }
    }
}

impl std::fmt::Display for TokenUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Caller {
    /// The principal, unless the caller is anonymous.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Caller::Anonymous => None,
            Caller::Authenticated(principal) => Some(principal),
        }
    }

    /// Whether no authentication took place.
    pub fn is_anonymous(&self) -> bool {
        matches!(self, Caller::Anonymous)
    }

    /// The subject (`sub`), unless the caller is anonymous.
    pub fn subject(&self) -> Option<&str> {
        self.principal().map(|principal| principal.subject.as_str())
    }

    /// Whether the caller is in the given Cognito group (never true when anonymous).
    pub fn is_in_group(&self, group: &str) -> bool {
        self.principal()
            .is_some_and(|principal| principal.groups.iter().any(|g| g == group))
    }
}

impl Principal {
    /// One claim of the token by name, e.g. `custom:customer_id`.
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.claims.get(name)
    }

    /// A string claim by name.
    pub fn claim_str(&self, name: &str) -> Option<&str> {
        self.claim(name).and_then(Value::as_str)
    }

    /// Whether the token grants the given OAuth scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The extractor's rejection when no [`Caller`] is in the request: the route is not behind
/// [`crate::AuthLayer`], a wiring mistake. Answers 500 without detail, and logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no Caller in the request extensions: the route is not behind AuthLayer")]
pub struct MissingCaller;

impl IntoResponse for MissingCaller {
    fn into_response(self) -> Response {
        tracing::error!(error = %self, "refusing a request on a route without authentication");
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(serde_json::json!({"error": "internal error"})),
        )
            .into_response()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = MissingCaller;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or(MissingCaller)
    }
}
