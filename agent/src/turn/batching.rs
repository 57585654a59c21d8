//! How the tool calls of one model response are grouped for running: a run of consecutive
//! read-only calls forms one batch, run concurrently (bounded by the tool concurrency); any
//! other call is a batch of its own. Batches run one after another, so results keep the order
//! the model gave.

use std::ops::Range;

/// The batches, as index ranges into the calls, in call order; `read_only[i]` says whether
/// call `i` may run alongside others.
pub fn batches(read_only: &[bool]) -> Vec<Range<usize>> {
    let mut batches = Vec::new();
    let mut start = 0;
    while start < read_only.len() {
        let end = if read_only[start] {
            start + read_only[start..].iter().take_while(|r| **r).count()
        } else {
            start + 1
        };
        batches.push(start..end);
        start = end;
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_calls_make_no_batches() {
        assert!(batches(&[]).is_empty());
    }

    #[test]
    fn consecutive_read_only_calls_run_together() {
        assert_eq!(batches(&[true, true, true]), vec![0..3]);
    }

    #[test]
    fn calls_that_are_not_read_only_run_alone() {
        assert_eq!(batches(&[false, false]), vec![0..1, 1..2]);
    }

    #[test]
    fn a_call_that_is_not_read_only_splits_the_read_only_runs() {
        assert_eq!(
            batches(&[true, true, false, true, false, false, true, true]),
            vec![0..2, 2..3, 3..4, 4..5, 5..6, 6..8]
        );
    }

    #[test]
    fn the_batches_cover_every_call_once_in_order() {
        let read_only = [false, true, true, false, true];
        let covered: Vec<usize> = batches(&read_only).into_iter().flatten().collect();
        assert_eq!(covered, vec![0, 1, 2, 3, 4]);
    }
}
