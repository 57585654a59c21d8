//! The `healthcheck` command both images run as their container health check (`HEALTHCHECK
//! CMD ["<binary>", "healthcheck"]`): the images have no shell and no curl, so the binary asks
//! its own running server over loopback and exits 0 or 1.

use std::process::ExitCode;
use std::time::Duration;

/// Asks `url` once, within two seconds; healthy when `healthy(status, body)` says so. Prints
/// the reason for an unhealthy answer on stderr.
pub async fn check(url: &str, healthy: impl Fn(u16, &str) -> bool) -> ExitCode {
    let answer = async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let response = client.get(url).send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok::<_, reqwest::Error>((status, body))
    }
    .await;
    match answer {
        Ok((status, body)) if healthy(status, &body) => ExitCode::SUCCESS,
        Ok((status, _)) => {
            eprintln!("unhealthy: {url} answered HTTP {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("unhealthy: {url} did not answer: {error}");
            ExitCode::FAILURE
        }
    }
}
