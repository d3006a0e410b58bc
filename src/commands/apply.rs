//! `oauthctl apply FILE`: the database's applications made to match a manifest (see
//! `crate::apply`), with the plan printed per application; `--dry-run` and `--check` only plan.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value as Json};

use super::createapplication::HasherChoice;
use crate::application::{hashing, Policy};
use crate::apply::{self, Action, FieldChange, Options, Report};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, CascadeCounts, OpenMode};
use crate::django::{self, clock};
use crate::error::{Failure, Outcome};
use crate::shell::Shell;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The manifest (TOML, or JSON when it starts with `{`); `-` reads standard input
    pub file: PathBuf,

    /// Print the plan and write nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print the plan, write nothing, and exit 5 when anything would change (drift detection)
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,

    /// Delete applications the manifest does not list, with their tokens and grants as DOT's
    /// CASCADE deletes them
    #[arg(long)]
    pub prune: bool,

    /// How to hash secrets written now, unless an entry names its own `hasher`
    #[arg(long, value_enum, env = "OAUTHCTL_HASHER", default_value = "argon2")]
    pub hasher: HasherChoice,

    /// PBKDF2 iterations of a pbkdf2_sha256 hash: the deployment's Django's count (4.2: 600000,
    /// 5.0: 720000, 5.1: 870000, 5.2: 1000000); default 1000000
    #[arg(
        long,
        value_name = "N",
        env = "OAUTHCTL_PBKDF2_ITERATIONS",
        allow_hyphen_values = true
    )]
    pub pbkdf2_iterations: Option<String>,

    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    pub format: OutputFormat,

    /// Allowed redirect URI schemes (DOT's ALLOWED_REDIRECT_URI_SCHEMES), space or comma separated
    #[arg(
        long,
        env = "ALLOWED_REDIRECT_URI_SCHEMES",
        default_value = "http https"
    )]
    pub allowed_redirect_uri_schemes: String,

    /// Allowed schemes of allowed_origins (DOT's ALLOWED_SCHEMES), space or comma separated
    #[arg(long, env = "ALLOWED_SCHEMES", default_value = "https")]
    pub allowed_schemes: String,

    /// Allow a leading * wildcard in redirect URI and origin hosts (DOT's ALLOW_URI_WILDCARDS)
    #[arg(long, env = "ALLOW_URI_WILDCARDS", value_parser = bool_setting, default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_uri_wildcards: bool,
}

fn bool_setting(text: &str) -> Result<bool, &'static str> {
    django::settings::parse_bool(text).ok_or("expected true or false")
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    let entries = read_manifest(&args.file)?;
    let time = global.time_settings()?;
    let options = Options {
        prune: args.prune,
        write: !args.dry_run && !args.check,
        hasher: args.hasher.into(),
        pbkdf2_iterations: hashing::pbkdf2_iterations(
            args.pbkdf2_iterations.as_deref(),
            "--pbkdf2-iterations",
        )?,
        policy: policy(&args),
        now: time.django_now(clock::now()?),
    };
    let store = db::open_with(&url, tables, OpenMode::CreateSqlite, &time).await?;
    let report = apply::apply(store.as_ref(), &url, entries, options).await?;
    print_report(&report, args.format, shell)?;
    Ok(if args.check && report.has_changes() {
        Outcome::Drift
    } else {
        Outcome::Done
    })
}

fn read_manifest(file: &PathBuf) -> Result<Vec<apply::Entry>> {
    let (text, name) = if file.as_os_str() == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the manifest from standard input")?;
        (text, "standard input".to_string())
    } else {
        let bytes = std::fs::read(file).map_err(|e| {
            Failure::Usage(format!("cannot read the manifest {}: {e}", file.display()))
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Failure::Usage(format!(
                "the manifest {} is not valid UTF-8",
                file.display()
            ))
        })?;
        (text, file.display().to_string())
    };
    apply::manifest::parse(&text).map_err(|problems| {
        Failure::Usage(format!(
            "the manifest {name} has {} problem(s); nothing was changed\n{}",
            problems.len(),
            problems.join("\n")
        ))
        .into()
    })
}

fn split_list(text: &str, lowercase: bool) -> Vec<String> {
    text.split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(|s| {
            if lowercase {
                s.to_lowercase()
            } else {
                s.to_string()
            }
        })
        .collect()
}

fn policy(args: &Args) -> Policy {
    Policy {
        redirect_uri_schemes: split_list(&args.allowed_redirect_uri_schemes, true),
        allow_uri_wildcards: args.allow_uri_wildcards,
        rsa_private_key_configured: std::env::var_os("OIDC_RSA_PRIVATE_KEY")
            .is_some_and(|v| !v.is_empty()),
        // DOT passes ALLOWED_SCHEMES through as given (no lower-casing).
        allowed_origin_schemes: split_list(&args.allowed_schemes, false),
        // Narrowed to the database's DOT release by the apply itself.
        ..Policy::default()
    }
}

#[derive(Serialize)]
struct ReportJson {
    applied: bool,
    changes_pending: bool,
    applications: Vec<Json>,
    summary: Summary,
}

#[derive(Serialize, Default)]
struct Summary {
    create: usize,
    update: usize,
    unchanged: usize,
    delete: usize,
}

fn summary(report: &Report) -> Summary {
    let mut summary = Summary::default();
    for action in &report.actions {
        match action {
            Action::Create(_) => summary.create += 1,
            Action::Update(_) => summary.update += 1,
            Action::Unchanged { .. } => summary.unchanged += 1,
            Action::Delete { .. } => summary.delete += 1,
        }
    }
    summary
}

fn cascade_of<'a>(report: &'a Report, client_id: &str) -> Option<&'a CascadeCounts> {
    report
        .cascades
        .iter()
        .find(|(id, _)| id == client_id)
        .map(|(_, counts)| counts)
}

/// A generated secret is shown only when it was stored: once, by the run that created it.
fn shown_secret<'a>(report: &Report, action: &'a Action) -> Option<&'a str> {
    match action {
        Action::Create(creation) if report.applied => creation.generated_secret.as_deref(),
        _ => None,
    }
}

fn action_json(report: &Report, action: &Action) -> Json {
    let mut object = json!({"client_id": action.client_id()});
    let fields = object.as_object_mut().expect("an object");
    match action {
        Action::Create(_) => {
            fields.insert("action".into(), json!("create"));
            if let Some(secret) = shown_secret(report, action) {
                fields.insert("client_secret".into(), json!(secret));
            }
        }
        Action::Update(update) => {
            fields.insert("action".into(), json!("update"));
            let changes: serde_json::Map<String, Json> = update
                .changes
                .iter()
                .map(|c| (c.field.to_string(), json!({"old": c.old, "new": c.new})))
                .collect();
            fields.insert("changes".into(), Json::Object(changes));
            if update.secret_rotated {
                fields.insert("secret".into(), json!("rotated"));
            }
        }
        Action::Unchanged { .. } => {
            fields.insert("action".into(), json!("unchanged"));
        }
        Action::Delete { .. } => {
            fields.insert("action".into(), json!("delete"));
            if let Some(counts) = cascade_of(report, action.client_id()) {
                fields.insert("deleted".into(), json!(counts));
            }
        }
    }
    object
}

fn print_report(report: &Report, format: OutputFormat, shell: &Shell) -> Result<()> {
    match format {
        OutputFormat::Json => shell.json(&ReportJson {
            applied: report.applied,
            changes_pending: !report.applied && report.has_changes(),
            applications: report
                .actions
                .iter()
                .map(|a| action_json(report, a))
                .collect(),
            summary: summary(report),
        }),
        OutputFormat::Text => {
            for action in &report.actions {
                print_action(report, action, shell)?;
            }
            print_summary(report, shell)
        }
    }
}

fn print_action(report: &Report, action: &Action, shell: &Shell) -> Result<()> {
    let client_id = action.client_id();
    match action {
        Action::Create(_) => {
            shell.out(format_args!("create {client_id}"))?;
            if let Some(secret) = shown_secret(report, action) {
                shell.out(format_args!("  client_secret: {secret}"))?;
            }
        }
        Action::Update(update) => {
            shell.out(format_args!("update {client_id}"))?;
            for change in &update.changes {
                shell.out(format_args!("  {}", change_line(change)))?;
            }
            if update.secret_rotated {
                shell.out("  secret: rotated")?;
            }
        }
        Action::Unchanged { .. } => shell.out(format_args!("unchanged {client_id}"))?,
        Action::Delete { .. } => match cascade_of(report, client_id) {
            Some(c) => shell.out(format_args!(
                "delete {client_id} (with {} access tokens, {} refresh tokens, {} ID tokens, {} grants)",
                c.access_tokens, c.refresh_tokens, c.id_tokens, c.grants
            ))?,
            None => shell.out(format_args!("delete {client_id}"))?,
        },
    }
    Ok(())
}

fn change_line(change: &FieldChange) -> String {
    format!("{}: {} → {}", change.field, change.old, change.new)
}

fn print_summary(report: &Report, shell: &Shell) -> Result<()> {
    let s = summary(report);
    let counts = format!(
        "{} to create, {} to update, {} unchanged, {} to delete",
        s.create, s.update, s.unchanged, s.delete
    );
    if report.applied {
        shell.out(format_args!(
            "Applied: {} created, {} updated, {} unchanged, {} deleted.",
            s.create, s.update, s.unchanged, s.delete
        ))
    } else if report.has_changes() {
        shell.out(format_args!("Nothing written (plan only): {counts}."))
    } else {
        shell.out(format_args!("Nothing to do: {counts}."))
    }
}
