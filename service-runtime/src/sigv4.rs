//! AWS Signature Version 4 for the HTTP requests both binaries sign themselves: the agent's
//! calls to IAM-authorized MCP sources (runtimes, gateways) and the X-Ray OTLP export of
//! [`crate::telemetry`]. One recipe in one place, so a fix to how a request is signed reaches
//! every signed request, and the published test vectors check all of them.
//!
//! [`sign`] signs a request's method, URL (with its query) and body with the given
//! credentials, region, service and time, and returns the headers to add: `authorization`,
//! `x-amz-date` and, with temporary credentials, `x-amz-security-token`. The settings are
//! `aws-sigv4`'s defaults: headers (not query) signing, the path double-encoded and normalised
//! as for every AWS service but S3, no `x-amz-content-sha256` header (the body's hash is still
//! signed). Only `host` and those headers are signed, so headers the HTTP client adds later
//! cannot break the signature; the caller must send the URL exactly as signed.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use http::header::AUTHORIZATION;
use http::{HeaderMap, HeaderName, HeaderValue, Method};

/// Why a request could not be signed (a malformed URL or header, or incomplete parameters).
/// Never carries a key or a signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SigningError(String);

impl SigningError {
    fn from_display(error: impl std::fmt::Display) -> Self {
        Self(error.to_string())
    }
}

/// The SigV4 headers for `method` on `url` with `body`, signed at `time` for `service` in
/// `region`. The `authorization` and `x-amz-security-token` values are marked sensitive, so
/// they never show in a debug print.
pub fn sign(
    credentials: &Credentials,
    region: &str,
    service: &str,
    time: SystemTime,
    method: &Method,
    url: &str,
    body: &[u8],
) -> Result<HeaderMap, SigningError> {
    let identity = credentials.clone().into();
    let params: aws_sigv4::http_request::SigningParams<'_> = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(SigningError::from_display)?
        .into();
    let request = SignableRequest::new(
        method.as_str(),
        url,
        std::iter::empty(),
        SignableBody::Bytes(body),
    )
    .map_err(SigningError::from_display)?;
    let (instructions, _signature) = aws_sigv4::http_request::sign(request, &params)
        .map_err(SigningError::from_display)?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    let mut signed = HeaderMap::with_capacity(headers.len());
    for header in headers {
        let name =
            HeaderName::from_bytes(header.name().as_bytes()).map_err(SigningError::from_display)?;
        let mut value =
            HeaderValue::from_str(header.value()).map_err(SigningError::from_display)?;
        value.set_sensitive(header.sensitive() || name == AUTHORIZATION);
        signed.insert(name, value);
    }
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The published AWS SigV4 test suite (`aws-signing-test-suite/v4`): credentials
    /// AKIDEXAMPLE, region us-east-1, service `service`, 2015-08-30T12:36:00Z.
    #[test]
    fn signatures_match_the_published_test_vectors() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_secs(1_440_938_160);
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let plain = Credentials::new("AKIDEXAMPLE", secret, None, None, "test");
        let cases = [
            (
                // get-vanilla-query-order-key-case
                Method::GET,
                "https://example.amazonaws.com/?Param2=value2&Param1=value1",
                &plain,
                "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            (
                // post-vanilla
                Method::POST,
                "https://example.amazonaws.com/",
                &plain,
                "host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        ];
        for (method, url, credentials, signed, signature) in cases {
            let headers =
                sign(credentials, "us-east-1", "service", time, &method, url, b"").expect("signs");
            assert_eq!(headers["x-amz-date"], "20150830T123600Z");
            assert_eq!(
                headers[AUTHORIZATION],
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed}, Signature={signature}"
                ),
                "{method} {url}"
            );
            assert!(headers[AUTHORIZATION].is_sensitive());
        }
        // get-vanilla-with-session-token
        let token = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
        let temporary =
            Credentials::new("AKIDEXAMPLE", secret, Some(token.to_owned()), None, "test");
        let headers = sign(
            &temporary,
            "us-east-1",
            "service",
            time,
            &Method::GET,
            "https://example.amazonaws.com/",
            b"",
        )
        .expect("signs");
        assert_eq!(headers["x-amz-security-token"], token);
        assert!(headers["x-amz-security-token"].is_sensitive());
        assert_eq!(
            headers[AUTHORIZATION],
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"
        );
    }

    #[test]
    fn the_body_the_query_and_the_service_are_part_of_the_signature() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let signature = |service: &str, url: &str, body: &[u8]| {
            sign(
                &credentials,
                "us-east-1",
                service,
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
                &Method::POST,
                url,
                body,
            )
            .expect("signs")[AUTHORIZATION]
                .clone()
        };
        let base =
            "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Ax/invocations";
        let reference = signature(
            "bedrock-agentcore",
            &format!("{base}?qualifier=DEFAULT"),
            b"{}",
        );
        assert!(
            reference
                .to_str()
                .expect("ASCII")
                .contains("/us-east-1/bedrock-agentcore/aws4_request")
        );
        assert_ne!(
            reference,
            signature(
                "bedrock-agentcore",
                &format!("{base}?qualifier=DEFAULT"),
                b"{ }"
            )
        );
        assert_ne!(
            reference,
            signature(
                "bedrock-agentcore",
                &format!("{base}?qualifier=OTHER"),
                b"{}"
            )
        );
        assert_ne!(
            reference,
            signature("xray", &format!("{base}?qualifier=DEFAULT"), b"{}")
        );
    }

    #[test]
    fn a_url_that_cannot_be_signed_is_an_error() {
        let credentials = Credentials::new("AKID", "secret", None, None, "test");
        let refused = sign(
            &credentials,
            "us-east-1",
            "xray",
            SystemTime::now(),
            &Method::POST,
            "not a url",
            b"",
        );
        assert!(refused.is_err(), "{refused:?}");
    }
}
