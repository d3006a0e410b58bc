//! `oauthctl createapplication CLIENT_TYPE AUTHORIZATION_GRANT_TYPE`: DOT's command, for shells
//! and CI.
//!
//! Same arguments and validation as DOT 3.4.1, with what CI needs on top: secrets from stdin, a
//! file or an environment variable (kept out of argv), `--if-not-exists`, JSON output, and exit
//! codes that tell a bad request (2) from an existing client id (3).

use anyhow::Result;
use serde::Serialize;

use crate::application::credentials::{self, SecretSource};
use crate::application::hashing;
use crate::application::{self, Candidate, Created, Hasher, Policy, Request};
use crate::cli::{GlobalArgs, OutputFormat};
use crate::db::{self, OpenMode};
use crate::django::timezone::TimeSettings;
use crate::django::{self, clock};
use crate::error::{self, Failure, Outcome};
use crate::shell::Shell;

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
    #[arg(long, env = "ALLOW_URI_WILDCARDS", value_parser = bool_setting, default_value = "false", num_args = 0..=1, default_missing_value = "true")]
    pub allow_uri_wildcards: bool,
}

/// A Django boolean setting as a flag value (`--allow-uri-wildcards=false`, `ALLOW_URI_WILDCARDS`).
fn bool_setting(text: &str) -> Result<bool, &'static str> {
    django::settings::parse_bool(text).ok_or("expected true or false")
}

/// `--hasher`: the names Django gives its hashers.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasherChoice {
    /// Django's Argon2PasswordHasher (needs argon2-cffi on the Django side).
    Argon2,
    /// Django's PBKDF2PasswordHasher (available in every Django install).
    #[value(name = "pbkdf2_sha256")]
    Pbkdf2Sha256,
}

impl From<HasherChoice> for Hasher {
    fn from(choice: HasherChoice) -> Hasher {
        match choice {
            HasherChoice::Argon2 => Hasher::Argon2,
            HasherChoice::Pbkdf2Sha256 => Hasher::Pbkdf2Sha256,
        }
    }
}

#[derive(Serialize)]
struct CreatedJson<'a> {
    id: i64,
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    name: &'a str,
    created: String,
}

#[derive(Serialize)]
struct ExistingJson<'a> {
    client_id: &'a str,
    created: bool,
}

pub async fn run(global: &GlobalArgs, args: Args, shell: &Shell) -> Result<Outcome> {
    let url = global.database_url()?;
    let tables = global.tables.resolve()?;
    let time = global.time_settings()?;
    let request = request(&args, &time)?;
    let client_id = request.candidate.client_id.clone();
    let store = db::open_with(&url, tables, OpenMode::CreateSqlite, &time).await?;
    match application::create(store.as_ref(), &url, request).await {
        Ok(created) => print_created(&created, args.format, shell)?,
        Err(e) if args.if_not_exists && is_client_id_taken(&e) => {
            print_existing(&client_id, args.format, shell)?
        }
        Err(e) => return Err(e),
    }
    Ok(Outcome::Done)
}

fn is_client_id_taken(error: &anyhow::Error) -> bool {
    matches!(error::failure(error), Some(Failure::ClientIdTaken(_)))
}

/// DOT keeps an option only when it is non-empty; an empty one falls back to the model default.
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// The flags as a domain request: the secret read from its source (or generated), DOT's
/// fallbacks for empty options, the settings that change validation.
fn request(args: &Args, time: &TimeSettings) -> Result<Request> {
    let given_secret = secret_source(args).map_or(Ok(None), |source| source.read())?;
    let secret_generated = given_secret.is_none();
    let candidate = Candidate {
        client_id: non_empty(&args.client_id).unwrap_or_else(credentials::client_id),
        user: non_empty(&args.user),
        redirect_uris: non_empty(&args.redirect_uris).unwrap_or_default(),
        post_logout_redirect_uris: non_empty(&args.post_logout_redirect_uris).unwrap_or_default(),
        client_type: args.client_type.clone(),
        authorization_grant_type: args.authorization_grant_type.clone(),
        client_secret: given_secret.unwrap_or_else(credentials::client_secret),
        hash_client_secret: !args.no_hash_client_secret,
        name: non_empty(&args.name).unwrap_or_default(),
        algorithm: non_empty(&args.algorithm).unwrap_or_default(),
        allowed_origins: String::new(),
    };
    Ok(Request {
        candidate,
        secret_generated,
        skip_authorization: args.skip_authorization,
        hasher: args.hasher.into(),
        pbkdf2_iterations: hashing::pbkdf2_iterations(
            args.pbkdf2_iterations.as_deref(),
            "--pbkdf2-iterations",
        )?,
        policy: policy(args),
        created: time.django_now(clock::now()?),
    })
}

fn secret_source(args: &Args) -> Option<SecretSource> {
    if args.client_secret_stdin {
        Some(SecretSource::Stdin)
    } else if let Some(path) = &args.client_secret_file {
        Some(SecretSource::File(path.clone()))
    } else if let Some(var) = &args.client_secret_env {
        Some(SecretSource::Env(var.clone()))
    } else {
        args.client_secret.clone().map(SecretSource::Argument)
    }
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
        ..Policy::default()
    }
}

fn print_created(created: &Created, format: OutputFormat, shell: &Shell) -> Result<()> {
    let row = &created.row;
    let secret = created.generated_secret.as_deref();
    match format {
        OutputFormat::Json => shell.json(&CreatedJson {
            id: created.id,
            client_id: &row.client_id,
            client_secret: secret,
            name: &row.name,
            created: row.created.display(),
        }),
        OutputFormat::Text => {
            let label = if row.name.is_empty() {
                &row.client_id
            } else {
                &row.name
            };
            shell.out(format_args!(
                "New application {label} created successfully."
            ))?;
            match secret {
                Some(secret) => shell.out(format_args!("client_secret: {secret}")),
                None => Ok(()),
            }
        }
    }
}

/// `--if-not-exists` and the client id is taken: say so, change nothing.
fn print_existing(client_id: &str, format: OutputFormat, shell: &Shell) -> Result<()> {
    match format {
        OutputFormat::Json => shell.json(&ExistingJson {
            client_id,
            created: false,
        }),
        OutputFormat::Text => shell.out(format_args!(
            "Application {client_id} already exists; nothing changed."
        )),
    }
}
