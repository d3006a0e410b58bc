//! What a command's run ends in, and the one place that turns it into an exit code.
//!
//! Commands return `anyhow::Result<Outcome>`. An error is a runtime failure (exit 1) unless a
//! [`Failure`] somewhere in its chain says otherwise; callers branch on the typed variants, never
//! on message text. `main` prints the error once ([`render`]) and exits with [`exit_code`].

use crate::application::FieldErrors;

/// The documented exit codes (README, `docs/compatibility.md#exit-codes`).
pub mod exit {
    pub const OK: u8 = 0;
    pub const RUNTIME: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const CONFLICT: u8 = 3;
    pub const STOPPED: u8 = 4;
    /// `apply --check`: the database differs from the manifest (nothing was written).
    pub const DRIFT: u8 = 5;
    /// `doctor`: cleanup indexes are missing (cleartokens works, reading whole tables).
    pub const INDEXES_MISSING: u8 = 6;
    /// `doctor`: a DOT table or a column the cleanup needs is missing.
    pub const SCHEMA_INCOMPLETE: u8 = 7;
}

/// How a command that did not fail ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything asked for is done (exit 0).
    Done,
    /// Stopped early by a time budget or a signal; what finished is committed (exit 4).
    Stopped,
    /// `apply --check` found changes pending; nothing was written (exit 5).
    Drift,
    /// `doctor` found cleanup indexes missing (exit 6).
    IndexesMissing,
    /// `doctor` found a DOT table or a cleanup column missing (exit 7).
    SchemaIncomplete,
}

/// Failures a caller branches on; any other error is a runtime failure (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// Bad input found before anything was written: exit 2.
    #[error("{0}")]
    Usage(String),
    /// DOT's model validation failed: exit 2, reported in DOT's own format.
    #[error("{0}")]
    Invalid(FieldErrors),
    /// The client id exists: exit 3, reported in DOT's own format.
    #[error("{0}")]
    ClientIdTaken(FieldErrors),
    /// Another run holds the lock, or similar contention: exit 3.
    #[error("{0}")]
    Conflict(String),
    /// A second signal aborted the run mid-batch (the open batch rolled back): exit 4.
    #[error("{0}")]
    Aborted(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) | Failure::Invalid(_) => exit::USAGE,
            Failure::ClientIdTaken(_) | Failure::Conflict(_) => exit::CONFLICT,
            Failure::Aborted(_) => exit::STOPPED,
        }
    }

    /// Printed as they are, without `error: `: DOT's validation reports as DOT prints them, and
    /// the abort notice, which reads as the signal notes before it (`oauthctl: SIGINT …`).
    fn prints_as_is(&self) -> bool {
        matches!(
            self,
            Failure::Invalid(_) | Failure::ClientIdTaken(_) | Failure::Aborted(_)
        )
    }
}

/// The first [`Failure`] in an error's chain.
pub fn failure(error: &anyhow::Error) -> Option<&Failure> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<Failure>())
}

/// The exit code of a finished command.
pub fn exit_code(result: &anyhow::Result<Outcome>) -> u8 {
    match result {
        Ok(Outcome::Done) => exit::OK,
        Ok(Outcome::Stopped) => exit::STOPPED,
        Ok(Outcome::Drift) => exit::DRIFT,
        Ok(Outcome::IndexesMissing) => exit::INDEXES_MISSING,
        Ok(Outcome::SchemaIncomplete) => exit::SCHEMA_INCOMPLETE,
        Err(error) => failure(error).map_or(exit::RUNTIME, Failure::exit_code),
    }
}

/// An error as the one text printed on stderr: DOT's report or the abort notice as is, anything
/// else `error: …`.
pub fn render(error: &anyhow::Error) -> String {
    match failure(error) {
        Some(failure) if failure.prints_as_is() => failure.to_string(),
        _ => format!("error: {}", message(error)),
    }
}

/// An error and its causes on one line, joined by `: ` as `{:#}` joins them, but leaving out a
/// cause whose text the line already ends with: sqlx's "error communicating with database:
/// Connection refused" is caused by an I/O error that says "Connection refused" again.
pub fn message(error: &anyhow::Error) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::{anyhow, Context};

    #[test]
    fn the_first_failure_in_the_chain_decides() {
        let usage = anyhow::Error::new(Failure::Usage("bad".into())).context("while parsing");
        assert_eq!(exit_code(&Err(usage)), exit::USAGE);
        let conflict: anyhow::Result<Outcome> =
            Err(anyhow::Error::new(Failure::Conflict("held".into())));
        assert_eq!(exit_code(&conflict), exit::CONFLICT);
        assert_eq!(exit_code(&Err(anyhow!("io"))), exit::RUNTIME);
        assert_eq!(exit_code(&Ok(Outcome::Done)), exit::OK);
        assert_eq!(exit_code(&Ok(Outcome::Stopped)), exit::STOPPED);
        assert_eq!(exit_code(&Ok(Outcome::Drift)), exit::DRIFT);
        assert_eq!(exit_code(&Ok(Outcome::IndexesMissing)), 6);
        assert_eq!(exit_code(&Ok(Outcome::SchemaIncomplete)), 7);
    }

    #[test]
    fn dot_reports_print_without_prefix() {
        let mut errors = FieldErrors::default();
        errors.add("client_type", "This field is required.");
        let invalid = anyhow::Error::new(Failure::Invalid(errors.clone()));
        assert_eq!(render(&invalid), errors.to_string());
        assert_eq!(exit_code(&Err(invalid)), exit::USAGE);
        let taken = anyhow::Error::new(Failure::ClientIdTaken(errors));
        assert_eq!(exit_code(&Err(taken)), exit::CONFLICT);
    }

    #[test]
    fn repeated_causes_are_left_out() {
        let error = Err::<(), _>(anyhow!("Connection refused"))
            .context("error communicating with database: Connection refused")
            .context("connecting")
            .unwrap_err();
        assert_eq!(
            render(&error),
            "error: connecting: error communicating with database: Connection refused"
        );
    }
}
