//! `oauthctl listapplications`: what applications the database holds, for a pipeline to read.
//! Never the secret nor its hash: the listing is safe to print in a CI log.

use anyhow::Result;
use serde::Serialize;

use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, OpenMode, StoredApplication};
use crate::django::pystr::split_whitespace;
use crate::django::timezone::{DjangoTime, TimeSettings};
use crate::error::Outcome;
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,
}

/// One application as listed: everything but the secret.
#[derive(Serialize)]
struct Listed<'a> {
    client_id: &'a str,
    name: &'a str,
    client_type: &'a str,
    authorization_grant_type: &'a str,
    redirect_uris: Vec<&'a str>,
    post_logout_redirect_uris: Vec<&'a str>,
    allowed_origins: Vec<&'a str>,
    user: Option<i64>,
    skip_authorization: bool,
    algorithm: &'a str,
    hash_client_secret: bool,
    created: Option<String>,
    updated: Option<String>,
}

/// `time`: Django's time settings, which say what zone a naive stored value is in.
fn listed<'a>(app: &'a StoredApplication, time: &TimeSettings) -> Listed<'a> {
    let time = |at: Option<DjangoTime>| {
        at.map(|t| {
            time.instant(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
    };
    Listed {
        client_id: &app.client_id,
        name: &app.name,
        client_type: &app.client_type,
        authorization_grant_type: &app.authorization_grant_type,
        redirect_uris: split_whitespace(&app.redirect_uris),
        post_logout_redirect_uris: split_whitespace(&app.post_logout_redirect_uris),
        allowed_origins: split_whitespace(&app.allowed_origins),
        user: app.user_id,
        skip_authorization: app.skip_authorization,
        algorithm: &app.algorithm,
        hash_client_secret: app.hash_client_secret,
        created: time(app.created),
        updated: time(app.updated),
    }
}

#[derive(Serialize)]
struct ListJson<'a> {
    applications: Vec<Listed<'a>>,
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    let time = global.time_settings()?;
    let store = db::open_with(&url, tables, OpenMode::CreateSqlite, &time).await?;
    let table = store.tables().application.clone();
    let columns = db::require_table(store.as_ref(), &url, &table).await?;
    let apps = store.list_applications(&columns).await?;
    let listed: Vec<Listed> = apps.iter().map(|app| listed(app, &time)).collect();
    match args.format {
        OutputFormat::Json => shell.json(&ListJson {
            applications: listed,
        })?,
        OutputFormat::Text => {
            for app in &listed {
                print_text(app, shell)?;
            }
        }
    }
    Ok(Outcome::Done)
}

/// One line per application, tab-separated: client_id, name, client type, grant type, redirect
/// URIs (space-separated), user, created, updated.
fn print_text(app: &Listed<'_>, shell: &Shell) -> Result<()> {
    let user = app
        .user
        .map_or_else(|| "-".to_string(), |id| id.to_string());
    shell.out(format_args!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        app.client_id,
        app.name,
        app.client_type,
        app.authorization_grant_type,
        app.redirect_uris.join(" "),
        user,
        app.created.as_deref().unwrap_or("-"),
        app.updated.as_deref().unwrap_or("-"),
    ))
}
