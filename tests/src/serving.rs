//! How every HTTP stand-in serves its router: in the background, on its own listener, until
//! the [`Serving`] handle is dropped (or [`Serving::stop`] is called), so a test's stand-ins
//! end with the test.

use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Binds a free loopback port for a stand-in; gives the listener and its base URL,
/// `http://127.0.0.1:<port>`.
pub async fn bind_loopback() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a free loopback port");
    let address = listener
        .local_addr()
        .expect("bound listener has an address");
    (listener, format!("http://{address}"))
}

/// A stand-in's running server. Dropping it stops accepting and closes idle connections
/// (axum's graceful shutdown); answers in flight may finish.
pub struct Serving {
    stop: watch::Sender<()>,
    task: JoinHandle<()>,
}

impl Serving {
    /// Serves `app` on `listener` (with `TCP_NODELAY`, as our binaries do) in a background
    /// task; `name` names the stand-in in the message printed if serving fails.
    pub fn start(name: &'static str, listener: TcpListener, app: Router) -> Self {
        let (stop, mut stopped) = watch::channel(());
        let task = tokio::spawn(async move {
            let served = axum::serve(listener.tap_io(service_runtime::no_delay), app)
                .with_graceful_shutdown(async move {
                    // Resolves with an error when the sender is dropped.
                    let _ = stopped.changed().await;
                });
            if let Err(error) = served.await {
                eprintln!("{name} stopped with an error: {error}");
            }
        });
        Self { stop, task }
    }

    /// Tells the server to stop and waits up to `grace` for the answers in flight; gives
    /// `false` when some were still running then.
    pub async fn stop(self, grace: Duration) -> bool {
        drop(self.stop);
        tokio::time::timeout(grace, self.task).await.is_ok()
    }
}
