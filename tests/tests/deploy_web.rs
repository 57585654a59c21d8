//! The deployed web chat, checked without an AWS account: `deploy/web.yaml` passes cfn-lint;
//! its bucket is private, encrypted and TLS-only, read by the distribution alone through
//! origin access control; its Content-Security-Policy admits the page's own origin (which also
//! serves the agent), the region's Cognito API and the user pool's sign-in domain, and nothing
//! else; `/invocations` reaches exactly the agent runtime's invocation path, uncached, with the
//! caller's headers; the app client's callback and sign-out URLs are the web stack's origin,
//! and that client is the one the agent and its authorizers admit; `scripts/deploy-web` (run
//! against a stand-in `aws` and `npm`) deploys in the right order, writes the `config.json`
//! the page reads, uploads with the right cache headers and invalidates; `scripts/teardown`
//! empties the bucket before deleting the web stack, first.
//!
//! Templates are decoded to JSON by cfn-lint's own decoder from the project's `.venv`, as in
//! `deploy_templates.rs`. The scripts run in a copy of the workspace layout in a temporary
//! folder, so nothing is built or written in the real `web/`.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agent_protocol::runtime_url;
use serde_json::{Value, json};
use system_tests::cloudformation::{
    as_list, import_name, of_type, resource, sub_text, template, template_path,
};
use system_tests::workspace;

const REGION: &str = "eu-west-1";
const ACCOUNT: &str = "123456789012";
/// The sign-in domain the identity stack exports, as it reads for `REGION` and `ACCOUNT`.
const LOGIN_DOMAIN: &str = "https://support-support-123456789012.auth.eu-west-1.amazoncognito.com";

/// The distribution's configuration.
fn distribution(web: &Value) -> &Value {
    let distributions = of_type(web, "AWS::CloudFront::Distribution");
    assert_eq!(distributions.len(), 1, "one distribution");
    &distributions[0].1["Properties"]["DistributionConfig"]
}

fn origin<'a>(config: &'a Value, id: &str) -> &'a Value {
    as_list(&config["Origins"])
        .into_iter()
        .find(|o| o["Id"] == id)
        .unwrap_or_else(|| panic!("no origin {id}"))
}

/// Every behavior: the default one and the path patterns.
fn behaviors(config: &Value) -> Vec<&Value> {
    let mut all = vec![&config["DefaultCacheBehavior"]];
    all.extend(as_list(&config["CacheBehaviors"]));
    all
}

// ---------------------------------------------------------------------------------------------
// The template

#[test]
fn cfn_lint_passes_the_web_and_identity_templates() {
    let output = Command::new(workspace::venv_program("cfn-lint"))
        .arg(template_path("web"))
        .arg(template_path("identity"))
        .output()
        .expect("cfn-lint (tests/requirements.txt) runs");
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_bucket_is_private_encrypted_and_reached_over_tls_only() {
    let web = template("web");
    let buckets = of_type(&web, "AWS::S3::Bucket");
    assert_eq!(buckets.len(), 1, "one bucket");
    let (bucket_id, bucket) = buckets[0];
    let p = &bucket["Properties"];
    assert_eq!(
        p["PublicAccessBlockConfiguration"],
        json!({"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}),
        "every kind of public access is blocked"
    );
    assert_eq!(
        p["OwnershipControls"]["Rules"][0]["ObjectOwnership"], "BucketOwnerEnforced",
        "no ACLs"
    );
    assert!(
        p["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
            ["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            .is_string(),
        "encrypted at rest"
    );
    assert!(
        p.get("WebsiteConfiguration").is_none(),
        "no website endpoint (it would be public, and plain HTTP)"
    );
    assert!(
        p.get("VersioningConfiguration").is_none(),
        "scripts/teardown empties the bucket with one call"
    );

    let policies = of_type(&web, "AWS::S3::BucketPolicy");
    assert_eq!(policies.len(), 1);
    let policy = &policies[0].1["Properties"];
    assert_eq!(policy["Bucket"], json!({"Ref": bucket_id}));
    let statements = as_list(&policy["PolicyDocument"]["Statement"]);
    let allows: Vec<&&Value> = statements
        .iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allows.len(), 1, "one grant: {allows:?}");
    let allow = allows[0];
    assert_eq!(
        allow["Principal"],
        json!({"Service": "cloudfront.amazonaws.com"})
    );
    assert_eq!(allow["Action"], "s3:GetObject", "read only");
    let source = sub_text(&allow["Condition"]["StringEquals"]["AWS:SourceArn"])
        .expect("the grant names its distribution");
    let (distribution_id, _) = of_type(&web, "AWS::CloudFront::Distribution")[0];
    assert!(
        source.ends_with(&format!(":distribution/${{{distribution_id}}}")),
        "only this distribution reads: {source}"
    );
    assert!(
        statements.iter().any(|s| s["Effect"] == "Deny"
            && s["Principal"] == "*"
            && s["Action"] == "s3:*"
            && s["Condition"]["Bool"]["aws:SecureTransport"] == "false"
            && as_list(&s["Resource"]).len() == 2),
        "every request without TLS is denied, on the bucket and its objects"
    );
}

#[test]
fn the_distribution_reads_the_page_through_origin_access_control() {
    let web = template("web");
    let controls = of_type(&web, "AWS::CloudFront::OriginAccessControl");
    assert_eq!(controls.len(), 1);
    let (control_id, control) = controls[0];
    let c = &control["Properties"]["OriginAccessControlConfig"];
    assert_eq!(c["OriginAccessControlOriginType"], "s3");
    assert_eq!(c["SigningBehavior"], "always");
    assert_eq!(c["SigningProtocol"], "sigv4");

    let config = distribution(&web);
    let (bucket_id, _) = of_type(&web, "AWS::S3::Bucket")[0];
    let page = origin(config, "page");
    assert_eq!(
        page["DomainName"],
        json!({"Fn::GetAtt": [bucket_id, "RegionalDomainName"]})
    );
    assert_eq!(
        page["OriginAccessControlId"],
        json!({"Fn::GetAtt": [control_id, "Id"]})
    );
    assert_eq!(
        page["S3OriginConfig"]["OriginAccessIdentity"], "",
        "no legacy origin access identity"
    );
    let default = &config["DefaultCacheBehavior"];
    assert_eq!(default["TargetOriginId"], "page");
    assert_eq!(default["ViewerProtocolPolicy"], "redirect-to-https");
    assert_eq!(default["AllowedMethods"], json!(["GET", "HEAD"]));
    assert_eq!(config["DefaultRootObject"], "index.html");
    assert_eq!(
        config["ViewerCertificate"]["CloudFrontDefaultCertificate"],
        true
    );
    assert!(
        config.get("CustomErrorResponses").is_none(),
        "no error page stands in for the agent's own 403 or 404"
    );
    for behavior in behaviors(config) {
        assert_ne!(
            behavior["ViewerProtocolPolicy"], "allow-all",
            "HTTPS only: {behavior}"
        );
    }
}

/// The directives of a policy, each with its sources.
fn csp_directives(policy: &str) -> BTreeMap<String, Vec<String>> {
    policy
        .split(';')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|directive| {
            let mut words = directive.split_whitespace().map(str::to_owned);
            let name = words.next().expect("a directive has a name");
            (name, words.collect())
        })
        .collect()
}

/// The Content-Security-Policy as a browser in `REGION` receives it.
fn deployed_csp(web: &Value, identity: &Value) -> String {
    let headers = &resource(web, "SecurityHeaders")["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let csp = &headers["ContentSecurityPolicy"];
    assert_eq!(csp["Override"], true, "the page's own headers never win");
    let sub = csp["ContentSecurityPolicy"]["Fn::Sub"]
        .as_array()
        .expect("the policy is a Sub with its variables");
    let text = sub[0].as_str().expect("the policy text");
    let variables = sub[1].as_object().expect("the Sub's variables");
    assert_eq!(
        variables.keys().collect::<Vec<_>>(),
        ["LoginDomain"],
        "one variable"
    );
    // The sign-in domain is the identity stack's, by its export, never a typed host.
    assert_eq!(
        import_name(&variables["LoginDomain"]),
        Some("${EnvironmentName}-TokenDomain")
    );
    let output = &identity["Outputs"]["TokenDomain"];
    assert_eq!(
        sub_text(&output["Export"]["Name"]),
        Some("${EnvironmentName}-TokenDomain")
    );
    assert_eq!(
        sub_text(&output["Value"]),
        Some("https://${Domain}.auth.${AWS::Region}.amazoncognito.com")
    );
    assert_eq!(
        resource(identity, "Domain")["Type"],
        "AWS::Cognito::UserPoolDomain"
    );
    text.replace("${AWS::Region}", REGION)
        .replace("${AWS::URLSuffix}", "amazonaws.com")
        .replace("${LoginDomain}", LOGIN_DOMAIN)
}

#[test]
fn the_content_security_policy_admits_the_page_cognito_and_the_sign_in_domain_only() {
    let web = template("web");
    let identity = template("identity");
    let csp = deployed_csp(&web, &identity);
    assert!(!csp.contains("${"), "every variable is filled: {csp}");
    let directives = csp_directives(&csp);
    let sources = |name: &str| -> Vec<&str> {
        directives
            .get(name)
            .unwrap_or_else(|| panic!("{name} is set: {csp}"))
            .iter()
            .map(String::as_str)
            .collect()
    };
    // The page's own origin serves its files and the agent (/invocations); tokens are
    // refreshed and revoked at the region's Cognito API and the pool's domain.
    assert_eq!(
        sources("connect-src"),
        [
            "'self'",
            "https://cognito-idp.eu-west-1.amazonaws.com",
            LOGIN_DOMAIN
        ]
    );
    assert_eq!(sources("default-src"), ["'self'"]);
    assert_eq!(sources("script-src"), ["'self'"]);
    assert_eq!(sources("style-src"), ["'self'"]);
    assert_eq!(sources("frame-ancestors"), ["'none'"]);
    assert_eq!(sources("object-src"), ["'none'"]);
    assert_eq!(sources("base-uri"), ["'none'"]);
    // Nothing else anywhere: no other host, no scheme wildcard, no inline or eval.
    let allowed: BTreeSet<&str> = ["'self'", "'none'", "data:"].into();
    for (name, list) in &directives {
        for source in list {
            if name == "connect-src" {
                continue;
            }
            assert!(
                allowed.contains(source.as_str()),
                "{name} admits {source}: {csp}"
            );
            assert!(
                source != "data:" || name == "img-src",
                "data: only for Vite's inlined images: {name}"
            );
        }
    }
    assert!(!csp.contains('*') && !csp.contains("unsafe-"), "{csp}");
}

#[test]
fn every_answer_carries_the_security_headers() {
    let web = template("web");
    let headers = &resource(&web, "SecurityHeaders")["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"];
    let hsts = &headers["StrictTransportSecurity"];
    assert_eq!(hsts["Override"], true);
    assert!(
        hsts["AccessControlMaxAgeSec"].as_u64().unwrap() >= 31_536_000,
        "HSTS for at least a year"
    );
    assert_eq!(headers["ContentTypeOptions"]["Override"], true, "nosniff");
    assert_eq!(headers["FrameOptions"]["FrameOption"], "DENY");
    assert_eq!(headers["ReferrerPolicy"]["ReferrerPolicy"], "no-referrer");
    for behavior in behaviors(distribution(&web)) {
        assert_eq!(
            behavior["ResponseHeadersPolicyId"],
            json!({"Ref": "SecurityHeaders"}),
            "{}",
            behavior["TargetOriginId"]
        );
    }
}

/// An intrinsic of the origin path evaluated, the runtime ARN import given as `arn`.
fn evaluate(value: &Value, arn: &str) -> Value {
    if value.is_string() {
        return value.clone();
    }
    if let Some(import) = import_name(value) {
        assert_eq!(import, "${EnvironmentName}-AgentRuntimeArn");
        return json!(arn);
    }
    if let Some([separator, items]) = value["Fn::Join"].as_array().map(Vec::as_slice) {
        let parts: Vec<String> = match evaluate(items, arn) {
            Value::Array(parts) => parts
                .iter()
                .map(|p| p.as_str().unwrap().to_owned())
                .collect(),
            other => panic!("Join of {other}"),
        };
        return json!(parts.join(separator.as_str().unwrap()));
    }
    if let Some([separator, text]) = value["Fn::Split"].as_array().map(Vec::as_slice) {
        let text = evaluate(text, arn);
        return json!(
            text.as_str()
                .unwrap()
                .split(separator.as_str().unwrap())
                .collect::<Vec<_>>()
        );
    }
    if let Some(items) = value.as_array() {
        return Value::Array(items.iter().map(|v| evaluate(v, arn)).collect());
    }
    panic!("an intrinsic this test does not evaluate: {value}")
}

/// The default of a setting, read from the agent's `--help` (`[default: N]` after its env line).
fn agent_default(setting: &str) -> u64 {
    let output = Command::new(workspace::binary("agent"))
        .arg("--help")
        .output()
        .expect("agent --help runs");
    let help = String::from_utf8_lossy(&output.stdout);
    let after = help
        .split(&format!("[env: {setting}="))
        .nth(1)
        .unwrap_or_else(|| panic!("agent --help names {setting}"));
    after
        .split("[default: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{setting} has a numeric default"))
}

#[test]
fn invocations_reach_exactly_the_agent_runtime_uncached_with_the_callers_headers() {
    let web = template("web");
    let runtimes = template("runtimes");
    let config = distribution(&web);
    let agent = origin(config, "agent");
    assert_eq!(
        sub_text(&agent["DomainName"]),
        Some("bedrock-agentcore.${AWS::Region}.${AWS::URLSuffix}"),
        "the AgentCore data plane of the stack's region"
    );
    // The export is the agent runtime's ARN.
    assert_eq!(
        runtimes["Outputs"]["AgentRuntimeArn"]["Value"],
        json!({"Fn::GetAtt": ["AgentRuntime", "AgentRuntimeArn"]})
    );
    let arn = format!(
        "arn:aws:bedrock-agentcore:{REGION}:{ACCOUNT}:runtime/support_support_agent-Ab12Cd34Ef"
    );
    let origin_path = evaluate(&agent["OriginPath"], &arn);
    let expected = runtime_url::runtime_invocation_url(
        &runtime_url::data_plane_endpoint("aws", REGION),
        &arn,
        runtime_url::DEFAULT_QUALIFIER,
    );
    let expected_path = expected
        .strip_prefix(&runtime_url::data_plane_endpoint("aws", REGION))
        .and_then(|path| path.strip_suffix("/invocations?qualifier=DEFAULT"))
        .unwrap();
    assert_eq!(
        origin_path.as_str(),
        Some(expected_path),
        "the path runtime_url.rs builds for the same ARN"
    );
    let custom = &agent["CustomOriginConfig"];
    assert_eq!(custom["OriginProtocolPolicy"], "https-only");
    let read_timeout_ms = custom["OriginReadTimeout"].as_u64().unwrap() * 1000;
    assert!(
        read_timeout_ms >= 2 * agent_default("STREAM_KEEPALIVE_MS"),
        "a silent stream's keep-alive comments arrive well within the read timeout"
    );

    let routes: Vec<&Value> = as_list(&config["CacheBehaviors"]);
    assert_eq!(
        routes
            .iter()
            .map(|b| (
                b["PathPattern"].as_str().unwrap(),
                b["TargetOriginId"].as_str().unwrap()
            ))
            .collect::<Vec<_>>(),
        [("/invocations", "agent")],
        "the agent is reached at /invocations and nowhere else"
    );
    let route = routes[0];
    assert_eq!(
        route["ViewerProtocolPolicy"], "https-only",
        "no redirected POST"
    );
    assert!(as_list(&route["AllowedMethods"]).contains(&&json!("POST")));
    assert_eq!(
        route["CachePolicyId"], "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
        "Managed-CachingDisabled: nothing of an answer is cached"
    );
    assert_eq!(
        route["OriginRequestPolicyId"], "b689b0a8-53d0-40ab-baf2-68738e2966ac",
        "Managed-AllViewerExceptHostHeader: Authorization, the session header and the qualifier pass"
    );
    assert_eq!(route["Compress"], false, "a streamed frame leaves at once");
}

// ---------------------------------------------------------------------------------------------
// The app client

#[test]
fn the_app_clients_callback_and_sign_out_urls_are_the_web_stacks_origin() {
    let identity = template("identity");
    let web = template("web");
    let parameter = &identity["Parameters"]["WebOrigin"];
    assert_eq!(
        parameter["Default"], "",
        "no hosted sign-in before the web stack"
    );
    let client = &resource(&identity, "AppClient")["Properties"];
    let when_deployed = |property: &str| -> &Value {
        let branches = client[property]["Fn::If"]
            .as_array()
            .unwrap_or_else(|| panic!("{property} depends on WebOrigin"));
        assert_eq!(branches[0], "HasWebOrigin");
        assert_eq!(
            branches[2],
            json!({"Ref": "AWS::NoValue"}),
            "{property} is unset without a web stack"
        );
        &branches[1]
    };
    for property in ["CallbackURLs", "LogoutURLs"] {
        assert_eq!(
            when_deployed(property),
            &json!([{"Fn::Sub": "${WebOrigin}/"}]),
            "{property}: the page's root, from the parameter only"
        );
    }
    assert_eq!(when_deployed("AllowedOAuthFlows"), &json!(["code"]));
    assert_eq!(
        when_deployed("AllowedOAuthScopes"),
        &json!(["openid", "email", "profile"])
    );
    assert_eq!(
        client["AllowedOAuthFlowsUserPoolClient"],
        json!({"Fn::If": ["HasWebOrigin", true, false]})
    );
    assert_eq!(client["SupportedIdentityProviders"], json!(["COGNITO"]));
    assert_eq!(client["EnableTokenRevocation"], true, "sign-out revokes");
    assert_eq!(client["GenerateSecret"], false, "a public client: PKCE");
    assert_eq!(
        identity["Conditions"]["HasWebOrigin"],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "WebOrigin"}, ""]}]})
    );
    // What deploy-web gives as WebOrigin is the web stack's origin.
    assert_eq!(
        web["Outputs"]["WebUrl"]["Value"],
        json!({"Fn::Sub": "https://${Distribution.DomainName}"})
    );
    let text = std::fs::read_to_string(template_path("identity")).unwrap();
    assert!(
        !text.contains("cloudfront.net") && !text.contains("localhost"),
        "no typed host in the identity stack"
    );
}

#[test]
fn the_agent_and_its_authorizers_admit_the_web_clients_id_tokens() {
    // The page signs in with the app client (deploy-web writes its id as clientId, see below),
    // whose export is the audience the agent's runtime, the Gateway and the agent admit.
    let identity = template("identity");
    let output = &identity["Outputs"]["AppClientId"];
    assert_eq!(output["Value"], json!({"Ref": "AppClient"}));
    assert_eq!(
        sub_text(&output["Export"]["Name"]),
        Some("${EnvironmentName}-AppClientId")
    );
    let runtimes = template("runtimes");
    let agent = &resource(&runtimes, "AgentRuntime")["Properties"];
    let gateway = &resource(&runtimes, "Gateway")["Properties"];
    for (what, audience) in [
        (
            "the agent runtime's authorizer",
            &agent["AuthorizerConfiguration"]["CustomJWTAuthorizer"]["AllowedAudience"],
        ),
        (
            "the Gateway's authorizer",
            &gateway["AuthorizerConfiguration"]["CustomJWTAuthorizer"]["AllowedAudience"],
        ),
    ] {
        assert!(
            as_list(audience)
                .into_iter()
                .any(|a| import_name(a) == Some("${EnvironmentName}-AppClientId")),
            "{what} admits the app client"
        );
    }
    assert_eq!(
        import_name(&agent["EnvironmentVariables"]["AUTH_ALLOWED_CLIENT_IDS"]),
        Some("${EnvironmentName}-AppClientId"),
        "the agent admits the app client"
    );
    assert_eq!(agent["EnvironmentVariables"]["AUTH_TOKEN_USE"], "id");
    assert!(
        as_list(&agent["RequestHeaderConfiguration"]["RequestHeaderAllowlist"])
            .contains(&&json!("Authorization")),
        "the page's token reaches the agent"
    );
}

// ---------------------------------------------------------------------------------------------
// The scripts, against stand-ins

/// A stand-in `aws`: records every call (arguments separated by U+001F, one call a line) and
/// answers `describe-stacks` from the `<stack> <key>=<value>` lines of `$STUB_ANSWERS`:
/// a `--query` for an output or parameter key gets its value (`None` when absent, as the CLI
/// prints an empty JMESPath result), no `--query` succeeds only for a listed stack.
const STUB_AWS: &str = r#"#!/usr/bin/env bash
{ printf 'aws'; printf '\037%s' "$@"; printf '\n'; } >>"$STUB_LOG"
if [ "$1 $2" = "cloudformation describe-stacks" ]; then
  stack='' query=''
  while [ $# -gt 0 ]; do
    case $1 in
      --stack-name) stack=$2; shift ;;
      --query) query=$2; shift ;;
    esac
    shift
  done
  if [ -z "$query" ]; then
    grep -q "^$stack " "$STUB_ANSWERS" && exit 0
    echo "Stack with id $stack does not exist" >&2
    exit 254
  fi
  key=$(printf '%s' "$query" | sed -n "s/.*=='\([A-Za-z]*\)'.*/\1/p")
  line=$(grep -m1 "^$stack $key=" "$STUB_ANSWERS" || true)
  if [ -n "$line" ]; then printf '%s\n' "${line#*=}"; else printf 'None\n'; fi
fi
"#;

/// A stand-in `npm`: records its calls; `npm run build` leaves what Vite leaves in `dist/`.
const STUB_NPM: &str = r#"#!/usr/bin/env bash
{ printf 'npm'; printf '\037%s' "$@"; printf '\n'; } >>"$STUB_LOG"
if [ "$1 $2" = "run build" ]; then
  mkdir -p dist/assets
  printf '<!doctype html><script type="module" src="/assets/index-3f2a1b9c.js"></script>\n' >dist/index.html
  printf 'console.log(1)\n' >dist/assets/index-3f2a1b9c.js
  printf '<svg/>\n' >dist/favicon.svg
fi
"#;

/// A copy of the workspace layout a script needs, the stand-ins on its PATH.
struct ScriptTree {
    root: PathBuf,
}

impl ScriptTree {
    fn new(name: &str, answers: &str) -> Self {
        let root = std::env::temp_dir().join(format!("deploy-web-{name}-{}", std::process::id()));
        if root.exists() {
            std::fs::remove_dir_all(&root).unwrap();
        }
        for dir in ["scripts", "web", "stubs"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for script in ["deploy-web", "teardown"] {
            let to = root.join("scripts").join(script);
            std::fs::copy(workspace::root().join("scripts").join(script), &to).unwrap();
        }
        for (stub, text) in [("aws", STUB_AWS), ("npm", STUB_NPM)] {
            let path = root.join("stubs").join(stub);
            std::fs::write(&path, text).unwrap();
            make_executable(&path);
        }
        std::fs::write(root.join("answers"), answers).unwrap();
        std::fs::write(root.join("log"), "").unwrap();
        Self { root }
    }

    /// Runs `scripts/<script>` with the stand-ins first on PATH; its exit status and stdout.
    async fn run(&self, script: &str, env: &[(&str, &str)]) -> (bool, String, String) {
        let path = format!(
            "{}:{}",
            self.root.join("stubs").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut command = tokio::process::Command::new(self.root.join("scripts").join(script));
        command
            .env_clear()
            .env("PATH", path)
            .env("HOME", &self.root)
            .env("STUB_LOG", self.root.join("log"))
            .env("STUB_ANSWERS", self.root.join("answers"))
            .envs(env.iter().copied())
            .kill_on_drop(true);
        let output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("the script ends within two minutes")
            .expect("the script runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// The calls the stand-ins received, in order, each as its program and arguments.
    fn calls(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.root.join("log"))
            .unwrap()
            .lines()
            .map(|line| line.split('\u{1f}').map(str::to_owned).collect())
            .collect()
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

impl Drop for ScriptTree {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.root).ok();
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut permissions = std::fs::metadata(path).unwrap().permissions();
    permissions.set_mode(0o755);
    std::fs::set_permissions(path, permissions).unwrap();
}

fn has(call: &[String], words: &[&str]) -> bool {
    words.iter().all(|w| call.iter().any(|a| a == w))
}

/// The value after `flag` in a call.
fn flag<'a>(call: &'a [String], flag: &str) -> Option<&'a str> {
    call.iter()
        .position(|a| a == flag)
        .and_then(|i| call.get(i + 1))
        .map(String::as_str)
}

const WEB_URL: &str = "https://d111111abcdef8.cloudfront.net";

fn stack_answers(identity_web_origin: Option<&str>) -> String {
    let mut answers = format!(
        "support-web WebUrl={WEB_URL}\n\
         support-web BucketName=support-web-bucket-1a2b3c\n\
         support-web DistributionId=E2EXAMPLE123\n\
         support-identity UserPoolId={REGION}_AbCdEf123\n\
         support-identity AppClientId=exampleappclientid\n\
         support-identity TokenDomain={LOGIN_DOMAIN}\n"
    );
    if let Some(origin) = identity_web_origin {
        answers.push_str(&format!("support-identity WebOrigin={origin}\n"));
    }
    answers
}

/// The keys `web/src/config.ts` reads: `raw.<key>` at the top, `hosted.<key>` in `hostedUi`.
fn keys_the_page_reads() -> (BTreeSet<String>, BTreeSet<String>) {
    let source = std::fs::read_to_string(workspace::root().join("web/src/config.ts"))
        .expect("web/src/config.ts, where the page reads its config.json");
    let keys = |prefix: &str| -> BTreeSet<String> {
        source
            .split(prefix)
            .skip(1)
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .filter(|key| !key.is_empty())
            .collect()
    };
    (keys("raw."), keys("hosted."))
}

fn object_keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn deploy_web_writes_the_config_the_page_reads_and_uploads_with_cache_headers() {
    let tree = ScriptTree::new("deploy", &stack_answers(None));
    let (ok, stdout, stderr) = tree.run("deploy-web", &[("AWS_REGION", REGION)]).await;
    assert!(ok, "deploy-web fails: {stderr}");
    assert_eq!(
        stdout.trim(),
        format!("{WEB_URL}/"),
        "it prints the page's URL"
    );
    let calls = tree.calls();

    // Identity (the export the web stack imports), web, then identity with the page's origin.
    let deploys: Vec<(&str, Vec<&str>)> = calls
        .iter()
        .filter(|c| has(c, &["cloudformation", "deploy"]))
        .map(|c| {
            let overrides = c
                .iter()
                .skip_while(|a| *a != "--parameter-overrides")
                .skip(1)
                .map(String::as_str)
                .collect();
            (flag(c, "--stack-name").unwrap(), overrides)
        })
        .collect();
    assert_eq!(
        deploys,
        [
            ("support-identity", vec!["EnvironmentName=support"]),
            ("support-web", vec!["EnvironmentName=support"]),
            (
                "support-identity",
                vec![
                    "EnvironmentName=support",
                    "WebOrigin=https://d111111abcdef8.cloudfront.net"
                ]
            ),
        ],
        "the callback and sign-out URLs come from the web stack's output"
    );
    for call in calls.iter().filter(|c| has(c, &["deploy"])) {
        assert_eq!(flag(call, "--region"), Some(REGION));
    }
    let web_deploy = calls
        .iter()
        .find(|c| flag(c, "--stack-name") == Some("support-web") && has(c, &["deploy"]))
        .unwrap();
    assert_eq!(flag(web_deploy, "--template-file"), Some("deploy/web.yaml"));

    // The page is built from the lock file, after the stacks.
    let npm: Vec<Vec<&str>> = calls
        .iter()
        .filter(|c| c[0] == "npm")
        .map(|c| c[1..].iter().map(String::as_str).take(2).collect())
        .collect();
    assert_eq!(npm, [vec!["ci", "--no-audit"], vec!["run", "build"]]);

    // config.json: the contract's keys, each from the stacks.
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(tree.path("web/dist/config.json")).unwrap())
            .expect("config.json is JSON");
    assert_eq!(
        config,
        json!({
            "agentUrl": "https://d111111abcdef8.cloudfront.net/invocations?qualifier=DEFAULT",
            "region": REGION,
            "userPoolId": "eu-west-1_AbCdEf123",
            "clientId": "exampleappclientid",
            "hostedUi": {
                "domain": LOGIN_DOMAIN,
                "redirectUri": "https://d111111abcdef8.cloudfront.net/",
                "logoutUri": "https://d111111abcdef8.cloudfront.net/"
            }
        })
    );
    // ... and those the page reads: every key written is read, and the page reads nothing
    // else but the optional cognitoEndpoint (its default is the region's Cognito API, which the
    // Content-Security-Policy admits).
    let (top, hosted) = keys_the_page_reads();
    let written = object_keys(&config);
    assert!(written.is_subset(&top), "written {written:?}, read {top:?}");
    assert_eq!(
        top.difference(&written).collect::<Vec<_>>(),
        ["cognitoEndpoint"]
    );
    assert_eq!(object_keys(&config["hostedUi"]), hosted);

    // Hashed assets first and immutable; the rest (index.html, config.json, favicon.svg)
    // revalidated, with stale files deleted; stale assets deleted last; then the invalidation.
    let uploads: Vec<&Vec<String>> = calls.iter().filter(|c| has(c, &["s3", "sync"])).collect();
    assert_eq!(uploads.len(), 3, "{uploads:?}");
    assert_eq!(uploads[0][5], "web/dist/assets");
    assert_eq!(uploads[0][6], "s3://support-web-bucket-1a2b3c/assets");
    assert_eq!(
        flag(uploads[0], "--cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(!has(uploads[0], &["--delete"]));
    assert_eq!(uploads[1][5], "web/dist");
    assert_eq!(uploads[1][6], "s3://support-web-bucket-1a2b3c");
    assert!(has(uploads[1], &["--delete"]));
    assert_eq!(flag(uploads[1], "--exclude"), Some("assets/*"));
    assert_eq!(flag(uploads[1], "--cache-control"), Some("no-cache"));
    assert!(has(uploads[2], &["--delete"]));
    assert_eq!(flag(uploads[2], "--include"), Some("assets/*"));
    assert_eq!(flag(uploads[2], "--exclude"), Some("*"));
    for file in ["index.html", "config.json", "favicon.svg"] {
        assert!(
            tree.path("web/dist").join(file).exists(),
            "{file} is uploaded"
        );
    }
    let last = calls.last().unwrap();
    assert!(
        has(last, &["cloudfront", "create-invalidation"]),
        "{last:?}"
    );
    assert_eq!(flag(last, "--distribution-id"), Some("E2EXAMPLE123"));
    assert_eq!(flag(last, "--paths"), Some("/*"));
}

#[tokio::test]
async fn deploy_web_gives_the_identity_stack_its_origin_only_once() {
    let tree = ScriptTree::new("again", &stack_answers(Some(WEB_URL)));
    let (ok, _, stderr) = tree.run("deploy-web", &[("AWS_REGION", REGION)]).await;
    assert!(ok, "deploy-web fails: {stderr}");
    let calls = tree.calls();
    let origins: Vec<&Vec<String>> = calls
        .iter()
        .filter(|c| c.iter().any(|a| a.starts_with("WebOrigin=")))
        .collect();
    assert!(
        origins.is_empty(),
        "the identity stack already has this origin: {origins:?}"
    );
}

#[tokio::test]
async fn deploy_web_stops_before_uploading_when_a_stack_output_is_missing() {
    let answers =
        stack_answers(None).replace("support-web BucketName=support-web-bucket-1a2b3c\n", "");
    let tree = ScriptTree::new("missing", &answers);
    let (ok, _, stderr) = tree.run("deploy-web", &[("AWS_REGION", REGION)]).await;
    assert!(!ok, "deploy-web must fail without the bucket");
    assert!(stderr.contains("has no BucketName"), "{stderr}");
    assert!(
        !tree
            .calls()
            .iter()
            .any(|c| has(c, &["s3"]) || c[0] == "npm"),
        "nothing is built or uploaded"
    );

    let (ok, _, stderr) = tree.run("deploy-web", &[]).await;
    assert!(!ok && stderr.contains("AWS_REGION"), "{stderr}");
}

#[tokio::test]
async fn teardown_empties_the_bucket_and_deletes_the_web_stack_first() {
    let tree = ScriptTree::new("teardown", &stack_answers(None));
    let (ok, _, stderr) = tree.run("teardown", &[("AWS_REGION", REGION)]).await;
    assert!(ok, "teardown fails: {stderr}");
    let calls = tree.calls();
    let empty = calls
        .iter()
        .position(|c| {
            has(
                c,
                &["s3", "rm", "s3://support-web-bucket-1a2b3c", "--recursive"],
            )
        })
        .expect("the bucket is emptied");
    let deleted: Vec<(usize, &str)> = calls
        .iter()
        .enumerate()
        .filter(|(_, c)| has(c, &["delete-stack"]))
        .map(|(i, c)| (i, flag(c, "--stack-name").unwrap()))
        .collect();
    assert_eq!(
        deleted.iter().map(|(_, s)| *s).collect::<Vec<_>>(),
        [
            "support-web",
            "support-runtimes",
            "support-identity",
            "support-images",
            "support-data",
            "support-network"
        ]
    );
    assert!(empty < deleted[0].0, "emptied before its stack is deleted");

    // Without a web stack, teardown starts with the runtimes.
    let tree = ScriptTree::new("teardown-no-web", "support-identity UserPoolId=x\n");
    let (ok, _, stderr) = tree.run("teardown", &[("AWS_REGION", REGION)]).await;
    assert!(ok, "teardown fails: {stderr}");
    let calls = tree.calls();
    assert!(!calls.iter().any(|c| has(c, &["s3"])));
    assert_eq!(
        calls
            .iter()
            .find(|c| has(c, &["delete-stack"]))
            .and_then(|c| flag(c, "--stack-name")),
        Some("support-runtimes")
    );
}

#[test]
fn the_scripts_parse() {
    for script in ["deploy-web", "deploy", "teardown"] {
        let status = Command::new("bash")
            .arg("-n")
            .arg(workspace::root().join("scripts").join(script))
            .status()
            .expect("bash runs");
        assert!(status.success(), "scripts/{script} has a syntax error");
    }
}
