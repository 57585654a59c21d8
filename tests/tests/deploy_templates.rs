//! The CloudFormation deployment (`deploy/*.yaml`), checked against the code without an AWS
//! account: cfn-lint passes; names derive from `EnvironmentName` and every cross-stack import is
//! exported; the network has no way out but VPC endpoints, and an endpoint for every service the
//! code calls; each runtime gets exactly the environment its binary reads; each execution role
//! allows exactly the SDK operations its binary calls in the runtime; the AgentCore Gateway
//! admits the callers the agent admits, enforces a policy engine holding exactly the statements
//! of `policies/*.cedar`, and reaches the MCP runtime through its `support` target with the
//! identity stack's credential provider, and its role allows exactly that; the DynamoDB tables
//! match `mcp-server/src/tables.rs`.
//!
//! Templates use CloudFormation's short tags (`!Ref`, `!Sub`), which plain YAML parsers reject:
//! they are decoded to JSON by cfn-lint's own decoder (`cfnlint.decode`) from the project's
//! `.venv`. What a binary reads comes from its `--help` (clap prints `[env: NAME=]`), as in
//! `deploy_files.rs`; the small help parser here is this file's own (the one there is private
//! to that test).

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use agent_protocol::runtime_url;
use serde_json::{Value, json};
use system_tests::cloudformation::{
    as_list, import_name, of_type, resource, resources, sub_text, template, template_path,
};
use system_tests::process::{ServerProcess, assert_refuses_config};
use system_tests::workspace;

/// The templates, in deploy order (`web` by scripts/deploy-web; tests/tests/deploy_web.rs
/// checks it further).
const TEMPLATES: &[&str] = &["network", "data", "images", "identity", "runtimes", "web"];

fn read(path: &str) -> String {
    let path = workspace::root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every JSON value inside `value`, itself included.
fn walk<'a>(value: &'a Value, out: &mut Vec<&'a Value>) {
    out.push(value);
    match value {
        Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
        Value::Object(map) => map.values().for_each(|v| walk(v, out)),
        _ => {}
    }
}

fn all_values(value: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    walk(value, &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// Lint, names, cross-stack wiring

fn cfn_lint(paths: &[PathBuf]) -> std::process::Output {
    Command::new(workspace::venv_program("cfn-lint"))
        .args(paths)
        .output()
        .expect("cfn-lint (tests/requirements.txt) runs")
}

#[test]
fn cfn_lint_passes_every_template() {
    let mut found: Vec<String> = std::fs::read_dir(workspace::root().join("deploy"))
        .expect("deploy/ exists")
        .map(|e| {
            e.expect("a folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    found.sort();
    let mut expected: Vec<String> = TEMPLATES.iter().map(|n| format!("{n}.yaml")).collect();
    expected.sort();
    assert_eq!(found, expected, "deploy/ holds exactly the known templates");
    let paths: Vec<PathBuf> = TEMPLATES.iter().map(|n| template_path(n)).collect();
    let output = cfn_lint(&paths);
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn cfn_lint_rejects_a_wrong_runtime_property() {
    let broken = read("deploy/runtimes.yaml")
        .replace("ProtocolConfiguration: MCP", "ProtocolConfiguration: GRPC");
    let dir = std::env::temp_dir().join(format!("deploy-templates-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("runtimes.yaml");
    std::fs::write(&path, broken).unwrap();
    let output = cfn_lint(std::slice::from_ref(&path));
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        !output.status.success(),
        "cfn-lint knows AWS::BedrockAgentCore::Runtime and rejects an unknown protocol"
    );
}

/// Properties that name something in the account.
const NAME_PROPERTIES: &[&str] = &[
    "AgentRuntimeName",
    "AliasName",
    "ClientName",
    "DBClusterIdentifier",
    "DBInstanceIdentifier",
    "DBSubnetGroupName",
    "Domain",
    "GroupName",
    "LogGroupName",
    "Name",
    "RepositoryName",
    "RoleName",
    "TableName",
    "UserPoolName",
];

#[test]
fn every_name_derives_from_environment_name_and_no_region_is_hard_coded() {
    let mut problems = Vec::new();
    let mut names_checked = 0;
    let mut exports_checked = 0;
    for name in TEMPLATES {
        let t = template(name);
        assert_eq!(
            t["Parameters"]["EnvironmentName"]["Type"], "String",
            "{name}: EnvironmentName parameter"
        );
        if t.get("Mappings").is_some() {
            problems.push(format!(
                "{name}: has Mappings (every region must work without)"
            ));
        }
        let text = read(&format!("deploy/{name}.yaml"));
        for region in ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-"] {
            if text.contains(region) {
                problems.push(format!("{name}: names region {region}"));
            }
        }
        for (id, r) in resources(&t) {
            let kind = r["Type"].as_str().unwrap();
            // Names inside a parent are not account-wide: a user pool's group (the agent's
            // STAFF_GROUP), a gateway's target (the prefix of its tool names, which the Cedar
            // policies name) and a policy engine's policies.
            if matches!(
                kind,
                "AWS::Cognito::UserPoolGroup"
                    | "AWS::BedrockAgentCore::GatewayTarget"
                    | "AWS::BedrockAgentCore::Policy"
            ) {
                continue;
            }
            let Some(props) = r["Properties"].as_object() else {
                continue;
            };
            for key in NAME_PROPERTIES {
                if let Some(value) = props.get(*key) {
                    names_checked += 1;
                    // A Sub of EnvironmentName, or a Ref to a resource (named the same way).
                    let derived = value.get("Fn::Sub").is_some()
                        && sub_text(value).is_some_and(|s| s.contains("${EnvironmentName}"))
                        || value["Ref"]
                            .as_str()
                            .is_some_and(|target| resources(&t).contains_key(target));
                    if !derived {
                        problems.push(format!("{name}: {id}.{key} = {value} is not derived"));
                    }
                }
            }
        }
        for (output, value) in t["Outputs"].as_object().into_iter().flatten() {
            if let Some(export) = value.get("Export") {
                exports_checked += 1;
                let text = sub_text(&export["Name"]).unwrap_or("");
                if !text.starts_with("${EnvironmentName}-") {
                    problems.push(format!(
                        "{name}: export of {output} is not ${{EnvironmentName}}-..."
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(names_checked > 0, "no resource name was found to check");
    assert!(exports_checked > 0, "no export was found to check");
}

#[test]
fn every_import_is_exported_by_an_earlier_stack() {
    let mut exported: BTreeMap<String, &str> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut imports_checked = 0;
    for name in TEMPLATES {
        let t = template(name);
        for value in all_values(&t["Resources"]) {
            if let Some(import) = import_name(value) {
                imports_checked += 1;
                if !exported.contains_key(import) {
                    problems.push(format!("{name}: imports {import}, not exported before it"));
                }
            }
        }
        for value in t["Outputs"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(_, v)| v)
        {
            if let Some(export) = value.get("Export") {
                exported.insert(sub_text(&export["Name"]).unwrap().to_owned(), name);
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        imports_checked > 0,
        "no cross-stack import was found to check"
    );
}

// ---------------------------------------------------------------------------------------------
// Network

/// The endpoint service of a `com.amazonaws.${AWS::Region}.<service>` name.
fn endpoint_service(endpoint: &Value) -> String {
    let name = sub_text(&endpoint["Properties"]["ServiceName"]).expect("a ServiceName");
    name.strip_prefix("com.amazonaws.${AWS::Region}.")
        .unwrap_or_else(|| panic!("{name} is not region-independent"))
        .to_owned()
}

/// The network's endpoints: service -> endpoint type.
fn endpoints(network: &Value) -> BTreeMap<String, String> {
    of_type(network, "AWS::EC2::VPCEndpoint")
        .into_iter()
        .map(|(_, e)| {
            (
                endpoint_service(e),
                e["Properties"]["VpcEndpointType"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect()
}

/// The AWS service endpoint each SDK crate calls.
const SDK_CRATE_ENDPOINTS: &[(&str, &str)] = &[
    ("aws-sdk-bedrockruntime", "bedrock-runtime"),
    ("aws-sdk-bedrockagentcore", "bedrock-agentcore"),
    ("aws-sdk-rdsdata", "rds-data"),
    ("aws-sdk-secretsmanager", "secretsmanager"),
    ("aws-sdk-dynamodb", "dynamodb"),
];

/// Services reached without an SDK crate, each proven by a string in the code.
const CODE_ENDPOINTS: &[(&str, &str, &str)] = &[
    // Spans go over OTLP to X-Ray, SigV4-signed.
    (
        "service-runtime/src/telemetry.rs",
        "xray.{region}.amazonaws.com",
        "xray",
    ),
    // MCP runtimes given by ARN are invoked on the AgentCore data plane.
    (
        "agent/src/config.rs",
        "https://bedrock-agentcore.{}.amazonaws.com",
        "bedrock-agentcore",
    ),
];

/// Services the platform needs in VPC mode although no line of our code calls them: image
/// pulls (ECR API, registry, and the layers in S3) and CloudWatch Logs for stdout.
const PLATFORM_ENDPOINTS: &[&str] = &["ecr.api", "ecr.dkr", "s3", "logs"];

/// The SDK crates of the crates that go into the two binaries.
fn sdk_crates() -> BTreeSet<String> {
    let mut crates = BTreeSet::new();
    for krate in ["agent", "mcp-server", "service-runtime", "inbound-auth"] {
        let manifest = read(&format!("{krate}/Cargo.toml"));
        let dependencies = manifest
            .split("\n[")
            .find(|section| section.starts_with("dependencies]"))
            .unwrap_or("");
        for line in dependencies.lines() {
            let name = line.split(['=', '.', ' ']).next().unwrap_or("");
            if name.starts_with("aws-sdk-") {
                crates.insert(name.to_owned());
            }
        }
    }
    crates
}

/// The services the code calls, with the endpoint type they need.
fn called_services() -> BTreeSet<String> {
    let mut services = BTreeSet::new();
    for krate in sdk_crates() {
        let service = SDK_CRATE_ENDPOINTS
            .iter()
            .find(|(c, _)| *c == krate)
            .unwrap_or_else(|| {
                panic!("{krate} is new: add its endpoint to SDK_CRATE_ENDPOINTS and the network")
            })
            .1;
        services.insert(service.to_owned());
    }
    for (file, needle, service) in CODE_ENDPOINTS {
        assert!(
            read(file).contains(needle),
            "{file} no longer calls {needle}: update CODE_ENDPOINTS"
        );
        services.insert((*service).to_owned());
    }
    services
}

#[test]
fn the_network_has_an_endpoint_for_exactly_the_services_called() {
    let network = template("network");
    let have = endpoints(&network);
    let mut want = called_services();
    want.extend(PLATFORM_ENDPOINTS.iter().map(|s| (*s).to_owned()));
    // A gateway by URL needs the gateway's endpoint: the deployed agent's one MCP source.
    if deployed_mcp_sources()
        .iter()
        .any(|s| s.get("gateway_url").is_some())
    {
        want.insert("bedrock-agentcore.gateway".to_owned());
    }
    let have_names: BTreeSet<String> = have.keys().cloned().collect();
    assert_eq!(
        have_names, want,
        "endpoints (left) vs services called (right)"
    );
    for (service, kind) in &have {
        let expected = if matches!(service.as_str(), "s3" | "dynamodb") {
            "Gateway"
        } else {
            "Interface"
        };
        assert_eq!(kind, expected, "{service} endpoint type");
    }
    for (id, e) in of_type(&network, "AWS::EC2::VPCEndpoint") {
        let p = &e["Properties"];
        if p["VpcEndpointType"] == "Interface" {
            assert_eq!(p["PrivateDnsEnabled"], true, "{id}: private DNS");
            assert_eq!(
                p["SecurityGroupIds"],
                json!([{"Ref": "EndpointSecurityGroup"}]),
                "{id}: the endpoints' group"
            );
            let text = p["SubnetIds"].to_string();
            for subnet in ["PrivateSubnet1", "PrivateSubnet2", "PrivateSubnet3"] {
                assert!(text.contains(subnet), "{id}: in {subnet}");
            }
        } else {
            assert_eq!(
                p["RouteTableIds"],
                json!([{"Ref": "PrivateRouteTable"}]),
                "{id}: routed from the private subnets"
            );
        }
    }
}

#[test]
fn the_network_has_no_route_out_but_the_endpoints() {
    let network = template("network");
    for kind in [
        "AWS::EC2::InternetGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCGatewayAttachment",
        "AWS::EC2::Route",
        "AWS::EC2::TransitGatewayAttachment",
        "AWS::EC2::VPCPeeringConnection",
        "AWS::EC2::EIP",
    ] {
        assert!(of_type(&network, kind).is_empty(), "network has a {kind}");
    }
    for (id, subnet) in of_type(&network, "AWS::EC2::Subnet") {
        assert_eq!(subnet["Properties"]["MapPublicIpOnLaunch"], false, "{id}");
        assert!(
            subnet["Properties"]["AvailabilityZone"]
                .to_string()
                .contains("Fn::GetAZs"),
            "{id}: its zone comes from GetAZs"
        );
    }
    // Three zones by default, at least two.
    let az = &network["Parameters"]["AzCount"];
    assert_eq!(az["Default"], 3);
    assert_eq!(az["AllowedValues"], json!([2, 3]));
    assert_eq!(of_type(&network, "AWS::EC2::Subnet").len(), 3);
    // Flow logs of the whole VPC to CloudWatch Logs.
    let logs = of_type(&network, "AWS::EC2::FlowLog");
    assert_eq!(logs.len(), 1);
    let p = &logs[0].1["Properties"];
    assert_eq!(p["ResourceId"], json!({"Ref": "Vpc"}));
    assert_eq!(p["LogDestinationType"], "cloud-watch-logs");
    assert_eq!(p["TrafficType"], "ALL");
}

/// (group, direction, port range, peer) of every security group rule of the network.
fn security_rules(network: &Value) -> Vec<(String, &'static str, String, Value)> {
    let mut rules = Vec::new();
    let peer = |rule: &Value| {
        for key in [
            "CidrIp",
            "CidrIpv6",
            "SourceSecurityGroupId",
            "DestinationSecurityGroupId",
            "DestinationPrefixListId",
            "SourcePrefixListId",
        ] {
            if let Some(v) = rule.get(key) {
                return json!({key: v});
            }
        }
        panic!("a rule without a peer: {rule}")
    };
    let ports = |rule: &Value| {
        format!(
            "{}/{}-{}",
            rule["IpProtocol"], rule["FromPort"], rule["ToPort"]
        )
    };
    for (id, group) in of_type(network, "AWS::EC2::SecurityGroup") {
        for (key, direction) in [
            ("SecurityGroupIngress", "in"),
            ("SecurityGroupEgress", "out"),
        ] {
            for rule in as_list(&group["Properties"][key]) {
                rules.push((id.clone(), direction, ports(rule), peer(rule)));
            }
        }
    }
    for (kind, direction) in [
        ("AWS::EC2::SecurityGroupIngress", "in"),
        ("AWS::EC2::SecurityGroupEgress", "out"),
    ] {
        for (_, rule) in of_type(network, kind) {
            let p = &rule["Properties"];
            let group = p["GroupId"]["Ref"]
                .as_str()
                .expect("GroupId is a Ref")
                .to_owned();
            rules.push((group, direction, ports(p), peer(p)));
        }
    }
    rules
}

#[test]
fn security_groups_admit_only_https_between_runtimes_and_endpoints() {
    let network = template("network");
    let rules = security_rules(&network);
    let https = "\"tcp\"/443-443".to_owned();
    let runtime_groups = ["AgentSecurityGroup", "McpSecurityGroup"];
    for (group, direction, ports, peer) in &rules {
        let text = peer.to_string();
        assert!(
            !text.contains("0.0.0.0/0") && !text.contains("::/0"),
            "{group}: {direction} rule open to the internet: {text}"
        );
        match (group.as_str(), *direction) {
            (g, "out") if runtime_groups.contains(&g) => {
                assert_eq!(ports, &https, "{g} egress port");
                assert!(
                    text.contains("EndpointSecurityGroup") || text.contains("PrefixListId"),
                    "{g}: egress only to the endpoints or the gateway prefix lists: {text}"
                );
            }
            (g, "in") if runtime_groups.contains(&g) => panic!("{g} admits inbound traffic"),
            ("EndpointSecurityGroup", "in") => {
                assert_eq!(ports, &https);
                let source = peer["SourceSecurityGroupId"]["Ref"].as_str().unwrap_or("");
                assert!(runtime_groups.contains(&source), "endpoints admit {text}");
            }
            ("EndpointSecurityGroup", "out") => {
                assert_eq!(
                    text,
                    json!({"CidrIp": "127.0.0.1/32"}).to_string(),
                    "no egress"
                );
            }
            (g, d) => panic!("unexpected rule {g} {d} {ports} {text}"),
        }
    }
    for group in runtime_groups {
        assert!(
            rules.iter().any(|(g, d, _, p)| g == group
                && *d == "out"
                && p.to_string().contains("EndpointSecurityGroup")),
            "{group} reaches the endpoints"
        );
    }
    let mcp_dynamodb = rules.iter().any(|(g, d, _, p)| {
        g == "McpSecurityGroup" && *d == "out" && p.to_string().contains("DynamoDbPrefixListId")
    });
    assert!(mcp_dynamodb, "the MCP server reaches DynamoDB");
}

// ---------------------------------------------------------------------------------------------
// Runtimes: environment

/// Variables read by libraries rather than by options (the AWS SDK, OpenTelemetry, logging).
fn read_by_a_library(name: &str) -> bool {
    name.starts_with("AWS_") || name.starts_with("OTEL_") || name == "RUST_LOG"
}

/// Variables required although clap does not mark them (checked after parsing): the agent
/// refuses to start without `AUTH_MODE` (deploy_files.rs proves it).
const RUNTIME_REQUIRED: &[(&str, &str)] = &[("agent", "AUTH_MODE")];

/// (variables read, variables required) of a binary, from its `--help`.
fn binary_reads(binary: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let output = Command::new(workspace::binary(binary))
        .env_clear()
        .arg("--help")
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{binary} --help");
    let text = String::from_utf8(output.stdout).expect("UTF-8 help");
    let mut variables = BTreeSet::new();
    let mut flag_env = BTreeMap::new();
    let mut flag = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            flag = trimmed
                .split([',', ' '])
                .find(|w| w.starts_with("--"))
                .map(str::to_owned);
        }
        for (i, _) in line.match_indices("[env: ") {
            let name = line[i + 6..].split('=').next().unwrap().to_owned();
            if let Some(flag) = &flag {
                flag_env.insert(flag.clone(), name.clone());
            }
            variables.insert(name);
        }
    }
    let usage = text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .expect("a usage line");
    let mut required: BTreeSet<String> = usage
        .split_whitespace()
        .filter_map(|w| flag_env.get(w).cloned())
        .collect();
    for (b, name) in RUNTIME_REQUIRED {
        if *b == binary {
            required.insert((*name).to_owned());
        }
    }
    (variables, required)
}

/// The binary a runtime runs, from the repository of its image.
fn runtime_binary(runtime: &Value) -> &'static str {
    let uri =
        runtime["Properties"]["AgentRuntimeArtifact"]["ContainerConfiguration"]["ContainerUri"]
            .to_string();
    if uri.contains("McpRepositoryUri") {
        "mcp-server"
    } else if uri.contains("AgentRepositoryUri") {
        "agent"
    } else {
        panic!("a runtime of an unknown image: {uri}")
    }
}

fn environment_problems(runtimes: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (id, runtime) in of_type(runtimes, "AWS::BedrockAgentCore::Runtime") {
        let binary = runtime_binary(runtime);
        let (variables, required) = binary_reads(binary);
        let env = runtime["Properties"]["EnvironmentVariables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in env.keys() {
            if !variables.contains(name) && !read_by_a_library(name) {
                problems.push(format!(
                    "{id} ({binary}): sets {name}, which it does not read"
                ));
            }
        }
        for name in &required {
            if !env.contains_key(name) {
                problems.push(format!(
                    "{id} ({binary}): does not set {name}, which it requires"
                ));
            }
        }
    }
    problems
}

#[test]
fn runtimes_set_exactly_what_their_binaries_read_and_require() {
    let runtimes = template("runtimes");
    let checked: BTreeSet<&str> = of_type(&runtimes, "AWS::BedrockAgentCore::Runtime")
        .into_iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(checked, BTreeSet::from(["AgentRuntime", "McpRuntime"]));
    let problems = environment_problems(&runtimes);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let agent = &resource(&runtimes, "AgentRuntime")["Properties"];
    let env = &agent["EnvironmentVariables"];
    assert_eq!(env["AUTH_MODE"], "agentcore");
    for name in [
        "AWS_REGION",
        "AUTH_ISSUER",
        "AUTH_ALLOWED_CLIENT_IDS",
        "MCP_SOURCES",
        "AURORA_CLUSTER_ARN",
        "AURORA_SECRET_ARN",
        "AURORA_DATABASE",
        "STAFF_GROUP",
        "CUSTOMER_ID_CLAIM",
    ] {
        assert!(env.get(name).is_some(), "the agent runtime sets {name}");
    }
    let mcp = &resource(&runtimes, "McpRuntime")["Properties"]["EnvironmentVariables"];
    assert_eq!(
        mcp["MCP_ALLOWED_HOSTS"], "*",
        "AgentCore forwards its own Host"
    );
}

#[test]
fn the_environment_check_catches_a_stray_and_a_missing_variable() {
    let mut runtimes = template("runtimes");
    let env = runtimes["Resources"]["AgentRuntime"]["Properties"]["EnvironmentVariables"]
        .as_object_mut()
        .unwrap();
    env.remove("AUTH_MODE");
    env.insert("AURORA_CLUSTER".to_owned(), json!("typo"));
    let problems = environment_problems(&runtimes).join("\n");
    assert!(problems.contains("sets AURORA_CLUSTER"), "{problems}");
    assert!(problems.contains("does not set AUTH_MODE"), "{problems}");
}

/// The deployed agent's `MCP_SOURCES`, placeholders of its `Fn::Sub` filled with their names.
fn deployed_mcp_sources() -> Vec<Value> {
    let runtimes = template("runtimes");
    let value =
        &resource(&runtimes, "AgentRuntime")["Properties"]["EnvironmentVariables"]["MCP_SOURCES"];
    let text = sub_text(value).expect("MCP_SOURCES is a Sub");
    serde_json::from_str(text).expect("MCP_SOURCES is a JSON array")
}

#[test]
fn the_agent_reaches_its_mcp_tools_only_through_the_gateway_with_the_callers_token() {
    let runtimes = template("runtimes");
    let sources = deployed_mcp_sources();
    assert_eq!(
        sources,
        [json!({"name": "support", "gateway_url": "${Url}", "auth": {"type": "caller_token"}})],
        "one source, the Gateway, called with the caller's own token: no runtime ARN, no URL, no \
         token of the agent's own"
    );
    let agent = &resource(&runtimes, "AgentRuntime")["Properties"];
    assert_eq!(
        agent["EnvironmentVariables"]["MCP_SOURCES"]["Fn::Sub"][1],
        json!({"Url": {"Fn::GetAtt": ["Gateway", "GatewayUrl"]}})
    );
    // The container sees the caller's token only when the runtime passes Authorization on.
    assert!(
        as_list(&agent["RequestHeaderConfiguration"]["RequestHeaderAllowlist"])
            .contains(&&json!("Authorization")),
        "Authorization is allowlisted"
    );
}

/// The deployed agent's settings that name its callers and tools, exports and the Gateway's URL
/// replaced by stand-in values (none of which is reached at start-up).
fn deployed_agent_settings() -> Vec<(String, String)> {
    let runtimes = template("runtimes");
    let env = &resource(&runtimes, "AgentRuntime")["Properties"]["EnvironmentVariables"];
    let gateway_url =
        "https://support-support-abcde12345.gateway.bedrock-agentcore.eu-west-1.amazonaws.com/mcp";
    let resolve = |value: &Value| -> String {
        if let Some(text) = value.as_str() {
            return text.to_owned();
        }
        if let Some(parameter) = value["Ref"].as_str() {
            return match parameter {
                "AWS::Region" => "eu-west-1".to_owned(),
                _ => runtimes["Parameters"][parameter]["Default"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{parameter} has a default"))
                    .to_owned(),
            };
        }
        match import_name(value) {
            Some("${EnvironmentName}-AuthIssuer") => {
                "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example".to_owned()
            }
            Some("${EnvironmentName}-AppClientId") => "exampleappclientid".to_owned(),
            _ => sub_text(value)
                .expect("a setting this test can stand in for")
                .replace("${Url}", gateway_url),
        }
    };
    let mut settings: Vec<(String, String)> = [
        "AWS_REGION",
        "AUTH_MODE",
        "AUTH_ISSUER",
        "AUTH_ALLOWED_CLIENT_IDS",
        "AUTH_TOKEN_USE",
        "MODEL_ID",
        "MCP_SOURCES",
        "STAFF_GROUP",
        "CUSTOMER_ID_CLAIM",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), resolve(&env[name])))
    .collect();
    settings.push(("AGENT_HOST".to_owned(), "127.0.0.1".to_owned()));
    settings.push(("AGENT_PORT".to_owned(), "0".to_owned()));
    settings
}

/// The deployed `MCP_SOURCES` is checked against the agent binary, not only against the
/// expectations above: with the deployed settings the agent starts and listens, and with a
/// misspelled auth kind in the same JSON it refuses to start, naming `MCP_SOURCES`.
#[tokio::test]
async fn the_agent_binary_accepts_the_deployed_gateway_source() {
    let settings = deployed_agent_settings();
    let mut agent = ServerProcess::spawn(&workspace::binary("agent"), &[], &settings)
        .await
        .expect("the agent starts with the deployed settings");
    agent
        .terminate(Duration::from_secs(10))
        .await
        .expect("the agent stops");
    let broken: Vec<(String, String)> = settings
        .iter()
        .map(|(name, value)| {
            let value = if name == "MCP_SOURCES" {
                value.replace("caller_token", "caller_tokens")
            } else {
                value.clone()
            };
            (name.clone(), value)
        })
        .collect();
    let broken: Vec<(&str, &str)> = broken
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    assert_refuses_config(&workspace::binary("agent"), &broken, "MCP_SOURCES").await;
}

#[test]
fn runtimes_run_in_the_private_subnets_behind_jwt_authorizers() {
    let runtimes = template("runtimes");
    // The agent admits the app client's ID tokens (`aud`), the MCP server the machine
    // client's access tokens (`client_id`); each authorizer checks only its own claim, since
    // neither kind of Cognito token carries both.
    for (id, protocol, group, checked, unchecked, client) in [
        (
            "AgentRuntime",
            "HTTP",
            "AgentSecurityGroupId",
            "AllowedAudience",
            "AllowedClients",
            "AppClientId",
        ),
        (
            "McpRuntime",
            "MCP",
            "McpSecurityGroupId",
            "AllowedClients",
            "AllowedAudience",
            "MachineClientId",
        ),
    ] {
        let p = &resource(&runtimes, id)["Properties"];
        assert_eq!(p["ProtocolConfiguration"], protocol, "{id}");
        let network = &p["NetworkConfiguration"];
        assert_eq!(network["NetworkMode"], "VPC", "{id}");
        let config = network["NetworkModeConfig"].to_string();
        assert!(
            config.contains("-PrivateSubnetIds"),
            "{id}: private subnets"
        );
        assert!(config.contains(&format!("-{group}")), "{id}: its own group");
        let jwt = &p["AuthorizerConfiguration"]["CustomJWTAuthorizer"];
        assert!(
            jwt["DiscoveryUrl"]
                .to_string()
                .contains("/.well-known/openid-configuration")
        );
        assert_eq!(
            as_list(&jwt[checked])
                .into_iter()
                .map(import_name)
                .collect::<Vec<_>>(),
            [Some(format!("${{EnvironmentName}}-{client}").as_str())],
            "{id}: {checked}"
        );
        assert!(jwt.get(unchecked).is_none(), "{id} sets {unchecked}");
    }
    let agent = &resource(&runtimes, "AgentRuntime")["Properties"];
    assert_eq!(
        agent["RequestHeaderConfiguration"]["RequestHeaderAllowlist"],
        json!(["Authorization"]),
        "the agent reads the caller's claims from the forwarded token"
    );
    assert_eq!(
        import_name(&agent["EnvironmentVariables"]["AUTH_ALLOWED_CLIENT_IDS"]),
        Some("${EnvironmentName}-AppClientId"),
        "the agent admits the client its authorizer admits"
    );
}

/// The customer id reaches the deployed agent, and only administrators set it: the agent
/// takes ID tokens (the only Cognito tokens with custom attributes) of the app client whose
/// users it serves, that client lets users read the claim the agent reads but not write it,
/// and the attribute stays mutable so that an administrator can link a user later
/// (`AdminUpdateUserAttributes`).
///
/// Checked here rather than against moto: moto's `UpdateUserAttributes` writes any attribute
/// whatever the app client's `WriteAttributes` (moto 5.2, `cognitoidp/models.py`), so a call
/// there could not show the refusal. `tests/tests/identity_path.rs` runs the rest of the path
/// (an administrator links a user, whose next ID token the agent maps to that customer).
#[test]
fn the_agent_reads_the_customer_from_id_tokens_and_users_cannot_write_it() {
    let runtimes = template("runtimes");
    let agent = &resource(&runtimes, "AgentRuntime")["Properties"];
    let env = &agent["EnvironmentVariables"];
    assert_eq!(env["AUTH_TOKEN_USE"], "id", "the agent takes ID tokens");
    assert_eq!(
        import_name(&agent["AuthorizerConfiguration"]["CustomJWTAuthorizer"]["AllowedAudience"][0]),
        Some("${EnvironmentName}-AppClientId"),
        "its authorizer admits the app client's ID tokens"
    );
    assert_eq!(
        import_name(&env["AUTH_ALLOWED_CLIENT_IDS"]),
        Some("${EnvironmentName}-AppClientId")
    );
    assert_eq!(env["CUSTOMER_ID_CLAIM"], json!({"Ref": "CustomerIdClaim"}));
    let claim = runtimes["Parameters"]["CustomerIdClaim"]["Default"]
        .as_str()
        .expect("CustomerIdClaim has a default");
    let attribute = claim
        .strip_prefix("custom:")
        .unwrap_or_else(|| panic!("{claim} is a custom attribute"));

    let identity = template("identity");
    let pool = &resource(&identity, "UserPool")["Properties"];
    let schema: Vec<&Value> = as_list(&pool["Schema"])
        .into_iter()
        .filter(|a| a["Name"] == attribute)
        .collect();
    assert_eq!(schema.len(), 1, "the pool defines {claim}");
    assert_eq!(
        schema[0]["Mutable"],
        json!(true),
        "an administrator can link an existing user"
    );
    assert!(
        schema[0].get("DeveloperOnlyAttribute").is_none(),
        "a dev: attribute would be named dev:{claim}, not {claim}"
    );

    let client = &resource(&identity, "AppClient")["Properties"];
    let names = |property: &str| -> Vec<&str> {
        as_list(&client[property])
            .into_iter()
            .map(|name| name.as_str().expect("attribute names are strings"))
            .collect()
    };
    let read = names("ReadAttributes");
    let write = names("WriteAttributes");
    assert!(
        read.contains(&claim),
        "{claim} reaches the ID token: {read:?}"
    );
    assert!(
        !write.is_empty(),
        "WriteAttributes is explicit, not Cognito's default"
    );
    assert!(
        !write.contains(&claim),
        "a customer must not set their own {claim}: {write:?}"
    );
    assert!(
        write.iter().all(|name| read.contains(name)),
        "a user writes only what they can read: {write:?} {read:?}"
    );
    assert!(
        !write.iter().any(|name| name.starts_with("custom:")),
        "no custom attribute is the user's to set: {write:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Execution roles

/// SDK fluent calls -> the IAM actions they need (the Data API reads the database secret, and
/// AgentCore Identity the provider's client secret, with the caller's permissions).
const OPERATIONS: &[(&str, &[&str])] = &[
    // With the guardrail the deployment configures (GUARDRAIL_ID), ConverseStream also applies
    // it with the caller's permissions (tests/tests/deploy_guardrail.rs).
    (
        "converse_stream",
        &[
            "bedrock:InvokeModelWithResponseStream",
            "bedrock:ApplyGuardrail",
        ],
    ),
    ("converse", &["bedrock:InvokeModel"]),
    ("invoke_model", &["bedrock:InvokeModel"]),
    (
        "execute_statement",
        &["rds-data:ExecuteStatement", "secretsmanager:GetSecretValue"],
    ),
    (
        "batch_execute_statement",
        &["rds-data:BatchExecuteStatement"],
    ),
    ("begin_transaction", &["rds-data:BeginTransaction"]),
    ("commit_transaction", &["rds-data:CommitTransaction"]),
    ("rollback_transaction", &["rds-data:RollbackTransaction"]),
    ("get_secret_value", &["secretsmanager:GetSecretValue"]),
    (
        "get_resource_oauth2_token",
        &[
            "bedrock-agentcore:GetResourceOauth2Token",
            "secretsmanager:GetSecretValue",
        ],
    ),
    (
        "get_workload_access_token",
        &["bedrock-agentcore:GetWorkloadAccessToken"],
    ),
    ("create_event", &["bedrock-agentcore:CreateEvent"]),
    ("list_events", &["bedrock-agentcore:ListEvents"]),
    (
        "retrieve_memory_records",
        &["bedrock-agentcore:RetrieveMemoryRecords"],
    ),
    ("get_item", &["dynamodb:GetItem"]),
    ("query", &["dynamodb:Query"]),
    ("scan", &["dynamodb:Scan"]),
    ("put_item", &["dynamodb:PutItem"]),
    ("update_item", &["dynamodb:UpdateItem"]),
    ("delete_item", &["dynamodb:DeleteItem"]),
    ("batch_get_item", &["dynamodb:BatchGetItem"]),
    ("batch_write_item", &["dynamodb:BatchWriteItem"]),
    (
        "transact_write_items",
        &["dynamodb:PutItem", "dynamodb:UpdateItem"],
    ),
    ("describe_table", &["dynamodb:DescribeTable"]),
    ("create_table", &["dynamodb:CreateTable"]),
    ("delete_table", &["dynamodb:DeleteTable"]),
];

/// Where a call site runs.
enum Site {
    /// Never in the runtime: an operator command, with the proof that only that command
    /// reaches it (each `(file, needle)`: the only callers of the wrapper).
    Operator(&'static [(&'static str, &'static str)]),
    /// Only with an `MCP_SOURCES` auth type the deployment does not use.
    UnusedAuth(&'static str),
}

/// Call sites that the runtime roles deliberately do not cover.
const NOT_IN_THE_RUNTIME: &[(&str, &str, Site)] = &[
    // `mcp-server seed`: creates the tables and loads the demo data.
    (
        "mcp-server/src/store/schema.rs",
        "create_table",
        Site::Operator(&[("mcp-server/src/seed.rs", ".create_missing_tables(")]),
    ),
    (
        "mcp-server/src/store/load.rs",
        "batch_write_item",
        Site::Operator(&[("mcp-server/src/seed.rs", ".load(&")]),
    ),
    // `agent migrate [--seed]`: the schema owner's secret, batches and transactions.
    (
        "agent/src/aurora/migrate.rs",
        "get_secret_value",
        Site::Operator(&[]),
    ),
    (
        "agent/src/aurora/data_api.rs",
        "batch_execute_statement",
        Site::Operator(&[("agent/src/aurora/seed.rs", ".execute_batch(")]),
    ),
    (
        "agent/src/aurora/data_api.rs",
        "begin_transaction",
        Site::Operator(&[
            ("agent/src/aurora/migrate.rs", ".begin()"),
            ("agent/src/aurora/seed.rs", ".begin()"),
        ]),
    ),
    (
        "agent/src/aurora/data_api.rs",
        "commit_transaction",
        Site::Operator(&[
            ("agent/src/aurora/migrate.rs", ".commit(&transaction)"),
            ("agent/src/aurora/seed.rs", ".commit(&transaction)"),
        ]),
    ),
    (
        "agent/src/aurora/data_api.rs",
        "rollback_transaction",
        Site::Operator(&[
            ("agent/src/aurora/migrate.rs", ".rollback(&transaction)"),
            ("agent/src/aurora/seed.rs", ".rollback(&transaction)"),
        ]),
    ),
    // client_credentials MCP auth reads the client secret, agentcore_identity fetches a token
    // from AgentCore Identity; the deployed agent forwards the caller's token to the Gateway.
    (
        "agent/src/sources/outbound_auth/client_credentials.rs",
        "get_secret_value",
        Site::UnusedAuth("client_credentials"),
    ),
    (
        "agent/src/sources/outbound_auth/identity.rs",
        "get_resource_oauth2_token",
        Site::UnusedAuth("agentcore_identity"),
    ),
];

fn rust_files(dir: &str, out: &mut Vec<(String, String)>) {
    let root = workspace::root();
    for entry in std::fs::read_dir(root.join(dir)).expect("a source folder") {
        let path = entry.unwrap().path();
        let relative = path.strip_prefix(&root).unwrap().display().to_string();
        if path.is_dir() {
            rust_files(&relative, out);
        } else if relative.ends_with(".rs") {
            out.push((relative.clone(), std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// Every `(file, operation)` SDK call site of a binary's crates.
fn call_sites(binary: &str) -> BTreeSet<(String, &'static str)> {
    let mut files = Vec::new();
    for dir in [binary, "service-runtime", "inbound-auth"] {
        rust_files(&format!("{dir}/src"), &mut files);
    }
    let mut sites = BTreeSet::new();
    for (file, text) in &files {
        for (operation, _) in OPERATIONS {
            if text.contains(&format!(".{operation}()")) {
                sites.insert((file.clone(), *operation));
            }
        }
    }
    sites
}

/// Every action a role's inline policies allow, with the resources of each.
fn role_actions(role: &Value) -> BTreeMap<String, Vec<Value>> {
    let mut actions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for policy in as_list(&role["Properties"]["Policies"]) {
        for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
            assert_eq!(statement["Effect"], "Allow");
            for action in as_list(&statement["Action"]) {
                let action = action.as_str().expect("a literal action").to_owned();
                assert!(!action.contains('*'), "wildcard action {action}");
                actions
                    .entry(action)
                    .or_default()
                    .extend(as_list(&statement["Resource"]).into_iter().cloned());
            }
        }
    }
    actions
}

/// What every runtime's role needs for the platform: pulling its image, writing its stdout to
/// CloudWatch Logs, and (both binaries export spans, see CODE_ENDPOINTS) X-Ray.
const PLATFORM_ACTIONS: &[&str] = &[
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "ecr:GetAuthorizationToken",
    "logs:CreateLogGroup",
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "logs:DescribeLogStreams",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:PutSpans",
    "xray:PutSpansForIndexing",
];

/// The actions a binary's runtime needs: its call sites outside [`NOT_IN_THE_RUNTIME`], mapped.
fn needed_actions(binary: &str) -> BTreeSet<String> {
    let sources = deployed_mcp_sources();
    let mut needed: BTreeSet<String> = PLATFORM_ACTIONS.iter().map(|a| (*a).to_owned()).collect();
    for (file, operation) in call_sites(binary) {
        let exception = NOT_IN_THE_RUNTIME
            .iter()
            .find(|(f, o, _)| *f == file && *o == operation);
        if let Some((_, _, site)) = exception {
            match site {
                Site::Operator(callers) => {
                    for (caller, needle) in *callers {
                        assert!(read(caller).contains(needle), "{caller} calls {needle}");
                    }
                }
                Site::UnusedAuth(kind) => assert!(
                    !sources.iter().any(|s| s["auth"]["type"] == *kind),
                    "the deployment uses {kind}: grant {operation}"
                ),
            }
            continue;
        }
        let actions = OPERATIONS.iter().find(|(o, _)| *o == operation).unwrap().1;
        needed.extend(actions.iter().map(|a| (*a).to_owned()));
    }
    needed
}

/// The wrappers of `NOT_IN_THE_RUNTIME` are reached from nowhere else.
#[test]
fn operator_only_calls_are_reached_only_from_operator_commands() {
    for (wrapper, allowed) in [
        (
            ".create_missing_tables(",
            &["mcp-server/src/seed.rs", "mcp-server/src/store/schema.rs"][..],
        ),
        (
            ".execute_batch(",
            &["agent/src/aurora/seed.rs", "agent/src/aurora/data_api.rs"][..],
        ),
        (
            ".begin().await",
            &["agent/src/aurora/seed.rs", "agent/src/aurora/migrate.rs"][..],
        ),
        (
            ".commit(&transaction)",
            &["agent/src/aurora/seed.rs", "agent/src/aurora/migrate.rs"][..],
        ),
        (
            ".rollback(&transaction)",
            &["agent/src/aurora/seed.rs", "agent/src/aurora/migrate.rs"][..],
        ),
    ] {
        let mut files = Vec::new();
        rust_files("agent/src", &mut files);
        rust_files("mcp-server/src", &mut files);
        let callers: Vec<String> = files
            .into_iter()
            .filter(|(_, text)| text.contains(wrapper))
            .map(|(file, _)| file)
            .collect();
        assert!(
            !callers.is_empty(),
            "nothing calls {wrapper}: remove it from this list"
        );
        for file in callers {
            assert!(
                allowed.contains(&file.as_str()),
                "{file} calls {wrapper}: grant it or move it"
            );
        }
    }
    // `seed` and `migrate` are subcommands, never the runtime's default command.
    for (file, needle) in [
        ("mcp-server/src/config.rs", "Seed(SeedConfig)"),
        ("agent/src/config.rs", "Migrate(MigrateArgs)"),
    ] {
        assert!(read(file).contains(needle), "{file}: {needle}");
    }
}

#[test]
fn roles_allow_exactly_the_calls_each_binary_makes() {
    let runtimes = template("runtimes");
    let mut problems = Vec::new();
    for (role_id, binary) in [("AgentRole", "agent"), ("McpRole", "mcp-server")] {
        let allowed: BTreeSet<String> = role_actions(resource(&runtimes, role_id))
            .into_keys()
            .collect();
        let needed = needed_actions(binary);
        for action in needed.difference(&allowed) {
            problems.push(format!("{role_id} ({binary}) lacks {action}"));
        }
        for action in allowed.difference(&needed) {
            problems.push(format!(
                "{role_id} ({binary}) allows {action}, which the code never needs"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn roles_are_scoped_to_their_own_resources() {
    let runtimes = template("runtimes");
    let agent = role_actions(resource(&runtimes, "AgentRole"));
    let imports = |action: &str, actions: &BTreeMap<String, Vec<Value>>| -> BTreeSet<String> {
        actions[action]
            .iter()
            .map(|r| {
                import_name(r)
                    .map(str::to_owned)
                    .unwrap_or_else(|| r.to_string())
            })
            .collect()
    };
    assert_eq!(
        imports("rds-data:ExecuteStatement", &agent),
        BTreeSet::from(["${EnvironmentName}-AuroraClusterArn".to_owned()])
    );
    // The reader's secret only: never the admin secret, and no longer the credential
    // provider's (the Gateway's role reads that one).
    assert_eq!(
        imports("secretsmanager:GetSecretValue", &agent),
        BTreeSet::from(["${EnvironmentName}-AuroraReaderSecretArn".to_owned()])
    );
    let model = imports("bedrock:InvokeModelWithResponseStream", &agent);
    assert!(!model.is_empty(), "the agent may call its model");
    assert!(
        model
            .iter()
            .all(|m| m.contains("${ModelId}") || m.contains("${FoundationModelId}")),
        "{model:?}"
    );

    let mcp = role_actions(resource(&runtimes, "McpRole"));
    for action in [
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DescribeTable",
    ] {
        let tables = imports(action, &mcp);
        assert_eq!(
            tables.len(),
            6,
            "{action}: three tables and their indexes: {tables:?}"
        );
        for table in ["Reviews", "Warranties", "Tickets"] {
            let arn = format!("${{EnvironmentName}}-{table}TableArn");
            assert!(tables.contains(&arn), "{action} on {table}");
            assert!(
                tables
                    .iter()
                    .any(|t| t.contains("/index/*") && t.contains(&arn)),
                "{action} on {table}'s indexes"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway: authorizer, policy engine and policies, target, role

/// What CloudFormation would compute for `value`, for the intrinsic functions these templates
/// use (`Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::Split`). `facts` holds what only a
/// deployment knows: `Ref` targets and pseudo parameters by name, attributes as
/// `"Resource.Attribute"`. An unknown fact or function fails the test.
fn evaluate(value: &Value, facts: &BTreeMap<&str, &str>) -> Value {
    let fact = |name: &str| -> String {
        (*facts
            .get(name)
            .unwrap_or_else(|| panic!("no fact for {name}")))
        .to_owned()
    };
    let text = |value: &Value| -> String {
        evaluate(value, facts)
            .as_str()
            .unwrap_or_else(|| panic!("{value} is not a string"))
            .to_owned()
    };
    let Value::Object(map) = value else {
        return match value {
            Value::Array(items) => Value::Array(items.iter().map(|v| evaluate(v, facts)).collect()),
            other => other.clone(),
        };
    };
    assert_eq!(map.len(), 1, "an intrinsic function: {value}");
    let (function, arguments) = map.iter().next().unwrap();
    match function.as_str() {
        "Ref" => json!(fact(arguments.as_str().unwrap())),
        "Fn::GetAtt" => json!(fact(&format!(
            "{}.{}",
            arguments[0].as_str().unwrap(),
            arguments[1].as_str().unwrap()
        ))),
        "Fn::Join" => {
            let parts: Vec<String> = as_list(&evaluate(&arguments[1], facts))
                .into_iter()
                .map(|part| part.as_str().unwrap().to_owned())
                .collect();
            json!(parts.join(arguments[0].as_str().unwrap()))
        }
        "Fn::Split" => json!(
            text(&arguments[1])
                .split(arguments[0].as_str().unwrap())
                .collect::<Vec<_>>()
        ),
        "Fn::Sub" => {
            let (template, variables) = match arguments {
                Value::String(template) => (template.as_str(), &Value::Null),
                Value::Array(parts) => (parts[0].as_str().unwrap(), &parts[1]),
                other => panic!("a Sub of {other}"),
            };
            let mut out = String::new();
            let mut rest = template;
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let end = rest[start..].find('}').expect("a placeholder ends with }") + start;
                let name = &rest[start + 2..end];
                match variables.get(name) {
                    Some(variable) => out.push_str(&text(variable)),
                    None => out.push_str(&fact(name)),
                }
                rest = &rest[end + 1..];
            }
            out.push_str(rest);
            json!(out)
        }
        other => panic!("{other} is not evaluated here"),
    }
}

#[test]
fn the_evaluator_computes_subs_joins_splits_and_attributes() {
    let facts = BTreeMap::from([("AWS::Region", "eu-west-1"), ("R.Arn", "a:b/c")]);
    let value = json!({"Fn::Sub": ["${AWS::Region} ${X} ${R.Arn}", {"X": {"Fn::Join": ["-",
        {"Fn::Split": [":", {"Fn::GetAtt": ["R", "Arn"]}]}]}}]});
    assert_eq!(evaluate(&value, &facts), json!("eu-west-1 a-b/c a:b/c"));
}

/// A Gateway ARN as the service writes it, for evaluating what names the Gateway.
const SAMPLE_GATEWAY_ARN: &str =
    "arn:aws:bedrock-agentcore:eu-west-1:123456789012:gateway/support-support-abcde12345";

/// The policy files of `policies/`: name -> text.
fn policy_files() -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(workspace::root().join("policies")).expect("policies/ exists") {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".cedar") {
            files.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
    files
}

/// How the policy engine's policies differ from the policy files: one
/// `AWS::BedrockAgentCore::Policy` per file, named after it (`-` as `_`), in the one engine,
/// created after the target (a policy is checked against the schema of its gateways' tools),
/// the statement the file's text verbatim, with the Gateway's ARN as its one substitution.
fn policy_problems(runtimes: &Value, files: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let facts = BTreeMap::from([("Gateway.GatewayArn", SAMPLE_GATEWAY_ARN)]);
    for (id, policy) in of_type(runtimes, "AWS::BedrockAgentCore::Policy") {
        let p = &policy["Properties"];
        let name = p["Name"].as_str().unwrap_or_default();
        let file = format!("{}.cedar", name.replace('_', "-"));
        let Some(text) = files.get(&file) else {
            problems.push(format!("{id} ({name}) has no file policies/{file}"));
            continue;
        };
        seen.insert(file.clone());
        if p["PolicyEngineId"] != json!({"Fn::GetAtt": ["PolicyEngine", "PolicyEngineId"]}) {
            problems.push(format!("{id}: not in the PolicyEngine"));
        }
        if !as_list(&policy["DependsOn"]).contains(&&json!("SupportTarget")) {
            problems.push(format!("{id}: created before the target's tools are known"));
        }
        let statement = &p["Definition"]["Cedar"]["Statement"];
        let want =
            json!({"Fn::Sub": [text, {"GatewayArn": {"Fn::GetAtt": ["Gateway", "GatewayArn"]}}]});
        if *statement != want {
            problems.push(format!(
                "{id}: the statement is not policies/{file} verbatim with the Gateway's ARN for ${{GatewayArn}}"
            ));
        } else if evaluate(statement, &facts)
            != json!(text.replace("${GatewayArn}", SAMPLE_GATEWAY_ARN))
        {
            problems.push(format!(
                "{id}: the deployed statement differs from policies/{file}"
            ));
        }
    }
    for file in files.keys().filter(|f| !seen.contains(*f)) {
        problems.push(format!("policies/{file} is not deployed"));
    }
    problems
}

#[test]
fn the_policy_engine_holds_exactly_the_policy_files_verbatim() {
    let files = policy_files();
    assert!(files.len() >= 3, "the policy files: {:?}", files.keys());
    for (file, text) in &files {
        let placeholders: Vec<&str> = text.match_indices("${").map(|(i, _)| &text[i..]).collect();
        assert!(
            placeholders.iter().all(|p| p.starts_with("${GatewayArn}")),
            "{file}: ${{GatewayArn}} is the only placeholder Fn::Sub may fill"
        );
        assert!(!placeholders.is_empty(), "{file} names the Gateway");
    }
    let runtimes = template("runtimes");
    let problems = policy_problems(&runtimes, &files);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        of_type(&runtimes, "AWS::BedrockAgentCore::PolicyEngine")
            .into_iter()
            .map(|(id, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["PolicyEngine"],
        "one engine"
    );
}

#[test]
fn the_policy_check_catches_an_edited_a_missing_and_a_stray_policy() {
    let mut files = policy_files();
    let mut runtimes = template("runtimes");
    let (edited, _) = of_type(&runtimes, "AWS::BedrockAgentCore::Policy")[0];
    let edited = edited.clone();
    let statement = &mut runtimes["Resources"][&edited]["Properties"]["Definition"]["Cedar"]["Statement"]
        ["Fn::Sub"][0];
    *statement = json!(statement.as_str().unwrap().replacen("permit", "forbid", 1));
    files.insert(
        "refunds.cedar".to_owned(),
        "permit(principal, action, resource);".to_owned(),
    );
    let stray = runtimes["Resources"][&edited].clone();
    runtimes["Resources"]["StrayPolicy"] = stray;
    runtimes["Resources"]["StrayPolicy"]["Properties"]["Name"] = json!("stray_tools");
    let problems = policy_problems(&runtimes, &files).join("\n");
    assert!(
        problems.contains(&format!("{edited}: the statement")),
        "{problems}"
    );
    assert!(
        problems.contains("policies/refunds.cedar is not deployed"),
        "{problems}"
    );
    assert!(
        problems.contains("StrayPolicy (stray_tools) has no file"),
        "{problems}"
    );
}

#[test]
fn the_gateway_admits_the_agents_callers_and_enforces_its_policy_engine() {
    let runtimes = template("runtimes");
    let gateways = of_type(&runtimes, "AWS::BedrockAgentCore::Gateway");
    assert_eq!(gateways.len(), 1);
    let (id, gateway) = gateways[0];
    assert_eq!(id, "Gateway");
    let p = &gateway["Properties"];
    assert_eq!(p["ProtocolType"], "MCP");
    assert_eq!(
        p["ProtocolConfiguration"]["Mcp"]["SearchType"], "SEMANTIC",
        "the agent picks a turn's tools with the Gateway's search tool"
    );
    assert_eq!(p["RoleArn"], json!({"Fn::GetAtt": ["GatewayRole", "Arn"]}));
    // The agent forwards the caller's ID token: the Gateway admits what the agent's runtime
    // admits, by `aud` (the app client), and no access token (`client_id`).
    assert_eq!(p["AuthorizerType"], "CUSTOM_JWT");
    let jwt = &p["AuthorizerConfiguration"]["CustomJWTAuthorizer"];
    assert_eq!(
        as_list(&jwt["AllowedAudience"])
            .into_iter()
            .map(import_name)
            .collect::<Vec<_>>(),
        [Some("${EnvironmentName}-AppClientId")]
    );
    assert!(
        jwt.get("AllowedClients").is_none(),
        "AllowedClients checks access tokens"
    );
    let agent_jwt = &resource(&runtimes, "AgentRuntime")["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"];
    assert_eq!(jwt, agent_jwt, "the same authorizer as the agent's runtime");
    assert_eq!(
        p["PolicyEngineConfiguration"],
        json!({"Arn": {"Fn::GetAtt": ["PolicyEngine", "PolicyEngineArn"]}, "Mode": "ENFORCE"}),
        "the policies decide every call"
    );
}

#[test]
fn the_gateway_target_is_support_on_the_mcp_runtime_with_the_identity_provider() {
    let runtimes = template("runtimes");
    let targets = of_type(&runtimes, "AWS::BedrockAgentCore::GatewayTarget");
    assert_eq!(targets.len(), 1);
    let (id, target) = targets[0];
    assert_eq!(id, "SupportTarget", "the policies' DependsOn names it");
    let p = &target["Properties"];
    assert_eq!(
        p["GatewayIdentifier"],
        json!({"Fn::GetAtt": ["Gateway", "GatewayIdentifier"]})
    );
    // The target's name prefixes the tool names: every action of the policies' schema.
    assert_eq!(p["Name"], "support");
    let schema = read("policies/schema.cedarschema");
    let actions: Vec<&str> = schema
        .split("action \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !matches!(*name, "Mcp" | "CallTool"))
        .collect();
    assert_eq!(actions.len(), 10, "{actions:?}");
    assert!(
        actions.iter().all(|a| a.starts_with("support___")),
        "{actions:?}"
    );

    // The endpoint is the MCP runtime's invocation URL, as agent-protocol builds it.
    let arn =
        "arn:aws:bedrock-agentcore:eu-west-1:123456789012:runtime/support_support_mcp-AbCdE12345";
    let facts = BTreeMap::from([
        ("AWS::Region", "eu-west-1"),
        ("AWS::URLSuffix", "amazonaws.com"),
        ("McpRuntime.AgentRuntimeArn", arn),
    ]);
    let endpoint = &p["TargetConfiguration"]["Mcp"]["McpServer"]["Endpoint"];
    assert_eq!(
        evaluate(endpoint, &facts),
        json!(runtime_url::runtime_invocation_url(
            &runtime_url::data_plane_endpoint("aws", "eu-west-1"),
            arn,
            runtime_url::DEFAULT_QUALIFIER
        ))
    );

    // OAuth with the identity stack's provider and scope: the provider holds the machine
    // client, whose scope that is, and the MCP runtime admits that client.
    let credentials = as_list(&p["CredentialProviderConfigurations"]);
    assert_eq!(credentials.len(), 1);
    assert_eq!(credentials[0]["CredentialProviderType"], "OAUTH");
    let oauth = &credentials[0]["CredentialProvider"]["OauthCredentialProvider"];
    assert_eq!(
        import_name(&oauth["ProviderArn"]),
        Some("${EnvironmentName}-McpCredentialProviderArn")
    );
    assert_eq!(
        as_list(&oauth["Scopes"])
            .into_iter()
            .map(import_name)
            .collect::<Vec<_>>(),
        [Some("${EnvironmentName}-McpScope")]
    );
    let identity = template("identity");
    assert_eq!(
        identity["Outputs"]["McpCredentialProviderArn"]["Value"],
        json!({"Fn::GetAtt": ["McpCredentialProvider", "CredentialProviderArn"]})
    );
    let provider = &resource(&identity, "McpCredentialProvider")["Properties"];
    assert_eq!(
        provider["Oauth2ProviderConfigInput"]["CustomOauth2ProviderConfig"]["ClientId"],
        json!({"Ref": "MachineClient"})
    );
    let scope = identity["Outputs"]["McpScope"]["Value"].clone();
    assert_eq!(
        resource(&identity, "MachineClient")["Properties"]["AllowedOAuthScopes"],
        json!([scope])
    );
    let mcp_clients = &resource(&runtimes, "McpRuntime")["Properties"]["AuthorizerConfiguration"]["CustomJWTAuthorizer"]
        ["AllowedClients"];
    assert_eq!(
        as_list(mcp_clients)
            .into_iter()
            .map(import_name)
            .collect::<Vec<_>>(),
        [Some("${EnvironmentName}-MachineClientId")]
    );
}

#[test]
fn the_gateway_role_allows_exactly_policy_evaluation_and_the_mcp_runtimes_token() {
    let runtimes = template("runtimes");
    let role = resource(&runtimes, "GatewayRole");
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Service"],
        "bedrock-agentcore.amazonaws.com"
    );
    assert!(
        trust["Condition"]["StringEquals"]
            .get("aws:SourceAccount")
            .is_some()
    );
    let actions = role_actions(role);
    assert_eq!(
        actions.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from([
            // https://docs.aws.amazon.com/bedrock-agentcore/latest/devguide/policy-permissions.html
            "bedrock-agentcore:GetPolicyEngine",
            "bedrock-agentcore:AuthorizeAction",
            "bedrock-agentcore:PartiallyAuthorizeActions",
            // The outbound OAuth of the target.
            "bedrock-agentcore:GetWorkloadAccessToken",
            "bedrock-agentcore:GetResourceOauth2Token",
            "secretsmanager:GetSecretValue",
        ])
    );
    let engine = json!({"Fn::GetAtt": ["PolicyEngine", "PolicyEngineArn"]});
    assert_eq!(
        actions["bedrock-agentcore:GetPolicyEngine"],
        std::slice::from_ref(&engine)
    );
    // Evaluation on this engine and this Gateway only: the pattern is the Gateway's name and
    // the generated suffix of its id.
    let name = sub_text(&resource(&runtimes, "Gateway")["Properties"]["Name"]).unwrap();
    for action in [
        "bedrock-agentcore:AuthorizeAction",
        "bedrock-agentcore:PartiallyAuthorizeActions",
    ] {
        let resources = &actions[action];
        assert_eq!(resources.len(), 2, "{action}: {resources:?}");
        assert!(resources.contains(&engine), "{action} on the engine");
        assert!(
            resources
                .iter()
                .filter_map(sub_text)
                .any(|r| r.ends_with(&format!(":gateway/{name}-*"))),
            "{action} on the Gateway {name}: {resources:?}"
        );
    }
    let token = &actions["bedrock-agentcore:GetResourceOauth2Token"];
    assert!(
        token
            .iter()
            .any(|r| import_name(r) == Some("${EnvironmentName}-McpCredentialProviderArn")),
        "the identity stack's provider: {token:?}"
    );
    assert!(
        !token
            .iter()
            .filter_map(sub_text)
            .any(|r| r.contains("oauth2credentialprovider/*")),
        "no other provider: {token:?}"
    );
    let secrets: Vec<String> = actions["secretsmanager:GetSecretValue"]
        .iter()
        .map(|r| r.to_string())
        .collect();
    assert_eq!(secrets.len(), 1, "{secrets:?}");
    assert!(
        secrets[0].contains("bedrock-agentcore-identity!default/oauth2/${Name}*")
            && secrets[0].contains("${EnvironmentName}-McpCredentialProviderName"),
        "the provider's own client secret only: {secrets:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Data

/// `(name, partition key, sort key)` of an index, or `(kind, partition key, index consts)` of a
/// table, parsed from `mcp-server/src/tables.rs`.
#[derive(Debug)]
struct CodeTable {
    kind: String,
    partition_key: String,
    indexes: Vec<(String, String, String)>,
}

fn field(block: &str, name: &str) -> String {
    let start = block
        .find(&format!("{name}: "))
        .unwrap_or_else(|| panic!("{name} in {block}"));
    let rest = &block[start + name.len() + 2..];
    rest.split(',')
        .next()
        .unwrap()
        .trim()
        .trim_matches('"')
        .to_owned()
}

fn code_tables() -> Vec<CodeTable> {
    let text = read("mcp-server/src/tables.rs");
    let mut indexes = BTreeMap::new();
    let mut tables = Vec::new();
    for block in text.split("pub const ").skip(1) {
        let (name, rest) = block.split_once(':').unwrap();
        let body = &rest[..rest.find("};").expect("a const ends with };")];
        if rest.trim_start().starts_with("IndexDef") {
            indexes.insert(
                name.trim().to_owned(),
                (
                    field(body, "name"),
                    field(body, "partition_key"),
                    field(body, "sort_key"),
                ),
            );
        } else if rest.trim_start().starts_with("TableDef") {
            let list = body
                .split_once("indexes: &[")
                .unwrap()
                .1
                .split(']')
                .next()
                .unwrap();
            let names: Vec<String> = list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect();
            tables.push((field(body, "kind"), field(body, "partition_key"), names));
        }
    }
    tables
        .into_iter()
        .map(|(kind, partition_key, names)| CodeTable {
            kind,
            partition_key,
            indexes: names.iter().map(|n| indexes[n].clone()).collect(),
        })
        .collect()
}

#[test]
fn tables_match_the_code() {
    let tables = code_tables();
    assert_eq!(tables.len(), 3, "{tables:?}");
    let data = template("data");
    let deployed = of_type(&data, "AWS::DynamoDB::Table");
    assert_eq!(deployed.len(), tables.len());
    for table in &tables {
        let suffix = format!("${{EnvironmentName}}-{}", table.kind);
        let (id, resource) = deployed
            .iter()
            .find(|(_, r)| sub_text(&r["Properties"]["TableName"]) == Some(suffix.as_str()))
            .unwrap_or_else(|| panic!("no table named {suffix}"));
        let p = &resource["Properties"];
        assert_eq!(p["BillingMode"], "PAY_PER_REQUEST", "{id}");
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{id}"
        );
        assert_eq!(p["SSESpecification"]["SSEType"], "KMS", "{id}");
        assert_eq!(
            p["SSESpecification"]["KMSMasterKeyId"],
            json!({"Ref": "DataKey"}),
            "{id}"
        );
        assert_eq!(
            p["KeySchema"],
            json!([{"AttributeName": table.partition_key, "KeyType": "HASH"}]),
            "{id}"
        );
        let want: Vec<Value> = table
            .indexes
            .iter()
            .map(|(name, pk, sk)| {
                json!({"IndexName": name, "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"}],
                    "Projection": {"ProjectionType": "ALL"}})
            })
            .collect();
        assert_eq!(p["GlobalSecondaryIndexes"], json!(want), "{id} indexes");
        let mut attributes = vec![table.partition_key.clone()];
        for (_, pk, sk) in &table.indexes {
            for name in [pk, sk] {
                if !attributes.contains(name) {
                    attributes.push(name.clone());
                }
            }
        }
        let want: BTreeSet<String> = attributes
            .iter()
            .map(|a| json!({"AttributeName": a, "AttributeType": "S"}).to_string())
            .collect();
        let have: BTreeSet<String> = as_list(&p["AttributeDefinitions"])
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(have, want, "{id}: every key attribute a string, no others");
    }
    // The MCP runtime names each table through the data stack's export of that table.
    let runtimes = template("runtimes");
    let env = &resource(&runtimes, "McpRuntime")["Properties"]["EnvironmentVariables"];
    for (variable, export, logical_id) in [
        ("REVIEWS_TABLE", "ReviewsTableName", "ReviewsTable"),
        ("WARRANTIES_TABLE", "WarrantiesTableName", "WarrantiesTable"),
        ("TICKETS_TABLE", "TicketsTableName", "TicketsTable"),
    ] {
        assert_eq!(
            import_name(&env[variable]),
            Some(format!("${{EnvironmentName}}-{export}").as_str())
        );
        assert_eq!(data["Outputs"][export]["Value"], json!({"Ref": logical_id}));
    }
}

#[test]
fn the_table_parser_reads_the_code() {
    let tables = code_tables();
    let tickets = tables
        .iter()
        .find(|t| t.kind == "tickets")
        .expect("tickets");
    assert_eq!(tickets.partition_key, "ticket_id");
    assert_eq!(
        tickets.indexes[1],
        (
            "by_customer_status".to_owned(),
            "customer_status".to_owned(),
            "created_at".to_owned()
        )
    );
}

#[test]
fn aurora_offers_the_data_api_and_the_readers_secret() {
    let data = template("data");
    let cluster = &resource(&data, "AuroraCluster")["Properties"];
    assert_eq!(cluster["Engine"], "aurora-postgresql");
    assert_eq!(cluster["EnableHttpEndpoint"], true, "the Data API");
    assert_eq!(
        cluster["ManageMasterUserPassword"], true,
        "master secret managed by RDS"
    );
    assert_eq!(cluster["StorageEncrypted"], true);
    assert!(cluster.get("ServerlessV2ScalingConfiguration").is_some());
    assert_eq!(
        resource(&data, "AuroraInstance")["Properties"]["DBInstanceClass"],
        "db.serverless"
    );
    let secret = &resource(&data, "ReaderSecret")["Properties"]["GenerateSecretString"];
    let initial: Value =
        serde_json::from_str(secret["SecretStringTemplate"].as_str().unwrap()).unwrap();
    assert_eq!(initial, json!({"username": "support_agent_reader"}));
    assert_eq!(secret["GenerateStringKey"], "password");
    // `agent migrate` reads exactly those fields.
    let migrate = read("agent/src/aurora/migrate.rs");
    assert!(migrate.contains("username: String") && migrate.contains("password: String"));
    // The agent's database is the cluster's.
    let runtimes = template("runtimes");
    let env = &resource(&runtimes, "AgentRuntime")["Properties"]["EnvironmentVariables"];
    assert_eq!(cluster["DatabaseName"], env["AURORA_DATABASE"]);
}

#[test]
fn the_readme_explains_the_deployment() {
    let readme = read("README.md");
    let section = readme
        .split("\n## Deploying to AWS")
        .nth(1)
        .expect("README has a \"Deploying to AWS\" section")
        .split("\n## ")
        .next()
        .unwrap();
    for needle in TEMPLATES.iter().map(|t| format!("deploy/{t}.yaml")).chain(
        ["Transaction Search", "8 h", "$7.20"]
            .iter()
            .map(|s| (*s).to_owned()),
    ) {
        assert!(section.contains(&needle), "the section mentions {needle}");
    }
}
