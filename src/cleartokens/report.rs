//! What a run tells its user, all through the [`Shell`]: DOT's own log lines as each step ends
//! (or their dry-run counterparts), the progress line on a terminal, DOT's warning, the JSON
//! summary (`--format json`) and the note a run that stopped early ends with.
//!
//! The JSON types' field names and shapes are a documented interface: scripts parse them.

use std::time::Duration;

use anyhow::Result;
use chrono::TimeDelta;
use serde::Serialize;
use tokio::time::Instant;

use super::settings::{Plan, Settings};
use crate::db::{BatchOutcome, Cutoffs, Examined, Rules, RulesInUse, Step};
use crate::django::timezone::DjangoTime;
use crate::shell::Shell;

/// DOT's warning when refresh tokens never age-expire (3.4.1, `cleartokens.py`; docs/compatibility.md#warning-and-log-lines).
pub const EXPIRY_UNSET_WARNING: &str = "REFRESH_TOKEN_EXPIRE_SECONDS is not set (or is 0), so refresh tokens never age-expire. cleartokens will only remove revoked and orphaned refresh tokens; expired access and ID tokens that are still bound to a refresh token are kept as long as that refresh token lives. Set REFRESH_TOKEN_EXPIRE_SECONDS to enable expiry-based cleanup.";

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Completed,
    MaxDuration,
    Signal,
}

/// What became of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Completed,
    /// DOT does not run it with these settings (no cutoff).
    Skipped,
    /// Stopped between two of its batches.
    Partial,
    /// The run stopped before it.
    NotReached,
    /// The DOT release whose rules the run follows has no such step (e.g. orphaned refresh
    /// tokens before 3.4.1): it is listed so that the six names stay, never run.
    NotInRelease,
}

#[derive(Clone, Debug, Serialize)]
pub struct StepReport {
    pub name: Step,
    pub status: StepStatus,
    pub deleted: u64,
    pub batches: u64,
    /// Dry run only: rows the step would delete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_delete: Option<u64>,
    /// How long the step took, its batches (or its count) and the pauses between them.
    pub seconds: f64,
    /// Rows the step's candidate searches returned (what its batches then tried to delete).
    pub candidates: u64,
    /// What the database read during the step, as far as the backend can tell
    /// ([`Examined`]); null where it cannot (SQLite) or the figure was not available.
    pub examined: Option<Examined>,
}

impl StepReport {
    pub fn new(name: Step, status: StepStatus) -> StepReport {
        StepReport {
            name,
            status,
            deleted: 0,
            batches: 0,
            would_delete: None,
            seconds: 0.0,
            candidates: 0,
            examined: None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct CutoffReport {
    /// Step 1: refresh tokens revoked at or before this go (null: step skipped).
    pub refresh_revoked_at: Option<String>,
    /// Step 3: live refresh tokens whose access token expired at or before this go (null: skipped).
    pub refresh_expire_at: Option<String>,
    /// Steps 4-6: rows that expired before this go.
    pub expires_before: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct SettingsReport {
    pub refresh_token_expire_seconds: Option<f64>,
    pub refresh_token_grace_period_seconds: f64,
    pub refresh_token_reuse_protection: bool,
    pub batch_size: u64,
    pub batch_interval_seconds: f64,
    pub max_duration_seconds: Option<f64>,
    /// `--lock-budget` (null: off).
    pub lock_budget_seconds: Option<f64>,
}

/// The JSON summary (`--format json`), one object per run.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub now: String,
    pub dry_run: bool,
    /// Whose `clear_expired()` the run followed and why (README: "How to read --format json").
    pub dot_rules: RulesInUse,
    pub cutoffs: CutoffReport,
    pub settings: SettingsReport,
    pub steps: Vec<StepReport>,
    pub deleted_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_delete_total: Option<u64>,
    pub batches: u64,
    pub duration_seconds: f64,
    /// The longest batch that found rows, from its candidate read to its commit.
    pub slowest_batch_seconds: f64,
    /// The longest write transaction of a batch (first write to end of COMMIT): the longest
    /// time any row lock of the run was held (PostgreSQL: its one statement per batch).
    pub longest_lock_seconds: f64,
    /// Attempts repeated after a transient error or a lost connection, over the whole run.
    pub retries: u64,
    pub stop_reason: StopReason,
    /// `--incremental` only: the pass the run made (a dry run: would make) and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<super::incremental::Mode>,
}

/// The run-wide batch figures of the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Totals {
    /// Batches that found rows.
    pub batches: u64,
    pub slowest_batch: Duration,
    pub longest_lock: Duration,
    /// Batches and counts attempted again ([`super::retry`]).
    pub retries: u64,
}

impl Totals {
    /// Counts one finished batch that took `took`. The scan that finds a step's end holds no
    /// lock and deletes nothing: it is not a batch for these figures.
    pub fn record(&mut self, outcome: &BatchOutcome, took: Duration) {
        if outcome.candidates > 0 {
            self.slowest_batch = self.slowest_batch.max(took);
            self.batches += 1;
        }
        self.longest_lock = self.longest_lock.max(outcome.locked);
    }
}

impl Report {
    /// The summary of a run that took `duration`.
    pub fn new(
        plan: &Plan,
        steps: Vec<StepReport>,
        totals: Totals,
        stop_reason: StopReason,
        duration: Duration,
    ) -> Report {
        let cutoffs = &plan.cutoffs;
        let deleted_total = steps.iter().map(|s| s.deleted).sum();
        let would_delete_total = plan
            .dry_run
            .then(|| steps.iter().filter_map(|s| s.would_delete).sum());
        Report {
            now: cutoffs.now.display(),
            dry_run: plan.dry_run,
            dot_rules: plan.dot_rules.clone(),
            cutoffs: CutoffReport {
                refresh_revoked_at: cutoffs.refresh_revoked_at.map(DjangoTime::display),
                refresh_expire_at: cutoffs.refresh_expire_at.map(DjangoTime::display),
                expires_before: cutoffs.now.display(),
            },
            settings: settings_report(plan),
            steps,
            deleted_total,
            would_delete_total,
            batches: totals.batches,
            duration_seconds: round_seconds(duration),
            slowest_batch_seconds: round_seconds(totals.slowest_batch),
            longest_lock_seconds: round_seconds(totals.longest_lock),
            retries: totals.retries,
            stop_reason,
            mode: None,
        }
    }
}

fn settings_report(plan: &Plan) -> SettingsReport {
    let settings = &plan.settings;
    SettingsReport {
        refresh_token_expire_seconds: settings.refresh_token_expire.map(seconds),
        refresh_token_grace_period_seconds: seconds(settings.refresh_token_grace_period),
        refresh_token_reuse_protection: settings.reuse_protection,
        batch_size: settings.batch_size,
        batch_interval_seconds: round_seconds(settings.batch_interval),
        max_duration_seconds: plan.max_duration.map(round_seconds),
        lock_budget_seconds: plan.lock_budget.map(round_seconds),
    }
}

fn seconds(delta: TimeDelta) -> f64 {
    delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

pub(crate) fn round_seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// DOT's log line for a finished step (`clear_expired()`'s INFO messages) under `rules`; `None`
/// where that release logs nothing (a step it lacks, or the second refresh-token step of a
/// release before 3.4.0 when R is unset: one line covers both).
pub fn dot_line(rules: Rules, step: Step, report: &StepReport) -> Option<String> {
    let n = report.deleted;
    let old = !rules.reads_revocation_settings();
    Some(match (step, report.status) {
        (_, StepStatus::NotInRelease) => return None,
        (Step::RevokedRefreshTokens, StepStatus::Skipped) if old => {
            "refresh_expire_at is None. No refresh tokens deleted.".into()
        }
        (Step::ExpiredRefreshTokens, StepStatus::Skipped) if old => return None,
        (Step::RevokedRefreshTokens, StepStatus::Skipped) => {
            "refresh_revoked_at is None. No revoked refresh tokens deleted.".into()
        }
        (Step::ExpiredRefreshTokens, StepStatus::Skipped) => {
            "refresh_expire_at is None. No expired refresh tokens deleted.".into()
        }
        (Step::RevokedRefreshTokens, _) => format!("{n} Revoked refresh tokens deleted"),
        (Step::OrphanedRefreshTokens, _) => format!("{n} Orphaned refresh tokens deleted"),
        (Step::ExpiredRefreshTokens, _) => format!("{n} Expired refresh tokens deleted"),
        (Step::ExpiredAccessTokens, _) => format!("{n} Expired access tokens deleted"),
        (Step::ExpiredIdTokens, _) => format!("{n} Expired ID tokens deleted"),
        (Step::ExpiredGrants, _) => format!("{n} Expired grant tokens deleted"),
    })
}

/// The dry-run counterpart of [`dot_line`], with the condition that decides (`None`: the
/// release lacks the step).
fn dry_run_line(step: Step, report: &StepReport, cutoffs: &Cutoffs) -> Option<String> {
    let n = report.would_delete.unwrap_or(0);
    let cut = |at: Option<DjangoTime>| at.map(DjangoTime::display).unwrap_or_default();
    let rules = cutoffs.rules;
    let old = !rules.reads_revocation_settings();
    let revoked = rules.revoked_boundary().symbol();
    let expired = rules.expired_boundary().symbol();
    let live = if rules.expired_live_only() {
        "not revoked, "
    } else {
        ""
    };
    Some(match (step, report.status) {
        (_, StepStatus::NotInRelease) => return None,
        (Step::RevokedRefreshTokens, StepStatus::Skipped) if old => {
            "refresh_expire_at is None. No refresh tokens would be deleted.".into()
        }
        (Step::ExpiredRefreshTokens, StepStatus::Skipped) if old => return None,
        (Step::RevokedRefreshTokens, StepStatus::Skipped) => {
            "refresh_revoked_at is None. No revoked refresh tokens would be deleted.".into()
        }
        (Step::ExpiredRefreshTokens, StepStatus::Skipped) => {
            "refresh_expire_at is None. No expired refresh tokens would be deleted.".into()
        }
        (Step::RevokedRefreshTokens, _) => format!(
            "{n} Revoked refresh tokens would be deleted (revoked {revoked} {})",
            cut(cutoffs.refresh_revoked_at)
        ),
        (Step::OrphanedRefreshTokens, _) => {
            format!("{n} Orphaned refresh tokens would be deleted (not revoked, no access token)")
        }
        (Step::ExpiredRefreshTokens, _) => format!(
            "{n} Expired refresh tokens would be deleted ({live}access token expires {expired} {})",
            cut(cutoffs.refresh_expire_at)
        ),
        (Step::ExpiredAccessTokens, _) => format!(
            "{n} Expired access tokens would be deleted (expires < {}, no refresh token left)",
            cutoffs.now.display()
        ),
        (Step::ExpiredIdTokens, _) => format!(
            "{n} Expired ID tokens would be deleted (expires < {}, no access token left)",
            cutoffs.now.display()
        ),
        (Step::ExpiredGrants, _) => format!(
            "{n} Expired grant tokens would be deleted (expires < {})",
            cutoffs.now.display()
        ),
    })
}

/// A step's name as the JSON summary spells it (`revoked_refresh_tokens`): the `step` of log
/// fields and metric labels, taken from the same serialisation so that they cannot differ.
pub fn step_name(step: Step) -> String {
    serde_json::to_value(step)
        .ok()
        .and_then(|value| value.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A step in words, for the progress line and log messages.
pub fn human(step: Step) -> &'static str {
    match step {
        Step::RevokedRefreshTokens => "revoked refresh tokens",
        Step::OrphanedRefreshTokens => "orphaned refresh tokens",
        Step::ExpiredRefreshTokens => "expired refresh tokens",
        Step::ExpiredAccessTokens => "expired access tokens",
        Step::ExpiredIdTokens => "expired ID tokens",
        Step::ExpiredGrants => "expired grants",
    }
}

/// What the run prints on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// DOT's lines as each step ends.
    Text,
    /// One JSON summary at the end.
    Json,
}

/// How a run reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Output {
    pub format: Format,
    /// Draw the progress line (stderr is a terminal and no `-v` logging shares it).
    pub progress: bool,
}

impl Output {
    /// Progress is drawn when stderr is a terminal that log lines do not share.
    pub fn progress_wanted(verbose: u8, shell: &Shell) -> bool {
        verbose == 0 && std::env::var_os("RUST_LOG").is_none() && shell.stderr_is_terminal()
    }
}

/// A progress line at most this often: redrawing it per batch would cost more than the batch.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// The output of one run as it goes: DOT's lines (text) and the progress line.
pub struct Reporter<'a> {
    shell: &'a Shell,
    output: Output,
    dry_run: bool,
    started: Instant,
    last_draw: Option<Instant>,
}

impl<'a> Reporter<'a> {
    pub fn new(shell: &'a Shell, output: Output, dry_run: bool, started: Instant) -> Self {
        Reporter {
            shell,
            output,
            dry_run,
            started,
            last_draw: None,
        }
    }

    /// A dry run says so first, with the rules it counts by (text only).
    pub fn start(&self, cutoffs: &Cutoffs, dot_rules: &RulesInUse) -> Result<()> {
        if self.dry_run && self.output.format == Format::Text {
            self.shell.out(format_args!(
                "Dry run: nothing is deleted. now = {}; {}",
                cutoffs.now.display(),
                dot_rules.describe()
            ))?;
        }
        Ok(())
    }

    /// A dry run is about to count `step`.
    pub fn counting(&mut self, step: Step) {
        self.progress(format!("cleartokens: counting {}…", human(step)), true);
    }

    /// A batch of `step` finished; `report` has the step's figures so far.
    pub fn batch_done(&mut self, report: &StepReport) {
        let line = format!(
            "cleartokens: {}: {} deleted in {} batches ({:.1} s)",
            human(report.name),
            report.deleted,
            report.batches,
            self.started.elapsed().as_secs_f64()
        );
        self.progress(line, false);
    }

    /// A step ended: DOT's line for it (text), unless the run never reached it.
    pub fn step_done(&self, report: &StepReport, cutoffs: &Cutoffs) -> Result<()> {
        tracing::info!(
            step = %step_name(report.name),
            status = ?report.status,
            deleted = report.deleted,
            batches = report.batches,
            would_delete = report.would_delete,
            seconds = self.started.elapsed().as_secs_f64(),
            "step done"
        );
        if self.output.format == Format::Text && report.status != StepStatus::NotReached {
            let line = if self.dry_run {
                dry_run_line(report.name, report, cutoffs)
            } else {
                dot_line(cutoffs.rules, report.name, report)
            };
            if let Some(line) = line {
                self.shell.out(line)?;
            }
        }
        Ok(())
    }

    /// The run is over: no progress line is left behind.
    pub fn finish(&self) {
        self.shell.clear_progress();
    }

    /// Draws `line` if the terminal wants progress and one is due (`force`: always).
    fn progress(&mut self, line: String, force: bool) {
        if !self.output.progress {
            return;
        }
        let due = self
            .last_draw
            .map_or(true, |at| at.elapsed() >= PROGRESS_EVERY);
        if force || due {
            self.shell.progress(line);
            self.last_draw = Some(Instant::now());
        }
    }
}

/// DOT's warnings about the settings (3.4.1's `cleartokens` is the only release that has one),
/// and ours about a setting the release's cleanup ignores.
pub fn warn_settings(shell: &Shell, settings: &Settings, rules: Rules) {
    if rules == Rules::Dot3_4_1 && settings.refresh_token_expire.is_none() {
        shell.warn(EXPIRY_UNSET_WARNING);
    }
    if rules.reads_revocation_settings() {
        return;
    }
    let ignored = |setting: &str| {
        shell.warn(format_args!(
            "warning: {setting} is ignored: DOT {}'s cleartokens (rules {}) deletes revoked refresh tokens only when REFRESH_TOKEN_EXPIRE_SECONDS is set, with revoked < now - REFRESH_TOKEN_EXPIRE_SECONDS",
            rules.releases(),
            rules.name()
        ))
    };
    if !settings.refresh_token_grace_period.is_zero() {
        ignored("REFRESH_TOKEN_GRACE_PERIOD_SECONDS");
    }
    if settings.reuse_protection {
        ignored("REFRESH_TOKEN_REUSE_PROTECTION");
    }
}

/// The end of a run: the JSON summary (`--format json`), and on stderr what remains when the
/// run stopped early.
pub fn finish(shell: &Shell, report: &Report, format: Format) -> Result<()> {
    if format == Format::Json {
        shell.json(report)?;
    }
    let why = match report.stop_reason {
        StopReason::Completed => return Ok(()),
        StopReason::MaxDuration => "--max-duration reached",
        StopReason::Signal => "signal received",
    };
    shell.note(format_args!(
        "cleartokens stopped early ({why}): {} rows deleted in {} finished batches; work remains, run it again to continue",
        report.deleted_total, report.batches
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_summary_keeps_its_field_names() {
        let mut report = StepReport::new(Step::ExpiredGrants, StepStatus::Partial);
        report.deleted = 3;
        report.batches = 1;
        report.seconds = 0.25;
        report.candidates = 4;
        report.examined = Some(Examined::Pages(12));
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"name": "expired_grants", "status": "partial", "deleted": 3, "batches": 1,
                "seconds": 0.25, "candidates": 4, "examined": {"pages": 12}})
        );
        report.examined = Some(Examined::Rows(5));
        assert_eq!(
            serde_json::to_value(&report).unwrap()["examined"],
            serde_json::json!({"rows": 5})
        );
        report.examined = None;
        assert!(serde_json::to_value(&report).unwrap()["examined"].is_null());
        report.would_delete = Some(7);
        let value = serde_json::to_value(&report).unwrap();
        assert_eq!(value["would_delete"], 7);
        assert_eq!(
            serde_json::to_value(StopReason::MaxDuration).unwrap(),
            "max_duration"
        );
        assert_eq!(
            serde_json::to_value(StepStatus::NotReached).unwrap(),
            "not_reached"
        );
    }

    #[test]
    fn step_names_are_the_json_names() {
        for step in Step::ALL {
            let value = serde_json::to_value(StepReport::new(step, StepStatus::Completed)).unwrap();
            assert_eq!(value["name"], step_name(step));
        }
        assert_eq!(step_name(Step::ExpiredIdTokens), "expired_id_tokens");
    }

    #[test]
    fn dot_lines_are_dots() {
        let line = |rules, step, report: &StepReport| dot_line(rules, step, report);
        let new = Rules::Dot3_4_1;
        let mut report = StepReport::new(Step::RevokedRefreshTokens, StepStatus::Skipped);
        assert_eq!(
            line(new, Step::RevokedRefreshTokens, &report).as_deref(),
            Some("refresh_revoked_at is None. No revoked refresh tokens deleted.")
        );
        // Before 3.4.0 one line says that neither refresh-token step ran.
        assert_eq!(
            line(Rules::Dot2_3, Step::RevokedRefreshTokens, &report).as_deref(),
            Some("refresh_expire_at is None. No refresh tokens deleted.")
        );
        let expired = StepReport::new(Step::ExpiredRefreshTokens, StepStatus::Skipped);
        assert_eq!(
            line(Rules::Dot2_0, Step::ExpiredRefreshTokens, &expired),
            None
        );
        let absent = StepReport::new(Step::ExpiredIdTokens, StepStatus::NotInRelease);
        assert_eq!(line(Rules::Dot2_0, Step::ExpiredIdTokens, &absent), None);
        report.status = StepStatus::Completed;
        report.deleted = 12;
        assert_eq!(
            line(new, Step::RevokedRefreshTokens, &report).as_deref(),
            Some("12 Revoked refresh tokens deleted")
        );
        assert_eq!(
            line(new, Step::ExpiredGrants, &report).as_deref(),
            Some("12 Expired grant tokens deleted")
        );
    }
}
