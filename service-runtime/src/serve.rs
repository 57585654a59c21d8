//! Serving an axum router until the process is asked to stop, the same way in both binaries:
//! [`bind`] the listener, then [`serve_until_shutdown`] with `TCP_NODELAY` on every accepted
//! connection ([`crate::no_delay`]) and a shutdown in two stages.
//!
//! 1. The signal ([`crate::shutdown::signal`]): no new connections; requests already running
//!    go on, each connection closes when its last answer is sent.
//! 2. After the grace period ([`crate::shutdown::ShutdownArgs`]): the binary's own step
//!    ([`ShutdownStages::on_grace_over`], e.g. the agent ends its running turns so their
//!    streams close), then at most [`ShutdownStages::linger`] more for connections to close,
//!    and serving ends whatever is still open.
//!
//! What each binary logs at each stage stays with it (the callbacks and the [`Stopped`] it gets
//! back), and so does its `listening` line, whose fields differ per binary.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Why serving could not start or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot listen on {host}:{port}")]
    Bind {
        host: IpAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("listener has no local address")]
    NoLocalAddress(#[source] std::io::Error),
    #[error("HTTP server failed")]
    Serve(#[source] std::io::Error),
}

/// Binds a listener on `host`:`port` and tells the address it got (the port when `port` is 0).
pub async fn bind(host: IpAddr, port: u16) -> Result<(TcpListener, SocketAddr), ServeError> {
    let listener = TcpListener::bind((host, port))
        .await
        .map_err(|source| ServeError::Bind { host, port, source })?;
    let address = listener.local_addr().map_err(ServeError::NoLocalAddress)?;
    Ok((listener, address))
}

/// What a server does at each stage of its shutdown (see the module doc).
pub struct ShutdownStages {
    /// How long running requests may go on after the signal.
    pub grace: Duration,
    /// How long connections may stay open once the grace period is over and
    /// [`on_grace_over`](Self::on_grace_over) has run.
    pub linger: Duration,
    /// Runs when the signal comes, before new connections are refused.
    pub on_signal: Box<dyn FnOnce() + Send>,
    /// Runs when the grace period is over with connections still open.
    pub on_grace_over: Box<dyn FnOnce() + Send>,
}

/// How serving ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// Every connection closed in time.
    Drained,
    /// Connections were still open after the grace period and the linger; they were dropped.
    Abandoned,
}

/// Serves `router` on `listener` until SIGTERM or Ctrl-C, then shuts down in the two stages
/// of `stages`.
pub async fn serve_until_shutdown(
    listener: TcpListener,
    router: Router,
    stages: ShutdownStages,
) -> Result<Stopped, ServeError> {
    serve_until(listener, router, crate::shutdown::signal(), stages).await
}

/// [`serve_until_shutdown`] with the signal given as `stop`.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    stop: impl Future<Output = ()> + Send,
    stages: ShutdownStages,
) -> Result<Stopped, ServeError> {
    let ShutdownStages {
        grace,
        linger,
        on_signal,
        on_grace_over,
    } = stages;
    let (signalled_tx, mut signalled_rx) = watch::channel(false);
    let server =
        axum::serve(listener.tap_io(crate::no_delay), router).with_graceful_shutdown(async move {
            let _ = signalled_rx.wait_for(|signalled| *signalled).await;
        });
    let shutdown = async move {
        stop.await;
        on_signal();
        let _ = signalled_tx.send(true);
        tokio::time::sleep(grace).await;
        on_grace_over();
        tokio::time::sleep(linger).await;
    };
    tokio::select! {
        served = server => {
            served.map_err(ServeError::Serve)?;
            Ok(Stopped::Drained)
        }
        () = shutdown => Ok(Stopped::Abandoned),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use axum::routing::get;
    use tokio::sync::{Notify, oneshot};

    use super::*;

    /// What the callbacks saw, in order.
    #[derive(Default)]
    struct Journal(Mutex<Vec<&'static str>>);

    impl Journal {
        fn note(&self, event: &'static str) {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(event);
        }

        fn events(&self) -> Vec<&'static str> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        }
    }

    fn stages(
        journal: &Arc<Journal>,
        grace: Duration,
        linger: Duration,
        on_grace_over: impl FnOnce() + Send + 'static,
    ) -> ShutdownStages {
        let signalled = journal.clone();
        let grace_over = journal.clone();
        ShutdownStages {
            grace,
            linger,
            on_signal: Box::new(move || signalled.note("signal")),
            on_grace_over: Box::new(move || {
                grace_over.note("grace over");
                on_grace_over();
            }),
        }
    }

    struct Running {
        url: String,
        stop: oneshot::Sender<()>,
        served: tokio::task::JoinHandle<Result<Stopped, ServeError>>,
    }

    async fn start(router: Router, stages: ShutdownStages) -> Running {
        let (listener, address) = bind(IpAddr::from([127, 0, 0, 1]), 0)
            .await
            .expect("a free port");
        let (stop, stopped) = oneshot::channel();
        let stop_signal = async move {
            let _ = stopped.await;
        };
        let served = tokio::spawn(serve_until(listener, router, stop_signal, stages));
        Running {
            url: format!("http://{address}"),
            stop,
            served,
        }
    }

    #[tokio::test]
    async fn a_request_running_at_the_signal_finishes_and_new_connections_are_refused() {
        let journal = Arc::new(Journal::default());
        let router = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let server = start(
            router,
            stages(&journal, Duration::from_secs(5), Duration::ZERO, || {}),
        )
        .await;
        let url = format!("{}/slow", server.url);
        let running = tokio::spawn(async move { reqwest::get(url).await?.text().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        server.stop.send(()).expect("server waits for the signal");
        tokio::time::sleep(Duration::from_millis(50)).await;

        let refused = reqwest::get(format!("{}/slow", server.url)).await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(running.await.expect("joins").expect("answered"), "done");
        let stopped = server.served.await.expect("joins").expect("served");
        assert_eq!(stopped, Stopped::Drained);
        assert_eq!(journal.events(), ["signal"]);
    }

    #[tokio::test]
    async fn work_the_second_stage_ends_closes_its_connection_within_the_linger() {
        let journal = Arc::new(Journal::default());
        let ending = Arc::new(Notify::new());
        let ended = ending.clone();
        let router = Router::new().route(
            "/turn",
            get(move || async move {
                ended.notified().await;
                "ended"
            }),
        );
        let grace = Duration::from_millis(200);
        let server = start(
            router,
            stages(&journal, grace, Duration::from_secs(5), move || {
                ending.notify_one()
            }),
        )
        .await;
        let url = format!("{}/turn", server.url);
        let running = tokio::spawn(async move { reqwest::get(url).await?.text().await });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let signalled_at = Instant::now();
        server.stop.send(()).expect("server waits for the signal");

        assert_eq!(running.await.expect("joins").expect("answered"), "ended");
        let stopped = server.served.await.expect("joins").expect("served");
        assert_eq!(stopped, Stopped::Drained);
        let took = signalled_at.elapsed();
        assert!(took >= grace, "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(journal.events(), ["signal", "grace over"]);
    }

    #[tokio::test]
    async fn connections_still_open_after_the_grace_and_the_linger_are_abandoned() {
        let journal = Arc::new(Journal::default());
        let router = Router::new().route("/stuck", get(std::future::pending::<&'static str>));
        let grace = Duration::from_millis(200);
        let linger = Duration::from_millis(300);
        let server = start(router, stages(&journal, grace, linger, || {})).await;
        let url = format!("{}/stuck", server.url);
        let _stuck = tokio::spawn(reqwest::get(url));
        tokio::time::sleep(Duration::from_millis(100)).await;
        let signalled_at = Instant::now();
        server.stop.send(()).expect("server waits for the signal");

        let stopped = server.served.await.expect("joins").expect("served");
        assert_eq!(stopped, Stopped::Abandoned);
        let took = signalled_at.elapsed();
        assert!(took >= grace + linger, "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(journal.events(), ["signal", "grace over"]);
    }

    #[tokio::test]
    async fn a_port_in_use_names_the_address() {
        let (_taken, address) = bind(IpAddr::from([127, 0, 0, 1]), 0)
            .await
            .expect("a free port");
        let error = bind(address.ip(), address.port())
            .await
            .expect_err("the port is taken");
        assert_eq!(
            error.to_string(),
            format!("cannot listen on 127.0.0.1:{}", address.port())
        );
    }
}
