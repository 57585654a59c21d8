//! The browser chat (`web/`) under test: the page built once into a directory of the test's
//! own, served by `web/serve.mjs` with the test's `config.json`, and driven in Debian's
//! Chromium by `tests/web/chat.mjs` (`playwright-core`).
//!
//! Both npm trees are installed from their lock files ([`crate::npm`]) and the page is built
//! under one file lock, so concurrent tests build once. Chromium is the machine's `/usr/bin/chromium` (Playwright's own
//! browser download is not used); when it is missing, an `apt-get install chromium` is tried
//! once, and if it is still missing the test fails saying so: it never passes without a
//! browser.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{npm, workspace};

/// Where Debian's Chromium is.
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest the whole browser scenario may take.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(300);

fn web_dir() -> PathBuf {
    workspace::root().join("web")
}

fn driver_dir() -> PathBuf {
    workspace::root().join("tests").join("web")
}

async fn ensure_chromium() -> anyhow::Result<()> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let attempt = npm::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive"),
        "apt-get install chromium",
    )
    .await;
    anyhow::ensure!(
        Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's Chromium at {CHROMIUM}; installing it failed ({attempt:?}). Install it with `apt-get install chromium` and run again"
    );
    Ok(())
}

/// The page built into `out_dir`, with both npm trees and Chromium ready.
pub async fn build_page(out_dir: &Path) -> anyhow::Result<()> {
    let _lock = npm::install_lock("web").await?;
    ensure_chromium().await?;
    npm::ci(&web_dir()).await?;
    npm::ci(&driver_dir()).await?;
    npm::run(
        Command::new("npm")
            .args(["run", "build", "--", "--outDir"])
            .arg(out_dir)
            .current_dir(web_dir()),
        "npm run build in web/",
    )
    .await
}

/// The built page served on a free loopback port until dropped.
pub struct PageServer {
    _child: Child,
    /// `http://127.0.0.1:<port>`, the page's origin.
    pub origin: String,
}

impl PageServer {
    pub async fn start(dist: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new("node")
            .arg(web_dir().join("serve.mjs"))
            .arg(dist)
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting web/serve.mjs (Node 20 or later must be on PATH)")?;
        let stdout = child.stdout.take().context("serve.mjs stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .context("serve.mjs did not say where it listens")??
            .context("serve.mjs ended before listening")?;
        let origin = line
            .split(" on ")
            .nth(1)
            .map(|url| url.trim_end_matches('/').to_owned())
            .with_context(|| format!("unexpected serve.mjs line: {line}"))?;
        Ok(Self {
            _child: child,
            origin,
        })
    }
}

/// What `chat.mjs` reported: one JSON value per line (`{"step", ...}` or `{"error"}`).
#[derive(Debug)]
pub struct Scenario {
    pub success: bool,
    pub lines: Vec<Value>,
    pub stderr: String,
}

impl Scenario {
    /// The line of step `name`.
    pub fn step(&self, name: &str) -> Option<&Value> {
        self.lines.iter().find(|l| l["step"] == name)
    }
}

/// Runs `tests/web/chat.mjs` with `settings` (JSON, see the script) in Chromium.
pub async fn run_scenario(settings: &Value) -> anyhow::Result<Scenario> {
    let child = Command::new("node")
        .arg(driver_dir().join("chat.mjs"))
        .current_dir(driver_dir())
        .env("WEB_CHAT_SETTINGS", settings.to_string())
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting tests/web/chat.mjs")?;
    let output = tokio::time::timeout(SCENARIO_TIMEOUT, child.wait_with_output())
        .await
        .context("the browser scenario did not finish in time")?
        .context("running the browser scenario")?;
    let lines = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect();
    Ok(Scenario {
        success: output.status.success(),
        lines,
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}
