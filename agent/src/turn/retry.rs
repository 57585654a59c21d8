//! The delay before retrying a model call: exponential backoff with full jitter, bounded by the
//! turn's retry budget.
//!
//! The random draw is a parameter, so the maths is deterministic under test; the loop passes
//! `rand::random::<f64>()`.

use std::time::Duration;

/// The attempt after which the ceiling stops doubling, so the shift never overflows.
const LAST_DOUBLING: u32 = 16;

/// The largest delay for the `attempt`-th retry (counted from 1): `base` doubled per attempt,
/// up to [`LAST_DOUBLING`] doublings, saturating at [`Duration::MAX`].
pub fn ceiling(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.min(LAST_DOUBLING))
}

/// Full jitter: a delay anywhere in `[0, ceiling]`, picked by `draw` in `[0, 1)`.
pub fn jittered(ceiling: Duration, draw: f64) -> Duration {
    ceiling.mul_f64(draw)
}

/// The delay to wait, or `None` when waiting it would pass the budget and the retries stop.
pub fn within_budget(elapsed: Duration, delay: Duration, budget: Duration) -> Option<Duration> {
    (elapsed + delay <= budget).then_some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: Duration = Duration::from_millis(100);

    #[test]
    fn the_ceiling_doubles_per_attempt() {
        assert_eq!(ceiling(BASE, 1), Duration::from_millis(200));
        assert_eq!(ceiling(BASE, 2), Duration::from_millis(400));
        assert_eq!(ceiling(BASE, 3), Duration::from_millis(800));
    }

    #[test]
    fn the_ceiling_stops_doubling_after_the_last_doubling() {
        let last = ceiling(BASE, LAST_DOUBLING);
        assert_eq!(last, BASE * 65_536);
        assert_eq!(ceiling(BASE, LAST_DOUBLING + 1), last);
        assert_eq!(ceiling(BASE, u32::MAX), last);
    }

    #[test]
    fn the_ceiling_saturates_instead_of_overflowing() {
        assert_eq!(ceiling(Duration::MAX, 1), Duration::MAX);
        assert_eq!(ceiling(Duration::from_secs(u64::MAX / 4), 3), Duration::MAX);
    }

    #[test]
    fn the_jittered_delay_is_within_zero_and_the_ceiling() {
        let top = ceiling(BASE, 3);
        assert_eq!(jittered(top, 0.0), Duration::ZERO);
        assert_eq!(jittered(top, 0.5), top / 2);
        let near_top = jittered(top, 0.999_999);
        assert!(near_top <= top, "{near_top:?} > {top:?}");
        assert!(near_top > top * 9 / 10, "{near_top:?}");
    }

    #[test]
    fn a_delay_that_fits_the_budget_is_kept() {
        let budget = Duration::from_secs(2);
        let delay = Duration::from_millis(500);
        assert_eq!(
            within_budget(Duration::from_millis(1_500), delay, budget),
            Some(delay)
        );
    }

    #[test]
    fn a_delay_that_would_exceed_the_budget_stops_the_retries() {
        let budget = Duration::from_secs(2);
        assert_eq!(
            within_budget(
                Duration::from_millis(1_501),
                Duration::from_millis(500),
                budget
            ),
            None
        );
        assert_eq!(
            within_budget(Duration::ZERO, Duration::from_secs(3), budget),
            None
        );
    }
}
