//! Why a request was refused, and the HTTP answer it gets.
//!
//! The reason ([`AuthError`], [`Rejection`]) is for the service's own logs; the caller only
//! ever sees a 401 with a `WWW-Authenticate: Bearer` challenge and `{"error":"unauthorized"}`,
//! so that a refusal tells an attacker nothing about which check failed. No variant holds the
//! token or any value taken from it, beyond the kind of token (`token_use`) where that is the
//! reason.

use axum::http::header::{CACHE_CONTROL, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::caller::TokenUse;
use crate::config::TokenUsePolicy;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header.
    #[error("no Authorization header")]
    MissingToken,
    /// An `Authorization` header with another scheme than `Bearer` (for example `Basic`).
    #[error("the Authorization header does not use the Bearer scheme")]
    UnsupportedScheme,
    /// A bearer token was sent but is not acceptable.
    #[error("bearer token refused: {0}")]
    InvalidToken(Rejection),
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a well-formed `Bearer <jwt>` header or compact JWS.
    #[error("malformed bearer token")]
    Malformed,
    /// The header names another algorithm than RS256 (`none`, HS256, ...).
    #[error("algorithm other than RS256")]
    UnsupportedAlgorithm,
    /// The header has a `crit` parameter. RFC 7515 §4.1.11 makes a recipient reject a token
    /// naming an extension it does not understand, and this library understands none.
    #[error(
        "the token header lists critical extensions (crit), which this service does not support"
    )]
    CriticalHeader,
    /// The header names no key (`kid`).
    #[error("no key id (kid) in the token header")]
    MissingKeyId,
    /// The key named by `kid` is not in the issuer's JWKS (after a refresh, if one was
    /// allowed by the rate limit).
    #[error("unknown key id (kid)")]
    UnknownKeyId,
    /// The JWKS could not be fetched, so no token can be verified for now.
    #[error("the issuer's signing keys are unavailable")]
    KeysUnavailable,
    /// The signature does not match the header and payload under the named key.
    #[error("bad signature")]
    BadSignature,
    /// `exp` is missing or not a number.
    #[error("no valid exp claim")]
    MissingExpiry,
    /// `exp` (plus leeway) has passed.
    #[error("expired")]
    Expired,
    /// `nbf` (minus leeway) is still ahead, or not a number.
    #[error("not valid yet (nbf)")]
    NotYetValid,
    /// `iat` is not a number.
    #[error("iat claim is not a NumericDate")]
    InvalidIssuedAt,
    /// `iat` is later than now plus the leeway: the issuer's clock or the token is wrong.
    #[error("issued in the future (iat is later than now plus AUTH_LEEWAY_SECONDS)")]
    IssuedInFuture,
    /// The token is valid for longer than `AUTH_MAX_TOKEN_LIFETIME_SECONDS` (`exp - iat`, or
    /// `exp - now` without `iat`).
    #[error(
        "valid for longer than AUTH_MAX_TOKEN_LIFETIME_SECONDS={max_seconds} (exp - iat, or exp - now without iat)"
    )]
    LifetimeTooLong {
        /// The configured maximum, in seconds.
        max_seconds: u64,
    },
    /// `iss` is missing or not the configured issuer.
    #[error("wrong issuer")]
    WrongIssuer,
    /// `token_use` is missing, or neither `access` nor `id`.
    #[error("token_use not accepted: no token_use claim of access or id")]
    WrongTokenUse,
    /// A kind of token this service does not accept (`AUTH_TOKEN_USE`), e.g. an access token
    /// where only ID tokens carry the claims the service reads.
    #[error(
        "token_use not accepted: the token has token_use={presented}, but AUTH_TOKEN_USE={accepted} accepts {}",
        accepted.describe()
    )]
    TokenUseNotAccepted {
        /// The kind the token is.
        presented: TokenUse,
        /// What the service accepts.
        accepted: TokenUsePolicy,
    },
    /// The token names no client (`client_id` for access tokens, `aud` for ID tokens).
    #[error("no client id in the token")]
    MissingClient,
    /// The token's client is not in the allowed list.
    #[error("client not allowed")]
    ClientNotAllowed,
    /// No non-empty `sub`.
    #[error("no subject (sub)")]
    MissingSubject,
    /// The system clock reads before 1970, so expiry cannot be checked: refuse everything.
    #[error("the system clock is unusable")]
    Clock,
}

/// The body of every refusal.
const BODY: &str = r#"{"error":"unauthorized"}"#;

impl AuthError {
    /// The `WWW-Authenticate` value: a bare `Bearer` challenge when no bearer token was sent
    /// (RFC 6750 §3.1), with `error="invalid_token"` when one was sent but is refused.
    pub fn www_authenticate(&self) -> &'static str {
        match self {
            AuthError::MissingToken | AuthError::UnsupportedScheme => "Bearer",
            AuthError::InvalidToken(_) => r#"Bearer error="invalid_token""#,
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let mut response = (
            StatusCode::UNAUTHORIZED,
            [(
                axum::http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            BODY,
        )
            .into_response();
        let headers = response.headers_mut();
        headers.insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static(self.www_authenticate()),
        );
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
