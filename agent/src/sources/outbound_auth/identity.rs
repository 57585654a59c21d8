//! `agentcore_identity`: a machine-to-machine token from AgentCore Identity
//! (`GetResourceOauth2Token`, flow `M2M`), paid for with the workload access token (WAT) the
//! runtime passes with each request. The only way to a Cognito token inside a private VPC.
//! Identity gives no lifetime, so it is read from the JWT's `exp` (see [`super::token_cache`]).
//!
//! ## Workload access tokens
//!
//! An Identity token is fetched only in [`OutboundAuth::prepare`], with the workload access
//! token of the request being served, which the caller passes in; nothing remembers a WAT
//! after the call that brought it. [`OutboundAuth::headers`] never fetches one: it sends the
//! cached token or fails with [`OutboundAuthError::NoTokenAtHand`], and the request's own code
//! (`mcp`) prepares again with its own WAT and retries once. So a fetch made for request R
//! always carries R's WAT, however many requests run at once, and a WAT is never used after
//! its request (when it may have expired, or belong to a caller who has left).
//!
//! A request without a WAT gets [`OutboundAuthError::MissingWorkloadToken`] from `prepare`
//! even when a token is cached: the runtime passes a WAT only for requests it vouches for (a
//! JWT authorizer, or SigV4 with a runtime user id), and a request it did not vouch for must not
//! ride on a token another request's WAT paid for.
//!
//! Requests that do carry a WAT share the cached token. That is safe because the flow is `M2M`:
//! the token is the workload's own machine token (the credential provider's client
//! credentials), the same whichever request's WAT paid for it, and it carries no user's
//! identity or consent. The WAT only proves to Identity that the caller is this workload,
//! serving a request the runtime vouched for. What each customer may see is decided per call by
//! the tool layer's access rules, never by the token.
//!
//! [`OutboundAuth::prepare`]: super::OutboundAuth::prepare
//! [`OutboundAuth::headers`]: super::OutboundAuth::headers

use agent_protocol::Secret;
use aws_sdk_bedrockagentcore::types::Oauth2FlowType;
use http::HeaderValue;

use super::source_calls::{SourceCalls, sdk_error_detail};
use super::token_cache::{Cache, token_lifetime};
use super::{OutboundAuthError, bearer_value, check_scopes, region};

const IDENTITY: &str = "AgentCore Identity (GetResourceOauth2Token)";

pub(super) struct IdentityAuth {
    client: aws_sdk_bedrockagentcore::Client,
    provider_name: String,
    scopes: Vec<String>,
    /// The `Authorization` value, shared by every request that brings a workload access token
    /// (see the module doc).
    pub(super) token: Cache<HeaderValue>,
}

impl IdentityAuth {
    /// Checks the settings; makes no network call. The error is the configuration problem.
    pub(super) fn new(
        provider_name: &str,
        scopes: &[String],
        aws: &aws_config::SdkConfig,
    ) -> Result<Self, String> {
        if provider_name.is_empty() {
            return Err("provider_name is empty".to_owned());
        }
        check_scopes(scopes)?;
        region(aws)?;
        Ok(Self {
            client: aws_sdk_bedrockagentcore::Client::new(aws),
            provider_name: provider_name.to_owned(),
            scopes: scopes.to_vec(),
            token: Cache::new(),
        })
    }

    /// The cached Identity token, or one fetched with `workload_token`: the WAT of the request
    /// this runs for. Callers that queue behind a concurrent fetch take its token; if that
    /// fetch fails, the next in line fetches with its own WAT.
    pub(super) async fn token(
        &self,
        calls: &SourceCalls,
        workload_token: &Secret,
    ) -> Result<HeaderValue, OutboundAuthError> {
        self.token
            .get(|| async {
                let call = async {
                    self.client
                        .get_resource_oauth2_token()
                        .workload_identity_token(workload_token.expose())
                        .resource_credential_provider_name(&self.provider_name)
                        .set_scopes(Some(self.scopes.clone()))
                        .oauth2_flow(Oauth2FlowType::M2M)
                        .send()
                        .await
                        .map_err(|e| {
                            calls.fetch_error(
                                IDENTITY,
                                format!("provider {}: {}", self.provider_name, sdk_error_detail(&e)),
                            )
                        })
                };
                let answer = calls.within_timeout(IDENTITY, call).await?;
                let token = answer.access_token().filter(|t| !t.is_empty()).ok_or_else(|| {
                    calls.fetch_error(
                        IDENTITY,
                        format!(
                            "provider {}: the answer carried no access token (is the provider set up for M2M?)",
                            self.provider_name
                        ),
                    )
                })?;
                let lifetime = token_lifetime(None, token);
                let value = bearer_value(token).ok_or_else(|| {
                    calls.fetch_error(IDENTITY, "the access token is not usable in an HTTP header".to_owned())
                })?;
                tracing::info!(
                    source = %calls.source_name,
                    provider = %self.provider_name,
                    expires_in_s = lifetime.as_secs(),
                    "outbound token fetched from AgentCore Identity"
                );
                Ok((value, lifetime))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use super::super::fake_token_services::{
        CLIENT_SECRET, OTHER_WAT, WAT, bearer_of, identity_auth, start_fake,
    };
    use super::super::token_cache::lock;
    use super::super::{OutboundAuthError, RequestTokens};
    use super::*;

    #[tokio::test]
    async fn identity_without_a_workload_token_says_why() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("no WAT");
        assert!(matches!(
            error,
            OutboundAuthError::MissingWorkloadToken { .. }
        ));
        let message = error.to_string();
        assert!(
            message.contains("carried no workload access token"),
            "{message}"
        );
        assert!(message.contains("JWT authorizer"), "{message}");
        let headers_error = bearer_of(&auth).await.expect_err("nothing cached");
        assert!(matches!(
            headers_error,
            OutboundAuthError::NoTokenAtHand { .. }
        ));
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_request_without_a_workload_token_never_uses_the_cached_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("token fetched");
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("a cached token is not enough without a WAT");
        assert!(matches!(
            error,
            OutboundAuthError::MissingWorkloadToken { .. }
        ));
        assert_eq!(
            fake.fake.identity_calls.load(Ordering::SeqCst),
            1,
            "no fetch either"
        );
        // A request that does bring one shares the machine token.
        auth.prepare(RequestTokens::workload(Some(&Secret::new(
            OTHER_WAT.to_owned(),
        ))))
        .await
        .expect("cached token shared");
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn only_the_requests_own_workload_token_fetches_after_an_invalidate() {
        let fake = start_fake(3600, Duration::from_millis(200), CLIENT_SECRET).await;
        let auth = Arc::new(identity_auth(&fake, Duration::from_secs(5)));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("token fetched");
        let first = bearer_of(&auth).await.expect("cached");
        assert!(first.starts_with("Bearer "), "{first}");

        // After a 401 the HTTP layer cannot fetch: it has no request's WAT.
        auth.invalidate();
        assert!(matches!(
            bearer_of(&auth).await,
            Err(OutboundAuthError::NoTokenAtHand { .. })
        ));
        assert_eq!(fake.fake.identity_calls.load(Ordering::SeqCst), 1);

        // Ten concurrent requests of another caller share one fetch, made with their WAT and
        // not with the first request's.
        let tasks: Vec<_> = (0..10)
            .map(|_| {
                let auth = auth.clone();
                tokio::spawn(async move {
                    auth.prepare(RequestTokens::workload(Some(&Secret::new(
                        OTHER_WAT.to_owned(),
                    ))))
                    .await?;
                    bearer_of(&auth).await
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for task in tasks {
            seen.insert(task.await.expect("joins").expect("token"));
        }
        assert_eq!(seen.len(), 1, "everyone got the same new token");
        assert!(!seen.contains(&first));
        assert_eq!(
            *lock(&fake.fake.workload_tokens),
            vec![WAT.to_owned(), OTHER_WAT.to_owned()]
        );
    }

    #[tokio::test]
    async fn a_fetch_refused_for_one_request_is_not_repeated_with_another_requests_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        auth.prepare(RequestTokens::workload(Some(&Secret::new(
            "expired-wat".to_owned(),
        ))))
        .await
        .expect_err("refused");
        auth.prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect("the next request fetches with its own");
        assert_eq!(
            *lock(&fake.fake.workload_tokens),
            vec!["expired-wat".to_owned(), WAT.to_owned()]
        );
    }

    #[tokio::test]
    async fn identity_refusals_name_the_code_but_not_the_token() {
        let fake = start_fake(3600, Duration::ZERO, CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_secs(5));
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(
                "some-other-wat".to_owned(),
            ))))
            .await
            .expect_err("refused")
            .to_string();
        assert!(error.contains("AccessDeniedException"), "{error}");
        assert!(error.contains("provider gw-provider"), "{error}");
        assert!(!error.contains("some-other-wat"), "{error}");
    }
}
