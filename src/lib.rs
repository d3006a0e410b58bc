//! oauthctl: Django OAuth Toolkit's `cleartokens` and `createapplication`, straight on the database.
//!
//! The binary is a thin shell around [`run`]: it parses the command line into [`Cli`], runs the
//! chosen command and turns the outcome into one of the documented exit codes:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | runtime failure (database unreachable, SQL error, I/O); nothing half-written |
//! | 2 | usage or validation error; nothing written |
//! | 3 | conflict: the client id exists, or another cleartokens run holds the lock |
//! | 4 | stopped early (time budget or signal); finished batches are committed |

pub mod application;
pub mod cleanup;
pub mod clock;
pub mod commands;
pub mod db;
pub mod generate;
pub mod hashing;
pub mod pyrepr;
pub mod uri_validator;

use clap::{Args, Parser, Subcommand};

/// Exit codes, as documented in the README and SPEC §4.
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFLICT: u8 = 3;
    pub const STOPPED: u8 = 4;
}

/// Failures a caller branches on; everything else is a runtime failure (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input: exit 2, nothing written.
    #[error("{0}")]
    Usage(String),
    /// Client id exists / lock held elsewhere: exit 3.
    #[error("{0}")]
    Conflict(String),
    /// Time budget or signal: exit 4.
    #[error("{0}")]
    Stopped(String),
}

/// An error and its causes on one line, joined by `: ` as `{:#}` joins them, but leaving out a
/// cause whose text the line already ends with: sqlx's "error communicating with database:
/// Connection refused" is caused by an I/O error that says "Connection refused" again.
pub fn error_message(error: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if text.is_empty() || message.ends_with(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

/// The exit code for an error: the first [`Failure`] in its chain decides, else 1.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return match failure {
                Failure::Usage(_) => exit::USAGE,
                Failure::Conflict(_) => exit::CONFLICT,
                Failure::Stopped(_) => exit::STOPPED,
            };
        }
    }
    exit::RUNTIME
}

#[derive(Parser, Debug)]
#[command(
    name = "oauthctl",
    version,
    about = "Django OAuth Toolkit's cleartokens and createapplication, run directly on the database",
    after_help = "Exit codes: 0 done, 1 runtime failure, 2 usage or validation error, 3 conflict \
                  (client id exists, cleanup lock held), 4 stopped early (time budget or signal)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Database URL: sqlite://PATH, postgres://USER:PASS@HOST/DB or mysql://USER:PASS@HOST/DB.
    /// A missing SQLite file is created and migrated.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        default_value = "sqlite://db.sqlite3",
        hide_env_values = true
    )]
    pub database_url: String,

    /// More log detail on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Application table, for a swapped OAUTH2_PROVIDER_APPLICATION_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_APPLICATION_TABLE",
        default_value = "oauth2_provider_application"
    )]
    pub application_table: String,
    /// Access token table, for a swapped OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_ACCESS_TOKEN_TABLE",
        default_value = "oauth2_provider_accesstoken"
    )]
    pub access_token_table: String,
    /// Refresh token table, for a swapped OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_REFRESH_TOKEN_TABLE",
        default_value = "oauth2_provider_refreshtoken"
    )]
    pub refresh_token_table: String,
    /// ID token table, for a swapped OAUTH2_PROVIDER_ID_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_ID_TOKEN_TABLE",
        default_value = "oauth2_provider_idtoken"
    )]
    pub id_token_table: String,
    /// Grant table, for a swapped OAUTH2_PROVIDER_GRANT_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_GRANT_TABLE",
        default_value = "oauth2_provider_grant"
    )]
    pub grant_table: String,
    /// Users table (AUTH_USER_MODEL); checked by createapplication --user when it exists.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_USER_TABLE",
        default_value = "auth_user"
    )]
    pub user_table: String,
}

impl GlobalArgs {
    pub fn database_url(&self) -> anyhow::Result<db::DatabaseUrl> {
        db::DatabaseUrl::parse(&self.database_url)
    }

    /// The table names, each checked to be a plain identifier before any SQL sees it.
    pub fn tables(&self) -> anyhow::Result<db::Tables> {
        let checks = [
            ("--application-table", &self.application_table),
            ("--access-token-table", &self.access_token_table),
            ("--refresh-token-table", &self.refresh_token_table),
            ("--id-token-table", &self.id_token_table),
            ("--grant-table", &self.grant_table),
            ("--user-table", &self.user_table),
        ];
        for (flag, name) in checks {
            db::validate_identifier(flag, name)?;
        }
        Ok(db::Tables {
            application: self.application_table.clone(),
            access_token: self.access_token_table.clone(),
            refresh_token: self.refresh_token_table.clone(),
            id_token: self.id_token_table.clone(),
            grant: self.grant_table.clone(),
            user: self.user_table.clone(),
        })
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create DOT 3.4.1's tables in an empty database (a Django-managed database is left as is).
    Migrate(commands::migrate::Args),
    /// Create an OAuth2 application with a generated client id and secret (DOT's createapplication).
    Createapplication(Box<commands::createapplication::Args>),
    /// Delete expired, revoked and orphaned tokens and expired grants (DOT's cleartokens), in
    /// batches.
    Cleartokens(commands::cleartokens::Args),
}

/// Runs one command and returns its exit code; errors carry their own (see [`exit_code_for`]).
pub async fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Migrate(args) => commands::migrate::run(&cli.global, args).await,
        Command::Createapplication(args) => {
            commands::createapplication::run(&cli.global, *args).await
        }
        Command::Cleartokens(args) => commands::cleartokens::run(&cli.global, args).await,
    }
}

/// Sets up tracing on stderr: `RUST_LOG` if set, else warn/info/debug/trace by `-v` count.
pub fn init_logging(verbose: u8) {
    // sqlx logs every statement over 1 s at WARN, SQL text included: long cleanup counts
    // would flood stderr, so its query log only shows from -vv on.
    let default = match verbose {
        0 => "warn,sqlx::query=error",
        1 => "oauthctl=info,warn,sqlx::query=error",
        2 => "oauthctl=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}
