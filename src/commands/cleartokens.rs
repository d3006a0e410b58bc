//! `oauthctl cleartokens`: DOT 3.4.1's `manage.py cleartokens`, batched for large tables and safe
//! beside a live server.
//!
//! The six steps, their predicates and settings are DOT's; the command adds a dry run, JSON
//! output, a time budget, graceful signals and a per-database run lock. The work itself is
//! [`crate::cleartokens`]; this module only wires arguments, the database and the exit code.

use anyhow::{bail, Context, Result};

use crate::cleartokens::{self as cleanup, Format, RawSettings, RunOptions, Settings, StopReason, StopSignal};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::clock;
use crate::db::{self, OpenMode};
use crate::error::{Failure, Outcome};
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each setting falls back to the environment variable of DOT's setting name \
(an empty variable counts as unset). Exit codes: 0 done, 2 invalid setting (nothing deleted), \
3 another run holds the lock, 4 stopped early by --max-duration or a signal (finished batches \
are committed; run again to continue)."
)]
pub struct Args {
    /// Refresh tokens whose access token expired this many seconds ago are deleted (DOT's
    /// REFRESH_TOKEN_EXPIRE_SECONDS; unset or 0: never)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub refresh_token_expire_seconds: Option<String>,

    /// Revoked refresh tokens are kept this many seconds (DOT's
    /// REFRESH_TOKEN_GRACE_PERIOD_SECONDS; default 0)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub refresh_token_grace_period_seconds: Option<String>,

    /// Keep revoked refresh tokens as long as live ones (DOT's REFRESH_TOKEN_REUSE_PROTECTION)
    #[arg(long)]
    pub reuse_protection: bool,

    /// Rows deleted per transaction, at most (DOT's CLEAR_EXPIRED_TOKENS_BATCH_SIZE; default
    /// 10000)
    #[arg(long, value_name = "ROWS", allow_hyphen_values = true)]
    pub batch_size: Option<String>,

    /// Pause between batches, fractions allowed (DOT's CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL;
    /// default 0)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub batch_interval: Option<String>,

    /// Stop cleanly between batches once this much time is used (e.g. 90s, 10m, 1h); exit 4
    #[arg(
        long,
        value_name = "DURATION",
        env = "OAUTHCTL_MAX_DURATION",
        allow_hyphen_values = true
    )]
    pub max_duration: Option<String>,

    /// Keep each batch's row locks at most about this long: after a batch that held them longer,
    /// the step's next batches take proportionally fewer rows (growing back up to the batch size
    /// when they are fast again); 0 turns it off
    #[arg(
        long,
        value_name = "SECONDS",
        env = "OAUTHCTL_LOCK_BUDGET",
        default_value = "0.8",
        allow_hyphen_values = true
    )]
    pub lock_budget: String,

    /// Report per step how many rows would be deleted, and the cutoffs; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Output: DOT's log lines (text) or one JSON summary object (json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

impl Args {
    fn raw_settings(&self) -> RawSettings {
        RawSettings {
            refresh_token_expire_seconds: cleanup::pick(
                self.refresh_token_expire_seconds.as_deref(),
                "--refresh-token-expire-seconds",
                "REFRESH_TOKEN_EXPIRE_SECONDS",
            ),
            refresh_token_grace_period_seconds: cleanup::pick(
                self.refresh_token_grace_period_seconds.as_deref(),
                "--refresh-token-grace-period-seconds",
                "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
            ),
            refresh_token_reuse_protection: cleanup::pick(
                self.reuse_protection.then_some("true"),
                "--reuse-protection",
                "REFRESH_TOKEN_REUSE_PROTECTION",
            ),
            batch_size: cleanup::pick(
                self.batch_size.as_deref(),
                "--batch-size",
                "CLEAR_EXPIRED_TOKENS_BATCH_SIZE",
            ),
            batch_interval: cleanup::pick(
                self.batch_interval.as_deref(),
                "--batch-interval",
                "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL",
            ),
        }
    }
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    // Everything that can be wrong with the request is found before the database is touched.
    let settings = Settings::resolve(&args.raw_settings())?;
    let max_duration = match args
        .max_duration
        .as_deref()
        .filter(|t| !t.trim().is_empty())
    {
        None => None,
        Some(text) => match cleanup::parse_duration(text) {
            Some(d) if !d.is_zero() => Some(d),
            _ => bail!(Failure::Usage(format!(
                "--max-duration must be a positive duration such as 90s, 10m or 1h: got {}",
                crate::pyrepr::repr_str(text)
            ))),
        },
    };
    let lock_budget = match cleanup::parse_duration(&args.lock_budget) {
        Some(d) if d.is_zero() => None,
        Some(d) if d <= std::time::Duration::from_secs(3_600) => Some(d),
        _ => bail!(Failure::Usage(format!(
            "--lock-budget must be a number of seconds from 0 (off) to 3600, such as 0.5: got {}",
            crate::pyrepr::repr_str(&args.lock_budget)
        ))),
    };
    let now = clock::now().map_err(|e| Failure::Usage(format!("{e:#}")))?;
    let cutoffs = settings.cutoffs(now)?;
    let url = global.database_url()?;
    let tables = global.tables()?;

    if settings.refresh_token_expire.is_none() {
        shell.warn(cleanup::EXPIRY_UNSET_WARNING);
    }

    let store = db::open(&url, tables, OpenMode::CreateSqlite).await?;
    let t = store.tables().clone();
    for table in [&t.refresh_token, &t.access_token, &t.id_token, &t.grant] {
        db::require_table(store.as_ref(), &url, table).await?;
    }
    let stop = StopSignal::install().context("installing signal handlers")?;

    // A dry run changes nothing: it needs no lock and may run beside a real run.
    let mut lock = if args.dry_run {
        None
    } else {
        let lock = store.acquire_cleanup_lock().await?;
        store.prepare_cleanup().await?;
        Some(lock)
    };
    tracing::info!(
        database = %url.redacted(),
        lock = lock.as_ref().map(|l| l.describe()).unwrap_or_default(),
        now = %now,
        refresh_revoked_at = ?cutoffs.refresh_revoked_at,
        refresh_expire_at = ?cutoffs.refresh_expire_at,
        batch_size = settings.batch_size,
        "cleartokens starting"
    );

    let options = RunOptions {
        settings,
        cutoffs,
        max_duration,
        lock_budget,
        dry_run: args.dry_run,
        format: if args.format.is_json() {
            Format::Json
        } else {
            Format::Text
        },
        progress: RunOptions::progress_wanted(global.verbose),
    };
    let outcome = cleanup::run(store.as_ref(), lock.as_mut(), &stop, &options).await;
    if let Some(lock) = lock {
        if let Err(e) = lock.release().await {
            tracing::warn!("{}", crate::error::message(&e));
        }
    }
    let report = outcome?;

    if args.format.is_json() {
        shell.json(&report)?;
    }
    match report.stop_reason {
        StopReason::Completed => Ok(Outcome::Done),
        reason => {
            let why = match reason {
                StopReason::MaxDuration => "--max-duration reached",
                _ => "signal received",
            };
            shell.note(format_args!(
                "cleartokens stopped early ({why}): {} rows deleted in {} finished batches; work remains, run it again to continue",
                report.deleted_total, report.batches
            ));
            Ok(Outcome::Stopped)
        }
    }
}
