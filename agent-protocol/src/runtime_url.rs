//! The URL that invokes a deployed AgentCore runtime by its ARN:
//! `<endpoint>/runtimes/<ARN>/invocations?qualifier=<qualifier>`.
//!
//! AgentCore needs every `:` and `/` of the ARN percent-encoded, so the ARN and the qualifier
//! are encoded as whole path and query components: every byte but RFC 3986's unreserved
//! characters (letters, digits, `-._~`). The endpoint is the data plane of the ARN's region,
//! `https://bedrock-agentcore.<region>.amazonaws.com`, unless a setting replaces it (as
//! `AWS_ENDPOINT_URL_BEDROCK_AGENTCORE` does for the AWS SDKs).

/// The endpoint AgentCore creates with every runtime.
pub const DEFAULT_QUALIFIER: &str = "DEFAULT";

/// The AgentCore data plane of `region` in `partition` (`aws`, `aws-cn`, ...).
pub fn data_plane_endpoint(partition: &str, region: &str) -> String {
    let domain = match partition {
        "aws-cn" => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    format!("https://bedrock-agentcore.{region}.{domain}")
}

/// The invocation URL of the runtime `arn` at `endpoint` (a trailing `/` is ignored).
pub fn runtime_invocation_url(endpoint: &str, arn: &str, qualifier: &str) -> String {
    format!(
        "{}/runtimes/{}/invocations?qualifier={}",
        endpoint.trim_end_matches('/'),
        percent_encode(arn),
        percent_encode(qualifier)
    )
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str =
        "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/support_agent-AbC12";

    #[test]
    fn a_runtime_arn_is_encoded_whole_with_the_default_qualifier() {
        let url = runtime_invocation_url(
            &data_plane_endpoint("aws", "eu-west-1"),
            ARN,
            DEFAULT_QUALIFIER,
        );
        assert_eq!(
            url,
            "https://bedrock-agentcore.eu-west-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aeu-west-1%3A123456789012%3Aruntime%2Fsupport_agent-AbC12/invocations?qualifier=DEFAULT"
        );
    }

    #[test]
    fn the_endpoint_may_end_in_a_slash_and_the_qualifier_is_encoded_too() {
        assert_eq!(
            runtime_invocation_url("http://127.0.0.1:9000/", "arn:x/y", "canary v2&more"),
            "http://127.0.0.1:9000/runtimes/arn%3Ax%2Fy/invocations?qualifier=canary%20v2%26more"
        );
    }

    #[test]
    fn only_unreserved_characters_stay_as_they_are() {
        assert_eq!(percent_encode("aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("?#%+é"), "%3F%23%25%2B%C3%A9");
    }

    #[test]
    fn china_regions_have_their_own_domain() {
        assert_eq!(
            data_plane_endpoint("aws-cn", "cn-north-1"),
            "https://bedrock-agentcore.cn-north-1.amazonaws.com.cn"
        );
    }
}
