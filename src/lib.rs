//! oauthctl: Django OAuth Toolkit's `cleartokens` and `createapplication`, straight on the database.
//!
//! The binary is a thin shell around [`run`]: it parses the command line into [`Cli`], runs the
//! chosen command and turns the outcome into one of the documented exit codes ([`error`]).
//!
//! Layout: [`cli`] and [`commands`] are the only modules that know clap; [`cleartokens`] is the
//! cleartokens process, [`application`] createapplication's rules, [`django`] the Python and
//! Django behaviour both reproduce, [`db`] the store (all SQL), [`shell`] all output, [`logging`]
//! stderr's log format.

pub mod application;
pub mod apply;
pub mod cleartokens;
pub mod cli;
pub mod commands;
pub mod db;
pub mod django;
pub mod doctor;
pub mod error;
pub mod logging;
pub mod shell;
pub mod uri_validator;

pub use cli::Cli;
pub use error::{exit, Failure, Outcome};

/// Runs one command.
pub async fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let shell = shell::Shell::with_log_format(cli.global.log_format());
    db::network::configure(cli.global.network_timeout()?);
    // Checked here so that a setting Django refuses stops every command before it starts.
    cli.global.time_settings()?;
    match cli.command {
        cli::Command::Migrate(args) => commands::migrate::run(&cli.global, args, &shell).await,
        cli::Command::Createapplication(args) => {
            commands::createapplication::run(&cli.global, *args, &shell).await
        }
        cli::Command::Cleartokens(args) => {
            commands::cleartokens::run(&cli.global, args, &shell).await
        }
        cli::Command::Apply(args) => commands::apply::run(&cli.global, *args, &shell).await,
        cli::Command::Indexes(args) => commands::indexes::run(&cli.global, args, &shell).await,
        cli::Command::Listapplications(args) => {
            commands::listapplications::run(&cli.global, args, &shell).await
        }
        cli::Command::Completions(args) => {
            commands::completions::run(&cli.global, args, &shell).await
        }
        cli::Command::Manpages(args) => commands::manpages::run(&cli.global, args, &shell).await,
        cli::Command::Doctor(args) => commands::doctor::run(&cli.global, args, &shell).await,
    }
}
