//! `sigv4`: each request signed with the execution role's credentials (IAM-authorized runtimes
//! and gateways), by the one SigV4 recipe in `service_runtime::sigv4`. The credentials are
//! cached until shortly before they expire, static keys for [`STATIC_CREDENTIALS_LIFETIME`].

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_types::error::display::DisplayErrorContext;
use http::HeaderMap;

use super::source_calls::SourceCalls;
use super::token_cache::Cache;
use super::{OutboundAuthError, region};

const CREDENTIALS: &str = "the AWS credentials provider";
const SIGNING: &str = "SigV4 signing";

/// How long credentials without an expiry (static keys) are kept before asking the provider again.
const STATIC_CREDENTIALS_LIFETIME: Duration = Duration::from_secs(3600);

pub(super) struct Sigv4Auth {
    service: String,
    region: String,
    provider: SharedCredentialsProvider,
    pub(super) credentials: Cache<Credentials>,
}

impl Sigv4Auth {
    /// Checks the settings; makes no network call. The error is the configuration problem.
    pub(super) fn new(service: &str, aws: &aws_config::SdkConfig) -> Result<Self, String> {
        if service.is_empty() {
            return Err("the SigV4 service name is empty".to_owned());
        }
        let provider = aws
            .credentials_provider()
            .ok_or_else(|| "no AWS credentials provider is configured".to_owned())?;
        Ok(Self {
            service: service.to_owned(),
            region: region(aws)?,
            provider,
            credentials: Cache::new(),
        })
    }

    /// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token` with
    /// temporary credentials) signed over the method, the full URI (with its query) and the
    /// body.
    pub(super) async fn headers(
        &self,
        calls: &SourceCalls,
        method: &http::Method,
        uri: &str,
        body: &[u8],
    ) -> Result<HeaderMap, OutboundAuthError> {
        let credentials = self.aws_credentials(calls).await?;
        // Sign the URI exactly as the HTTP client will send it (the URL parser
        // normalises what it sends, e.g. the host's case and default ports).
        let url = reqwest::Url::parse(uri)
            .map_err(|e| calls.fetch_error(SIGNING, format!("URI {uri:?}: {e}")))?;
        service_runtime::sigv4::sign(
            &credentials,
            &self.region,
            &self.service,
            SystemTime::now(),
            method,
            url.as_str(),
            body,
        )
        .map_err(|error| calls.fetch_error(SIGNING, error.to_string()))
    }

    async fn aws_credentials(&self, calls: &SourceCalls) -> Result<Credentials, OutboundAuthError> {
        self.credentials
            .get(|| async {
                let call = async {
                    self.provider.provide_credentials().await.map_err(|e| {
                        calls.fetch_error(CREDENTIALS, DisplayErrorContext(&e).to_string())
                    })
                };
                let credentials = calls.within_timeout(CREDENTIALS, call).await?;
                let lifetime = match credentials.expiry() {
                    Some(expiry) => expiry
                        .duration_since(SystemTime::now())
                        .unwrap_or(Duration::ZERO),
                    None => STATIC_CREDENTIALS_LIFETIME,
                };
                Ok((credentials, lifetime))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use http::Method;
    use http::header::AUTHORIZATION;

    use super::super::fake_token_services::{SOURCE, sdk_config};
    use super::super::{AuthConfig, OutboundAuth, RequestTokens};
    use super::*;

    #[tokio::test]
    async fn sigv4_signs_each_request_with_the_configured_service() {
        let auth = OutboundAuth::new(
            SOURCE,
            &AuthConfig::Sigv4 {
                service: "bedrock-agentcore".to_owned(),
            },
            &sdk_config("http://127.0.0.1:9"),
            Duration::from_secs(1),
        )
        .expect("valid");
        auth.prepare(RequestTokens::default()).await.expect("no-op");
        let headers = auth
            .headers(
                &Method::POST,
                "https://Example.com:443/mcp?x=1",
                b"{}",
                None,
            )
            .await
            .expect("signed");
        let authorization = headers[AUTHORIZATION].to_str().expect("ASCII");
        assert!(
            authorization.starts_with("AWS4-HMAC-SHA256 Credential=testing/"),
            "{authorization}"
        );
        assert!(authorization.contains("/us-east-1/bedrock-agentcore/aws4_request"));
        assert!(headers.contains_key("x-amz-date"));
        assert!(!headers.contains_key("x-amz-security-token"));
    }
}
