//! The batch loop without a server: an in-memory [`Cleaner`] whose tables are lists of ids, with
//! a script of what each attempt does (commit, fail with an error class, hold its locks for a
//! while, hang, receive signals), and a scripted run lock. Tokio's clock is paused, so back-offs,
//! budgets and intervals take no real time and are exact.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use async_trait::async_trait;
use chrono::{TimeDelta, TimeZone, Utc};
use tokio::time::Instant;

use super::report::{Format, Output, Report, StepReport, StepStatus, StopReason};
use super::retry::{nominal_backoff, reconnect_budget, MAX_ATTEMPTS};
use super::settings::{Plan, Settings};
use super::stop::Signals;
use super::{run, AttemptBound, Cleaner};
use crate::db::network::Place;
use crate::db::{BatchOutcome, BatchRequest, BatchShape, CleanupLock, Cutoffs, ErrorClass, Step};
use crate::error::{exit, exit_code, Failure, Outcome};
use crate::shell::Shell;

// ---------------------------------------------------------------------------------------------
// The fake store

/// One row of a fake table.
#[derive(Clone, Copy, Debug)]
struct Row {
    id: i64,
    /// Meets the step's full condition: the row is deleted.
    full: bool,
}

/// What one attempt (a batch or a count) does.
#[derive(Clone, Copy, Debug)]
enum Then {
    /// Works as the table says (locks held for no time).
    Commit,
    /// Works, reporting its write transaction held its locks this long.
    Hold(Duration),
    /// Fails with an error of this class; nothing changes.
    Fail(ErrorClass),
    /// Never finishes (and so never commits).
    Hang,
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    /// Signals that arrive while the attempt runs.
    signals: &'static [&'static str],
    then: Then,
}

fn commit() -> Attempt {
    Attempt {
        signals: &[],
        then: Then::Commit,
    }
}

fn hold(ms: u64) -> Attempt {
    Attempt {
        signals: &[],
        then: Then::Hold(Duration::from_millis(ms)),
    }
}

fn fail(class: ErrorClass) -> Attempt {
    Attempt {
        signals: &[],
        then: Then::Fail(class),
    }
}

fn with_signal(name: &'static str, attempt: Attempt) -> Attempt {
    let signals: &'static [&'static str] = match name {
        "SIGINT" => &["SIGINT"],
        _ => &["SIGTERM"],
    };
    Attempt { signals, ..attempt }
}

/// Two signals while the attempt runs, which never finishes.
fn aborted() -> Attempt {
    Attempt {
        signals: &["SIGTERM", "SIGINT"],
        then: Then::Hang,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Delete(BatchRequest),
    Count(Step),
}

/// One attempt the loop made, and when (since the test started).
#[derive(Clone, Copy, Debug)]
struct Call {
    at: Duration,
    op: Op,
}

#[derive(Debug, thiserror::Error)]
#[error("fake {0:?} failure")]
struct FakeError(ErrorClass);

struct FakeStore {
    tables: Mutex<HashMap<Step, Vec<Row>>>,
    script: Mutex<VecDeque<Attempt>>,
    calls: Mutex<Vec<Call>>,
    /// How long each batch or count takes before it commits.
    batch_time: Duration,
    signals: Arc<Signals>,
    start: Instant,
    /// The batch deadline a server store would give each attempt.
    deadline: Option<Duration>,
}

impl FakeStore {
    fn new() -> FakeStore {
        FakeStore {
            tables: Mutex::new(HashMap::new()),
            script: Mutex::new(VecDeque::new()),
            calls: Mutex::new(Vec::new()),
            batch_time: Duration::ZERO,
            signals: Signals::new(),
            start: Instant::now(),
            deadline: None,
        }
    }

    /// Each attempt is given up after `deadline`, as on a server.
    fn bounded(mut self, deadline: Duration) -> FakeStore {
        self.deadline = Some(deadline);
        self
    }

    /// `ids` in `step`'s table, every one deleted by the step.
    fn rows(self, step: Step, ids: impl IntoIterator<Item = i64>) -> FakeStore {
        self.rows_where(step, ids.into_iter().map(|id| (id, true)))
    }

    /// Rows of `step`'s table that meet its scan condition; `full`: also the full condition.
    fn rows_where(self, step: Step, rows: impl IntoIterator<Item = (i64, bool)>) -> FakeStore {
        let mut tables = self.tables.lock().unwrap();
        let table = tables.entry(step).or_default();
        table.extend(rows.into_iter().map(|(id, full)| Row { id, full }));
        table.sort_by_key(|row| row.id);
        drop(tables);
        self
    }

    fn script(self, attempts: impl IntoIterator<Item = Attempt>) -> FakeStore {
        self.script.lock().unwrap().extend(attempts);
        self
    }

    fn taking(mut self, batch_time: Duration) -> FakeStore {
        self.batch_time = batch_time;
        self
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// The batches asked of `step`, in order (every attempt, retries included).
    fn requests(&self, step: Step) -> Vec<BatchRequest> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call.op {
                Op::Delete(request) if request.step == step => Some(request),
                _ => None,
            })
            .collect()
    }

    fn left(&self, step: Step) -> usize {
        self.tables.lock().unwrap().get(&step).map_or(0, Vec::len)
    }

    /// Records the attempt, delivers its signals, and says what it does.
    fn begin(&self, op: Op) -> Then {
        let at = self.start.elapsed();
        self.calls.lock().unwrap().push(Call { at, op });
        let attempt = self.script.lock().unwrap().pop_front().unwrap_or(commit());
        for name in attempt.signals {
            self.signals.received(name);
        }
        attempt.then
    }

    /// The end of a working attempt: its time passes; `Err` for a failure.
    async fn finish(&self, then: Then) -> Result<()> {
        match then {
            Then::Fail(class) => return Err(FakeError(class).into()),
            Then::Hang => std::future::pending::<()>().await,
            Then::Commit | Then::Hold(_) => {}
        }
        tokio::time::sleep(self.batch_time).await;
        Ok(())
    }

    /// The batch as a backend runs it: Sweep and Keys take the next `limit` rows meeting the
    /// full condition; Range takes the next `limit` rows of the scan and deletes those of them
    /// that meet the full condition.
    fn apply(&self, batch: BatchRequest) -> BatchOutcome {
        let mut tables = self.tables.lock().unwrap();
        let table = tables.entry(batch.step).or_default();
        let candidates: Vec<Row> = table
            .iter()
            .filter(|row| row.id > batch.after_id)
            .filter(|row| batch.shape == BatchShape::Range || row.full)
            .take(batch.limit as usize)
            .copied()
            .collect();
        let doomed: Vec<i64> = candidates.iter().filter(|r| r.full).map(|r| r.id).collect();
        table.retain(|row| !doomed.contains(&row.id));
        BatchOutcome {
            candidates: candidates.len() as u64,
            deleted: doomed.len() as u64,
            first_id: candidates.first().map(|r| r.id),
            last_id: candidates.last().map(|r| r.id),
            locked: Duration::ZERO,
        }
    }
}

impl Cleaner for FakeStore {
    async fn delete_batch(&self, _cutoffs: &Cutoffs, batch: BatchRequest) -> Result<BatchOutcome> {
        let then = self.begin(Op::Delete(batch));
        self.finish(then).await?;
        let mut outcome = self.apply(batch);
        if let Then::Hold(locked) = then {
            outcome.locked = locked;
        }
        Ok(outcome)
    }

    async fn count_deletable(&self, step: Step, _cutoffs: &Cutoffs) -> Result<u64> {
        let then = self.begin(Op::Count(step));
        self.finish(then).await?;
        let tables = self.tables.lock().unwrap();
        Ok(tables
            .get(&step)
            .map_or(0, |t| t.iter().filter(|r| r.full).count()) as u64)
    }

    fn attempt_bound(&self) -> Option<AttemptBound> {
        Some(AttemptBound {
            within: self.deadline?,
            place: Place("fake:5432".into()),
        })
    }

    fn classify_error(&self, error: &anyhow::Error) -> ErrorClass {
        // As the real stores classify a deadline that ran out.
        if crate::db::network::is_unanswered(error) {
            return ErrorClass::ConnectionLost;
        }
        error
            .chain()
            .find_map(|cause| cause.downcast_ref::<FakeError>())
            .map_or(ErrorClass::Permanent, |fake| fake.0)
    }
}

/// What the run lock finds when checked before an attempt.
#[derive(Clone, Copy, Debug)]
enum Held {
    Still,
    /// Its session was gone; taken again on a new one.
    Retaken,
    /// Another run took it meanwhile.
    TakenByAnother,
}

#[derive(Default)]
struct FakeLock {
    script: VecDeque<Held>,
    checks: u32,
}

impl FakeLock {
    fn scripted(script: impl IntoIterator<Item = Held>) -> FakeLock {
        FakeLock {
            script: script.into_iter().collect(),
            checks: 0,
        }
    }
}

#[async_trait]
impl CleanupLock for FakeLock {
    fn describe(&self) -> String {
        "the fake lock".into()
    }

    async fn ensure_held(&mut self) -> Result<bool> {
        self.checks += 1;
        match self.script.pop_front().unwrap_or(Held::Still) {
            Held::Still => Ok(false),
            Held::Retaken => Ok(true),
            Held::TakenByAnother => {
                Err(Failure::Conflict("another cleartokens run holds the fake lock".into()).into())
            }
        }
    }

    async fn release(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Running it

/// A plan with DOT's defaults but `batch_size`; step 3 is skipped (no expiry), the rest run.
fn plan(batch_size: u64) -> Plan {
    let now: crate::django::timezone::DjangoTime =
        Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).unwrap().into();
    Plan {
        settings: Settings {
            refresh_token_expire: None,
            refresh_token_grace_period: TimeDelta::zero(),
            reuse_protection: false,
            batch_size,
            batch_interval: Duration::ZERO,
        },
        cutoffs: Cutoffs {
            now,
            refresh_revoked_at: Some(now),
            refresh_expire_at: None,
            rules: crate::db::Rules::Dot3_4_1,
            incremental_since: None,
        },
        max_duration: None,
        lock_budget: None,
        dry_run: false,
        dot_rules: crate::db::RulesInUse::default(),
        incremental: None,
    }
}

async fn run_on(store: &FakeStore, lock: Option<&mut FakeLock>, plan: &Plan) -> Result<Report> {
    let shell = Shell::new();
    let output = Output {
        format: Format::Json,
        progress: false,
    };
    let lock = lock.map(|lock| lock as &mut (dyn CleanupLock + 'static));
    run(store, lock, &store.signals, plan, output, &shell).await
}

fn step(report: &Report, step: Step) -> &StepReport {
    report.steps.iter().find(|s| s.name == step).unwrap()
}

fn statuses(report: &Report) -> Vec<StepStatus> {
    report.steps.iter().map(|s| s.status).collect()
}

/// The command's mapping of a run to its exit code.
fn exit_of(result: Result<Report>) -> u8 {
    exit_code(&result.map(|report| match report.stop_reason {
        StopReason::Completed => Outcome::Done,
        _ => Outcome::Stopped,
    }))
}

fn seconds(n: u64) -> Duration {
    Duration::from_secs(n)
}

const FIRST: Step = Step::RevokedRefreshTokens;

// ---------------------------------------------------------------------------------------------
// A whole run

#[tokio::test(start_paused = true)]
async fn a_release_without_a_step_never_runs_it() {
    // 2.0's rules with R unset: no refresh-token step runs, no orphan or ID-token step exists.
    let store = FakeStore::new()
        .rows(Step::OrphanedRefreshTokens, [1, 2])
        .rows(Step::ExpiredIdTokens, [3])
        .rows(Step::ExpiredGrants, [4]);
    let mut plan = plan(10);
    plan.cutoffs = crate::db::Rules::Dot2_0.cutoffs(&plan.cutoffs);
    let report = run_on(&store, None, &plan).await.unwrap();
    assert_eq!(
        statuses(&report),
        [
            StepStatus::Skipped,
            StepStatus::NotInRelease,
            StepStatus::Skipped,
            StepStatus::Completed,
            StepStatus::NotInRelease,
            StepStatus::Completed,
        ]
    );
    assert_eq!(report.deleted_total, 1, "only the grant");
}

#[tokio::test(start_paused = true)]
async fn every_step_runs_to_the_end_in_dots_order() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .rows(Step::ExpiredGrants, [7, 9]);
    let report = run_on(&store, None, &plan(10)).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    assert_eq!(
        statuses(&report),
        [
            StepStatus::Completed,
            StepStatus::Completed,
            StepStatus::Skipped,
            StepStatus::Completed,
            StepStatus::Completed,
            StepStatus::Completed,
        ]
    );
    assert_eq!(
        (step(&report, FIRST).deleted, step(&report, FIRST).batches),
        (25, 3)
    );
    assert_eq!(step(&report, Step::ExpiredGrants).deleted, 2);
    assert_eq!((report.deleted_total, report.batches), (27, 4));
    let order: Vec<Step> = store
        .calls()
        .iter()
        .map(|call| match call.op {
            Op::Delete(request) => request.step,
            Op::Count(step) => step,
        })
        .collect();
    assert_eq!(
        order,
        [
            FIRST,
            FIRST,
            FIRST,
            Step::OrphanedRefreshTokens,
            Step::ExpiredAccessTokens,
            Step::ExpiredIdTokens,
            Step::ExpiredGrants,
        ]
    );
    assert_eq!(store.left(FIRST), 0);
}

// ---------------------------------------------------------------------------------------------
// Stopping

#[tokio::test(start_paused = true)]
async fn a_signal_stops_the_run_after_the_batch_in_flight() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=35)
        .script([commit(), with_signal("SIGTERM", commit())]);
    let result = run_on(&store, None, &plan(10)).await;
    let report = result.as_ref().unwrap();
    assert_eq!(report.stop_reason, StopReason::Signal);
    // The batch during which the signal came committed; no other batch started.
    assert_eq!(store.requests(FIRST).len(), 2);
    assert_eq!(store.calls().len(), 2);
    assert_eq!(store.left(FIRST), 15);
    let first = step(report, FIRST);
    assert_eq!(
        (first.status, first.deleted, first.batches),
        (StepStatus::Partial, 20, 2)
    );
    assert!(report.steps[1..]
        .iter()
        .all(|s| s.status == StepStatus::NotReached));
    assert_eq!(exit_of(result), exit::STOPPED);
}

#[tokio::test(start_paused = true)]
async fn the_time_budget_stops_before_a_batch_it_cannot_fit() {
    // Batches of 1 s, a budget of 2.5 s: after two, a third (estimated at 1 s) would overrun.
    let store = FakeStore::new().rows(FIRST, 1..=50).taking(seconds(1));
    let mut plan = plan(10);
    plan.max_duration = Some(Duration::from_millis(2_500));
    let result = run_on(&store, None, &plan).await;
    let report = result.as_ref().unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxDuration);
    let at: Vec<Duration> = store.calls().iter().map(|c| c.at).collect();
    assert_eq!(at, [seconds(0), seconds(1)]);
    assert_eq!(
        (
            step(report, FIRST).status,
            report.deleted_total,
            report.batches
        ),
        (StepStatus::Partial, 20, 2)
    );
    assert_eq!(report.duration_seconds, 2.0);
    assert_eq!(report.slowest_batch_seconds, 1.0);
    assert_eq!(exit_of(result), exit::STOPPED);
}

#[tokio::test(start_paused = true)]
async fn the_interval_pauses_between_batches_only_and_spans_steps() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .rows(Step::OrphanedRefreshTokens, 1..=5);
    let mut plan = plan(10);
    plan.settings.batch_interval = seconds(1);
    let report = run_on(&store, None, &plan).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    // A pause after each batch that found rows, wherever the next batch is; none after the
    // scan that found step 4 empty.
    let at: Vec<u64> = store.calls().iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(at, [0, 1, 2, 3, 4, 4, 4]);
    assert_eq!(report.duration_seconds, 4.0);
}

#[tokio::test(start_paused = true)]
async fn the_time_budget_counts_the_pause_before_the_next_batch() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .rows(Step::OrphanedRefreshTokens, 1..=5);
    let mut plan = plan(10);
    plan.settings.batch_interval = seconds(1);
    plan.max_duration = Some(Duration::from_millis(2_500));
    let report = run_on(&store, None, &plan).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxDuration);
    let at: Vec<u64> = store.calls().iter().map(|c| c.at.as_secs()).collect();
    assert_eq!(at, [0, 1, 2]);
    // Step 1 ended with its third batch; the pause before step 2 no longer fit (and is not slept).
    assert_eq!(step(&report, FIRST).status, StepStatus::Completed);
    assert_eq!(
        step(&report, Step::OrphanedRefreshTokens).status,
        StepStatus::NotReached
    );
    assert_eq!(report.duration_seconds, 2.0);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_aborts_the_batch_in_flight() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .script([commit(), aborted()]);
    let result = run_on(&store, None, &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    assert!(
        matches!(crate::error::failure(error), Some(Failure::Aborted(_))),
        "{error:#}"
    );
    assert_eq!(
        crate::error::render(error),
        "oauthctl: SIGINT again: aborting now; the open batch is rolled back"
    );
    // The first batch stays committed; the one in flight never committed.
    assert_eq!(store.left(FIRST), 15);
    assert_eq!(store.calls().len(), 2);
    assert_eq!(exit_of(result), exit::STOPPED);
}

#[tokio::test(start_paused = true)]
async fn a_signal_during_a_back_off_stops_without_retrying() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .script([commit(), with_signal("SIGINT", fail(ErrorClass::Transient))]);
    let report = run_on(&store, None, &plan(10)).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Signal);
    assert_eq!(store.requests(FIRST).len(), 2);
    let first = step(&report, FIRST);
    assert_eq!((first.status, first.deleted), (StepStatus::Partial, 10));
}

#[tokio::test(start_paused = true)]
async fn a_dry_run_counts_each_step_and_stops_as_a_run_does() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .rows(Step::OrphanedRefreshTokens, 1..=4)
        .script([commit(), with_signal("SIGTERM", commit())]);
    let mut plan = plan(10);
    plan.dry_run = true;
    let report = run_on(&store, None, &plan).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Signal);
    let ops: Vec<Op> = store.calls().iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        [Op::Count(FIRST), Op::Count(Step::OrphanedRefreshTokens)]
    );
    assert_eq!(step(&report, FIRST).would_delete, Some(25));
    assert_eq!(
        step(&report, Step::OrphanedRefreshTokens).would_delete,
        Some(4)
    );
    assert_eq!(
        step(&report, Step::ExpiredAccessTokens).status,
        StepStatus::NotReached
    );
    assert_eq!(report.would_delete_total, Some(29));
    assert_eq!((report.deleted_total, store.left(FIRST)), (0, 25));

    // The budget, checked before each count (a count is no batch: nothing estimates the next).
    let store = FakeStore::new().taking(seconds(1));
    plan.max_duration = Some(Duration::from_millis(1_500));
    let report = run_on(&store, None, &plan).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::MaxDuration);
    assert_eq!(store.calls().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_second_signal_aborts_a_dry_run_count() {
    let store = FakeStore::new().script([aborted()]);
    let mut plan = plan(10);
    plan.dry_run = true;
    let result = run_on(&store, None, &plan).await;
    assert!(matches!(
        crate::error::failure(result.as_ref().unwrap_err()),
        Some(Failure::Aborted(_))
    ));
    assert_eq!(exit_of(result), exit::STOPPED);
}

// ---------------------------------------------------------------------------------------------
// Retries

/// The gaps between successive attempts.
fn gaps(calls: &[Call]) -> Vec<Duration> {
    calls.windows(2).map(|w| w[1].at - w[0].at).collect()
}

/// Whether `gap` is the jittered back-off before attempt `attempt + 1`: [nominal/2, nominal],
/// give or take the timer's millisecond.
fn is_backoff(gap: Duration, attempt: u32, connection_lost: bool) -> bool {
    let nominal = nominal_backoff(attempt, connection_lost);
    gap >= nominal / 2 && gap <= nominal + Duration::from_millis(1)
}

#[tokio::test(start_paused = true)]
async fn transient_errors_are_retried_with_growing_back_off() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=5)
        .script([fail(ErrorClass::Transient); 5]);
    let report = run_on(&store, None, &plan(10)).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    assert_eq!(step(&report, FIRST).deleted, 5);
    let calls = store.calls();
    // Five failures, then the sixth and last attempt the budget allows succeeds.
    assert_eq!(store.requests(FIRST).len(), MAX_ATTEMPTS as usize);
    let gaps = gaps(&calls[..MAX_ATTEMPTS as usize]);
    for (i, gap) in gaps.iter().enumerate() {
        assert!(
            is_backoff(*gap, i as u32 + 1, false),
            "retry {}: {gap:?}",
            i + 1
        );
    }
    // The same batch each time.
    assert!(store.requests(FIRST).windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test(start_paused = true)]
async fn transient_errors_give_up_after_six_attempts() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .script([commit()])
        .script([fail(ErrorClass::Transient); 6]);
    let result = run_on(&store, None, &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    assert_eq!(
        error.to_string(),
        "revoked refresh tokens failed in the batch after id 10 (gave up after 6 attempts); finished batches are committed"
    );
    assert_eq!(
        crate::error::message(error),
        "revoked refresh tokens failed in the batch after id 10 (gave up after 6 attempts); finished batches are committed: fake Transient failure"
    );
    assert_eq!(store.requests(FIRST).len(), 1 + 6);
    assert_eq!(store.left(FIRST), 15, "the first batch stays committed");
    assert_eq!(exit_of(result), exit::RUNTIME);
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_fail_at_once() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=5)
        .script([fail(ErrorClass::Permanent)]);
    let result = run_on(&store, None, &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    assert_eq!(
        error.to_string(),
        "revoked refresh tokens failed in the first batch; finished batches are committed"
    );
    assert_eq!(store.calls().len(), 1);
    assert_eq!(store.start.elapsed(), Duration::ZERO, "no back-off");
    assert_eq!(exit_of(result), exit::RUNTIME);
}

#[tokio::test(start_paused = true)]
async fn a_failed_dry_run_count_says_nothing_changed() {
    let store = FakeStore::new().script([fail(ErrorClass::Permanent)]);
    let mut plan = plan(10);
    plan.dry_run = true;
    let error = run_on(&store, None, &plan).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "revoked refresh tokens could not be counted; a dry run changes nothing"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_connection_is_retried_and_the_run_lock_retaken() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=5)
        .script([fail(ErrorClass::ConnectionLost); 3]);
    // The server restarted: the lock's session is gone by the third check.
    let mut lock = FakeLock::scripted([Held::Still, Held::Still, Held::Retaken]);
    let report = run_on(&store, Some(&mut lock), &plan(10)).await.unwrap();
    assert_eq!(report.stop_reason, StopReason::Completed);
    assert_eq!(step(&report, FIRST).deleted, 5);
    assert_eq!(store.requests(FIRST).len(), 4);
    // Checked before every attempt: four of the first step's, one for each other step's scan.
    assert_eq!(lock.checks, 4 + 4);
    let calls = store.calls();
    for (i, gap) in gaps(&calls[..4]).iter().enumerate() {
        assert!(
            is_backoff(*gap, i as u32 + 1, true),
            "retry {}: {gap:?}",
            i + 1
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_connection_not_back_within_the_budget_ends_the_run() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=5)
        .script([fail(ErrorClass::ConnectionLost); 200]);
    let mut lock = FakeLock::default();
    let result = run_on(&store, Some(&mut lock), &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    let attempts = store.calls().len();
    assert_eq!(
        error.to_string(),
        format!(
            "revoked refresh tokens failed in the first batch (connection lost, not back within 30 s, {attempts} attempts); finished batches are committed"
        )
    );
    // Back-offs of at most 2 s, the last one cut to end exactly at the budget.
    let gaps = gaps(&store.calls());
    assert!(gaps
        .iter()
        .all(|gap| *gap <= seconds(2) + Duration::from_millis(1)));
    assert!(attempts >= 16, "{attempts}");
    let elapsed = store.start.elapsed();
    assert!(
        elapsed >= reconnect_budget() && elapsed < reconnect_budget() + seconds(1),
        "{elapsed:?}"
    );
    assert_eq!(lock.checks as usize, attempts);
    assert_eq!(exit_of(result), exit::RUNTIME);
}

#[tokio::test(start_paused = true)]
async fn a_silent_server_ends_the_run_within_the_deadline_and_the_budget() {
    // Every attempt hangs, as on a network path gone silent: the first is cut by the batch
    // deadline, the retries by it or by what is left of the reconnect budget.
    let deadline = seconds(2);
    let store = FakeStore::new()
        .rows(FIRST, 1..=5)
        .bounded(deadline)
        .script(
            [Attempt {
                signals: &[],
                then: Then::Hang,
            }; 100],
        );
    let mut lock = FakeLock::default();
    let result = run_on(&store, Some(&mut lock), &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    let elapsed = store.start.elapsed();
    assert!(
        elapsed >= deadline + reconnect_budget() - Duration::from_millis(1)
            && elapsed <= deadline + reconnect_budget() + Duration::from_millis(1),
        "{elapsed:?}"
    );
    let message = crate::error::message(error);
    assert!(
        message.starts_with(
            "revoked refresh tokens failed in the first batch (connection lost, not back within 30 s,"
        ) && message.ends_with(
            "finished batches are committed: the database at fake:5432 did not answer within 2 s (a batch and its run lock check); check the network path to it, or raise --network-timeout"
        ),
        "{message}"
    );
    // Nothing of the hung batches committed; the lock was checked before every attempt.
    assert_eq!(store.left(FIRST), 5);
    assert_eq!(lock.checks as usize, store.calls().len());
    assert_eq!(exit_of(result), exit::RUNTIME);
}

#[tokio::test(start_paused = true)]
async fn a_lock_taken_by_another_run_meanwhile_ends_the_run_with_exit_3() {
    let store = FakeStore::new()
        .rows(FIRST, 1..=25)
        .script([commit(), fail(ErrorClass::ConnectionLost)]);
    let mut lock = FakeLock::scripted([Held::Still, Held::Still, Held::TakenByAnother]);
    let result = run_on(&store, Some(&mut lock), &plan(10)).await;
    let error = result.as_ref().unwrap_err();
    assert_eq!(
        crate::error::message(error),
        "revoked refresh tokens failed in the batch after id 10; finished batches are committed: another cleartokens run holds the fake lock"
    );
    // The retry never ran: the lock check before it failed.
    assert_eq!(store.requests(FIRST).len(), 2);
    assert_eq!(store.left(FIRST), 15);
    assert_eq!(exit_of(result), exit::CONFLICT);
}

// ---------------------------------------------------------------------------------------------
// Batch shapes and the lock budget

#[tokio::test(start_paused = true)]
async fn shapes_switch_as_the_rows_go_dense_and_sparse() {
    let step = Step::ExpiredAccessTokens;
    let dense = |ids: std::ops::RangeInclusive<i64>, full: bool| ids.map(move |id| (id, full));
    let store = FakeStore::new()
        .rows_where(step, dense(1..=10, true))
        // Expired but still bound to a live refresh token: scanned, kept.
        .rows_where(step, dense(11..=20, false))
        .rows_where(step, dense(21..=40, true))
        .rows_where(step, dense(41..=50, false))
        // Sparse: one deletable row in ten ids.
        .rows_where(step, (6..=15).map(|n| (n * 10, true)));
    let report = run_on(&store, None, &plan(10)).await.unwrap();
    let requests = store.requests(step);
    let shapes: Vec<BatchShape> = requests.iter().map(|r| r.shape).collect();
    use BatchShape::*;
    assert_eq!(shapes, [Sweep, Range, Keys, Range, Range, Keys, Keys]);
    let after: Vec<i64> = requests.iter().map(|r| r.after_id).collect();
    assert_eq!(after, [i64::MIN, 10, 20, 30, 40, 50, 150]);
    assert_eq!(store.left(step), 20, "the kept rows stay");
    let report = self::step(&report, step);
    assert_eq!((report.deleted, report.batches), (40, 6));
}

#[tokio::test(start_paused = true)]
async fn the_lock_budget_shrinks_slow_batches_and_grows_them_back() {
    let store = FakeStore::new().rows(FIRST, 1..=10_000).script([
        hold(1_000),
        hold(100),
        hold(100),
        hold(480),
    ]);
    let mut plan = plan(1_000);
    plan.lock_budget = Some(Duration::from_millis(500));
    let report = run_on(&store, None, &plan).await.unwrap();
    let limits: Vec<u64> = store.requests(FIRST).iter().map(|r| r.limit).collect();
    // 1 s for 1000 rows: 450 to aim at 90 % of the budget; fast again: doubling, capped at the
    // batch size; within the budget: kept.
    assert_eq!(limits[..6], [1_000, 450, 900, 1_000, 1_000, 1_000]);
    assert_eq!(step(&report, FIRST).deleted, 10_000);
    assert_eq!(report.longest_lock_seconds, 1.0);

    // Off: the batch size throughout.
    let store = FakeStore::new()
        .rows(FIRST, 1..=3_000)
        .script([hold(1_000), hold(1_000)]);
    plan.lock_budget = None;
    run_on(&store, None, &plan).await.unwrap();
    let limits: Vec<u64> = store.requests(FIRST).iter().map(|r| r.limit).collect();
    assert_eq!(limits, [1_000; 4]);
}

/// A whole run stays `Send` (as before the split), so callers may spawn it.
#[test]
fn a_run_on_a_real_store_is_send() {
    fn send<T: Send>(_: &T) {}
    fn check(store: &dyn crate::db::Store, plan: &Plan, shell: &Shell) {
        let output = Output {
            format: Format::Text,
            progress: false,
        };
        send(&super::clear(store, plan, output, "db", shell));
    }
    let _ = check;
}
