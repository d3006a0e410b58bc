//! `oauthctl createapplication CLIENT_TYPE AUTHORIZATION_GRANT_TYPE`: DOT's command, for shells
//! and CI.
//!
//! Same arguments and validation as DOT 3.4.1, with what CI needs on top: secrets from stdin, a
//! file or an environment variable (kept out of argv), `--if-not-exists`, JSON output, and exit
//! codes that tell a bad request (2) from an existing client id (3).

use std::io::Read;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::application::{self, Candidate, Lookups, Policy, UserRef};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, InsertError, NewApplication, OpenMode, Store};
use crate::error::{Failure, Outcome};
use crate::hashing::{self, Hasher};
use crate::shell::Shell;
use crate::{django::clock, generate};

#[derive(clap::Args, Debug)]
#[command(group = clap::ArgGroup::new("secret_source").multiple(false))]
pub struct Args {
    /// The client type, one of: confidential, public
    pub client_type: String,

    /// The type of authorization grant to be used, one of: authorization-code,
    /// urn:ietf:params:oauth:grant-type:device_code, implicit, password, client-credentials, openid-hybrid
    pub authorization_grant_type: String,

    /// The ID of the new application (default: 40 random letters and digits)
    #[arg(long)]
    pub client_id: Option<String>,

    /// The user the application belongs to (the user's primary key)
    #[arg(long)]
    pub user: Option<String>,

    /// The redirect URIs, a space separated string e.g. 'URI1 URI2'
    #[arg(long)]
    pub redirect_uris: Option<String>,

    /// The post logout redirect URIs, a space separated string e.g. 'URI1 URI2'
    #[arg(long)]
    pub post_logout_redirect_uris: Option<String>,

    /// The secret for this application (visible in the process list: prefer the options below)
    #[arg(long, group = "secret_source")]
    pub client_secret: Option<String>,

    /// Read the secret from standard input (one line; the trailing newline is dropped)
    #[arg(long, group = "secret_source")]
    pub client_secret_stdin: bool,

    /// Read the secret from a file (the trailing newline is dropped)
    #[arg(long, value_name = "FILE", group = "secret_source")]
    pub client_secret_file: Option<std::path::PathBuf>,

    /// Read the secret from this environment variable
    #[arg(long, value_name = "VAR", group = "secret_source")]
    pub client_secret_env: Option<String>,

    /// Don't hash the client secret (needed for HS256)
    #[arg(long = "no-hash-client-secret")]
    pub no_hash_client_secret: bool,

    /// The name of this application
    #[arg(long)]
    pub name: Option<String>,

    /// Completely bypass the authorization form, even on the first use of the application
    #[arg(long)]
    pub skip_authorization: bool,

    /// The OIDC token signing algorithm for this application, one of: RS256, HS256
    #[arg(long)]
    pub algorithm: Option<String>,

    /// How to hash the secret: argon2 (Django's Argon2PasswordHasher; needs argon2-cffi in the
    /// deployment) or pbkdf2_sha256 (works on every Django)
    #[arg(long, value_enum, env = "OAUTHCTL_HASHER", default_value = "argon2")]
    pub hasher: Hasher,

    /// If --client-id already exists, report it and exit 0 without changing anything
    #[arg(long, requires = "client_id")]
    pub if_not_exists: bool,

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

    /// Allow a leading * wildcard in redirect URI hosts (DOT's ALLOW_URI_WILDCARDS)
    #[arg(long, env = "ALLOW_URI_WILDCARDS", value_parser = parse_flag, default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_uri_wildcards: bool,
}

/// A Django-style boolean setting from the environment: empty counts as unset (false).
fn parse_flag(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Ok(false),
        "1" | "true" | "yes" | "on" => Ok(true),
        _ => Err("expected true or false".into()),
    }
}

#[derive(Serialize)]
struct Created<'a> {
    id: i64,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    name: &'a str,
    created: String,
}

#[derive(Serialize)]
struct Existing<'a> {
    client_id: &'a str,
    created: bool,
}

/// DOT keeps an option only when it is non-empty; an empty one falls back to the model default.
fn non_empty(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

/// The secret from whichever source was named; `None` means "generate one".
fn read_secret(args: &Args) -> Result<Option<String>> {
    fn strip_newline(mut text: String) -> String {
        if text.ends_with('\n') {
            text.pop();
            if text.ends_with('\r') {
                text.pop();
            }
        }
        text
    }
    fn require_content(text: String, source: &str) -> Result<String> {
        if text.is_empty() {
            bail!(Failure::Usage(format!("the client secret from {source} is empty; give a non-empty secret or omit the option to generate one")));
        }
        if text.contains(['\n', '\r', '\0']) {
            bail!(Failure::Usage(format!("the client secret from {source} spans several lines or contains NUL; give a single line")));
        }
        Ok(text)
    }
    if args.client_secret_stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("reading the client secret from standard input")?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Failure::Usage("the client secret on standard input is not valid UTF-8".into())
        })?;
        return require_content(strip_newline(text), "standard input").map(Some);
    }
    if let Some(path) = &args.client_secret_file {
        let bytes = std::fs::read(path)
            .with_context(|| format!("reading the client secret file {}", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Failure::Usage(format!(
                "the client secret file {} is not valid UTF-8",
                path.display()
            ))
        })?;
        return require_content(strip_newline(text), &format!("file {}", path.display())).map(Some);
    }
    if let Some(var) = &args.client_secret_env {
        let text = match std::env::var(var) {
            Ok(text) => text,
            Err(std::env::VarError::NotPresent) => {
                bail!(Failure::Usage(format!(
                    "environment variable {var} (from --client-secret-env) is not set"
                )))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                bail!(Failure::Usage(format!(
                    "environment variable {var} is not valid UTF-8"
                )))
            }
        };
        return require_content(text, &format!("environment variable {var}")).map(Some);
    }
    Ok(non_empty(args.client_secret.clone()))
}

fn policy(args: &Args) -> Policy {
    let schemes: Vec<String> = args
        .allowed_redirect_uri_schemes
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_lowercase)
        .collect();
    Policy {
        redirect_uri_schemes: schemes,
        allow_uri_wildcards: args.allow_uri_wildcards,
        rsa_private_key_configured: std::env::var_os("OIDC_RSA_PRIVATE_KEY")
            .is_some_and(|v| !v.is_empty()),
    }
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let url = global.database_url()?;
    let tables = global.tables()?;
    let given_secret = read_secret(&args)?;
    let secret_was_generated = given_secret.is_none();
    let client_id = non_empty(args.client_id.clone()).unwrap_or_else(generate::client_id);
    let candidate = Candidate {
        client_id: client_id.clone(),
        user: non_empty(args.user.clone()),
        redirect_uris: non_empty(args.redirect_uris.clone()).unwrap_or_default(),
        post_logout_redirect_uris: non_empty(args.post_logout_redirect_uris.clone())
            .unwrap_or_default(),
        client_type: args.client_type.clone(),
        authorization_grant_type: args.authorization_grant_type.clone(),
        client_secret: given_secret.unwrap_or_else(generate::client_secret),
        hash_client_secret: !args.no_hash_client_secret,
        name: non_empty(args.name.clone()).unwrap_or_default(),
        algorithm: non_empty(args.algorithm.clone()).unwrap_or_default(),
    };
    let policy = policy(&args);

    let store = db::open(&url, tables, OpenMode::CreateSqlite).await?;
    let columns = db::require_table(store.as_ref(), &url, &store.tables().application).await?;
    let has_hash_flag = columns.iter().any(|c| c.name == "hash_client_secret");
    if args.no_hash_client_secret && !has_hash_flag {
        bail!(Failure::Usage(format!(
            "--no-hash-client-secret needs DOT ≥ 2.4 (column hash_client_secret); table {} does not have it",
            store.tables().application
        )));
    }

    let lookups = Lookups {
        user_exists: check_user(store.as_ref(), &candidate).await?,
        client_id_taken: store.client_id_exists(&candidate.client_id).await?,
    };
    let errors = application::validate(&candidate, &policy, lookups);
    if !errors.is_empty() {
        if errors.only_duplicate_client_id() {
            return duplicate(&args, &candidate.client_id, errors, shell);
        }
        bail!(Failure::Invalid(errors));
    }

    let stored_secret =
        if candidate.hash_client_secret && !hashing::is_django_hash(&candidate.client_secret) {
            hashing::make_password(&candidate.client_secret, args.hasher)?
        } else {
            candidate.client_secret.clone()
        };
    let user_id = match candidate.user.as_deref().map(application::parse_user) {
        Some(UserRef::Id(id)) => Some(id),
        _ => None,
    };
    let row = NewApplication {
        client_id: candidate.client_id.clone(),
        user_id,
        redirect_uris: candidate.redirect_uris.clone(),
        post_logout_redirect_uris: candidate.post_logout_redirect_uris.clone(),
        client_type: candidate.client_type.clone(),
        authorization_grant_type: candidate.authorization_grant_type.clone(),
        client_secret: stored_secret,
        hash_client_secret: candidate.hash_client_secret,
        name: candidate.name.clone(),
        skip_authorization: args.skip_authorization,
        algorithm: candidate.algorithm.clone(),
        created: clock::now()?,
    };
    let id = match store.insert_application(&row).await {
        Ok(id) => id,
        // Another run created the same client id between our check and our insert.
        Err(InsertError::DuplicateClientId) => {
            let mut errors = application::FieldErrors::default();
            errors.add("client_id", application::UNIQUE_CLIENT_ID_MESSAGE);
            return duplicate(&args, &candidate.client_id, errors, shell);
        }
        Err(InsertError::Other(e)) => return Err(e),
    };
    tracing::info!(id, client_id = %row.client_id, "application created");

    let shown_secret = secret_was_generated.then_some(candidate.client_secret.as_str());
    match args.format {
        OutputFormat::Json => {
            let created = Created {
                id,
                client_id: &row.client_id,
                client_secret: shown_secret,
                name: &row.name,
                created: row
                    .created
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            };
            shell.json(&created)?;
        }
        OutputFormat::Text => {
            let label = if row.name.is_empty() {
                &row.client_id
            } else {
                &row.name
            };
            shell.out(format_args!(
                "New application {label} created successfully."
            ))?;
            if let Some(secret) = shown_secret {
                shell.out(format_args!("client_secret: {secret}"))?;
            }
        }
    }
    Ok(Outcome::Done)
}

/// `Some(exists)` when `--user` is an id and a users table exists to check it against.
async fn check_user(store: &dyn Store, candidate: &Candidate) -> Result<Option<bool>> {
    let Some(UserRef::Id(id)) = candidate.user.as_deref().map(application::parse_user) else {
        return Ok(None);
    };
    if store.table_columns(&store.tables().user).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(store.user_exists(id).await?))
}

/// The client id is taken: exit 0 with `--if-not-exists`, else a conflict (exit 3).
fn duplicate(
    args: &Args,
    client_id: &str,
    errors: application::FieldErrors,
    shell: &Shell,
) -> Result<Outcome> {
    if !args.if_not_exists {
        bail!(Failure::ClientIdTaken(errors));
    }
    match args.format {
        OutputFormat::Json => shell.json(&Existing {
            client_id,
            created: false,
        })?,
        OutputFormat::Text => shell.out(format_args!(
            "Application {client_id} already exists; nothing changed."
        ))?,
    }
    Ok(Outcome::Done)
}
