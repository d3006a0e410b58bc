//! `cleartokens` as a process, the same on every backend: DOT's steps in DOT's order (those of the
//! release whose [`crate::db::Rules`] the plan follows; steps it lacks are reported as such), each a
//! keyset walk of short batches (or, for a dry run, one count), stopping cleanly between batches
//! on a signal or the time budget.
//!
//! - [`settings`]: what a run is asked to do, checked in DOT's words, and its cutoffs;
//! - [`batching`]: which batch of a step runs next (start, row limit, shape);
//! - [`retry`]: retrying a batch that failed for a reason that passes;
//! - [`stop`]: signals and the time budget, and the one stop check;
//! - [`incremental`]: `--incremental`'s choice of pass and its high-water mark;
//! - [`report`]: DOT's lines, the progress line and the JSON summary;
//! - [`metrics`]: the summary as Prometheus text for `--metrics-file`.
//!
//! The SQL of a batch lives in the backends ([`crate::db::Store::delete_batch`]); this module
//! only decides which batch runs next and when to stop. The loop sees the store through the
//! narrow [`Cleaner`] so that it can be tested without a server.

pub mod batching;
pub mod incremental;
pub mod metrics;
pub mod report;
pub mod retry;
pub mod settings;
pub mod stop;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::time::Instant;

use self::batching::Batching;
use self::report::{Output, Report, Reporter, StepReport, StepStatus, StopReason, Totals};
use self::settings::Plan;
use self::stop::{Signals, Stop};
use crate::db::network::{CleanupPace, Place};
use crate::db::{
    BatchOutcome, BatchRequest, CleanupLock, Cutoffs, ErrorClass, Examined, Step, Store,
};
use crate::error::Failure;
use crate::shell::Shell;

/// What the batch loop needs of a store: every [`Store`] is one.
pub trait Cleaner {
    /// [`Store::delete_batch`].
    fn delete_batch(
        &self,
        cutoffs: &Cutoffs,
        batch: BatchRequest,
    ) -> impl Future<Output = Result<BatchOutcome>>;
    /// [`Store::count_deletable`].
    fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> impl Future<Output = Result<u64>>;
    /// [`Store::classify_error`].
    fn classify_error(&self, error: &anyhow::Error) -> ErrorClass;
    /// [`Store::examined_counter`].
    fn examined_counter(&self) -> impl Future<Output = Result<Option<Examined>>> {
        async { Ok(None) }
    }
    /// [`Store::batch_deadline`], and where the server is: one attempt of a batch, its lock
    /// check included, is given up after it. `None`: unbounded.
    fn attempt_bound(&self) -> Option<AttemptBound> {
        None
    }
    /// [`crate::db::cleanup_state::referenced_by_candidates`] (incremental runs only).
    fn referenced_by_candidates(
        &self,
        _step: Step,
        _column: &str,
        _cutoffs: &Cutoffs,
    ) -> impl Future<Output = Result<Vec<i64>>> {
        async { Ok(Vec::new()) }
    }
    /// [`crate::db::cleanup_state::access_tokens_by_refresh_cutoff`] (incremental runs only).
    fn access_tokens_by_refresh_cutoff(
        &self,
        _cutoffs: &Cutoffs,
    ) -> impl Future<Output = Result<Vec<i64>>> {
        async { Ok(Vec::new()) }
    }
    /// [`crate::db::cleanup_state::referenced_by_listed`] (incremental runs only).
    fn referenced_by_listed(
        &self,
        _step: Step,
        _column: &str,
        _ids: &[i64],
    ) -> impl Future<Output = Result<Vec<i64>>> {
        async { Ok(Vec::new()) }
    }
    /// [`crate::db::cleanup_state::delete_listed`] (incremental runs only).
    fn delete_listed(
        &self,
        _step: Step,
        _cutoffs: &Cutoffs,
        _ids: &[i64],
    ) -> impl Future<Output = Result<u64>> {
        async { Ok(0) }
    }
}

/// How long one attempt may take ([`Cleaner::attempt_bound`]).
pub struct AttemptBound {
    pub within: Duration,
    pub place: Place,
}

impl<S: Store + ?Sized> Cleaner for S {
    async fn delete_batch(&self, cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        Store::delete_batch(self, cutoffs, batch).await
    }

    async fn count_deletable(&self, step: Step, cutoffs: &Cutoffs) -> Result<u64> {
        Store::count_deletable(self, step, cutoffs).await
    }

    fn classify_error(&self, error: &anyhow::Error) -> ErrorClass {
        Store::classify_error(self, error)
    }

    async fn examined_counter(&self) -> Result<Option<Examined>> {
        Store::examined_counter(self).await
    }

    async fn referenced_by_candidates(
        &self,
        step: Step,
        column: &str,
        cutoffs: &Cutoffs,
    ) -> Result<Vec<i64>> {
        crate::db::cleanup_state::referenced_by_candidates(self, step, column, cutoffs).await
    }

    async fn access_tokens_by_refresh_cutoff(&self, cutoffs: &Cutoffs) -> Result<Vec<i64>> {
        crate::db::cleanup_state::access_tokens_by_refresh_cutoff(self, cutoffs).await
    }

    async fn referenced_by_listed(
        &self,
        step: Step,
        column: &str,
        ids: &[i64],
    ) -> Result<Vec<i64>> {
        crate::db::cleanup_state::referenced_by_listed(self, step, column, ids).await
    }

    async fn delete_listed(&self, step: Step, cutoffs: &Cutoffs, ids: &[i64]) -> Result<u64> {
        crate::db::cleanup_state::delete_listed(self, step, cutoffs, ids).await
    }

    fn attempt_bound(&self) -> Option<AttemptBound> {
        Some(AttemptBound {
            within: Store::batch_deadline(self)?,
            place: Store::place(self)?,
        })
    }
}

/// A whole run on an open store: signal handlers, the run lock (not for a dry run, which changes
/// nothing and may run beside a real run), the steps, the lock's release. `database` names the
/// database in the log (redacted).
pub async fn clear(
    store: &dyn Store,
    plan: &Plan,
    output: Output,
    database: &str,
    shell: &Shell,
) -> Result<Report> {
    let signals = Signals::install().context("installing signal handlers")?;
    let stop = Stop::new(&signals, shell, None);
    store.pace_cleanup(CleanupPace {
        lock_budget: plan.lock_budget,
        batch_interval: plan.settings.batch_interval,
    });
    let mut lock = if plan.dry_run {
        None
    } else {
        let lock = stop.guard(store.acquire_cleanup_lock()).await??;
        stop.guard(store.prepare_cleanup()).await??;
        Some(lock)
    };
    let (plan, passed) = match &plan.incremental {
        Some(request) => {
            let begin = begin_incremental(store, plan, request, shell);
            let (plan, passed) = stop.guard(begin).await??;
            if output.format == report::Format::Text {
                let pass = passed.mode.describe();
                if plan.dry_run {
                    shell.note(format_args!(
                        "--incremental: a real run now would make this pass: {pass}; the dry run counts the full pass"
                    ));
                } else {
                    shell.note(pass);
                }
            }
            (std::borrow::Cow::Owned(plan), Some(passed))
        }
        None => (std::borrow::Cow::Borrowed(plan), None),
    };
    let plan = plan.as_ref();
    let cutoffs = &plan.cutoffs;
    tracing::info!(
        database = %database,
        lock = lock.as_ref().map(|l| l.describe()).unwrap_or_default(),
        now = %cutoffs.now,
        refresh_revoked_at = ?cutoffs.refresh_revoked_at,
        refresh_expire_at = ?cutoffs.refresh_expire_at,
        dot_rules = cutoffs.rules.name(),
        batch_size = plan.settings.batch_size,
        "cleartokens starting"
    );
    let mut outcome = run(store, lock.as_deref_mut(), &signals, plan, output, shell).await;
    if let (Some(passed), Ok(report)) = (passed, &mut outcome) {
        let done = report.stop_reason == StopReason::Completed;
        if done && !plan.dry_run {
            let request = plan
                .incremental
                .as_ref()
                .expect("an incremental run has its request");
            let state =
                incremental::completed(passed.before.as_ref(), request, cutoffs.now, &passed.mode);
            stop.guard(incremental::save(store, &state)).await??;
        }
        report.mode = Some(passed.mode);
    }
    if let Err(error) = &outcome {
        // Aborting must not wait on the server, nor giving up on one that stopped answering
        // (its release would wait out another deadline): the lock goes with its session.
        if matches!(crate::error::failure(error), Some(Failure::Aborted(_)))
            || crate::db::network::is_unanswered(error)
        {
            return outcome;
        }
    }
    if let Some(lock) = lock {
        if let Err(e) = stop.guard(lock.release()).await? {
            tracing::warn!("{}", crate::error::message(&e));
        }
    }
    outcome
}

/// What an incremental run found before its steps: its pass, and the state it began from.
struct Passed {
    mode: incremental::Mode,
    before: Option<incremental::State>,
}

/// `--incremental`, under the run lock: reads the mark, chooses the pass, and (unless a dry
/// run, which counts DOT's full pass and only reports the pass it would make) marks the run as
/// started, so that a run that does not complete makes the next one a full pass.
async fn begin_incremental(
    store: &dyn Store,
    plan: &Plan,
    request: &incremental::Request,
    shell: &Shell,
) -> Result<(Plan, Passed)> {
    let before = incremental::load(store).await?;
    let indexes_present = incremental::indexes_present(store).await?;
    let situation = incremental::Situation {
        request,
        now: plan.cutoffs.now,
        rules: plan.cutoffs.rules,
        indexes_present,
    };
    let (mode, since) = incremental::decide(before.as_ref(), &situation);
    let mut plan = plan.clone();
    if mode.reason == "indexes_missing" {
        shell.warn(
            "warning: --incremental needs the cleanup indexes (`oauthctl indexes create`); making a full pass",
        );
    }
    if !plan.dry_run {
        let started = incremental::started(before.as_ref(), request, plan.cutoffs.now);
        incremental::save(store, &started).await?;
        plan.cutoffs.incremental_since = since;
    }
    Ok((plan, Passed { mode, before }))
}

/// Runs DOT's six steps (or counts them, for a dry run), printing DOT's lines as each step ends
/// (text). Returns the summary; its `stop_reason` says whether work remains.
pub async fn run<C: Cleaner + ?Sized>(
    store: &C,
    lock: Option<&mut (dyn CleanupLock + 'static)>,
    signals: &Signals,
    plan: &Plan,
    output: Output,
    shell: &Shell,
) -> Result<Report> {
    let stop = Stop::new(signals, shell, plan.max_duration);
    let mut run = Run {
        store,
        lock,
        plan,
        out: Reporter::new(shell, output, plan.dry_run, stop.started()),
        stop,
        totals: Totals::default(),
        stop_reason: StopReason::Completed,
        last_batch: Duration::ZERO,
        pause_due: false,
        freed_access_tokens: Vec::new(),
        freed_id_tokens: Vec::new(),
    };
    run.out.start(&plan.cutoffs, &plan.dot_rules)?;
    let mut steps = Vec::with_capacity(Step::ALL.len());
    for step in Step::ALL {
        let report = run.step(step).await?;
        run.out.step_done(&report, &plan.cutoffs)?;
        steps.push(report);
    }
    run.out.finish();
    let duration = run.stop.started().elapsed();
    Ok(Report::new(
        plan,
        steps,
        run.totals,
        run.stop_reason,
        duration,
    ))
}

/// The state of a run between its steps and batches.
struct Run<'a, C: ?Sized> {
    store: &'a C,
    lock: Option<&'a mut (dyn CleanupLock + 'static)>,
    plan: &'a Plan,
    out: Reporter<'a>,
    stop: Stop<'a>,
    totals: Totals,
    stop_reason: StopReason,
    /// How long the last batch took: the next is not started unless the budget fits it too.
    last_batch: Duration,
    /// Whether the last batch found rows. The interval is a pause between batches, never before
    /// the first or after the last; it does span steps.
    pause_due: bool,
    /// Incremental runs: the access tokens held by the refresh tokens steps 1 and 3 may delete,
    /// for step 4 (step 1: revoked refresh tokens that still hold one, which DOT's `revoke()`
    /// never leaves; step 3: the idle users' access tokens, below the mark).
    freed_access_tokens: Vec<i64>,
    /// Incremental runs: the ID tokens of the access tokens step 4 may delete, for step 5.
    freed_id_tokens: Vec<i64>,
}

impl<C: Cleaner + ?Sized> Run<'_, C> {
    async fn step(&mut self, step: Step) -> Result<StepReport> {
        if !self.plan.cutoffs.rules.has(step) {
            return Ok(StepReport::new(step, StepStatus::NotInRelease));
        } else if self.stop_reason != StopReason::Completed {
            return Ok(StepReport::new(step, StepStatus::NotReached));
        } else if !self.plan.cutoffs.runs(step) {
            return Ok(StepReport::new(step, StepStatus::Skipped));
        }
        let started = Instant::now();
        let before = self.examined().await;
        let incremental = self.plan.cutoffs.incremental_since.is_some() && !self.plan.dry_run;
        if incremental {
            self.capture_freed(step).await?;
        }
        let mut report = if self.plan.dry_run {
            self.count(step).await?
        } else if incremental && step == Step::ExpiredAccessTokens {
            // All of it by id, below.
            StepReport::new(step, StepStatus::Completed)
        } else {
            self.delete(step).await?
        };
        if incremental && report.status == StepStatus::Completed {
            let listed = match step {
                Step::ExpiredAccessTokens => std::mem::take(&mut self.freed_access_tokens),
                Step::ExpiredIdTokens => std::mem::take(&mut self.freed_id_tokens),
                _ => Vec::new(),
            };
            report = self.delete_listed(report, listed).await?;
        }
        report.seconds = report::round_seconds(started.elapsed());
        let after = self.examined().await;
        report.examined = before.zip(after).and_then(|(b, a)| a.since(b));
        Ok(report)
    }

    /// The backend's read counter now; `None` when it has none or reading it failed (the
    /// figure is for the summary only: a failure here never fails the run).
    async fn examined(&mut self) -> Option<Examined> {
        match self.store.examined_counter().await {
            Ok(counter) => counter,
            Err(error) => {
                tracing::debug!(
                    "cannot read the examined counter: {}",
                    crate::error::message(&error)
                );
                None
            }
        }
    }

    /// The stop check before the next batch or count: `Some` ends the run. (`&mut self`, not
    /// `&self`: a shared borrow of the run held across the wait would need the lock to be
    /// `Sync`, and the run's future would no longer be `Send`.)
    async fn stop_before_next(&mut self) -> Result<Option<StopReason>> {
        let pause = if self.pause_due {
            self.plan.settings.batch_interval
        } else {
            Duration::ZERO
        };
        self.stop.before_next(pause, self.last_batch).await
    }

    /// A dry run's step: one count.
    async fn count(&mut self, step: Step) -> Result<StepReport> {
        let mut report = StepReport::new(step, StepStatus::Completed);
        if let Some(reason) = self.stop_before_next().await? {
            return Ok(self.stopped(report, reason));
        }
        self.out.counting(step);
        let retries = &mut self.totals.retries;
        match retry::count(self.store, &self.stop, &self.plan.cutoffs, step, retries).await? {
            Some(count) => report.would_delete = Some(count),
            // Stop requested while backing off.
            None => return Ok(self.stopped(report, StopReason::Signal)),
        }
        Ok(report)
    }

    /// A step's batches, until one comes short or the run stops.
    async fn delete(&mut self, step: Step) -> Result<StepReport> {
        let settings = &self.plan.settings;
        let mut report = StepReport::new(step, StepStatus::Completed);
        let mut batching = Batching::new(step, settings.batch_size, self.plan.lock_budget);
        loop {
            if let Some(reason) = self.stop_before_next().await? {
                return Ok(self.stopped(report, reason));
            }
            let request = batching.request();
            let started = Instant::now();
            let lock = self.lock.as_deref_mut();
            let cutoffs = &self.plan.cutoffs;
            let retries = &mut self.totals.retries;
            let Some(outcome) =
                retry::delete_batch(self.store, lock, &self.stop, cutoffs, request, retries)
                    .await?
            else {
                // Stop requested while backing off: nothing of this batch committed.
                return Ok(self.stopped(report, StopReason::Signal));
            };
            let more = batching.learn(&outcome);
            self.record(&mut report, request, &outcome, started.elapsed());
            if !more {
                return Ok(report);
            }
        }
    }

    /// Incremental runs, before `step`: what its deletes can free for a later step, which
    /// that step's bound on `expires` would not see (docs/compatibility.md, "Incremental mode").
    async fn capture_freed(&mut self, step: Step) -> Result<()> {
        let cutoffs = &self.plan.cutoffs;
        match step {
            Step::RevokedRefreshTokens => {
                let column = "access_token_id";
                let freed = self.store.referenced_by_candidates(step, column, cutoffs);
                self.freed_access_tokens.extend(freed.await?);
            }
            Step::ExpiredRefreshTokens => {
                let freed = self.store.access_tokens_by_refresh_cutoff(cutoffs);
                self.freed_access_tokens.extend(freed.await?);
            }
            Step::ExpiredAccessTokens => {
                // The step's own candidates (one range read) join the captured ones, and the
                // whole step is then deleted by id: the range is read once, and the ID tokens
                // the step frees are looked up by key on what it may delete.
                let candidates = self.store.referenced_by_candidates(step, "id", cutoffs);
                self.freed_access_tokens.extend(candidates.await?);
                let listed = self.freed_access_tokens.clone();
                let mut ids = Vec::new();
                for chunk in crate::db::cleanup_state::list_chunks(listed) {
                    let of_listed = self.store.referenced_by_listed(step, "id_token_id", &chunk);
                    ids.extend(of_listed.await?);
                }
                self.freed_id_tokens = ids;
            }
            _ => {}
        }
        Ok(())
    }

    /// An incremental step's second part: the rows an earlier step of this run may have freed,
    /// whatever their `expires`, re-checked against DOT's full condition in short batches.
    async fn delete_listed(&mut self, mut report: StepReport, ids: Vec<i64>) -> Result<StepReport> {
        let step = report.name;
        for chunk in crate::db::cleanup_state::list_chunks(ids) {
            if let Some(reason) = self.stop_before_next().await? {
                return Ok(self.stopped(report, reason));
            }
            let started = Instant::now();
            let lock = self.lock.as_deref_mut();
            let cutoffs = &self.plan.cutoffs;
            let retries = &mut self.totals.retries;
            let listed = (step, chunk.as_slice());
            let Some(deleted) =
                retry::delete_listed(self.store, lock, &self.stop, cutoffs, listed, retries)
                    .await?
            else {
                return Ok(self.stopped(report, StopReason::Signal));
            };
            let took = started.elapsed();
            let outcome = BatchOutcome {
                candidates: chunk.len() as u64,
                deleted,
                first_id: chunk.first().copied(),
                last_id: chunk.last().copied(),
                locked: took,
            };
            let request = BatchRequest::first(step, chunk.len() as u64);
            self.record(&mut report, request, &outcome, took);
        }
        Ok(report)
    }

    /// A batch finished in `took`: its figures, its log line and the progress line.
    fn record(
        &mut self,
        report: &mut StepReport,
        request: BatchRequest,
        outcome: &BatchOutcome,
        took: Duration,
    ) {
        self.last_batch = took;
        self.totals.record(outcome, took);
        self.pause_due = outcome.candidates > 0;
        if outcome.candidates > 0 {
            report.batches += 1;
        }
        report.deleted += outcome.deleted;
        report.candidates += outcome.candidates;
        if outcome.candidates > 0 {
            tracing::info!(
                step = %report::step_name(request.step),
                batch = report.batches,
                after_id = request.after_id,
                candidates = outcome.candidates,
                deleted = outcome.deleted,
                seconds = took.as_secs_f64(),
                locked_seconds = outcome.locked.as_secs_f64(),
                "batch committed"
            );
        } else {
            tracing::debug!(
                step = %report::step_name(request.step),
                after_id = request.after_id,
                "no more matching rows"
            );
        }
        self.out.batch_done(report);
    }

    /// The run stops at `report`'s step: partial if some of its batches committed.
    fn stopped(&mut self, mut report: StepReport, reason: StopReason) -> StepReport {
        self.stop_reason = reason;
        report.status = if report.batches > 0 {
            StepStatus::Partial
        } else {
            StepStatus::NotReached
        };
        report
    }
}
