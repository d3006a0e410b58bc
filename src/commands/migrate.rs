//! `oauthctl migrate`: create DOT 3.4.1's tables in an empty database.
//!
//! A database whose DOT tables Django created is never altered: Django's migrations own it.

use anyhow::{bail, Result};

use crate::db::{self, MigrateOutcome, OpenMode};
use crate::{exit, Failure, GlobalArgs};

#[derive(clap::Args, Debug)]
pub struct Args {}

pub async fn run(global: &GlobalArgs, _args: Args) -> Result<u8> {
    let url = global.database_url()?;
    let tables = global.tables()?;
    if tables.application != db::Tables::default().application {
        bail!(Failure::Usage(
            "migrate creates DOT's default table names; table overrides are for swapped models that Django migrates"
                .into()
        ));
    }
    let store = db::open(&url, tables, OpenMode::ForMigrate).await?;
    match store.migrate().await? {
        MigrateOutcome::Applied(0) => println!("{}: DOT 3.4.1 tables are up to date.", url.redacted()),
        MigrateOutcome::Applied(n) => {
            println!("{}: applied {n} migration(s); DOT 3.4.1 tables created.", url.redacted())
        }
        MigrateOutcome::ManagedByDjango => println!(
            "{}: DOT's tables already exist and are managed by Django's migrations; nothing changed.",
            url.redacted()
        ),
    }
    Ok(exit::OK)
}
