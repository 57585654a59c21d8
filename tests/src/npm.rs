//! The npm trees the system tests drive (the AG-UI client in `tests/agui/`, the web chat in
//! `web/` and its browser driver in `tests/web/`), installed from their lock files with
//! `npm ci` when missing or older than the lock, so CI needs nothing by hand. nextest runs each
//! test in its own process: an install holds a file lock, so concurrent tests install once.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use tokio::process::Command;

/// Longest one set-up command (`npm ci`, a build, a package install) may take.
pub const SETUP_TIMEOUT: Duration = Duration::from_secs(600);

/// Runs a set-up command to its end within [`SETUP_TIMEOUT`]; its output is shown only when it
/// fails.
pub async fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let child = command
        .env("NO_UPDATE_NOTIFIER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {what}"))?;
    let output = tokio::time::timeout(SETUP_TIMEOUT, child.wait_with_output())
        .await
        .with_context(|| format!("{what} did not finish in time"))?
        .with_context(|| format!("running {what}"))?;
    anyhow::ensure!(
        output.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// The machine-wide lock `name`, held until the returned file is dropped; taking it may wait
/// for another test's install.
pub async fn install_lock(name: &str) -> anyhow::Result<std::fs::File> {
    let path = std::env::temp_dir().join(format!("system-tests-{name}-npm.lock"));
    tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
        let lock = std::fs::File::create(&path).context("creating the install lock")?;
        lock.lock().context("taking the install lock")?;
        Ok(lock)
    })
    .await
    .context("the install lock task")?
}

/// `npm ci` in `dir` unless its installed tree is at least as new as its lock file. Call it
/// holding an [`install_lock`].
pub async fn ci(dir: &Path) -> anyhow::Result<()> {
    if installed(dir) {
        return Ok(());
    }
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(dir),
        &format!("npm ci in {}", dir.display()),
    )
    .await
}

/// Whether `node_modules` was brought in line with `package-lock.json` after its last change:
/// npm rewrites `node_modules/.package-lock.json` on every install.
fn installed(dir: &Path) -> bool {
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    match (
        modified(dir.join("node_modules/.package-lock.json")),
        modified(dir.join("package-lock.json")),
    ) {
        (Some(tree), Some(lock)) => tree >= lock,
        _ => false,
    }
}
