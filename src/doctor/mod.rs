//! `oauthctl doctor`'s findings about a database, read-only: which of DOT's tables and columns
//! exist, the cleanup indexes, catalogue row estimates, the cleartokens run lock, the DOT release
//! and cleanup rules, and what needs attention ([`Verdict`]). Rendering is the command's (`commands/doctor.rs`); all SQL is
//! the store's.
//!
//! Nothing here writes: every figure comes from the catalogue or a lock probe, never from a
//! `COUNT(*)` of a token table (fast at 10⁸ rows). The dry run's per-step counts, which do
//! read the tables, are only taken when asked for (`--deletable`).

pub mod schema;

use anyhow::Result;
use serde::Serialize;

use crate::cleartokens::report::Report;
use crate::db::{DotVersion, IndexStatus, LockProbe, RowEstimate, RulesInUse, Store};
use crate::django::timezone::TimeSettings;
use crate::error::Outcome;

pub use self::schema::{expected_tables, ExpectedTable};

/// The version of doctor's JSON document; raised only when a key changes meaning or goes away
/// (new keys may be added without it).
pub const JSON_VERSION: u32 = 1;

/// One of DOT's tables as found.
#[derive(Clone, Debug, Serialize)]
pub struct TableFinding {
    /// DOT's model, e.g. `access_token`.
    pub model: &'static str,
    /// The table's name in this database (swapped models included).
    pub table: String,
    pub found: bool,
    /// DOT 3.4.1 columns the cleanup needs that are not there (the run cannot work).
    pub missing_cleanup_columns: Vec<&'static str>,
    /// Other DOT 3.4.1 columns not there: an older DOT release, usually harmless.
    pub missing_columns: Vec<&'static str>,
    /// `None` when the table is missing.
    pub estimated_rows: Option<RowEstimate>,
}

impl TableFinding {
    /// The cleanup cannot run on this table as it is.
    pub fn broken(&self) -> bool {
        !self.found || !self.missing_cleanup_columns.is_empty()
    }
}

/// The cleanup indexes (`oauthctl indexes`), present or missing.
#[derive(Clone, Debug, Serialize)]
pub struct IndexFindings {
    pub present: Vec<IndexFinding>,
    pub missing: Vec<IndexFinding>,
    /// What adds the missing ones (`None` when none is missing).
    pub create_command: Option<&'static str>,
}

/// One cleanup index.
#[derive(Clone, Debug, Serialize)]
pub struct IndexFinding {
    pub name: String,
    pub table: String,
    /// `present`, `missing` or `invalid` (PostgreSQL: an interrupted build, unusable).
    pub status: IndexStatus,
}

/// The command that adds the cleanup indexes.
pub const CREATE_INDEXES: &str = "oauthctl indexes create";

/// What needs attention, worst first: it decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Nothing (exit 0).
    Ok,
    /// The cleanup indexes are not all there: cleartokens works but reads whole tables (exit 6).
    IndexesMissing,
    /// A table or a column the cleanup needs is missing: cleartokens cannot run (exit 7).
    SchemaIncomplete,
}

impl Verdict {
    pub fn outcome(self) -> Outcome {
        match self {
            Verdict::Ok => Outcome::Done,
            Verdict::IndexesMissing => Outcome::IndexesMissing,
            Verdict::SchemaIncomplete => Outcome::SchemaIncomplete,
        }
    }
}

/// The release and rules, as cleartokens would choose them (`--dot-version`, else auto).
#[derive(Clone, Debug, Serialize)]
pub struct DotRelease {
    /// `rules`, `release`, `source` and (when a flag overrode the ledger) `detected`: the JSON
    /// summary's `dot_rules`.
    #[serde(flatten)]
    pub in_use: RulesInUse,
    /// The latest applied `oauth2_provider` migration; `None` without one.
    pub migration: Option<String>,
    /// What cleartokens would warn about the detection or the flag.
    pub warnings: Vec<String>,
}

/// Django's time-zone settings as oauthctl applies them (`--use-tz`, `--time-zone`,
/// `--database-time-zone` or Django's setting names in the environment).
#[derive(Clone, Debug, Serialize)]
pub struct TimeZoneReport {
    pub use_tz: bool,
    pub time_zone: &'static str,
    /// The per-database `TIME_ZONE`; `None`: unset.
    pub database_time_zone: Option<&'static str>,
    /// The zone whose wall-clock time naive stored values are (SQLite, MySQL; and what
    /// PostgreSQL resolves naive values in under `USE_TZ = False`).
    pub storage_zone: &'static str,
    /// The `TimeZone` a PostgreSQL session is set to, as Django sets it.
    pub postgres_session_zone: &'static str,
}

impl TimeZoneReport {
    pub fn of(time: &TimeSettings) -> TimeZoneReport {
        TimeZoneReport {
            use_tz: time.use_tz(),
            time_zone: time.time_zone().name(),
            database_time_zone: time.database_time_zone().map(|z| z.name()),
            storage_zone: time.storage_zone().name(),
            postgres_session_zone: time.session_zone_name(),
        }
    }
}

/// Everything doctor found.
#[derive(Clone, Debug, Serialize)]
pub struct Diagnosis {
    pub doctor_json_version: u32,
    pub status: Verdict,
    pub exit_code: u8,
    /// `sqlite`, `postgres` or `mysql`.
    pub backend: String,
    pub server_version: String,
    /// The database URL, password redacted.
    pub database: String,
    pub tables: Vec<TableFinding>,
    /// `None` when a table or a column the cleanup needs is missing (nothing to index).
    pub indexes: Option<IndexFindings>,
    pub cleanup_lock: LockProbe,
    /// The DOT release detected from `django_migrations` and the cleanup rules a run follows.
    pub dot_release: DotRelease,
    /// The Django time-zone settings cutoffs are computed and bound under.
    pub time_zone: TimeZoneReport,
    /// With `--deletable`: the dry run's summary, exactly as `cleartokens --dry-run --format
    /// json` prints it.
    pub deletable: Option<Report>,
}

impl Diagnosis {
    fn verdict(tables: &[TableFinding], indexes: Option<&IndexFindings>) -> Verdict {
        if tables.iter().any(TableFinding::broken) {
            Verdict::SchemaIncomplete
        } else if indexes.is_some_and(|i| !i.missing.is_empty()) {
            Verdict::IndexesMissing
        } else {
            Verdict::Ok
        }
    }

    /// Whether the cleanup could run (and so a dry run can count).
    pub fn cleanup_can_run(&self) -> bool {
        self.status != Verdict::SchemaIncomplete
    }
}

/// Reads everything but the dry run, which the caller adds when asked for.
pub async fn diagnose(
    store: &dyn Store,
    database: String,
    requested: (DotVersion, &'static str),
    time: &TimeSettings,
) -> Result<Diagnosis> {
    let server_version = store.server_version().await?;
    let detection = store.detect_dot_release().await?;
    let (in_use, warnings) = RulesInUse::choose(requested.0, requested.1, &detection);
    let dot_release = DotRelease {
        in_use,
        migration: detection.migration,
        warnings,
    };
    let mut tables = Vec::new();
    for expected in expected_tables(store.tables()) {
        tables.push(table_finding(store, &expected).await?);
    }
    let indexes = if tables.iter().any(TableFinding::broken) {
        None
    } else {
        Some(index_findings(store).await?)
    };
    let cleanup_lock = store.probe_cleanup_lock().await?;
    let status = Diagnosis::verdict(&tables, indexes.as_ref());
    Ok(Diagnosis {
        doctor_json_version: JSON_VERSION,
        status,
        exit_code: crate::error::exit_code(&Ok(status.outcome())),
        backend: store.backend().to_string(),
        server_version,
        database,
        tables,
        indexes,
        cleanup_lock,
        dot_release,
        time_zone: TimeZoneReport::of(time),
        deletable: None,
    })
}

async fn table_finding(store: &dyn Store, expected: &ExpectedTable) -> Result<TableFinding> {
    let Some(columns) = store.table_columns(&expected.table).await? else {
        return Ok(TableFinding {
            model: expected.model,
            table: expected.table.clone(),
            found: false,
            missing_cleanup_columns: expected.cleanup_columns.to_vec(),
            missing_columns: Vec::new(),
            estimated_rows: None,
        });
    };
    let has = |name: &str| columns.iter().any(|c| c.name == name);
    let missing = |names: &[&'static str]| names.iter().copied().filter(|n| !has(n)).collect();
    Ok(TableFinding {
        model: expected.model,
        table: expected.table.clone(),
        found: true,
        missing_cleanup_columns: missing(expected.cleanup_columns),
        missing_columns: missing(expected.other_columns),
        estimated_rows: Some(store.estimate_rows(&expected.table).await?),
    })
}

/// The cleanup indexes as the store finds them; an INVALID one (an interrupted PostgreSQL build)
/// counts as missing: `indexes create` rebuilds it.
async fn index_findings(store: &dyn Store) -> Result<IndexFindings> {
    let (mut present, mut missing) = (Vec::new(), Vec::new());
    for state in store.cleanup_indexes().await? {
        let finding = IndexFinding {
            name: state.index.name.to_string(),
            table: state.index.table.clone(),
            status: state.status,
        };
        match state.status {
            IndexStatus::Present => present.push(finding),
            IndexStatus::Invalid | IndexStatus::Missing => missing.push(finding),
        }
    }
    Ok(IndexFindings {
        create_command: (!missing.is_empty()).then_some(CREATE_INDEXES),
        present,
        missing,
    })
}
