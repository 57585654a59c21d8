//! Where things are: the workspace root, the built binaries and the project's Python
//! environment.

use std::path::PathBuf;

/// The workspace root (the folder holding the top-level `Cargo.toml`).
pub fn root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("the tests crate lives one level below the workspace root")
        .to_path_buf()
}

/// A binary of the workspace, from the same target folder and profile as the running program.
///
/// Test executables live in `<target>/<profile>/deps`, binaries (the benchmarks too) in
/// `<target>/<profile>`. The README's test and benchmark commands build the workspace first,
/// so the binary is as fresh as the caller.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the program knows its own path");
    let mut profile_dir = exe.parent().expect("an executable lives in a folder");
    if profile_dir.ends_with("deps") {
        profile_dir = profile_dir
            .parent()
            .expect("deps lives in the profile folder");
    }
    let path = profile_dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the workspace first (scripts/test does), e.g. `cargo build --workspace`",
        path.display()
    );
    path
}

/// A program installed in the project's Python virtual environment (`.venv`).
pub fn venv_program(name: &str) -> PathBuf {
    let path = root().join(".venv").join("bin").join(name);
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which creates the project's Python environment",
        path.display()
    );
    path
}
