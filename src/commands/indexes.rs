//! `oauthctl indexes show|create|drop`: the cleanup indexes that let cleartokens find what it
//! deletes without reading whole tables ([`crate::db::indexes`] says which and why).
//!
//! `create` and `drop` are idempotent and online where the backend allows; `--print-sql` prints
//! their statements instead, without connecting, for teams that add the indexes through a
//! Django migration.

use anyhow::Result;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::indexes::{cleanup_indexes, DdlFlavor};
use crate::db::{self, CleanupIndex, IndexChange, IndexStatus, OpenMode, Step};
use crate::error::Outcome;
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
#[command(
    after_help = "Exit codes: 0 done, 1 runtime failure (an index built before it stays; run \
create again), 2 usage: a bad option, or a table or column the indexes need is missing (nothing \
built or dropped)."
)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(clap::Subcommand, Debug)]
pub enum Action {
    /// List the cleanup indexes, each present, invalid (an interrupted build) or missing.
    Show(ShowArgs),
    /// Build the missing cleanup indexes online and rebuild invalid ones; idempotent.
    Create(DdlArgs),
    /// Drop the cleanup indexes (only oauthctl's own, never Django's).
    Drop(DdlArgs),
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

#[derive(clap::Args, Debug)]
pub struct DdlArgs {
    /// Print the statements instead of running them, without connecting (for a Django
    /// migration's RunSQL)
    #[arg(long)]
    pub print_sql: bool,
    /// With --print-sql: the backend to write them for (default: --database-url's; mysql is
    /// the form both MySQL and MariaDB accept)
    #[arg(long, value_enum, requires = "print_sql")]
    pub backend: Option<BackendArg>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendArg {
    Sqlite,
    Postgres,
    Mysql,
    Mariadb,
}

impl BackendArg {
    fn flavor(self) -> DdlFlavor {
        match self {
            BackendArg::Sqlite => DdlFlavor::Sqlite,
            BackendArg::Postgres => DdlFlavor::Postgres,
            BackendArg::Mysql => DdlFlavor::MySql,
            BackendArg::Mariadb => DdlFlavor::MariaDb,
        }
    }
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let tables = global.tables.resolve()?;
    let print_sql = match &args.action {
        Action::Create(ddl) if ddl.print_sql => Some((true, ddl.backend)),
        Action::Drop(ddl) if ddl.print_sql => Some((false, ddl.backend)),
        _ => None,
    };
    if let Some((creating, backend)) = print_sql {
        let flavor = match backend {
            Some(backend) => backend.flavor(),
            None => DdlFlavor::of(global.database_url()?.backend()),
        };
        for index in cleanup_indexes(flavor.backend(), &tables) {
            let statement = if creating {
                index.create_sql(flavor)
            } else {
                index.drop_sql(flavor)
            };
            shell.out(format_args!("{statement};"))?;
        }
        return Ok(Outcome::Done);
    }
    let url = global.database_url()?;
    // A mistyped SQLite path must not become a new empty database.
    let store = db::open(&url, tables, OpenMode::ExistingSqlite).await?;
    match args.action {
        Action::Show(show) => {
            let states = store.cleanup_indexes().await?;
            let listed: Vec<Listed> = states
                .iter()
                .map(|s| listed(&s.index, store.dialect(), s.status))
                .collect();
            match show.format {
                OutputFormat::Json => shell.json(&ShowJson {
                    backend: store.backend(),
                    indexes: listed,
                })?,
                OutputFormat::Text => {
                    for index in &listed {
                        shell.out(format_args!(
                            "{}\t{}\t{}\t{}",
                            index.name,
                            index.table,
                            definition(index),
                            status_word(index.status)
                        ))?;
                    }
                }
            }
        }
        Action::Create(_) => print_changes(&store.create_cleanup_indexes().await?, shell)?,
        Action::Drop(_) => print_changes(&store.drop_cleanup_indexes().await?, shell)?,
    }
    Ok(Outcome::Done)
}

/// One index as `show` lists it.
#[derive(Serialize)]
struct Listed {
    name: &'static str,
    table: String,
    columns: Vec<&'static str>,
    /// A partial index's condition (null for a plain index).
    #[serde(rename = "where")]
    predicate: Option<String>,
    status: IndexStatus,
    /// The cleartokens steps whose candidate search uses it.
    steps: Vec<Step>,
}

#[derive(Serialize)]
struct ShowJson {
    backend: db::Backend,
    indexes: Vec<Listed>,
}

fn listed(index: &CleanupIndex, dialect: db::Dialect, status: IndexStatus) -> Listed {
    Listed {
        name: index.name,
        table: index.table.clone(),
        columns: index.columns.clone(),
        predicate: index.predicate_sql(dialect),
        status,
        steps: index.serves.clone(),
    }
}

/// `(columns) WHERE condition`, as the index is defined.
fn definition(index: &Listed) -> String {
    let columns = format!("({})", index.columns.join(", "));
    match &index.predicate {
        Some(predicate) => format!("{columns} WHERE {predicate}"),
        None => columns,
    }
}

fn status_word(status: IndexStatus) -> &'static str {
    match status {
        IndexStatus::Present => "present",
        IndexStatus::Invalid => "invalid",
        IndexStatus::Missing => "missing",
    }
}

/// One line per index: what was done, its name, its table.
fn print_changes(changes: &[(CleanupIndex, IndexChange)], shell: &Shell) -> Result<()> {
    for (index, change) in changes {
        let word = match change {
            IndexChange::Created => "created",
            IndexChange::Rebuilt => "rebuilt",
            IndexChange::AlreadyPresent => "present",
            IndexChange::Dropped => "dropped",
            IndexChange::AlreadyAbsent => "absent",
        };
        shell.out(format_args!("{word}\t{}\t{}", index.name, index.table))?;
    }
    Ok(())
}
