//! `caller_token`: the caller's own bearer token, exactly as the agent's inbound auth took it
//! from the `/invocations` request being served. For an AgentCore Gateway whose policies
//! decide per customer.
//!
//! ## Caller tokens
//!
//! A `caller_token` source gets `Authorization: Bearer <token>` with the token of the request
//! being served, which the request's own code passes in (to [`OutboundAuth::prepare`] and to
//! [`OutboundAuth::headers`]) and which nothing shared ever holds: there is no cache for it, and
//! the HTTP client that carries it (`authorized_http`) is built for that one request and dropped
//! with it (`mcp` opens a connection per request for such a source). So a token is never sent
//! for another caller and never used after its request; the same invariant as for workload
//! access tokens ([`super::identity`]), held more strictly, since this token is the user's own
//! identity. A request without one ([`OutboundAuthError::MissingCallerToken`]) is offered none
//! of the source's tools. A 401 is not retried: only the caller can get a new token, by signing
//! in again, and the model is told to say so.
//!
//! Forwarding it is safe, and is what makes the Gateway's policies judge the real customer:
//!
//! - Only a token the agent's inbound auth accepted reaches here (`AUTH_MODE` `verify` or
//!   `agentcore`; the agent refuses to start with `AUTH_MODE=none` and a `caller_token`
//!   source, since it would have no verified token to forward).
//! - The Gateway's inbound authorizer (CUSTOM_JWT) admits only tokens of its issuer whose `aud`
//!   is in its allowed audience: deployed, the same user app client the runtime's authorizer
//!   allows (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/gateway-inbound-auth.html>).
//!   The token is no broader at the Gateway than at the agent, and no other service accepts it.
//! - The principal of every policy decision is the token's `sub`, with its claims as tags
//!   (<https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/use-gateway-with-policy.html>):
//!   the customer's own identity, not the agent's, so a confused or manipulated agent cannot
//!   reach past what that customer may do. `tools/list` is filtered the same way, which is why
//!   such a source is listed per turn with the caller's token and never in the background.
//! - The token expires: Cognito ID tokens live one hour unless the app client sets otherwise
//!   (5 minutes to 1 day; <https://docs.aws.amazon.com/cognito/latest/developerguide/amazon-cognito-user-pools-using-the-id-token.html>,
//!   and `IdTokenValidity` in
//!   <https://docs.aws.amazon.com/cognito-user-identity-pools/latest/APIReference/API_CreateUserPoolClient.html>;
//!   the deployed client sets 60 minutes). A turn that outlives it gets a 401 from the Gateway;
//!   that call's result tells the model the customer must sign in again, and the turn goes on.
//!
//! [`OutboundAuth::prepare`]: super::OutboundAuth::prepare
//! [`OutboundAuth::headers`]: super::OutboundAuth::headers

use agent_protocol::Secret;
use http::HeaderValue;

use super::{OutboundAuthError, bearer_value};

/// `Bearer <caller_token>` as a sensitive header value. A token inbound auth accepted is
/// always header-safe (it came in a header); anything else counts as no token.
pub(super) fn caller_bearer(
    source_name: &str,
    caller_token: Option<&Secret>,
) -> Result<HeaderValue, OutboundAuthError> {
    caller_token
        .and_then(|token| bearer_value(token.expose()))
        .ok_or_else(|| OutboundAuthError::MissingCallerToken {
            source_name: source_name.to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::Method;
    use http::header::AUTHORIZATION;

    use super::super::fake_token_services::{SOURCE, WAT, sdk_config};
    use super::super::{AuthConfig, OutboundAuth, RequestTokens};
    use super::*;

    #[tokio::test]
    async fn a_caller_token_source_sends_exactly_the_requests_token_and_keeps_none() {
        let auth = OutboundAuth::new(
            SOURCE,
            &AuthConfig::CallerToken,
            &sdk_config("http://127.0.0.1:9"),
            Duration::from_secs(1),
        )
        .expect("valid");
        assert!(auth.needs_caller_token());
        assert!(!auth.needs_workload_token());
        let first = Secret::new("caller.token.one".to_owned());
        let second = Secret::new("caller.token.two".to_owned());
        let sent = |token: Option<&Secret>| {
            let auth = &auth;
            let token = token.cloned();
            async move {
                auth.headers(&Method::POST, "http://x/mcp", b"{}", token.as_ref())
                    .await
                    .map(|headers| headers[AUTHORIZATION].to_str().expect("ASCII").to_owned())
            }
        };
        auth.prepare(RequestTokens {
            workload: None,
            caller: Some(&first),
        })
        .await
        .expect("a caller token is all it needs");
        assert_eq!(
            sent(Some(&first)).await.expect("first"),
            "Bearer caller.token.one"
        );
        assert_eq!(
            sent(Some(&second)).await.expect("second"),
            "Bearer caller.token.two"
        );
        // Nothing was kept: a request without a token gets none of the others'.
        let error = sent(None).await.expect_err("no token at hand");
        assert!(matches!(
            error,
            OutboundAuthError::MissingCallerToken { .. }
        ));
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect_err("a workload token is no caller token");
        assert_eq!(
            error.to_string(),
            "MCP source gateway forwards the caller's token (auth caller_token), but the request carried no bearer token"
        );
        assert!(!format!("{auth:?}").contains("caller.token"), "{auth:?}");
    }
}
