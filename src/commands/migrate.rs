//! `oauthctl migrate`: create DOT 3.4.1's tables in an empty database.
//!
//! A database whose DOT tables Django created is never altered: Django's migrations own it.

use anyhow::{bail, Result};

use crate::cli::GlobalArgs;
use crate::db::{self, MigrateOutcome, OpenMode};
use crate::error::{Failure, Outcome};
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(global: &GlobalArgs, _args: Args, shell: &Shell) -> Result<Outcome> {
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    if let Some(flag) = global.tables.overridden_flag() {
        bail!(Failure::Usage(format!(
            "migrate creates DOT's default table names; {flag} is for a swapped model that Django migrates: drop it to run migrate"
        )));
    }
    let store = db::open(&url, tables, OpenMode::ForMigrate).await?;
    let database = url.redacted();
    shell.out(match store.migrate().await? {
        MigrateOutcome::Applied(0) => format!("{database}: DOT 3.4.1 tables are up to date."),
        MigrateOutcome::Applied(n) => {
            format!("{database}: applied {n} migration(s); DOT 3.4.1 tables created.")
        }
        MigrateOutcome::ManagedByDjango => format!(
            "{database}: DOT's tables already exist and are managed by Django's migrations; nothing changed."
        ),
    })?;
    Ok(Outcome::Done)
}
