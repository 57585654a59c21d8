//! The `/ping` health contract: `Healthy` when idle, `HealthyBusy` while any invocation or
//! background work is in flight, with `time_of_last_update` stamped only when the status
//! changes (never per poll: AgentCore keeps a session alive as long as the stamp moves).
//!
//! Work registers itself by holding a [`BusyGuard`]; `/ping` only reads an atomic snapshot and
//! never waits on agent work.

use std::sync::Arc;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What `/ping` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Status {
    Healthy,
    HealthyBusy,
}

/// The `/ping` body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Ping {
    pub status: Status,
    /// Unix seconds of the last change of `status` (or of the first ping).
    pub time_of_last_update: u64,
}

#[derive(Debug)]
struct State {
    in_flight: usize,
    /// `None` until the first ping or change.
    last_update: Option<u64>,
}

/// Shared health state. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Health {
    state: Arc<Mutex<State>>,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                in_flight: 0,
                last_update: None,
            })),
        }
    }
}

impl Health {
    /// The current status, stamping the time on the first call.
    pub fn ping(&self) -> Ping {
        let mut state = lock(&self.state);
        let time_of_last_update = *state.last_update.get_or_insert_with(now);
        Ping {
            status: status_of(state.in_flight),
            time_of_last_update,
        }
    }

    /// Marks work as in flight until the guard is dropped.
    pub fn busy(&self) -> BusyGuard {
        let mut state = lock(&self.state);
        state.in_flight += 1;
        if state.in_flight == 1 {
            state.last_update = Some(now());
        }
        BusyGuard {
            state: self.state.clone(),
        }
    }
}

/// Keeps the status `HealthyBusy` while alive.
#[derive(Debug)]
pub struct BusyGuard {
    state: Arc<Mutex<State>>,
}

impl Drop for BusyGuard {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.last_update = Some(now());
        }
    }
}

fn status_of(in_flight: usize) -> Status {
    if in_flight == 0 {
        Status::Healthy
    } else {
        Status::HealthyBusy
    }
}

/// The state is a counter and a timestamp, valid after any panic, so a poisoned lock is used
/// as is.
fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_follows_the_work_in_flight() {
        let health = Health::default();
        assert_eq!(health.ping().status, Status::Healthy);
        let first = health.busy();
        let second = health.busy();
        assert_eq!(health.ping().status, Status::HealthyBusy);
        drop(first);
        assert_eq!(health.ping().status, Status::HealthyBusy);
        drop(second);
        assert_eq!(health.ping().status, Status::Healthy);
    }

    #[test]
    fn the_timestamp_does_not_move_between_changes() {
        let health = Health::default();
        let first = health.ping().time_of_last_update;
        assert_eq!(health.ping().time_of_last_update, first);
        lock(&health.state).last_update = Some(1);
        assert_eq!(
            health.ping().time_of_last_update,
            1,
            "polling never restamps"
        );
        let guard = health.busy();
        assert!(
            health.ping().time_of_last_update > 1,
            "becoming busy restamps"
        );
        lock(&health.state).last_update = Some(2);
        let nested = health.busy();
        assert_eq!(
            health.ping().time_of_last_update,
            2,
            "more work while busy is no change"
        );
        drop(nested);
        assert_eq!(health.ping().time_of_last_update, 2);
        drop(guard);
        assert!(
            health.ping().time_of_last_update > 2,
            "becoming idle restamps"
        );
    }
}
