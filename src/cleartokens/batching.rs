//! Which batch of a step runs next: where it starts (a keyset walk over the primary key), how
//! many rows it may take (the batch size, lowered by the lock budget while batches hold their
//! row locks too long), and how it finds them ([`BatchShape`]). One [`Batching`] per step asks
//! for each [`BatchRequest`] and learns from each [`BatchOutcome`].

use std::time::Duration;

use crate::db::{BatchOutcome, BatchRequest, BatchShape, Step};

/// The batches of one step.
#[derive(Clone, Debug)]
pub struct Batching {
    step: Step,
    batch_size: u64,
    lock_budget: Option<Duration>,
    /// The last primary key of the previous batch (`i64::MIN` before the first).
    after_id: i64,
    /// Rows the next batch may take: the batch size, unless the lock budget lowered it.
    limit: u64,
    shape: BatchShape,
}

impl Batching {
    /// A step's first batch: a sweep from the start of the table, at the batch size.
    pub fn new(step: Step, batch_size: u64, lock_budget: Option<Duration>) -> Batching {
        Batching {
            step,
            batch_size,
            lock_budget,
            after_id: i64::MIN,
            limit: batch_size,
            shape: BatchShape::Sweep,
        }
    }

    /// The batch to run next.
    pub fn request(&self) -> BatchRequest {
        BatchRequest {
            step: self.step,
            after_id: self.after_id,
            limit: self.limit,
            shape: self.shape,
        }
    }

    /// Learns from the outcome of [`Batching::request`]'s batch; whether the step has more.
    pub fn learn(&mut self, outcome: &BatchOutcome) -> bool {
        let used_limit = self.limit;
        self.shape = next_shape(self.shape, outcome);
        if let Some(budget) = self.lock_budget {
            // A batch that deleted nothing locked nothing worth learning from.
            if outcome.deleted > 0 {
                self.limit = next_limit(used_limit, self.batch_size, outcome.locked, budget);
                if self.limit < used_limit {
                    tracing::info!(
                        step = %super::report::step_name(self.step),
                        locked_seconds = outcome.locked.as_secs_f64(),
                        budget_seconds = budget.as_secs_f64(),
                        rows = self.limit,
                        "batch held its locks over the budget: next batches are smaller"
                    );
                }
            }
        }
        if outcome.exhausted(used_limit) {
            return false;
        }
        match outcome.last_id {
            Some(last) => {
                self.after_id = last;
                true
            }
            None => false,
        }
    }
}

/// The shape of the next batch of a step, from how the last one went. A step that needs more
/// than its first batch tries ranges; a range that turned out to hold mostly rows that are kept
/// (steps 4 and 5, whose scan condition is looser than the full one: in a steady state most
/// expired access tokens still belong to a live refresh token) goes back to keys, and keys go to
/// ranges again once the matching rows are dense (the candidates filled less than twice their
/// count of ids).
pub fn next_shape(shape: BatchShape, outcome: &BatchOutcome) -> BatchShape {
    match shape {
        BatchShape::Sweep => BatchShape::Range,
        BatchShape::Keys => match (outcome.first_id, outcome.last_id) {
            (Some(first), Some(last))
                if outcome.candidates > 0
                    && (last.saturating_sub(first) as u64)
                        < outcome.candidates.saturating_mul(2) =>
            {
                BatchShape::Range
            }
            _ => BatchShape::Keys,
        },
        BatchShape::Range if outcome.deleted.saturating_mul(2) < outcome.candidates => {
            BatchShape::Keys
        }
        BatchShape::Range => BatchShape::Range,
    }
}

/// The row limit of the batch after one that held its locks for `locked` with `limit` rows: the
/// rows that fit 90 % of the budget at the same rate when it went over, never more than twice
/// the last limit (so one fast batch cannot jump to a size that overruns), between 1 and the
/// batch size. Within the budget a limit never shrinks, so a step that fits the budget runs at
/// the batch size throughout.
pub fn next_limit(limit: u64, batch_size: u64, locked: Duration, budget: Duration) -> u64 {
    let locked = locked.as_secs_f64().max(1e-6);
    let factor = (0.9 * budget.as_secs_f64() / locked).min(2.0);
    let scaled = (limit as f64 * factor).floor() as u64;
    if locked <= budget.as_secs_f64() && scaled < limit {
        return limit;
    }
    scaled.clamp(1, batch_size.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn outcome(candidates: u64, deleted: u64, ids: Option<(i64, i64)>) -> BatchOutcome {
        BatchOutcome {
            candidates,
            deleted,
            first_id: ids.map(|(first, _)| first),
            last_id: ids.map(|(_, last)| last),
            locked: ms(1),
        }
    }

    #[test]
    fn lock_budget_shrinks_slow_batches_and_regrows() {
        let budget = ms(500);
        // 1 s for 10,000 rows: the next batch aims at 450 ms.
        assert_eq!(next_limit(10_000, 10_000, ms(1_000), budget), 4_500);
        // Within the budget, even close to it: unchanged.
        assert_eq!(next_limit(4_500, 10_000, ms(480), budget), 4_500);
        // Fast: grows, at most 2x per batch, never above the batch size.
        assert_eq!(next_limit(4_500, 10_000, ms(100), budget), 9_000);
        assert_eq!(next_limit(9_000, 10_000, ms(100), budget), 10_000);
        // Very slow: never below one row.
        assert_eq!(next_limit(3, 10_000, ms(60_000), budget), 1);
        assert_eq!(next_limit(1, 10_000, ms(60_000), budget), 1);
    }

    #[test]
    fn shapes_follow_the_rows() {
        use BatchShape::*;
        // A step's second batch is a range, whatever the first found.
        assert_eq!(next_shape(Sweep, &outcome(10, 10, Some((1, 10)))), Range);
        assert_eq!(next_shape(Sweep, &outcome(10, 0, Some((1, 10)))), Range);
        // A range that kept most of its candidates goes to keys; half deleted stays a range.
        assert_eq!(next_shape(Range, &outcome(10, 4, Some((1, 10)))), Keys);
        assert_eq!(next_shape(Range, &outcome(10, 5, Some((1, 10)))), Range);
        // Keys that came dense (ids span less than twice the count) go back to ranges.
        assert_eq!(next_shape(Keys, &outcome(10, 10, Some((1, 19)))), Range);
        assert_eq!(next_shape(Keys, &outcome(10, 10, Some((1, 21)))), Keys);
        assert_eq!(next_shape(Keys, &outcome(0, 0, None)), Keys);
        assert_eq!(next_shape(Keys, &outcome(10, 10, None)), Keys);
    }

    #[test]
    fn a_step_walks_its_keys_until_a_batch_comes_short() {
        let mut batching = Batching::new(Step::ExpiredGrants, 10, None);
        let first = batching.request();
        assert_eq!(
            (first.after_id, first.limit, first.shape),
            (i64::MIN, 10, BatchShape::Sweep)
        );
        assert!(batching.learn(&outcome(10, 10, Some((3, 40)))));
        let second = batching.request();
        assert_eq!(
            (second.after_id, second.limit, second.shape),
            (40, 10, BatchShape::Range)
        );
        // Fewer candidates than the limit: the end of the table.
        assert!(!batching.learn(&outcome(9, 9, Some((41, 49)))));
        // No last id: nothing to continue after.
        let mut batching = Batching::new(Step::ExpiredGrants, 10, None);
        assert!(!batching.learn(&outcome(10, 10, None)));
    }

    #[test]
    fn the_lock_budget_learns_only_from_batches_that_deleted() {
        let mut batching = Batching::new(Step::ExpiredGrants, 10_000, Some(ms(500)));
        let slow = |deleted| BatchOutcome {
            locked: ms(1_000),
            ..outcome(10_000, deleted, Some((1, 10_000)))
        };
        assert!(batching.learn(&slow(0)));
        assert_eq!(batching.request().limit, 10_000);
        assert!(batching.learn(&slow(10_000)));
        assert_eq!(batching.request().limit, 4_500);
        // Off: always the batch size.
        let mut batching = Batching::new(Step::ExpiredGrants, 10_000, None);
        assert!(batching.learn(&slow(10_000)));
        assert_eq!(batching.request().limit, 10_000);
    }
}
