//! Everything oauthctl prints goes through one [`Shell`], as cargo's does: results on stdout, notes,
//! warnings and the progress line on stderr. The one coloured line, a warning, follows the terminal
//! and the usual switches (`NO_COLOR`, `CLICOLOR`, `CLICOLOR_FORCE`) through clap's own `anstream`;
//! everything else is written as is. With `--log-format json`, stderr's lines are JSON lines
//! ([`crate::logging`]) and stdout is unchanged.

use std::fmt::Display;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};

use crate::logging::{json_line, LogFormat};

/// Django's WARNING style: bold yellow.
const WARNING: anstyle::Style = anstyle::AnsiColor::Yellow.on_default().bold();

/// The output of one command.
#[derive(Debug, Default)]
pub struct Shell {
    progress_drawn: AtomicBool,
    /// `--log-format json`: notes and warnings are JSON lines, and no progress line is drawn.
    json_logs: bool,
}

impl Shell {
    pub fn new() -> Shell {
        Shell::default()
    }

    /// A shell whose stderr lines follow `--log-format`.
    pub fn with_log_format(format: LogFormat) -> Shell {
        Shell {
            json_logs: format == LogFormat::Json,
            ..Shell::default()
        }
    }

    /// One line of the command's result on stdout.
    pub fn out(&self, line: impl Display) -> Result<()> {
        self.clear_progress();
        // Plain stdout: anstream would also strip control bytes from user data (names, ids).
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .context("writing to stdout")
    }

    /// One JSON document on one line of stdout.
    pub fn json(&self, value: &impl serde::Serialize) -> Result<()> {
        let text = serde_json::to_string(value).context("encoding JSON")?;
        self.out(text)
    }

    /// Bytes on stdout as they are (a generated completion script): no newline added.
    pub fn raw(&self, bytes: &[u8]) -> Result<()> {
        self.clear_progress();
        let mut out = std::io::stdout().lock();
        out.write_all(bytes)
            .and_then(|()| out.flush())
            .context("writing to stdout")
    }

    /// A line on stderr (status, notes, stop summaries). Never fails: stderr is the last resort.
    pub fn note(&self, line: impl Display) {
        self.clear_progress();
        if self.json_logs {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                json_line("INFO", &line.to_string())
            );
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }

    /// A warning on stderr, in Django's WARNING style where stderr takes colour: anstream drops
    /// the style for a non-terminal, `NO_COLOR` or `CLICOLOR=0`, and keeps it for
    /// `CLICOLOR_FORCE`.
    pub fn warn(&self, line: impl Display) {
        self.clear_progress();
        if self.json_logs {
            let _ = writeln!(
                std::io::stderr().lock(),
                "{}",
                json_line("WARN", &line.to_string())
            );
            return;
        }
        let _ = writeln!(anstream::stderr().lock(), "{WARNING}{line}{WARNING:#}");
    }

    /// Whether stderr is a terminal, where a progress line may be drawn (never between JSON
    /// log lines).
    pub fn stderr_is_terminal(&self) -> bool {
        !self.json_logs && std::io::stderr().is_terminal()
    }

    /// Draws `line` in place of the last progress line (a terminal only; callers check).
    pub fn progress(&self, line: impl Display) {
        // Plain stderr: the line-clearing escape must reach the terminal even with colour off.
        let mut err = std::io::stderr().lock();
        let _ = write!(err, "\r\x1b[2K{line}");
        let _ = err.flush();
        self.progress_drawn.store(true, Ordering::Relaxed);
    }

    /// Erases the progress line, if one is drawn, so that the next line starts clean.
    pub fn clear_progress(&self) {
        if self.progress_drawn.swap(false, Ordering::Relaxed) {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}
