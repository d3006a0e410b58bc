//! `oauthctl doctor`: what a database looks like to the cleanup, read-only — backend and server
//! version, DOT's tables and columns, the cleanup indexes and how to add them, catalogue row
//! estimates, whether a cleartokens run holds the lock now, and with `--deletable` the dry run's
//! per-step counts.
//!
//! Nothing is ever written: a SQLite file is opened read-only (a missing one is an error and is
//! not created), server sessions only read catalogues and `pg_locks` / `IS_USED_LOCK`. The
//! findings are [`crate::doctor`]'s; this module maps the arguments and renders them.

use anyhow::Result;

use crate::cleartokens::report::{self, Format, Output};
use crate::cleartokens::settings::{self, pick, Plan, RawPlan, RawSettings};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, IndexStatus, OpenMode, Store};
use crate::django::timezone::TimeSettings;
use crate::doctor::{self, Diagnosis, TableFinding, Verdict};
use crate::error::Outcome;
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Read-only. Exit codes: 0 nothing needs attention, 6 cleanup indexes missing \
(add them with `oauthctl indexes create`), 7 a DOT table or a column the cleanup needs is \
missing, 1 the database cannot be read. A cleartokens run holding the lock is reported, not an \
error."
)]
pub struct Args {
    /// Output: lines for a person (text) or one JSON object (json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Also count per step what cleartokens would delete now (its dry run; reads the tables)
    #[arg(long)]
    pub deletable: bool,

    /// For --deletable: as cleartokens' (DOT's REFRESH_TOKEN_EXPIRE_SECONDS)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub refresh_token_expire_seconds: Option<String>,

    /// For --deletable: as cleartokens' (DOT's REFRESH_TOKEN_GRACE_PERIOD_SECONDS)
    #[arg(long, value_name = "SECONDS", allow_hyphen_values = true)]
    pub refresh_token_grace_period_seconds: Option<String>,

    /// For --deletable: as cleartokens' (DOT's REFRESH_TOKEN_REUSE_PROTECTION)
    #[arg(long)]
    pub reuse_protection: bool,

    /// Whose cleanup rules to report and (with --deletable) count by, as cleartokens':
    /// auto, 2.0, 2.3, 3.4.0 or 3.4.1 [env: OAUTHCTL_DOT_VERSION] [default: auto]
    #[arg(long, value_name = "VERSION")]
    pub dot_version: Option<String>,
}

impl Args {
    /// The dry run's plan, from the flags and DOT's environment variables, as cleartokens reads
    /// them.
    fn dry_run_plan(&self, time: TimeSettings) -> RawPlan {
        RawPlan {
            time,
            settings: RawSettings {
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
                batch_size: None,
                batch_interval: None,
            },
            max_duration: None,
            lock_budget: "0".into(),
            dry_run: true,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    // Settings are checked before the database is touched, as cleartokens checks them.
    let time = global.time_settings()?;
    let plan = args
        .deletable
        .then(|| Plan::resolve(&args.dry_run_plan(time)))
        .transpose()?;
    let dot_version = settings::dot_version(args.dot_version.as_deref())?;
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    let store = db::open_with(&url, tables, OpenMode::ReadOnly, &time).await?;
    let mut diagnosis =
        doctor::diagnose(store.as_ref(), url.redacted(), dot_version, &time).await?;
    for warning in &diagnosis.dot_release.warnings {
        shell.warn(warning);
    }
    if let Some(mut plan) = plan {
        plan.follow(diagnosis.dot_release.in_use.clone());
        diagnosis.deletable = dry_run(store.as_ref(), &plan, &diagnosis, &url, shell).await?;
    }
    match args.format {
        OutputFormat::Json => shell.json(&diagnosis)?,
        OutputFormat::Text => print_text(&diagnosis, shell)?,
    }
    Ok(diagnosis.status.outcome())
}

/// cleartokens' own dry run (no lock taken, nothing written), when the cleanup can run at all.
async fn dry_run(
    store: &dyn Store,
    plan: &Plan,
    diagnosis: &Diagnosis,
    url: &db::DatabaseUrl,
    shell: &Shell,
) -> Result<Option<report::Report>> {
    if !diagnosis.cleanup_can_run() {
        shell.note("doctor: no dry run: the cleanup's tables or columns are missing");
        return Ok(None);
    }
    report::warn_settings(shell, &plan.settings, plan.cutoffs.rules);
    // JSON format: the summary comes back to us instead of DOT's lines going to stdout.
    let output = Output {
        format: Format::Json,
        progress: false,
    };
    let summary = crate::cleartokens::clear(store, plan, output, &url.redacted(), shell).await?;
    Ok(Some(summary))
}

fn print_text(d: &Diagnosis, shell: &Shell) -> Result<()> {
    shell.out(format_args!(
        "database: {} ({} {})",
        d.database, d.backend, d.server_version
    ))?;
    shell.out(format_args!(
        "DOT release: {}",
        d.dot_release.in_use.describe()
    ))?;
    let tz = &d.time_zone;
    shell.out(format_args!(
        "time zone: USE_TZ = {}, TIME_ZONE = {}, database TIME_ZONE = {}; naive values are {} wall-clock time",
        if tz.use_tz { "True" } else { "False" },
        tz.time_zone,
        tz.database_time_zone.unwrap_or("unset"),
        tz.storage_zone
    ))?;
    shell.out("tables:")?;
    for table in &d.tables {
        print_table(table, shell)?;
    }
    print_indexes(d, shell)?;
    print_lock(d, shell)?;
    if let Some(summary) = &d.deletable {
        shell.out(format_args!(
            "deletable now (dry run, now = {}):",
            summary.now
        ))?;
        for step in &summary.steps {
            let count = step
                .would_delete
                .map_or_else(|| "skipped".to_string(), |n| n.to_string());
            shell.out(format_args!("  {}: {count}", report::human(step.name)))?;
        }
    }
    shell.out(format_args!(
        "status: {} (exit {})",
        status_text(d.status),
        d.exit_code
    ))
}

fn print_table(t: &TableFinding, shell: &Shell) -> Result<()> {
    if !t.found {
        return shell.out(format_args!("  MISSING  {} ({})", t.table, t.model));
    }
    let rows = t
        .estimated_rows
        .as_ref()
        .map(|e| match e.rows {
            Some(n) => format!("~{n} rows, estimate from {}", e.source),
            None => format!("rows unknown ({})", e.source),
        })
        .unwrap_or_default();
    let mark = if t.broken() { "BROKEN " } else { "ok     " };
    shell.out(format_args!("  {mark}  {} ({}): {rows}", t.table, t.model))?;
    if !t.missing_cleanup_columns.is_empty() {
        shell.out(format_args!(
            "           missing columns the cleanup needs: {}",
            t.missing_cleanup_columns.join(", ")
        ))?;
    }
    if !t.missing_columns.is_empty() {
        shell.out(format_args!(
            "           not present (DOT 3.4.1 has them; an older release?): {}",
            t.missing_columns.join(", ")
        ))?;
    }
    Ok(())
}

fn print_indexes(d: &Diagnosis, shell: &Shell) -> Result<()> {
    let Some(indexes) = &d.indexes else {
        return shell.out("cleanup indexes: not checked (a table or a cleanup column is missing)");
    };
    let total = indexes.present.len() + indexes.missing.len();
    shell.out(format_args!(
        "cleanup indexes: {} of {total} present",
        indexes.present.len()
    ))?;
    for index in &indexes.missing {
        let state = match index.status {
            IndexStatus::Invalid => "invalid (an interrupted build; rebuilt by create)",
            _ => "missing",
        };
        shell.out(format_args!("  {state}: {} on {}", index.name, index.table))?;
    }
    if let Some(command) = indexes.create_command {
        shell.out(format_args!("  add them with: {command}"))?;
    }
    Ok(())
}

fn print_lock(d: &Diagnosis, shell: &Shell) -> Result<()> {
    let lock = &d.cleanup_lock;
    if lock.held {
        let by = lock
            .holder
            .as_deref()
            .map(|h| format!(" by {h}"))
            .unwrap_or_default();
        shell.out(format_args!(
            "cleanup lock: held{by}: a cleartokens run is active ({})",
            lock.lock
        ))
    } else {
        shell.out(format_args!("cleanup lock: free ({})", lock.lock))
    }
}

fn status_text(status: Verdict) -> &'static str {
    match status {
        Verdict::Ok => "ok",
        Verdict::IndexesMissing => "cleanup indexes missing",
        Verdict::SchemaIncomplete => "DOT tables or columns missing",
    }
}
