//! The typed context of one invocation, built from the headers AgentCore sends.
//!
//! - session: `X-Amzn-Bedrock-AgentCore-Runtime-Session-Id`; a local run without it gets a
//!   generated id (36 characters, valid for AgentCore's 33 to 256 rule), returned in the same
//!   response header;
//! - request: `X-Amzn-Bedrock-AgentCore-Runtime-Request-Id`, generated when absent;
//! - workload access token: `X-Amz-Bedrock-AgentCore-Identity-WAT`, or the older
//!   `WorkloadAccessToken`; kept for the tools that trade it for OAuth tokens, never logged;
//! - caller token: the token of the one `Authorization: Bearer <token>` header, read the way
//!   inbound auth reads it (scheme case-insensitive, the token after it), so it is exactly the
//!   token inbound auth accepted for this request; kept for the `caller_token` MCP sources, which
//!   forward it, and never logged. Any other scheme, or two headers, gives none;
//! - runtime user: `X-Amzn-Bedrock-AgentCore-Runtime-User-Id`, which AgentCore passes for SigV4
//!   callers acting for a user (the caller then needs `InvokeAgentRuntimeForUser` as well:
//!   <https://docs.aws.amazon.com/bedrock-agentcore/latest/APIReference/API_InvokeAgentRuntime.html>);
//!   it identifies a session's owner only when no token is verified (`AUTH_MODE=none`).

use agent_protocol::Secret;
use agent_protocol::headers::{
    LEGACY_WORKLOAD_ACCESS_TOKEN, MAX_SESSION_ID_LEN, REQUEST_ID, RUNTIME_USER_ID, SESSION_ID,
    WORKLOAD_ACCESS_TOKEN,
};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// Who and what one invocation is about.
#[derive(Debug, Clone)]
pub struct InvocationContext {
    pub session_id: String,
    pub request_id: String,
    pub workload_access_token: Option<Secret>,
    /// The caller's bearer token, for the sources that forward it.
    pub caller_token: Option<Secret>,
    pub runtime_user_id: Option<String>,
}

/// Why the headers cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContextError {
    #[error("the session id header must be 1 to {MAX_SESSION_ID_LEN} visible ASCII characters")]
    BadSessionId,
}

impl InvocationContext {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ContextError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let session_id = match headers.get(SESSION_ID) {
            Some(value) => {
                let id = value
                    .to_str()
                    .map_err(|_| ContextError::BadSessionId)?
                    .trim();
                if !is_valid_session_id(id) {
                    return Err(ContextError::BadSessionId);
                }
                id.to_owned()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        Ok(Self {
            session_id,
            request_id: text(REQUEST_ID).unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            workload_access_token: text(WORKLOAD_ACCESS_TOKEN)
                .or_else(|| text(LEGACY_WORKLOAD_ACCESS_TOKEN))
                .map(Secret::new),
            caller_token: bearer_token(headers),
            runtime_user_id: text(RUNTIME_USER_ID),
        })
    }
}

/// The session ids this agent accepts: 1 to [`MAX_SESSION_ID_LEN`] visible ASCII characters
/// (AgentCore itself asks for at least 33, which a local run need not).
pub fn is_valid_session_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_SESSION_ID_LEN && id.bytes().all(|b| b.is_ascii_graphic())
}

/// The token of the request's only `Authorization` header when its scheme is Bearer, parsed as
/// `inbound_auth` parses it.
fn bearer_token(headers: &HeaderMap) -> Option<Secret> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let value = value.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
        .then(|| Secret::new(token.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    v.parse().expect("valid header value"),
                )
            })
            .collect()
    }

    #[test]
    fn ids_come_from_headers_or_are_generated() {
        let given = InvocationContext::from_headers(&headers(&[
            (SESSION_ID, "s-0123456789abcdef0123456789abcdef0"),
            (REQUEST_ID, "r-1"),
        ]))
        .expect("valid");
        assert_eq!(given.session_id, "s-0123456789abcdef0123456789abcdef0");
        assert_eq!(given.request_id, "r-1");
        let generated = InvocationContext::from_headers(&HeaderMap::new()).expect("valid");
        assert!((33..=256).contains(&generated.session_id.len()));
        assert_ne!(generated.request_id, "");
    }

    #[test]
    fn the_newer_workload_token_header_wins_and_never_prints() {
        let context = InvocationContext::from_headers(&headers(&[
            (LEGACY_WORKLOAD_ACCESS_TOKEN, "old"),
            (WORKLOAD_ACCESS_TOKEN, "new-token"),
        ]))
        .expect("valid");
        assert!(
            !format!("{context:?}").contains("new-token"),
            "the token never prints"
        );
        let token = context.workload_access_token.expect("a token");
        assert_eq!(token.expose(), "new-token");
        let legacy =
            InvocationContext::from_headers(&headers(&[(LEGACY_WORKLOAD_ACCESS_TOKEN, "old")]))
                .expect("valid");
        assert_eq!(
            legacy.workload_access_token.map(|t| t.expose().to_owned()),
            Some("old".to_owned())
        );
    }

    #[test]
    fn only_a_bearer_token_is_the_callers_token_and_it_never_prints() {
        let token = |values: &[&str]| {
            let mut map = HeaderMap::new();
            for value in values {
                map.append(AUTHORIZATION, value.parse().expect("valid header value"));
            }
            InvocationContext::from_headers(&map)
                .expect("valid")
                .caller_token
                .map(|t| t.expose().to_owned())
        };
        assert_eq!(token(&["Bearer a.b.c"]), Some("a.b.c".to_owned()));
        assert_eq!(token(&["bearer  a.b.c "]), Some("a.b.c".to_owned()));
        for none in [
            &[][..],
            &["Basic dXNlcjpwYXNz"],
            &["a.b.c"],
            &["Bearer "],
            &["Bearer a.b.c", "Bearer d.e.f"],
        ] {
            assert_eq!(token(none), None, "{none:?}");
        }
        let mut map = HeaderMap::new();
        map.insert(
            AUTHORIZATION,
            "Bearer secret.jwt.value".parse().expect("valid"),
        );
        let context = InvocationContext::from_headers(&map).expect("valid");
        assert!(
            !format!("{context:?}").contains("secret.jwt"),
            "{context:?}"
        );
    }

    #[test]
    fn a_blank_or_oversized_session_id_is_refused() {
        let long = "x".repeat(MAX_SESSION_ID_LEN + 1);
        for bad in [" ", long.as_str(), "has space"] {
            assert_eq!(
                InvocationContext::from_headers(&headers(&[(SESSION_ID, bad)])).err(),
                Some(ContextError::BadSessionId),
                "{bad:?}"
            );
        }
    }
}
