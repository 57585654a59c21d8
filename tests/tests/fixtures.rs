//! The demo data set keeps the invariants its generator documents (ids that exist in every
//! store, warranty mix, reviews after orders, totals), checked by the generator itself.

// Test code, helpers included: a failed unwrap, expect or panic is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use system_tests::workspace;

#[test]
fn the_fixture_holds_its_invariants() {
    let output = std::process::Command::new(workspace::venv_program("python"))
        .arg(workspace::root().join("fixtures").join("generate.py"))
        .arg("--check")
        .output()
        .expect("the generator runs");
    assert!(
        output.status.success(),
        "fixtures/generate.py --check failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
