//! The dependency rules of ARCHITECTURE.md ("Dependency rules"), checked on the source: which
//! workspace crate may depend on which (Cargo.toml), and, inside the agent, which module may
//! import which (`use crate::...` lines), since one crate's modules cannot be kept apart by the
//! compiler. A forbidden edge fails here with the file and line that adds it.

// Test code: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use system_tests::workspace;

/// The workspace crates, by package name, with their directories.
const CRATES: [(&str, &str); 8] = [
    ("agent", "agent"),
    ("agent-cli", "cli"),
    ("agent-protocol", "agent-protocol"),
    ("inbound-auth", "inbound-auth"),
    ("mcp-server", "mcp-server"),
    ("record-id", "record-id"),
    ("service-runtime", "service-runtime"),
    ("system-tests", "tests"),
];

/// The workspace crates each crate may use in `[dependencies]`.
fn allowed_dependencies(package: &str) -> &'static [&'static str] {
    match package {
        "agent" => &[
            "agent-protocol",
            "inbound-auth",
            "record-id",
            "service-runtime",
        ],
        "agent-cli" => &["agent-protocol"],
        "mcp-server" => &["inbound-auth", "record-id", "service-runtime"],
        "agent-protocol" | "inbound-auth" | "record-id" | "service-runtime" => &[],
        // The tests drive every binary and may read any library.
        "system-tests" => &[
            "agent-protocol",
            "inbound-auth",
            "record-id",
            "service-runtime",
            "agent",
            "mcp-server",
            "agent-cli",
        ],
        other => panic!("no rule for crate {other}: add it to CRATES and here"),
    }
}

/// The names in a manifest's `[dependencies]` table (the form this workspace writes:
/// `name.workspace = true` or `name = ...`).
fn dependencies(manifest: &Path) -> BTreeSet<String> {
    let text = std::fs::read_to_string(manifest).unwrap();
    let mut in_dependencies = false;
    let mut names = BTreeSet::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_dependencies = line == "[dependencies]";
            continue;
        }
        if !in_dependencies || line.is_empty() || line.starts_with('#') {
            continue;
        }
        let name = line
            .split(['.', '=', ' '])
            .next()
            .unwrap_or_default()
            .to_owned();
        names.insert(name);
    }
    names
}

#[test]
fn workspace_crates_depend_only_in_the_allowed_directions() {
    let root = workspace::root();
    let workspace_crates: BTreeSet<&str> = CRATES.iter().map(|(name, _)| *name).collect();
    let mut checked = 0;
    for (package, directory) in CRATES {
        let used = dependencies(&root.join(directory).join("Cargo.toml"));
        assert!(!used.is_empty(), "{package} has dependencies to check");
        for dependency in used
            .iter()
            .filter(|d| workspace_crates.contains(d.as_str()))
        {
            assert!(
                allowed_dependencies(package).contains(&dependency.as_str()),
                "{package} may not depend on {dependency} (ARCHITECTURE.md, Dependency rules)"
            );
            checked += 1;
        }
    }
    assert!(checked >= 6, "the workspace edges were found ({checked})");
}

#[test]
fn the_list_of_crates_is_the_workspace() {
    let manifest = std::fs::read_to_string(workspace::root().join("Cargo.toml")).unwrap();
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    let members: BTreeSet<&str> = members
        .split(',')
        .map(|m| m.trim().trim_matches('"'))
        .filter(|m| !m.is_empty())
        .collect();
    let known: BTreeSet<&str> = CRATES.iter().map(|(_, directory)| *directory).collect();
    assert_eq!(members, known, "every workspace member has its rules here");
}

/// Every `.rs` file below `dir`.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The agent's top-level module a file belongs to (`contract`, `tools`, `turn`, ...).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_owned()
}

/// The agent's modules each module may import with `use crate::...`; `main` wires everything.
fn allowed_imports(module: &str) -> Option<&'static [&'static str]> {
    Some(match module {
        "main" => return None,
        // HTTP handlers parse and answer; they may call into everything below them.
        "contract" => &["config", "session", "turn", "tools", "model", "memory"],
        // The loop decides: it uses the tools and the model, never the HTTP layer.
        "turn" => &["config", "tools", "model"],
        "session" => &["config", "model"],
        // Tool policy: what a caller may call, and how; the tools come from the adapters below.
        "tools" => &["config", "aurora", "model", "sources"],
        // The settings name the MCP source types (a source's endpoint and auth configuration).
        "config" => &["sources"],
        // Adapters talk to AWS and MCP and know nothing of the agent above them.
        "model" => &["config"],
        "memory" => &["config", "model"],
        "aurora" => &[],
        "sources" => &[],
        other => panic!("no rule for agent module {other}: add it here and to ARCHITECTURE.md"),
    })
}

#[test]
fn agent_modules_import_only_downwards() {
    let src = workspace::root().join("agent/src");
    let mut checked = 0;
    for file in rust_files(&src) {
        let module = module_of(&src, &file);
        let Some(allowed) = allowed_imports(&module) else {
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (number, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for (at, _) in code.match_indices("crate::") {
                let imported: String = code[at + "crate::".len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                checked += 1;
                assert!(
                    imported == module || allowed.contains(&imported.as_str()),
                    "{}:{}: the {module} module may not import crate::{imported} (ARCHITECTURE.md, Dependency rules)",
                    file.display(),
                    number + 1
                );
            }
        }
    }
    assert!(checked >= 10, "the agent's imports were found ({checked})");
}
