//! Which agent to call, turned into the invocation URL.
//!
//! A local agent is called at `<url>/invocations`. A deployed runtime is called through the
//! AgentCore data plane at
//! `https://bedrock-agentcore.<region>.amazonaws.com/runtimes/<ARN>/invocations?qualifier=<q>`,
//! the ARN encoded as `agent_protocol::runtime_url` says; the region comes from the ARN, and
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` replaces the base as it does for the AWS SDKs.

use agent_protocol::runtime_url::{DEFAULT_QUALIFIER, data_plane_endpoint, runtime_invocation_url};
use reqwest::Url;

use crate::config::{FileConfig, TargetArgs};
use crate::error::Failure;

/// The agent `scripts/run-local` starts, used when nothing else is configured.
const LOCAL_URL: &str = "http://127.0.0.1:8080";

/// The agent to call.
#[derive(Debug, Clone)]
pub struct Target {
    pub invocation_url: String,
    /// Set for a deployed runtime; its failures are explained with its log group.
    pub runtime: Option<Runtime>,
}

/// A deployed runtime, named for hints.
#[derive(Debug, Clone)]
pub struct Runtime {
    pub id: String,
    pub qualifier: String,
}

impl Target {
    /// The target from the flags, else the configuration file, else the local agent.
    pub fn resolve(args: &TargetArgs, file: &FileConfig) -> Result<Self, Failure> {
        let qualifier = args.qualifier.as_deref().or(file.qualifier.as_deref());
        let endpoint = args.agentcore_endpoint.as_deref();
        if let Some(url) = &args.url {
            if args.qualifier.is_some() {
                return Err(Failure::Usage(
                    "--qualifier applies to --runtime-arn only, not to --url".to_owned(),
                ));
            }
            return Self::local(url);
        }
        if let Some(arn) = &args.runtime_arn {
            return Self::runtime(arn, qualifier, endpoint);
        }
        match (&file.url, &file.runtime_arn) {
            (Some(_), Some(_)) => Err(Failure::Usage(
                "config.json sets both \"url\" and \"runtime_arn\": keep one".to_owned(),
            )),
            (Some(url), None) => Self::local(url),
            (None, Some(arn)) => Self::runtime(arn, qualifier, endpoint),
            (None, None) => Self::local(LOCAL_URL),
        }
    }

    /// An agent at `url` (its base address, or its `/invocations` URL).
    fn local(url: &str) -> Result<Self, Failure> {
        let base = http_url(url, "--url")?;
        let invocation_url = if base.ends_with("/invocations") {
            base
        } else {
            format!("{base}/invocations")
        };
        Ok(Self {
            invocation_url,
            runtime: None,
        })
    }

    /// A deployed runtime, by ARN.
    fn runtime(
        arn: &str,
        qualifier: Option<&str>,
        endpoint: Option<&str>,
    ) -> Result<Self, Failure> {
        let parsed = RuntimeArn::parse(arn)?;
        let qualifier = qualifier.unwrap_or(DEFAULT_QUALIFIER);
        if qualifier.is_empty() {
            return Err(Failure::Usage("--qualifier must not be empty".to_owned()));
        }
        let base = match endpoint {
            Some(endpoint) => http_url(endpoint, "AWS_ENDPOINT_URL_BEDROCK_AGENTCORE")?,
            None => data_plane_endpoint(parsed.partition, parsed.region),
        };
        Ok(Self {
            invocation_url: runtime_invocation_url(&base, arn, qualifier),
            runtime: Some(Runtime {
                id: parsed.id.to_owned(),
                qualifier: qualifier.to_owned(),
            }),
        })
    }

    /// The agent's name in messages.
    pub fn describe(&self) -> String {
        match &self.runtime {
            Some(runtime) => format!("runtime {} ({})", runtime.id, runtime.qualifier),
            None => format!("the agent at {}", self.invocation_url),
        }
    }
}

/// `url` checked to be an http(s) URL, without a trailing `/`.
fn http_url(url: &str, setting: &str) -> Result<String, Failure> {
    let parsed = Url::parse(url)
        .map_err(|error| Failure::Usage(format!("{setting} {url:?} is not a URL: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Failure::Usage(format!(
            "{setting} {url:?} must be an http:// or https:// URL"
        )));
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The parts of `arn:<partition>:bedrock-agentcore:<region>:<account>:runtime/<id>` we use.
struct RuntimeArn<'a> {
    partition: &'a str,
    region: &'a str,
    id: &'a str,
}

impl<'a> RuntimeArn<'a> {
    fn parse(arn: &'a str) -> Result<Self, Failure> {
        let malformed = || {
            Failure::Usage(format!(
                "--runtime-arn {arn:?} is not a runtime ARN: expected arn:aws:bedrock-agentcore:<region>:<account>:runtime/<id>"
            ))
        };
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        let [prefix, partition, service, region, account, resource] = parts[..] else {
            return Err(malformed());
        };
        let id = resource.strip_prefix("runtime/").ok_or_else(malformed)?;
        let well_formed = prefix == "arn"
            && partition.starts_with("aws")
            && service == "bedrock-agentcore"
            && !region.is_empty()
            && !account.is_empty()
            && !id.is_empty()
            && !id.contains('/');
        if !well_formed {
            return Err(malformed());
        }
        Ok(Self {
            partition,
            region,
            id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/support_agent-AbC12";

    fn args(url: Option<&str>, arn: Option<&str>, qualifier: Option<&str>) -> TargetArgs {
        TargetArgs {
            url: url.map(str::to_owned),
            runtime_arn: arn.map(str::to_owned),
            qualifier: qualifier.map(str::to_owned),
            agentcore_endpoint: None,
        }
    }

    #[test]
    fn a_runtime_arn_becomes_the_data_plane_url_with_the_arn_encoded() {
        let target = Target::resolve(&args(None, Some(ARN), None), &FileConfig::default()).unwrap();
        assert_eq!(
            target.invocation_url,
            "https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aeu-west-1%3A123456789012%3Aruntime%2Fsupport_agent-AbC12/invocations?qualifier=DEFAULT"
        );
        let runtime = target.runtime.unwrap();
        assert_eq!(runtime.id, "support_agent-AbC12");
        assert_eq!(runtime.qualifier, "DEFAULT");
    }

    #[test]
    fn the_endpoint_override_and_qualifier_are_honoured() {
        let mut with_endpoint = args(None, Some(ARN), Some("canary"));
        with_endpoint.agentcore_endpoint = Some("http://127.0.0.1:9000/".to_owned());
        let target = Target::resolve(&with_endpoint, &FileConfig::default()).unwrap();
        assert!(
            target
                .invocation_url
                .starts_with("http://127.0.0.1:9000/runtimes/arn%3Aaws%3A")
        );
        assert!(
            target
                .invocation_url
                .ends_with("/invocations?qualifier=canary")
        );
    }

    #[test]
    fn local_urls_get_the_invocations_path_once() {
        let file = FileConfig::default();
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1:8080/invocations",
        ] {
            let target = Target::resolve(&args(Some(url), None, None), &file).unwrap();
            assert_eq!(target.invocation_url, "http://127.0.0.1:8080/invocations");
        }
        let default = Target::resolve(&args(None, None, None), &file).unwrap();
        assert_eq!(default.invocation_url, "http://127.0.0.1:8080/invocations");
    }

    #[test]
    fn malformed_targets_are_usage_errors() {
        let file = FileConfig::default();
        for arn in [
            "arn:aws:bedrock-agentcore:eu-west-1:123456789012:agent/x",
            "arn:aws:lambda:eu-west-1:123456789012:runtime/x",
            "arn:aws:bedrock-agentcore::123456789012:runtime/x",
            "runtime/x",
        ] {
            let result = Target::resolve(&args(None, Some(arn), None), &file);
            assert!(matches!(result, Err(Failure::Usage(_))), "{arn}");
        }
        let result = Target::resolve(&args(Some("ftp://example.com"), None, None), &file);
        assert!(matches!(result, Err(Failure::Usage(_))));
    }
}
