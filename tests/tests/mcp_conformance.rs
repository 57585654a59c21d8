//! The official MCP conformance suite (`scripts/conformance`) against the real server.
//!
//! Scenarios that need the reference server's own diagnostic tools, prompts or resources are
//! listed in `tests/conformance/expected-failures.yml`; any other failure, or a listed
//! scenario that starts passing, fails this test.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use system_tests::mcp_server::McpServer;
use system_tests::moto::Moto;
use system_tests::workspace;

#[tokio::test]
async fn the_conformance_suite_passes_apart_from_reference_only_scenarios() {
    let moto = Moto::start().await.unwrap();
    let server = McpServer::seeded(&moto).await.unwrap();
    let output =
        tokio::process::Command::new(workspace::root().join("scripts").join("conformance"))
            .arg(&server.url)
            .env("NO_COLOR", "1")
            .output()
            .await
            .expect("scripts/conformance runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "conformance failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains("Baseline check passed"),
        "the suite confirmed its baseline:\n{stdout}"
    );
}
