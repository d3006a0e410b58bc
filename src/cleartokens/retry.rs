//! Retrying a batch (or a dry-run count) that failed for a reason that passes: exponential
//! back-off with jitter on deadlocks, serialization failures and lock timeouts (at most
//! [`MAX_ATTEMPTS`]); on a lost connection, retries for up to [`reconnect_budget`], each one
//! first making sure the run lock is still ours (re-taking it on a new session after a server
//! restart, or giving way with exit 3 if another run took it meanwhile). Anything else, and a
//! spent budget, ends the run with an error that says which step and batch failed.
//!
//! A server that stops answering (a silent network) is bounded twice: each attempt, its lock
//! check included, must end within the store's batch deadline, and a deadline that ran out
//! counts as a lost connection (the batch's fate is unknown, but DOT's deletes are idempotent,
//! so it may run again on a new connection). Once the connection is lost, each retry is also
//! cut to what is left of the reconnect budget, so no retry outlives it: the run ends at most
//! one batch deadline plus the budget after the server went silent ([`crate::db::network`]).

use std::future::Future;
use std::time::Duration;

use anyhow::Result;
use tokio::time::Instant;

use super::report::{human, step_name};
use super::stop::Stop;
use super::Cleaner;
use crate::db::{BatchOutcome, BatchRequest, CleanupLock, Cutoffs, ErrorClass, Step};

/// Attempts per batch (the first plus retries) on deadlocks, serialization failures and lock
/// timeouts.
pub const MAX_ATTEMPTS: u32 = 6;
/// First back-off delay; doubled per retry, capped, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// How long a lost connection (server restart, fail-over, dropped network) is retried, counted
/// from the first failure, before the run gives up with exit 1: the network timeout
/// (`--network-timeout`, 30 s by default). Every retry first makes sure the run lock is still
/// ours (re-taking it on a new session), then runs the batch again.
pub fn reconnect_budget() -> Duration {
    crate::db::network::timeout()
}
/// Back-off cap while reconnecting: a server that is back is used again within this.
const RECONNECT_BACKOFF_CAP: Duration = Duration::from_secs(2);

/// One batch, retried as [`retrying`] does: the run lock is checked before every attempt.
/// `None` when a stop was requested during a back-off (nothing of the batch committed). Each
/// retry adds one to `retries`.
pub async fn delete_batch<C: Cleaner + ?Sized>(
    store: &C,
    lock: Option<&mut (dyn CleanupLock + 'static)>,
    stop: &Stop<'_>,
    cutoffs: &Cutoffs,
    batch: BatchRequest,
    retries: &mut u64,
) -> Result<Option<BatchOutcome>> {
    let position = if batch.after_id == i64::MIN {
        "in the first batch".to_string()
    } else {
        format!("in the batch after id {}", batch.after_id)
    };
    let failed = Failed {
        step: batch.step,
        what: format!("failed {position}"),
        consequence: "finished batches are committed",
    };
    retrying(store, lock, stop, &failed, retries, || {
        store.delete_batch(cutoffs, batch)
    })
    .await
}

/// An incremental run's delete of listed ids ([`Cleaner::delete_listed`]), retried as a batch
/// is. `None` when a stop was requested during a back-off.
pub async fn delete_listed<C: Cleaner + ?Sized>(
    store: &C,
    lock: Option<&mut (dyn CleanupLock + 'static)>,
    stop: &Stop<'_>,
    cutoffs: &Cutoffs,
    (step, ids): (Step, &[i64]),
    retries: &mut u64,
) -> Result<Option<u64>> {
    let failed = Failed {
        step,
        what: format!(
            "failed re-checking captured ids from {}",
            ids.first().copied().unwrap_or_default()
        ),
        consequence: "finished batches are committed",
    };
    retrying(store, lock, stop, &failed, retries, || {
        store.delete_listed(step, cutoffs, ids)
    })
    .await
}

/// A dry run's count of one step, retried as [`retrying`] does (a dry run holds no lock). Each
/// retry adds one to `retries`.
pub async fn count<C: Cleaner + ?Sized>(
    store: &C,
    stop: &Stop<'_>,
    cutoffs: &Cutoffs,
    step: Step,
    retries: &mut u64,
) -> Result<Option<u64>> {
    let failed = Failed {
        step,
        what: "could not be counted".to_string(),
        consequence: "a dry run changes nothing",
    };
    retrying(store, None, stop, &failed, retries, || {
        store.count_deletable(step, cutoffs)
    })
    .await
}

/// How a retried operation reads in the error that ends the run: "<step> <what>[ (why)];
/// <consequence>".
struct Failed {
    step: Step,
    what: String,
    consequence: &'static str,
}

impl Failed {
    fn give_up(&self, error: anyhow::Error, why: &str) -> anyhow::Error {
        error.context(format!(
            "{} {}{why}; {}",
            human(self.step),
            self.what,
            self.consequence
        ))
    }
}

/// Runs `attempt` until it succeeds, retrying with back-off while [`Budget`] allows. With a run
/// lock, the lock is checked before every attempt (one round trip on its own session), so a
/// server restart that silently ended the lock's session is noticed and the lock re-taken.
/// Each attempt runs under [`Stop::guard`]: a second signal gives it up. `None` when a stop was
/// requested during a back-off. `retries` counts the attempts after the first, for the summary.
async fn retrying<C, T, F, Fut>(
    store: &C,
    mut lock: Option<&mut (dyn CleanupLock + 'static)>,
    stop: &Stop<'_>,
    failed: &Failed,
    retries: &mut u64,
    mut attempt: F,
) -> Result<Option<T>>
where
    C: Cleaner + ?Sized,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut budget = Budget::new(failed.step);
    let bound = store.attempt_bound();
    // The error that lost the connection, for the message when a retry is cut short.
    let mut first_lost: Option<anyhow::Error> = None;
    loop {
        let limit = bound.as_ref().map(|b| budget.attempt_limit(b.within));
        let result = stop
            .guard(async {
                let work = async {
                    ensure_held(lock.as_deref_mut(), failed.step).await?;
                    attempt().await
                };
                match (&bound, limit) {
                    (Some(bound), Some(limit)) => {
                        bound
                            .place
                            .within(limit, "a batch and its run lock check", work)
                            .await
                    }
                    _ => work.await,
                }
            })
            .await?;
        let error = match result {
            Ok(outcome) => {
                budget.succeeded();
                return Ok(Some(outcome));
            }
            Err(error) => error,
        };
        let class = store.classify_error(&error);
        let delay = match budget.failed(class, &error) {
            Ok(delay) => delay,
            Err(why) => {
                // A retry cut at the end of the budget says less than what lost the connection.
                let error = match first_lost.take() {
                    Some(first) if crate::db::network::is_unanswered(&error) => first,
                    _ => error,
                };
                return Err(failed.give_up(error, &why));
            }
        };
        *retries += 1;
        if class == ErrorClass::ConnectionLost && first_lost.is_none() {
            first_lost = Some(error);
        }
        if !stop.sleep(delay).await? {
            return Ok(None);
        }
    }
}

/// Makes sure the run lock (if any) is still ours before an attempt.
async fn ensure_held(lock: Option<&mut (dyn CleanupLock + 'static)>, step: Step) -> Result<()> {
    if let Some(lock) = lock {
        if lock.ensure_held().await? {
            tracing::warn!(
                step = %step_name(step),
                "{}: the run lock's session was gone; {} re-taken",
                human(step),
                lock.describe()
            );
        }
    }
    Ok(())
}

/// The retry budgets of one operation, per error class.
struct Budget {
    step: Step,
    transient_attempts: u32,
    lost_attempts: u32,
    /// When the first attempt that lost the connection started.
    lost_since: Option<Instant>,
}

impl Budget {
    fn new(step: Step) -> Budget {
        Budget {
            step,
            transient_attempts: 0,
            lost_attempts: 0,
            lost_since: None,
        }
    }

    /// The operation succeeded: say so if it had lost its connection.
    fn succeeded(&self) {
        if let Some(since) = self.lost_since {
            tracing::warn!(
                step = %step_name(self.step),
                seconds = since.elapsed().as_secs_f64(),
                attempts = self.lost_attempts,
                "{}: reconnected after {:.1} s ({} failed attempts); carrying on",
                human(self.step),
                since.elapsed().as_secs_f64(),
                self.lost_attempts
            );
        }
    }

    /// How long the next attempt may take: the batch deadline, and once the connection is
    /// lost no longer than what is left of the reconnect budget.
    fn attempt_limit(&self, batch_deadline: Duration) -> Duration {
        match self.lost_since {
            Some(since) => batch_deadline.min(reconnect_budget().saturating_sub(since.elapsed())),
            None => batch_deadline,
        }
    }

    /// An attempt failed just now with `error` of `class`: the delay before the next attempt,
    /// or why there is none (the text the error gets; empty for a permanent error).
    fn failed(&mut self, class: ErrorClass, error: &anyhow::Error) -> Result<Duration, String> {
        match class {
            ErrorClass::Permanent => Err(String::new()),
            ErrorClass::Transient => self.transient(error),
            ErrorClass::ConnectionLost => self.connection_lost(error),
        }
    }

    fn transient(&mut self, error: &anyhow::Error) -> Result<Duration, String> {
        self.transient_attempts += 1;
        let attempts = self.transient_attempts;
        if attempts >= MAX_ATTEMPTS {
            return Err(format!(" (gave up after {attempts} attempts)"));
        }
        let delay = backoff(attempts, BACKOFF_CAP);
        tracing::warn!(
            step = %step_name(self.step),
            attempt = attempts + 1,
            delay_seconds = delay.as_secs_f64(),
            "{}: {}; retrying in {} ms (attempt {}/{MAX_ATTEMPTS})",
            human(self.step),
            crate::error::message(error),
            delay.as_millis(),
            attempts + 1
        );
        Ok(delay)
    }

    fn connection_lost(&mut self, error: &anyhow::Error) -> Result<Duration, String> {
        self.lost_attempts += 1;
        let attempts = self.lost_attempts;
        // From the first failure: the attempt that failed was bounded by the batch deadline,
        // and the budget is the time given to the server to come back after that.
        let since = *self.lost_since.get_or_insert_with(Instant::now);
        let lost_for = since.elapsed();
        let budget = reconnect_budget();
        if lost_for >= budget {
            return Err(format!(
                " (connection lost, not back within {}, {attempts} attempts)",
                seconds(budget)
            ));
        }
        let delay = backoff(attempts, RECONNECT_BACKOFF_CAP).min(budget - lost_for);
        if attempts == 1 {
            tracing::warn!(
                step = %step_name(self.step),
                budget_seconds = budget.as_secs_f64(),
                "{}: connection lost: {}; reconnecting for up to {}",
                human(self.step),
                crate::error::message(error),
                seconds(budget)
            );
        } else {
            tracing::info!(
                step = %step_name(self.step),
                attempt = attempts + 1,
                seconds = lost_for.as_secs_f64(),
                delay_seconds = delay.as_secs_f64(),
                "{}: still no connection after {:.1} s: {}; retrying in {} ms",
                human(self.step),
                lost_for.as_secs_f64(),
                crate::error::message(error),
                delay.as_millis()
            );
        }
        Ok(delay)
    }
}

/// `30 s`, `2.5 s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// `BACKOFF_BASE · 2^(attempt-1)`, capped, times a random factor in [0.5, 1): retries of
/// several clients that collided do not collide again in lockstep.
fn backoff(attempt: u32, cap: Duration) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << (attempt - 1).min(16));
    let capped = exp.min(cap);
    capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

/// The longest back-off before attempt `attempt + 1` (its jitter only shortens it), for tests.
#[cfg(test)]
pub fn nominal_backoff(attempt: u32, connection_lost: bool) -> Duration {
    let cap = if connection_lost {
        RECONNECT_BACKOFF_CAP
    } else {
        BACKOFF_CAP
    };
    BACKOFF_BASE
        .saturating_mul(1u32 << (attempt - 1).min(16))
        .min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt, BACKOFF_CAP);
            let nominal = BACKOFF_BASE
                .saturating_mul(1 << (attempt - 1))
                .min(BACKOFF_CAP);
            assert!(d >= nominal / 2 && d <= nominal, "{attempt}: {d:?}");
            assert_eq!(nominal_backoff(attempt, false), nominal);
        }
        assert_eq!(nominal_backoff(9, true), RECONNECT_BACKOFF_CAP);
    }
}
