//! `oauthctl apply`: make the database's applications match a manifest, idempotently.
//!
//! [`manifest`] reads the file (and the secrets it references), [`plan`] decides per
//! application, and [`apply`] runs it: it reads every application, validates every entry with
//! DOT's rules (the validator `createapplication` uses) and plans, hashing and verifying secrets
//! — all before any transaction, since that is CPU work of up to a second per secret. Then, in
//! one transaction behind the apply lock (so concurrent applies run one after the other,
//! `db/apply.rs`), it reads the applications again: unchanged, it writes the plan and commits;
//! changed meanwhile (another apply committed), it rolls back and plans again on the new rows.
//! Any error rolls everything back.
//!
//! Nothing here knows the command line: `commands::apply` maps the flags onto [`Options`] and
//! prints the [`Report`].

pub mod manifest;
pub mod plan;

use crate::django::timezone::DjangoTime;
use anyhow::{bail, Result};

pub use self::manifest::{Entry, UserSpec};
pub use self::plan::{Action, FieldChange};
use crate::application::{
    credentials, validate, Candidate, FieldErrors, Hasher, Lookups, Policy, Schema,
};
use crate::db::{self, CascadeCounts, DatabaseUrl, InsertError, Store, StoredApplication};
use crate::django::repr::repr_str;
use crate::error::Failure;

/// How to apply.
#[derive(Clone, Debug)]
pub struct Options {
    /// Delete applications the manifest does not list (with what DOT's CASCADE takes).
    pub prune: bool,
    /// False for `--dry-run` and `--check`: plan, report, write nothing.
    pub write: bool,
    /// For secrets written now, unless an entry names its own.
    pub hasher: Hasher,
    /// The deployment's PBKDF2 iteration count (`--pbkdf2-iterations`).
    pub pbkdf2_iterations: u32,
    pub policy: Policy,
    /// `created` of new rows and `updated` of changed ones.
    pub now: DjangoTime,
}

/// What an apply did (or, without `write`, would do), in manifest order, then the deletions.
#[derive(Debug)]
pub struct Report {
    pub actions: Vec<Action>,
    /// Whether the plan was written and committed.
    pub applied: bool,
    /// Per deleted application, what went with it (only when applied).
    pub cascades: Vec<(String, CascadeCounts)>,
}

impl Report {
    pub fn has_changes(&self) -> bool {
        self.actions.iter().any(Action::changes_something)
    }
}

/// Runs the manifest's entries against the database (see the module docs).
pub async fn apply(
    store: &dyn Store,
    url: &DatabaseUrl,
    entries: Vec<Entry>,
    options: Options,
) -> Result<Report> {
    let table = store.tables().application.clone();
    let columns = db::require_table(store, url, &table).await?;
    // The release of the table narrows validation; fields it lacks are entry errors.
    let schema = Schema::new(store.detect_dot_release().await?, &table, &columns);
    let options = Options {
        policy: schema.policy(&options.policy),
        ..options
    };
    let users = resolve_users(store, &entries).await?;
    for _ in 0..PLAN_ATTEMPTS {
        // Planning hashes and verifies secrets (up to a second of CPU each): done on a read
        // outside the transaction, so that the transaction, and the lock it holds, only waits for
        // the database. A server ends a session idle in a transaction for longer than the
        // network timeout (src/db/network.rs).
        let snapshot = store.list_applications(&columns).await?;
        let mut report = plan_all(&entries, &snapshot, &users, &options, &schema)?;
        if !options.write || !report.has_changes() {
            return Ok(report);
        }
        let mut tx = store.begin_apply(columns.clone()).await?;
        if tx.applications().await? != snapshot {
            // Another apply (or an admin) changed the applications meanwhile: the plan may be
            // stale. Dropping the transaction rolls it back; plan again on what is there now.
            tracing::info!("the applications changed while the plan was made; planning again");
            continue;
        }
        write_plan(tx.as_mut(), &mut report).await?;
        tx.commit().await?;
        report.applied = true;
        return Ok(report);
    }
    bail!(Failure::Conflict(format!(
        "the applications changed under this apply {PLAN_ATTEMPTS} times in a row (other applies or edits); nothing was changed, run apply again"
    )))
}

/// How many times an apply plans again when the applications change between its read and its
/// transaction (each concurrent apply of one manifest changes them at most once).
const PLAN_ATTEMPTS: usize = 5;

/// The plan for every entry against `stored`, validated with DOT's rules (all problems of all
/// entries at once, exit 2); pure but for the secrets it generates and hashes.
fn plan_all(
    entries: &[Entry],
    stored: &[StoredApplication],
    users: &[UserLookup],
    options: &Options,
    schema: &Schema,
) -> Result<Report> {
    let generated: Vec<Option<String>> = entries
        .iter()
        .map(|entry| {
            let exists = find(stored, &entry.client_id).is_some();
            (entry.secret.is_none() && !exists).then(credentials::client_secret)
        })
        .collect();
    check_entries(entries, stored, users, &generated, &options.policy, schema)?;
    let mut actions = Vec::new();
    for ((entry, user), generated_secret) in entries.iter().zip(users).zip(generated) {
        actions.push(plan::plan_entry(
            plan::Resolved {
                entry,
                stored: find(stored, &entry.client_id),
                user_id: user.id,
                generated_secret,
                hasher: entry.hasher.unwrap_or(options.hasher),
                pbkdf2_iterations: options.pbkdf2_iterations,
            },
            options.now,
        )?);
    }
    if options.prune {
        actions.extend(plan::prunes(stored, entries));
    }
    Ok(Report {
        actions,
        applied: false,
        cascades: Vec::new(),
    })
}

/// Writes the planned actions in the apply transaction (not yet committed).
async fn write_plan(tx: &mut dyn db::ApplyTransaction, report: &mut Report) -> Result<()> {
    for action in &report.actions {
        match action {
            Action::Create(creation) => match tx.insert(&creation.row).await {
                Ok(id) => tracing::info!(id, client_id = %creation.row.client_id, "application created"),
                Err(InsertError::DuplicateClientId) => bail!(Failure::Conflict(format!(
                    "application {} was created by someone else while this apply ran; nothing was changed, run apply again",
                    repr_str(&creation.row.client_id)
                ))),
                Err(InsertError::Other(e)) => return Err(e),
            },
            Action::Update(update) => tx.update(update.id, &update.writes).await?,
            Action::Delete { id, client_id } => {
                let counts = tx.delete_application(*id).await?;
                report.cascades.push((client_id.clone(), counts));
            }
            Action::Unchanged { .. } => {}
        }
    }
    Ok(())
}

fn find<'a>(stored: &'a [StoredApplication], client_id: &str) -> Option<&'a StoredApplication> {
    stored.iter().find(|app| app.client_id == client_id)
}

/// An entry's `user` as the database knows it.
#[derive(Clone, Debug, Default)]
struct UserLookup {
    /// The primary key to store.
    id: Option<i64>,
    /// For DOT's validator: `Some(false)` when the key names no user.
    exists: Option<bool>,
    /// A problem DOT's validator cannot word (a username that names nobody).
    problem: Option<String>,
}

/// Looks every entry's user up before the transaction (the lookups use the pool, which the
/// transaction then holds).
async fn resolve_users(store: &dyn Store, entries: &[Entry]) -> Result<Vec<UserLookup>> {
    let user_table = store.tables().user.clone();
    let has_user_table = entries.iter().any(|e| e.user.is_some())
        && store.table_columns(&user_table).await?.is_some();
    let mut lookups = Vec::new();
    for entry in entries {
        let lookup = match &entry.user {
            None => UserLookup::default(),
            Some(UserSpec::Id(id)) => UserLookup {
                id: Some(*id),
                exists: match has_user_table {
                    true => Some(store.user_exists(*id).await?),
                    false => None,
                },
                problem: None,
            },
            Some(UserSpec::Username(name)) if has_user_table => {
                let id = db::apply::user_id_by_username(store, name).await?;
                UserLookup {
                    id,
                    exists: None,
                    problem: id.is_none().then(|| {
                        format!("no user has the username {}.", repr_str(name))
                    }),
                }
            }
            Some(UserSpec::Username(name)) => UserLookup {
                problem: Some(format!(
                    "user {} is a username, but there is no table {user_table} to look it up in; give the user's primary key",
                    repr_str(name)
                )),
                ..UserLookup::default()
            },
        };
        lookups.push(lookup);
    }
    Ok(lookups)
}

/// DOT's validation of every entry, all problems of all entries in one report (exit 2).
fn check_entries(
    entries: &[Entry],
    stored: &[StoredApplication],
    users: &[UserLookup],
    generated: &[Option<String>],
    policy: &Policy,
    schema: &Schema,
) -> Result<()> {
    let mut report = Vec::new();
    for ((entry, user), generated) in entries.iter().zip(users).zip(generated) {
        let existing = find(stored, &entry.client_id);
        let errors = entry_errors(entry, existing, user, generated.as_deref(), policy, schema);
        if !errors.is_empty() {
            report.push(format!(
                "application {}: {errors}",
                repr_str(&entry.client_id)
            ));
        }
    }
    if report.is_empty() {
        return Ok(());
    }
    bail!(Failure::Usage(format!(
        "{} of {} applications in the manifest are invalid; nothing was changed\n{}",
        report.len(),
        entries.len(),
        report.join("\n")
    )))
}

fn entry_errors(
    entry: &Entry,
    existing: Option<&StoredApplication>,
    user: &UserLookup,
    generated: Option<&str>,
    policy: &Policy,
    schema: &Schema,
) -> FieldErrors {
    // The secret DOT's full_clean would see on the saved row.
    let secret = entry
        .secret
        .as_deref()
        .or(generated)
        .or(existing.map(|app| app.client_secret.as_str()))
        .unwrap_or_default();
    let candidate = Candidate {
        client_id: entry.client_id.clone(),
        user: user.id.map(|id| id.to_string()),
        redirect_uris: entry.redirect_uris.join(" "),
        post_logout_redirect_uris: entry.post_logout_redirect_uris.join(" "),
        client_type: entry.client_type.clone(),
        authorization_grant_type: entry.authorization_grant_type.clone(),
        client_secret: secret.to_string(),
        hash_client_secret: entry.hash_client_secret,
        name: entry.name.clone(),
        algorithm: entry.algorithm.clone(),
        allowed_origins: entry.allowed_origins.join(" "),
    };
    let lookups = Lookups {
        user_exists: user.exists,
        client_id_taken: false,
    };
    let mut errors = validate(&candidate, policy, lookups);
    for unsupported in schema.unsupported(&candidate, policy) {
        errors.add(unsupported.field, unsupported.why);
    }
    if let Some(problem) = &user.problem {
        errors.add("user", problem.clone());
    }
    if let Some(app) = existing {
        if app.hash_client_secret != entry.hash_client_secret && entry.secret.is_none() {
            errors.add(
                "hash_client_secret",
                "changing hash_client_secret rewrites the stored secret, which needs the secret: add client_secret_env or client_secret_file to this entry",
            );
        }
    }
    errors
}
