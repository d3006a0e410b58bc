//! The command line: global options (database, verbosity, table overrides), the subcommands, and
//! the one output-format switch. Only this layer and `commands/` know clap; the domain modules get
//! plain values mapped from here.

use clap::{Args, Parser, Subcommand};

use crate::commands;
use crate::db::{self, default_table};
use crate::django::timezone::{RawTimeSettings, TimeSettings};
use crate::logging::LogFormat;

#[derive(Parser, Debug)]
#[command(
    name = "oauthctl",
    version,
    about = "Django OAuth Toolkit's cleartokens and createapplication, run directly on the database",
    after_help = "Exit codes: 0 done, 1 runtime failure, 2 usage or validation error, 3 conflict \
                  (client id exists, cleanup lock held), 4 stopped early (time budget or signal), 5 apply --check: \
                  changes pending, 6 doctor: cleanup indexes missing, 7 doctor: DOT tables or columns missing."
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
    /// A missing SQLite file is created and migrated by migrate and createapplication;
    /// cleartokens refuses it.
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

    /// Log lines and warnings on stderr as text, or as one JSON object per line (json)
    #[arg(
        long,
        global = true,
        value_enum,
        env = "OAUTHCTL_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormatArg,

    /// Table names for swapped models.
    #[command(flatten)]
    pub tables: TableArgs,

    /// Seconds the server may leave any one exchange unanswered (connect, lock call, statement;
    /// a cleanup batch gets at least this) before oauthctl gives up, and what the server's
    /// session timeouts are derived from; default 30
    #[arg(
        long,
        global = true,
        value_name = "SECONDS",
        env = "OAUTHCTL_NETWORK_TIMEOUT",
        allow_hyphen_values = true
    )]
    pub network_timeout: Option<String>,

    /// Django's time-zone settings: how the deployment's Django stores and compares times.
    #[command(flatten)]
    pub time: TimeArgs,
}

/// Django's `USE_TZ`, `TIME_ZONE` and the per-database `TIME_ZONE` (README, "Time zones").
#[derive(Args, Debug, Clone)]
pub struct TimeArgs {
    /// Django's USE_TZ: true (default) stores instants (UTC, or the database zone); false stores
    /// naive local time in --time-zone
    #[arg(
        long,
        global = true,
        value_name = "true|false",
        env = "USE_TZ",
        allow_hyphen_values = true
    )]
    pub use_tz: Option<String>,

    /// Django's TIME_ZONE (IANA name, default UTC): the local time of USE_TZ = False
    #[arg(
        long,
        global = true,
        value_name = "ZONE",
        env = "TIME_ZONE",
        allow_hyphen_values = true
    )]
    pub time_zone: Option<String>,

    /// The database's own TIME_ZONE (DATABASES[...]["TIME_ZONE"]), USE_TZ = True only: SQLite and
    /// MySQL store naive time in this zone
    #[arg(
        long,
        global = true,
        value_name = "ZONE",
        env = "DATABASE_TIME_ZONE",
        allow_hyphen_values = true
    )]
    pub database_time_zone: Option<String>,
}

/// `--*-table`: DOT's table names, overridable for swapped models (and Django's user table).
#[derive(Args, Debug, Clone)]
pub struct TableArgs {
    /// Application table, for a swapped OAUTH2_PROVIDER_APPLICATION_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_APPLICATION_TABLE",
        default_value = default_table::APPLICATION
    )]
    pub application_table: String,
    /// Access token table, for a swapped OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_ACCESS_TOKEN_TABLE",
        default_value = default_table::ACCESS_TOKEN
    )]
    pub access_token_table: String,
    /// Refresh token table, for a swapped OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_REFRESH_TOKEN_TABLE",
        default_value = default_table::REFRESH_TOKEN
    )]
    pub refresh_token_table: String,
    /// ID token table, for a swapped OAUTH2_PROVIDER_ID_TOKEN_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_ID_TOKEN_TABLE",
        default_value = default_table::ID_TOKEN
    )]
    pub id_token_table: String,
    /// Grant table, for a swapped OAUTH2_PROVIDER_GRANT_MODEL.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_GRANT_TABLE",
        default_value = default_table::GRANT
    )]
    pub grant_table: String,
    /// Users table (AUTH_USER_MODEL); checked by createapplication --user when it exists.
    #[arg(
        long,
        global = true,
        env = "OAUTHCTL_USER_TABLE",
        default_value = default_table::USER
    )]
    pub user_table: String,
}

impl GlobalArgs {
    pub fn database_url(&self) -> anyhow::Result<db::DatabaseUrl> {
        db::DatabaseUrl::parse(&self.database_url)
    }

    pub fn log_format(&self) -> LogFormat {
        match self.log_format {
            LogFormatArg::Text => LogFormat::Text,
            LogFormatArg::Json => LogFormat::Json,
        }
    }

    /// Django's time settings, checked (an empty variable counts as unset).
    pub fn time_settings(&self) -> anyhow::Result<TimeSettings> {
        TimeSettings::resolve(&RawTimeSettings {
            use_tz: self.time.use_tz.clone(),
            time_zone: self.time.time_zone.clone(),
            database_time_zone: self.time.database_time_zone.clone(),
        })
    }

    /// `--network-timeout` (an empty variable counts as unset).
    pub fn network_timeout(&self) -> anyhow::Result<std::time::Duration> {
        match self
            .network_timeout
            .as_deref()
            .filter(|t| !t.trim().is_empty())
        {
            None => Ok(db::network::DEFAULT_TIMEOUT),
            Some(text) => db::network::parse_timeout(text, "--network-timeout"),
        }
    }
}

impl TableArgs {
    /// Every table option with its value and DOT's default.
    fn table_options(&self) -> [(&'static str, &str, &'static str); 6] {
        [
            (
                "--application-table",
                &self.application_table,
                default_table::APPLICATION,
            ),
            (
                "--access-token-table",
                &self.access_token_table,
                default_table::ACCESS_TOKEN,
            ),
            (
                "--refresh-token-table",
                &self.refresh_token_table,
                default_table::REFRESH_TOKEN,
            ),
            (
                "--id-token-table",
                &self.id_token_table,
                default_table::ID_TOKEN,
            ),
            ("--grant-table", &self.grant_table, default_table::GRANT),
            ("--user-table", &self.user_table, default_table::USER),
        ]
    }

    /// The first table option set to something other than DOT's name (flag or environment).
    pub fn overridden_flag(&self) -> Option<&'static str> {
        self.table_options()
            .into_iter()
            .find(|(_, value, default)| value != default)
            .map(|(flag, _, _)| flag)
    }

    /// The table names, each checked to be a plain identifier before any SQL sees it.
    pub fn resolve(&self) -> anyhow::Result<db::Tables> {
        for (flag, name, _) in self.table_options() {
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
    /// Make the database's applications match a manifest (TOML or JSON): create, update, rotate
    /// secrets, and with --prune delete; idempotent, in one transaction.
    Apply(Box<commands::apply::Args>),
    /// Show, create or drop the indexes that let cleartokens find expired and revoked rows
    /// without reading whole tables (online; --print-sql for a Django migration).
    Indexes(commands::indexes::Args),
    /// List the applications (never their secrets).
    Listapplications(commands::listapplications::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions(commands::completions::Args),
    /// Write man pages for oauthctl and each subcommand into a folder.
    Manpages(commands::manpages::Args),
    /// Check a database, read-only: DOT's tables, cleanup indexes, row estimates, the run lock.
    Doctor(commands::doctor::Args),
}

/// `--format`: what a command prints on stdout.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    // No doc comments on the variants: clap would switch every help page that has --format to
    // its long layout.
    #[default]
    Text,
    Json,
}

/// `--log-format`: how stderr's log lines, warnings and the final error are written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormatArg {
    #[default]
    Text,
    Json,
}
