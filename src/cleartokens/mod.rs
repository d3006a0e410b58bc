//! `cleartokens` as a process, the same on every backend: settings and their validation, the
//! cutoffs of a run, the batch loop (keyset walk, retries with back-off, batch interval, time
//! budget, signals), the dry run, and what is reported (DOT's log lines, JSON, progress).
//!
//! The SQL of a batch lives in the backends ([`crate::db::Store::delete_batch`]); this module
//! only decides which batch runs next and when to stop.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use chrono::{DateTime, Datelike, TimeDelta, Utc};
use serde::Serialize;

use crate::db::{
    BatchOutcome, BatchRequest, BatchShape, CleanupLock, Cutoffs, ErrorClass, Step, Store,
};
use crate::error::Failure;
use crate::pyrepr::repr_str;

/// DOT's warning when refresh tokens never age-expire (3.4.1, `cleartokens.py`; §2.1).
pub const EXPIRY_UNSET_WARNING: &str = "REFRESH_TOKEN_EXPIRE_SECONDS is not set (or is 0), so refresh tokens never age-expire. cleartokens will only remove revoked and orphaned refresh tokens; expired access and ID tokens that are still bound to a refresh token are kept as long as that refresh token lives. Set REFRESH_TOKEN_EXPIRE_SECONDS to enable expiry-based cleanup.";

/// DOT's default `CLEAR_EXPIRED_TOKENS_BATCH_SIZE`.
pub const DEFAULT_BATCH_SIZE: u64 = 10_000;

/// Attempts per batch (the first plus retries) on deadlocks, serialization failures and lock
/// timeouts.
const MAX_ATTEMPTS: u32 = 6;
/// First back-off delay; doubled per retry, capped, with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(5);
/// How long a lost connection (server restart, fail-over, dropped network) is retried, counted
/// from the first failure, before the run gives up with exit 1. Every retry first makes sure the
/// run lock is still ours (re-taking it on a new session), then runs the batch again.
pub const RECONNECT_BUDGET: Duration = Duration::from_secs(30);
/// Back-off cap while reconnecting: a server that is back is used again within this.
const RECONNECT_BACKOFF_CAP: Duration = Duration::from_secs(2);

/// Python's `timedelta.max` in microseconds: DOT rejects larger values as not being seconds.
const PY_TIMEDELTA_MAX_MICROS: i128 = (999_999_999 * 86_400 + 86_399) * 1_000_000 + 999_999;
/// The batch interval is a pause between batches; a day or more is surely a unit mistake.
const MAX_BATCH_INTERVAL_SECONDS: i128 = 86_400;

// ---------------------------------------------------------------------------------------------
// Settings

/// Where a setting's raw value came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "from {flag}"),
            Source::Env(var) => write!(f, "from the environment variable {var}"),
        }
    }
}

/// A raw setting value and its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    pub value: String,
    pub source: Source,
}

/// The flag's value, else the environment variable's; an empty variable counts as unset, as a
/// falsy Django setting does.
pub fn pick(flag: Option<&str>, flag_name: &'static str, env: &'static str) -> Option<Raw> {
    if let Some(value) = flag {
        return Some(Raw {
            value: value.to_string(),
            source: Source::Flag(flag_name),
        });
    }
    match std::env::var(env) {
        Ok(value) if !value.trim().is_empty() => Some(Raw {
            value,
            source: Source::Env(env),
        }),
        _ => None,
    }
}

/// The raw settings of a run, one per DOT setting.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    pub refresh_token_expire_seconds: Option<Raw>,
    pub refresh_token_grace_period_seconds: Option<Raw>,
    /// `--reuse-protection` (true) or the environment variable's text.
    pub refresh_token_reuse_protection: Option<Raw>,
    pub batch_size: Option<Raw>,
    pub batch_interval: Option<Raw>,
}

/// Validated settings (DOT's `oauth2_settings` for `clear_expired`).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None` when unset or 0: refresh tokens never age-expire (and DOT warns).
    pub refresh_token_expire: Option<TimeDelta>,
    pub refresh_token_grace_period: TimeDelta,
    pub reuse_protection: bool,
    pub batch_size: u64,
    pub batch_interval: Duration,
}

fn invalid(setting: &str, requirement: &str, raw: &Raw) -> anyhow::Error {
    anyhow::Error::new(Failure::Usage(format!(
        "{setting} {requirement}: got {} ({})",
        repr_str(&raw.value),
        raw.source
    )))
}

/// Why a text is not a number of seconds.
#[derive(Debug, PartialEq, Eq)]
enum SecondsError {
    NotANumber,
    Negative,
}

/// A decimal number of seconds (`500`, `0.5`, `.25`) in microseconds, rounded half to even as
/// Python's `timedelta(seconds=…)` does. No exponents, infinities or NaN.
fn parse_seconds(text: &str) -> Result<i128, SecondsError> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(SecondsError::NotANumber);
    }
    // Saturate absurdly long inputs instead of overflowing; they are rejected as too large.
    let mut micros: i128 = 0;
    for b in whole.bytes() {
        micros = micros
            .saturating_mul(10)
            .saturating_add(i128::from(b - b'0'));
    }
    micros = micros.saturating_mul(1_000_000);
    let frac: Vec<u8> = fraction.bytes().map(|b| b - b'0').collect();
    let mut frac_micros: i128 = 0;
    for i in 0..6 {
        frac_micros = frac_micros * 10 + i128::from(*frac.get(i).unwrap_or(&0));
    }
    // Round half to even on the digits past the microsecond.
    if frac.len() > 6 {
        let first = frac[6];
        let rest_nonzero = frac[7..].iter().any(|&d| d != 0);
        if first > 5 || (first == 5 && (rest_nonzero || frac_micros % 2 == 1)) {
            frac_micros += 1;
        }
    }
    micros = micros.saturating_add(frac_micros);
    if negative && micros != 0 {
        return Err(SecondsError::Negative);
    }
    Ok(micros)
}

fn micros_to_delta(micros: i128) -> TimeDelta {
    // Callers bound `micros` by Python's timedelta.max, far inside TimeDelta's range.
    TimeDelta::microseconds(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// A Django-style boolean from the environment.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Some(false),
        "1" | "true" | "yes" | "on" => Some(true),
        _ => None,
    }
}

impl Settings {
    /// Validates every setting, as DOT does before deleting anything; the first problem is a
    /// usage error (exit 2) naming the setting.
    pub fn resolve(raw: &RawSettings) -> Result<Settings> {
        const EXPIRE: &str = "REFRESH_TOKEN_EXPIRE_SECONDS";
        const GRACE: &str = "REFRESH_TOKEN_GRACE_PERIOD_SECONDS";
        const REUSE: &str = "REFRESH_TOKEN_REUSE_PROTECTION";
        const SIZE: &str = "CLEAR_EXPIRED_TOKENS_BATCH_SIZE";
        const INTERVAL: &str = "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL";

        // refresh_token_expire_timedelta(): falsy → None; str or overflow → "must be either a
        // timedelta or seconds"; negative → "must not be negative".
        let refresh_token_expire = match &raw.refresh_token_expire_seconds {
            None => None,
            Some(r) => match parse_seconds(&r.value) {
                Err(SecondsError::NotANumber) => {
                    return Err(invalid(EXPIRE, "must be either a timedelta or seconds", r))
                }
                Err(SecondsError::Negative) => {
                    return Err(invalid(EXPIRE, "must not be negative", r))
                }
                Ok(m) if m > PY_TIMEDELTA_MAX_MICROS => {
                    return Err(invalid(EXPIRE, "must be either a timedelta or seconds", r))
                }
                Ok(0) => None,
                Ok(m) => Some(micros_to_delta(m)),
            },
        };

        // clear_expired(): TypeError → "must be in seconds"; negative → "must not be negative".
        let refresh_token_grace_period = match &raw.refresh_token_grace_period_seconds {
            None => TimeDelta::zero(),
            Some(r) => match parse_seconds(&r.value) {
                Err(SecondsError::NotANumber) => {
                    return Err(invalid(GRACE, "must be in seconds", r))
                }
                Err(SecondsError::Negative) => {
                    return Err(invalid(GRACE, "must not be negative", r))
                }
                // DOT crashes with OverflowError here; say what is wrong instead.
                Ok(m) if m > PY_TIMEDELTA_MAX_MICROS => {
                    return Err(invalid(GRACE, "is too large", r))
                }
                Ok(m) => micros_to_delta(m),
            },
        };

        let reuse_protection = match &raw.refresh_token_reuse_protection {
            None => false,
            Some(r) => match parse_bool(&r.value) {
                Some(flag) => flag,
                None => return Err(invalid(REUSE, "must be true or false", r)),
            },
        };

        let batch_size = match &raw.batch_size {
            None => DEFAULT_BATCH_SIZE,
            Some(r) => {
                let text = r.value.trim();
                let text = text.strip_prefix('+').unwrap_or(text);
                if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(invalid(
                        SIZE,
                        "must be a whole number of rows, at least 1",
                        r,
                    ));
                }
                match text.parse::<i64>() {
                    // DOT loops for ever on 0 (LIMIT 0 never empties the queryset).
                    Ok(0) => {
                        return Err(invalid(
                            SIZE,
                            "must be at least 1 (0 would never delete anything)",
                            r,
                        ))
                    }
                    Ok(n) => n as u64,
                    Err(_) => return Err(invalid(SIZE, "is too large", r)),
                }
            }
        };

        let batch_interval = match &raw.batch_interval {
            None => Duration::ZERO,
            Some(r) => match parse_seconds(&r.value) {
                Err(SecondsError::NotANumber) => {
                    return Err(invalid(INTERVAL, "must be a number of seconds", r))
                }
                Err(SecondsError::Negative) => {
                    return Err(invalid(INTERVAL, "must not be negative", r))
                }
                Ok(m) if m > MAX_BATCH_INTERVAL_SECONDS * 1_000_000 => {
                    return Err(invalid(INTERVAL, "is too large (at most 86400 seconds)", r))
                }
                Ok(m) => Duration::from_micros(m as u64),
            },
        };

        Ok(Settings {
            refresh_token_expire,
            refresh_token_grace_period,
            reuse_protection,
            batch_size,
            batch_interval,
        })
    }

    /// DOT's `clear_expired()` set-up: the cutoffs from one "now". A cutoff before year 1 is
    /// Python's "date value out of range": a usage error naming the setting.
    pub fn cutoffs(&self, now: DateTime<Utc>) -> Result<Cutoffs> {
        fn minus(now: DateTime<Utc>, delta: TimeDelta, setting: &str) -> Result<DateTime<Utc>> {
            match now.checked_sub_signed(delta) {
                Some(cut) if cut.year() >= 1 => Ok(cut),
                _ => bail!(Failure::Usage(format!(
                    "{setting} is too large: now minus {} s is before year 1 (date value out of range)",
                    delta.num_seconds()
                ))),
            }
        }
        let mut refresh_revoked_at = Some(now);
        if !self.refresh_token_grace_period.is_zero() {
            refresh_revoked_at = Some(minus(
                now,
                self.refresh_token_grace_period,
                "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
            )?);
        }
        let refresh_expire_at = match self.refresh_token_expire {
            Some(delta) => Some(minus(now, delta, "REFRESH_TOKEN_EXPIRE_SECONDS")?),
            None => None,
        };
        // Reuse protection keeps revoked tokens as long as live ones: the grace period yields to
        // the expiry cutoff, and with no expiry nothing revoked is deleted.
        if self.reuse_protection {
            refresh_revoked_at = refresh_expire_at;
        }
        Ok(Cutoffs {
            now,
            refresh_revoked_at,
            refresh_expire_at,
        })
    }
}

/// `--max-duration`: `90s`, `10m`, `1h`, `1h30m`, `500ms`, `2d`, or plain seconds (`90`, `1.5`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(micros) = parse_seconds(text) {
        return Some(Duration::from_micros(u64::try_from(micros).ok()?));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let seconds_per_unit: u64 = match unit.trim() {
            "ms" => 0,
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return None,
        };
        let micros = u64::try_from(parse_seconds(number).ok()?).ok()?;
        let part = if seconds_per_unit == 0 {
            Duration::from_micros(micros / 1_000)
        } else {
            Duration::from_micros(micros.checked_mul(seconds_per_unit)?)
        };
        total = total.checked_add(part)?;
        rest = tail;
    }
    Some(total)
}

// ---------------------------------------------------------------------------------------------
// Stopping

/// Why a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Completed,
    MaxDuration,
    Signal,
}

/// Set by SIGINT/SIGTERM: the loop finishes the current batch, commits and stops.
#[derive(Default)]
pub struct StopSignal {
    requested: AtomicBool,
    notify: tokio::sync::Notify,
}

impl StopSignal {
    /// Installs SIGINT/SIGTERM handlers (must run inside the runtime). The first signal asks for
    /// a clean stop; a second one aborts at once (the open batch rolls back, nothing is lost).
    pub fn install() -> Result<Arc<StopSignal>> {
        let stop = Arc::new(StopSignal::default());
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Registered now, not inside the task: a signal arriving before the task first runs
            // must not kill the process.
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let handle = stop.clone();
            tokio::spawn(async move {
                loop {
                    let name = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    };
                    handle.received(name);
                }
            });
        }
        #[cfg(not(unix))]
        {
            let handle = stop.clone();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    handle.received("Ctrl-C");
                }
            });
        }
        Ok(stop)
    }

    fn received(&self, name: &str) {
        if self.requested.swap(true, Ordering::SeqCst) {
            eprintln!("oauthctl: {name} again: aborting now; the open batch is rolled back");
            std::process::exit(i32::from(crate::error::exit::STOPPED));
        }
        eprintln!(
            "oauthctl: {name}: finishing the current batch, then stopping (send it again to abort at once)"
        );
        self.notify.notify_waiters();
    }

    pub fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Sleeps for `duration` unless a stop is requested first; returns false if interrupted.
    async fn sleep(&self, duration: Duration) -> bool {
        if self.requested() {
            return false;
        }
        let notified = self.notify.notified();
        tokio::select! {
            _ = tokio::time::sleep(duration) => !self.requested(),
            _ = notified => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting

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
    pub stop_reason: StopReason,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn seconds(delta: TimeDelta) -> f64 {
    delta.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6
}

fn round_seconds(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e6
}

/// DOT's log line for a finished step (`clear_expired()`'s INFO messages).
pub fn dot_line(step: Step, report: &StepReport) -> String {
    let n = report.deleted;
    match (step, report.status) {
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
    }
}

/// The dry-run counterpart of [`dot_line`], with the condition that decides.
fn dry_run_line(step: Step, report: &StepReport, cutoffs: &Cutoffs) -> String {
    let n = report.would_delete.unwrap_or(0);
    let cut = |at: Option<DateTime<Utc>>| at.map(rfc3339).unwrap_or_default();
    match (step, report.status) {
        (Step::RevokedRefreshTokens, StepStatus::Skipped) => {
            "refresh_revoked_at is None. No revoked refresh tokens would be deleted.".into()
        }
        (Step::ExpiredRefreshTokens, StepStatus::Skipped) => {
            "refresh_expire_at is None. No expired refresh tokens would be deleted.".into()
        }
        (Step::RevokedRefreshTokens, _) => format!(
            "{n} Revoked refresh tokens would be deleted (revoked <= {})",
            cut(cutoffs.refresh_revoked_at)
        ),
        (Step::OrphanedRefreshTokens, _) => {
            format!("{n} Orphaned refresh tokens would be deleted (not revoked, no access token)")
        }
        (Step::ExpiredRefreshTokens, _) => format!(
            "{n} Expired refresh tokens would be deleted (not revoked, access token expires <= {})",
            cut(cutoffs.refresh_expire_at)
        ),
        (Step::ExpiredAccessTokens, _) => format!(
            "{n} Expired access tokens would be deleted (expires < {}, no refresh token left)",
            rfc3339(cutoffs.now)
        ),
        (Step::ExpiredIdTokens, _) => format!(
            "{n} Expired ID tokens would be deleted (expires < {}, no access token left)",
            rfc3339(cutoffs.now)
        ),
        (Step::ExpiredGrants, _) => format!(
            "{n} Expired grant tokens would be deleted (expires < {})",
            rfc3339(cutoffs.now)
        ),
    }
}

fn human(step: Step) -> &'static str {
    match step {
        Step::RevokedRefreshTokens => "revoked refresh tokens",
        Step::OrphanedRefreshTokens => "orphaned refresh tokens",
        Step::ExpiredRefreshTokens => "expired refresh tokens",
        Step::ExpiredAccessTokens => "expired access tokens",
        Step::ExpiredIdTokens => "expired ID tokens",
        Step::ExpiredGrants => "expired grants",
    }
}

/// What the run prints on stdout as it goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

/// A one-line progress display on stderr, drawn only on a terminal.
struct Progress {
    enabled: bool,
    drawn: bool,
    last_draw: Option<Instant>,
}

impl Progress {
    fn new(enabled: bool) -> Self {
        Progress {
            enabled,
            drawn: false,
            last_draw: None,
        }
    }

    fn show(&mut self, text: &str, force: bool) {
        if !self.enabled {
            return;
        }
        let due = self
            .last_draw
            .map_or(true, |at| at.elapsed() >= Duration::from_millis(100));
        if !(force || due) {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{text}");
        let _ = err.flush();
        self.drawn = true;
        self.last_draw = Some(Instant::now());
    }

    fn clear(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// How one run is carried out.
pub struct RunOptions {
    pub settings: Settings,
    pub cutoffs: Cutoffs,
    pub max_duration: Option<Duration>,
    /// `--lock-budget`: a batch whose write transaction took longer makes the next batches of
    /// its step smaller (see [`next_limit`]); `None`: always the batch size.
    pub lock_budget: Option<Duration>,
    pub dry_run: bool,
    pub format: Format,
    /// Draw the progress line (stderr is a terminal and no `-v` logging shares it).
    pub progress: bool,
}

impl RunOptions {
    /// Progress is drawn when stderr is a terminal that log lines do not share.
    pub fn progress_wanted(verbose: u8) -> bool {
        verbose == 0 && std::env::var_os("RUST_LOG").is_none() && std::io::stderr().is_terminal()
    }
}

/// Runs DOT's six steps (or counts them, for a dry run), printing DOT's lines as each step ends
/// (text) or one JSON object at the end. Returns the report; its `stop_reason` says whether work
/// remains.
pub async fn run(
    store: &dyn Store,
    mut lock: Option<&mut Box<dyn CleanupLock>>,
    stop: &StopSignal,
    options: &RunOptions,
) -> Result<Report> {
    let started = Instant::now();
    let cutoffs = &options.cutoffs;
    let settings = &options.settings;
    let batch_size = settings.batch_size;
    let mut progress = Progress::new(options.progress);
    let mut steps: Vec<StepReport> = Vec::with_capacity(6);
    let mut stop_reason = StopReason::Completed;
    let mut total_batches = 0u64;
    let mut slowest = Duration::ZERO;
    let mut longest_lock = Duration::ZERO;
    let mut last_batch = Duration::ZERO;
    // Whether the batch before the next one did work: the interval is a pause between batches,
    // never before the first or after the last.
    let mut pause_due = false;

    if options.dry_run && options.format == Format::Text {
        println!(
            "Dry run: nothing is deleted. now = {}",
            rfc3339(cutoffs.now)
        );
    }

    for step in Step::ALL {
        let mut report = StepReport {
            name: step,
            status: StepStatus::Completed,
            deleted: 0,
            batches: 0,
            would_delete: None,
        };
        if stop_reason != StopReason::Completed {
            report.status = StepStatus::NotReached;
            steps.push(report);
            continue;
        }
        if !cutoffs.runs(step) {
            report.status = StepStatus::Skipped;
        } else if options.dry_run {
            if stop.requested() {
                stop_reason = StopReason::Signal;
            } else if options
                .max_duration
                .is_some_and(|max| started.elapsed() >= max)
            {
                stop_reason = StopReason::MaxDuration;
            }
            if stop_reason != StopReason::Completed {
                report.status = StepStatus::NotReached;
                steps.push(report);
                continue;
            }
            progress.show(&format!("cleartokens: counting {}…", human(step)), true);
            match count_with_retry(store, stop, cutoffs, step).await? {
                Some(count) => report.would_delete = Some(count),
                None => {
                    // Stop requested while backing off.
                    stop_reason = StopReason::Signal;
                    report.status = StepStatus::NotReached;
                }
            }
        } else {
            let mut after_id = i64::MIN;
            // Rows the next batch may take: the batch size, unless the lock budget lowered it.
            let mut limit = batch_size;
            let mut shape = BatchShape::Sweep;
            loop {
                // Between batches: the pause, then the stop conditions.
                if pause_due && !settings.batch_interval.is_zero() {
                    let over_budget = options.max_duration.is_some_and(|max| {
                        started.elapsed() + settings.batch_interval + last_batch >= max
                    });
                    if over_budget {
                        stop_reason = StopReason::MaxDuration;
                    } else if !stop.sleep(settings.batch_interval).await {
                        stop_reason = StopReason::Signal;
                    }
                }
                if stop_reason == StopReason::Completed {
                    if stop.requested() {
                        stop_reason = StopReason::Signal;
                    } else if options
                        .max_duration
                        .is_some_and(|max| started.elapsed() + last_batch >= max)
                    {
                        // Do not start a batch the budget cannot fit (estimated by the last one).
                        stop_reason = StopReason::MaxDuration;
                    }
                }
                if stop_reason != StopReason::Completed {
                    report.status = if report.batches > 0 {
                        StepStatus::Partial
                    } else {
                        StepStatus::NotReached
                    };
                    break;
                }

                let batch_started = Instant::now();
                let outcome = match delete_with_retry(
                    store,
                    lock.as_deref_mut(),
                    stop,
                    cutoffs,
                    BatchRequest {
                        step,
                        after_id,
                        limit,
                        shape,
                    },
                )
                .await?
                {
                    Some(outcome) => outcome,
                    None => {
                        // Stop requested while backing off: nothing of this batch committed.
                        stop_reason = StopReason::Signal;
                        report.status = if report.batches > 0 {
                            StepStatus::Partial
                        } else {
                            StepStatus::NotReached
                        };
                        break;
                    }
                };
                last_batch = batch_started.elapsed();
                // The scan that finds a step's end holds no lock and deletes nothing: it is not
                // a batch for these figures.
                if outcome.candidates > 0 {
                    slowest = slowest.max(last_batch);
                }
                longest_lock = longest_lock.max(outcome.locked);
                let used_limit = limit;
                shape = shape.next(&outcome);
                if let Some(budget) = options.lock_budget {
                    if outcome.deleted > 0 {
                        limit = next_limit(limit, batch_size, outcome.locked, budget);
                        if limit < used_limit {
                            tracing::info!(
                                step = ?step,
                                locked_seconds = outcome.locked.as_secs_f64(),
                                budget_seconds = budget.as_secs_f64(),
                                rows = limit,
                                "batch held its locks over the budget: next batches are smaller"
                            );
                        }
                    }
                }
                pause_due = outcome.candidates > 0;
                if outcome.candidates > 0 {
                    report.batches += 1;
                    total_batches += 1;
                }
                report.deleted += outcome.deleted;
                if outcome.candidates > 0 {
                    tracing::info!(
                        step = ?step,
                        batch = report.batches,
                        after_id,
                        candidates = outcome.candidates,
                        deleted = outcome.deleted,
                        seconds = last_batch.as_secs_f64(),
                        locked_seconds = outcome.locked.as_secs_f64(),
                        "batch committed"
                    );
                } else {
                    tracing::debug!(step = ?step, after_id, "no more matching rows");
                }
                progress.show(
                    &format!(
                        "cleartokens: {}: {} deleted in {} batches ({:.1} s)",
                        human(step),
                        report.deleted,
                        report.batches,
                        started.elapsed().as_secs_f64()
                    ),
                    false,
                );
                match outcome {
                    o if o.exhausted(used_limit) => break,
                    BatchOutcome {
                        last_id: Some(last),
                        ..
                    } => after_id = last,
                    _ => break,
                }
            }
        }
        tracing::info!(step = ?step, status = ?report.status, deleted = report.deleted, batches = report.batches, "step done");
        if options.format == Format::Text && report.status != StepStatus::NotReached {
            progress.clear();
            let line = if options.dry_run {
                dry_run_line(step, &report, cutoffs)
            } else {
                dot_line(step, &report)
            };
            println!("{line}");
            let _ = std::io::stdout().flush();
        }
        steps.push(report);
    }
    progress.clear();

    let deleted_total = steps.iter().map(|s| s.deleted).sum();
    let would_delete_total = options
        .dry_run
        .then(|| steps.iter().filter_map(|s| s.would_delete).sum());
    Ok(Report {
        now: rfc3339(cutoffs.now),
        dry_run: options.dry_run,
        cutoffs: CutoffReport {
            refresh_revoked_at: cutoffs.refresh_revoked_at.map(rfc3339),
            refresh_expire_at: cutoffs.refresh_expire_at.map(rfc3339),
            expires_before: rfc3339(cutoffs.now),
        },
        settings: SettingsReport {
            refresh_token_expire_seconds: settings.refresh_token_expire.map(seconds),
            refresh_token_grace_period_seconds: seconds(settings.refresh_token_grace_period),
            refresh_token_reuse_protection: settings.reuse_protection,
            batch_size,
            batch_interval_seconds: round_seconds(settings.batch_interval),
            max_duration_seconds: options.max_duration.map(round_seconds),
            lock_budget_seconds: options.lock_budget.map(round_seconds),
        },
        steps,
        deleted_total,
        would_delete_total,
        batches: total_batches,
        duration_seconds: round_seconds(started.elapsed()),
        slowest_batch_seconds: round_seconds(slowest),
        longest_lock_seconds: round_seconds(longest_lock),
        stop_reason,
    })
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

/// One batch, retried as [`retrying`] does: the run lock is checked before every attempt.
async fn delete_with_retry(
    store: &dyn Store,
    lock: Option<&mut Box<dyn CleanupLock>>,
    stop: &StopSignal,
    cutoffs: &Cutoffs,
    batch: BatchRequest,
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
    retrying(store, lock, stop, &failed, || {
        store.delete_batch(cutoffs, batch)
    })
    .await
}

/// A dry run's count of one step, retried as [`retrying`] does (a dry run holds no lock).
async fn count_with_retry(
    store: &dyn Store,
    stop: &StopSignal,
    cutoffs: &Cutoffs,
    step: Step,
) -> Result<Option<u64>> {
    let failed = Failed {
        step,
        what: "could not be counted".to_string(),
        consequence: "a dry run changes nothing",
    };
    retrying(store, None, stop, &failed, || {
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

/// Runs `attempt` until it succeeds, retrying with exponential back-off (and jitter) on
/// transient failures: up to [`MAX_ATTEMPTS`] on deadlocks and lock timeouts, and for up to
/// [`RECONNECT_BUDGET`] on a lost connection. With a run lock, the lock is checked before every
/// attempt (one round trip on its own session), so a server restart that silently ended the
/// lock's session is noticed and the lock re-taken (or the run gives way, exit 3, if another
/// run took it meanwhile). `None` when a stop was requested during a back-off.
async fn retrying<T, F, Fut>(
    store: &dyn Store,
    mut lock: Option<&mut Box<dyn CleanupLock>>,
    stop: &StopSignal,
    failed: &Failed,
    mut attempt: F,
) -> Result<Option<T>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    let step = failed.step;
    let mut transient_attempts = 0u32;
    let mut lost_attempts = 0u32;
    let mut lost_since: Option<Instant> = None;
    loop {
        let attempt_started = Instant::now();
        let held = match lock.as_mut() {
            Some(lock) => match lock.ensure_held().await {
                Ok(true) => {
                    tracing::warn!(
                        "{}: the run lock's session was gone; {} re-taken",
                        human(step),
                        lock.describe()
                    );
                    Ok(())
                }
                Ok(false) => Ok(()),
                Err(error) => Err(error),
            },
            None => Ok(()),
        };
        let result = match held {
            Ok(()) => attempt().await,
            Err(error) => Err(error),
        };
        let error = match result {
            Ok(outcome) => {
                if let Some(since) = lost_since {
                    tracing::warn!(
                        "{}: reconnected after {:.1} s ({lost_attempts} failed attempts); carrying on",
                        human(step),
                        since.elapsed().as_secs_f64()
                    );
                }
                return Ok(Some(outcome));
            }
            Err(error) => error,
        };
        let give_up = |error: anyhow::Error, why: String| {
            error.context(format!(
                "{} {}{why}; {}",
                human(step),
                failed.what,
                failed.consequence
            ))
        };
        let delay = match store.classify_error(&error) {
            ErrorClass::Permanent => return Err(give_up(error, String::new())),
            ErrorClass::Transient => {
                transient_attempts += 1;
                if transient_attempts >= MAX_ATTEMPTS {
                    let why = format!(" (gave up after {transient_attempts} attempts)");
                    return Err(give_up(error, why));
                }
                let delay = backoff(transient_attempts, BACKOFF_CAP);
                tracing::warn!(
                    "{}: {}; retrying in {} ms (attempt {}/{MAX_ATTEMPTS})",
                    human(step),
                    crate::error::message(&error),
                    delay.as_millis(),
                    transient_attempts + 1
                );
                delay
            }
            ErrorClass::ConnectionLost => {
                lost_attempts += 1;
                // From the start of the first failed attempt: the pool may already have spent
                // its acquire timeout waiting for the server.
                let since = *lost_since.get_or_insert(attempt_started);
                let lost_for = since.elapsed();
                if lost_for >= RECONNECT_BUDGET {
                    let why = format!(
                        " (connection lost, not back within {} s, {lost_attempts} attempts)",
                        RECONNECT_BUDGET.as_secs()
                    );
                    return Err(give_up(error, why));
                }
                let delay =
                    backoff(lost_attempts, RECONNECT_BACKOFF_CAP).min(RECONNECT_BUDGET - lost_for);
                if lost_attempts == 1 {
                    tracing::warn!(
                        "{}: connection lost: {}; reconnecting for up to {} s",
                        human(step),
                        crate::error::message(&error),
                        RECONNECT_BUDGET.as_secs()
                    );
                } else {
                    tracing::info!(
                        "{}: still no connection after {:.1} s: {}; retrying in {} ms",
                        human(step),
                        lost_for.as_secs_f64(),
                        crate::error::message(&error),
                        delay.as_millis()
                    );
                }
                delay
            }
        };
        if !stop.sleep(delay).await {
            return Ok(None);
        }
    }
}

/// `BACKOFF_BASE · 2^(attempt-1)`, capped, times a random factor in [0.5, 1): retries of
/// several clients that collided do not collide again in lockstep.
fn backoff(attempt: u32, cap: Duration) -> Duration {
    let exp = BACKOFF_BASE.saturating_mul(1u32 << (attempt - 1).min(16));
    let capped = exp.min(cap);
    capped.mul_f64(0.5 + rand::random::<f64>() * 0.5)
}

#[cfg(test)]
mod tests {
    #[test]
    fn lock_budget_shrinks_slow_batches_and_regrows() {
        use super::next_limit;
        let ms = std::time::Duration::from_millis;
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

    use super::*;
    use chrono::TimeZone;

    fn raw(value: &str) -> Option<Raw> {
        Some(Raw {
            value: value.into(),
            source: Source::Env("X"),
        })
    }

    #[test]
    fn seconds_parse_like_python_timedelta() {
        assert_eq!(parse_seconds("500"), Ok(500_000_000));
        assert_eq!(parse_seconds(" 0.5 "), Ok(500_000));
        assert_eq!(parse_seconds(".25"), Ok(250_000));
        assert_eq!(parse_seconds("1."), Ok(1_000_000));
        assert_eq!(parse_seconds("0.0000005"), Ok(0)); // half to even
        assert_eq!(parse_seconds("0.0000015"), Ok(2));
        assert_eq!(parse_seconds("0.00000051"), Ok(1));
        assert_eq!(parse_seconds("-0"), Ok(0));
        assert_eq!(parse_seconds("-1"), Err(SecondsError::Negative));
        for bad in ["", ".", "abc", "1e3", "inf", "nan", "1 2", "0x10", "--1"] {
            assert_eq!(parse_seconds(bad), Err(SecondsError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn settings_follow_dot_validation() {
        let ok = |r: RawSettings| Settings::resolve(&r).unwrap();
        let err = |r: RawSettings| Settings::resolve(&r).unwrap_err().to_string();

        let s = ok(RawSettings::default());
        assert_eq!(s.refresh_token_expire, None);
        assert_eq!(s.batch_size, 10_000);
        assert_eq!(s.batch_interval, Duration::ZERO);

        let s = ok(RawSettings {
            refresh_token_expire_seconds: raw("0"),
            ..Default::default()
        });
        assert_eq!(s.refresh_token_expire, None, "0 is falsy: expiry off");
        let s = ok(RawSettings {
            refresh_token_expire_seconds: raw("0.5"),
            ..Default::default()
        });
        assert_eq!(s.refresh_token_expire, Some(TimeDelta::milliseconds(500)));

        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("A"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("-3600"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must not be negative"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("100000000000000000000"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_grace_period_seconds: raw("A"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_GRACE_PERIOD_SECONDS must be in seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_grace_period_seconds: raw("-1000"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_GRACE_PERIOD_SECONDS must not be negative"),
            "{e}"
        );
        for bad in ["0", "-1", "x", "1.5", "99999999999999999999"] {
            let e = err(RawSettings {
                batch_size: raw(bad),
                ..Default::default()
            });
            assert!(e.starts_with("CLEAR_EXPIRED_TOKENS_BATCH_SIZE"), "{e}");
        }
        for bad in ["-1", "x", "1e9", "100000"] {
            let e = err(RawSettings {
                batch_interval: raw(bad),
                ..Default::default()
            });
            assert!(e.starts_with("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL"), "{e}");
        }
        let e = err(RawSettings {
            refresh_token_reuse_protection: raw("maybe"),
            ..Default::default()
        });
        assert!(e.starts_with("REFRESH_TOKEN_REUSE_PROTECTION"), "{e}");
    }

    #[test]
    fn cutoffs_follow_clear_expired_setup() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).unwrap();
        let settings = |expire: Option<i64>, grace: i64, reuse: bool| Settings {
            refresh_token_expire: expire.map(TimeDelta::seconds),
            refresh_token_grace_period: TimeDelta::seconds(grace),
            reuse_protection: reuse,
            batch_size: 10,
            batch_interval: Duration::ZERO,
        };
        let c = settings(None, 0, false).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now));
        assert_eq!(c.refresh_expire_at, None);
        let c = settings(Some(500), 1000, false).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now - TimeDelta::seconds(1000)));
        assert_eq!(c.refresh_expire_at, Some(now - TimeDelta::seconds(500)));
        let c = settings(Some(1500), 1000, true).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now - TimeDelta::seconds(1500)));
        let c = settings(None, 1000, true).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, None);
        let e = settings(Some(80_000_000_000_000), 0, false)
            .cutoffs(now)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS is too large"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        for bad in ["", "abc", "10x", "m", "-5s", "1h-5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..10 {
            let d = backoff(attempt, BACKOFF_CAP);
            let nominal = BACKOFF_BASE
                .saturating_mul(1 << (attempt - 1))
                .min(BACKOFF_CAP);
            assert!(d >= nominal / 2 && d <= nominal, "{attempt}: {d:?}");
        }
    }
}
