//! The network calls made for one source's credentials (Identity, Secrets Manager, the token
//! endpoint, the credentials provider): each within the source's timeout, and each failure an
//! [`OutboundAuthError`] that names the source and the service, never a token or a secret.

use std::future::Future;
use std::time::Duration;

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::OutboundAuthError;

/// The source the calls are made for, and the time each may take.
#[derive(Debug)]
pub(super) struct SourceCalls {
    pub(super) source_name: String,
    pub(super) timeout: Duration,
}

impl SourceCalls {
    pub(super) fn fetch_error(&self, service: &'static str, detail: String) -> OutboundAuthError {
        OutboundAuthError::Fetch {
            source_name: self.source_name.clone(),
            service,
            detail,
        }
    }

    /// Runs one network call with the source's timeout.
    pub(super) async fn within_timeout<T>(
        &self,
        service: &'static str,
        call: impl Future<Output = Result<T, OutboundAuthError>>,
    ) -> Result<T, OutboundAuthError> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or_else(|_| {
                Err(OutboundAuthError::Timeout {
                    source_name: self.source_name.clone(),
                    service,
                    timeout_ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                })
            })
    }
}

/// What went wrong with an AWS SDK call: the service's error code and message, or the
/// dispatch failure. Neither carries the request's token.
pub(super) fn sdk_error_detail<E, R>(
    error: &aws_smithy_runtime_api::client::result::SdkError<E, R>,
) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error.code() {
        Some(code) => format!("{code}: {}", error.message().unwrap_or("no message")),
        None => DisplayErrorContext(error).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use agent_protocol::Secret;

    use super::super::RequestTokens;
    use super::super::fake_token_services::{
        CLIENT_SECRET, WAT, client_credentials_auth, identity_auth, start_fake,
    };
    use super::*;

    #[tokio::test]
    async fn every_fetch_has_the_timeout() {
        let fake = start_fake(3600, Duration::from_secs(3), CLIENT_SECRET).await;
        let auth = identity_auth(&fake, Duration::from_millis(300));
        let started = Instant::now();
        let error = auth
            .prepare(RequestTokens::workload(Some(&Secret::new(WAT.to_owned()))))
            .await
            .expect_err("too slow");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_eq!(
            error.to_string(),
            "MCP source gateway: AgentCore Identity (GetResourceOauth2Token) did not answer within 300 ms"
        );
        let auth = client_credentials_auth(&fake, Duration::from_millis(300));
        let error = auth
            .prepare(RequestTokens::default())
            .await
            .expect_err("too slow")
            .to_string();
        assert!(
            error.contains("the OAuth2 token endpoint did not answer within 300 ms"),
            "{error}"
        );
    }
}
