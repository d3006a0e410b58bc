//! `oauthctl cleartokens`: DOT 3.4.1's `manage.py cleartokens`, batched for large tables and safe
//! beside a live server.
//!
//! The six steps, their predicates and settings are DOT's; the command adds a dry run, JSON
//! output, a metrics file, a time budget, graceful signals and a per-database run lock. The work
//! itself is [`crate::cleartokens`]; this module only maps the arguments, opens the database
//! (an existing SQLite file only), turns the summary into an [`Outcome`] and writes the metrics
//! file whatever the outcome.

use std::path::PathBuf;

use anyhow::Result;

use super::metrics_file;
use crate::cleartokens::incremental;
use crate::cleartokens::metrics::{self, RunRecord};
use crate::cleartokens::report::{self, Format, Output, StopReason};
use crate::cleartokens::settings::{self, pick, Plan, RawPlan, RawSettings};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, DotVersion, OpenMode, RulesInUse, Store};
use crate::django::timezone::TimeSettings;
use crate::error::{self, Outcome};
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Each setting falls back to the environment variable of DOT's setting name \
(an empty variable counts as unset). Exit codes: 0 done, 2 invalid setting (nothing deleted), \
3 another run holds the lock, 4 stopped early by --max-duration or a signal (finished batches \
are committed; run again to continue; with --incremental the next run is a full pass)."
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

    /// Print the plan the database chooses for each step's candidate search (to see whether
    /// the cleanup indexes of `oauthctl indexes` are used); change nothing
    #[arg(long, conflicts_with = "dry_run")]
    pub explain: bool,

    /// Whose cleanup rules to follow: auto (the latest oauth2_provider migration in
    /// django_migrations; 3.4.1 without that table), or 2.0 (2.0-2.2), 2.3 (2.3-3.3), 3.4.0, 3.4.1
    /// [env: OAUTHCTL_DOT_VERSION] [default: auto]
    #[arg(long, value_name = "VERSION")]
    pub dot_version: Option<String>,

    /// Incremental mode (off by default): steps 4 and 5 look only at rows that can have become
    /// deletable since the last complete run (its `now`, kept in the table
    /// oauthctl_cleanup_state); a full pass whenever the mark is missing, stale or from other
    /// settings, or the last run did not complete. Needs `oauthctl indexes create`
    #[arg(
        long,
        env = "OAUTHCTL_INCREMENTAL",
        value_parser = clap::builder::FalseyValueParser::new()
    )]
    pub incremental: bool,

    /// With --incremental: make a full pass when the last one is this many days old (0: always)
    #[arg(
        long,
        value_name = "DAYS",
        env = "OAUTHCTL_FULL_PASS_EVERY",
        default_value = "7",
        allow_hyphen_values = true
    )]
    pub full_pass_every: String,

    /// Output: DOT's log lines (text) or one JSON summary object (json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Write the run's figures to this file in Prometheus text format, for node_exporter's
    /// textfile collector (replaced atomically; written on success, failure and stop)
    #[arg(long, value_name = "PATH", env = "OAUTHCTL_METRICS_FILE")]
    pub metrics_file: Option<String>,
}

impl Args {
    /// Each DOT setting from its flag, else from the environment variable of DOT's name.
    fn raw_settings(&self) -> RawSettings {
        RawSettings {
            refresh_token_expire_seconds: pick(
                self.refresh_token_expire_seconds.as_deref(),
                "--refresh-token-expire-seconds",
                "REFRESH_TOKEN_EXPIRE_SECONDS",
            ),
            refresh_token_grace_period_seconds: pick(
                self.refresh_token_grace_period_seconds.as_deref(),
                "--refresh-token-grace-period-seconds",
                "REFRESH_TOKEN_GRACE_PERIOD_SECONDS",
            ),
            refresh_token_reuse_protection: pick(
                self.reuse_protection.then_some("true"),
                "--reuse-protection",
                "REFRESH_TOKEN_REUSE_PROTECTION",
            ),
            batch_size: pick(
                self.batch_size.as_deref(),
                "--batch-size",
                "CLEAR_EXPIRED_TOKENS_BATCH_SIZE",
            ),
            batch_interval: pick(
                self.batch_interval.as_deref(),
                "--batch-interval",
                "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL",
            ),
        }
    }

    /// Everything the run is asked to do; `time`: Django's time settings (global options).
    fn raw_plan(&self, time: TimeSettings) -> RawPlan {
        RawPlan {
            settings: self.raw_settings(),
            max_duration: self.max_duration.clone(),
            lock_budget: self.lock_budget.clone(),
            dry_run: self.dry_run,
            time,
        }
    }

    /// `--metrics-file`; an empty value (an empty variable) counts as unset, as for the others.
    fn metrics_path(&self) -> Option<PathBuf> {
        self.metrics_file
            .as_deref()
            .filter(|path| !path.is_empty())
            .map(PathBuf::from)
    }

    /// `--full-pass-every` as a whole number of days.
    fn full_pass_every(&self) -> Result<chrono::TimeDelta> {
        let text = self.full_pass_every.trim();
        match text.parse::<u32>() {
            Ok(days) => Ok(chrono::TimeDelta::days(i64::from(days))),
            Err(_) => Err(error::Failure::Usage(format!(
                "--full-pass-every must be a whole number of days (0 or more), e.g. 7: got {}",
                crate::django::repr::repr_str(text)
            ))
            .into()),
        }
    }

    fn format(&self) -> Format {
        match self.format {
            OutputFormat::Text => Format::Text,
            OutputFormat::Json => Format::Json,
        }
    }
}

/// `oauthctl cleartokens`: exit 0 when every step is done, 4 when it stopped early; with
/// `--metrics-file`, the file is written whatever the outcome.
pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    if args.explain {
        return explain(global, &args, shell).await;
    }
    let Some(path) = args.metrics_path() else {
        return clean(global, &args, shell)
            .await
            .map(|report| outcome(&report));
    };
    let started_at = unix_now();
    let (result, report) = match clean(global, &args, shell).await {
        Ok(report) => (Ok(outcome(&report)), Some(report)),
        Err(error) => (Err(error), None),
    };
    let ended_at = unix_now();
    let record = RunRecord {
        started_at,
        ended_at,
        exit_code: error::exit_code(&result),
        dry_run: args.dry_run,
        report: report.as_ref(),
        previous_success: metrics_file::read(&path)
            .as_deref()
            .and_then(metrics::previous_success),
    };
    if let Err(e) = metrics_file::replace(&path, &metrics::render(&record)) {
        // The run's own outcome is what cron and the operator act on; a stale metrics file shows
        // up on its own, as a last success that gets old.
        shell.warn(format_args!(
            "warning: cannot write the metrics file: {}; the run's exit code is kept",
            error::message(&e)
        ));
    }
    result
}

/// Whether the run finished its steps or stopped with work left.
fn outcome(report: &report::Report) -> Outcome {
    match report.stop_reason {
        StopReason::Completed => Outcome::Done,
        StopReason::MaxDuration | StopReason::Signal => Outcome::Stopped,
    }
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// One step's plan, as `--explain --format json` lists it.
#[derive(serde::Serialize)]
struct ExplainedStep {
    name: db::Step,
    table: String,
    /// Null when DOT does not run the step with these settings.
    plan: Option<Vec<String>>,
}

/// `--explain`: each step's candidate search as its first batch runs it, explained by the
/// database; no lock, nothing written.
async fn explain(global: &GlobalArgs, args: &Args, shell: &Shell) -> Result<Outcome> {
    let time = global.time_settings()?;
    let plan = Plan::resolve(&args.raw_plan(time))?;
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    let store = db::open_with(&url, tables, OpenMode::ExistingSqlite, &time).await?;
    let mut steps = Vec::new();
    for step in db::Step::ALL {
        let table = step.table(store.tables()).to_string();
        db::require_table(store.as_ref(), &url, &table).await?;
        let explained = if plan.cutoffs.runs(step) {
            let limit = plan.settings.batch_size;
            Some(store.explain_candidates(&plan.cutoffs, step, limit).await?)
        } else {
            None
        };
        steps.push(ExplainedStep {
            name: step,
            table,
            plan: explained,
        });
    }
    match args.format {
        OutputFormat::Json => shell.json(&serde_json::json!({ "steps": steps }))?,
        OutputFormat::Text => {
            for step in &steps {
                let name = report::step_name(step.name);
                match &step.plan {
                    None => shell.out(format_args!("{name} ({}): skipped", step.table))?,
                    Some(lines) => {
                        shell.out(format_args!("{name} ({}):", step.table))?;
                        for line in lines {
                            shell.out(format_args!("  {line}"))?;
                        }
                    }
                }
            }
        }
    }
    Ok(Outcome::Done)
}

/// The rules of the run: the database's release, or the one asked for. Warnings (a schema
/// oauthctl does not know, a flag that disagrees with it) go to stderr, and in text a note
/// names the rules unless they are the default of a database without django_migrations.
async fn dot_rules(
    store: &dyn Store,
    (requested, what): (DotVersion, &'static str),
    output: Output,
    shell: &Shell,
) -> Result<RulesInUse> {
    let detection = store.detect_dot_release().await?;
    let (chosen, warnings) = RulesInUse::choose(requested, what, &detection);
    for warning in warnings {
        shell.warn(warning);
    }
    let default = detection.migration.is_none() && requested == DotVersion::Auto;
    if output.format == Format::Text && !default {
        shell.note(chosen.describe());
    }
    Ok(chosen)
}

/// One run: settings, database, steps, summary.
async fn clean(global: &GlobalArgs, args: &Args, shell: &Shell) -> Result<report::Report> {
    // Everything that can be wrong with the request is found before the database is touched.
    let time = global.time_settings()?;
    let mut plan = Plan::resolve(&args.raw_plan(time))?;
    let dot_version = settings::dot_version(args.dot_version.as_deref())?;
    let full_pass_every = args.full_pass_every()?;
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;

    let store = db::open_with(&url, tables, OpenMode::ExistingSqlite, &time).await?;
    let t = store.tables().clone();
    for table in [&t.refresh_token, &t.access_token, &t.id_token, &t.grant] {
        db::require_table(store.as_ref(), &url, table).await?;
    }
    let output = Output {
        format: args.format(),
        progress: Output::progress_wanted(global.verbose, shell),
    };
    plan.follow(dot_rules(store.as_ref(), dot_version, output, shell).await?);
    report::warn_settings(shell, &plan.settings, plan.cutoffs.rules);
    if args.incremental {
        plan.incremental = Some(incremental::Request {
            full_pass_every,
            fingerprint: incremental::fingerprint(plan.cutoffs.rules, &plan.settings, &time),
        });
    }

    let summary =
        crate::cleartokens::clear(store.as_ref(), &plan, output, &url.redacted(), shell).await?;
    report::finish(shell, &summary, output.format)?;
    Ok(summary)
}
