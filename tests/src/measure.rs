//! What the benchmarks read about a running process from `/proc`, and percentiles.

use anyhow::Context;

/// User plus system CPU time of a process, in milliseconds (`/proc` counts in USER_HZ, which
/// is 100 per second on every mainstream Linux build).
pub fn cpu_ms(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let after_name = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    Ok(ticks as f64 * 10.0)
}

/// A memory figure of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, `RssAnon`, ...) in MiB.
pub fn memory_mib(pid: u32, field: &str) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(field)?
                .trim_start_matches(':')
                .trim()
                .strip_suffix(" kB")?
                .parse::<f64>()
                .ok()
        })
        .map(|kib| kib / 1024.0)
        .with_context(|| format!("{field} not found in /proc/{pid}/status"))
}

/// The `q` quantile (0 to 1) of `values`.
pub fn percentile(values: &[f64], q: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    // A float-to-integer `as` saturates (NaN and negatives to 0); any index past the end,
    // from a `q` above 1, finds nothing and the answer is NaN.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let index = (sorted.len().saturating_sub(1) as f64 * q).round() as usize;
    sorted.get(index).copied().unwrap_or(f64::NAN)
}
