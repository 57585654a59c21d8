//! JSON log lines on stdout, one object per event, which is what AgentCore ships to
//! CloudWatch. The level comes from `RUST_LOG` (default `info`). A panic is logged as an error
//! line before the process ends, so a crash at start is visible in the runtime's log group.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .init();
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panicked");
    }));
}
