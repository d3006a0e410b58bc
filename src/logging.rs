//! What goes to stderr besides a command's result: tracing's log lines, and the lines oauthctl
//! writes itself (warnings, notes, the final error). With `--log-format json` every one of them
//! is one JSON object per line, `{"timestamp", "level", "message", "target", …fields}`, so that
//! a log shipper needs no parser for oauthctl's text; tracing's events carry their fields
//! (`step`, `batch`, `deleted`, `seconds`, …) as top-level keys beside `message`. sqlx's own
//! statement log (`-vv` and up, target `sqlx::query`) has no `message`: its text is in
//! `summary` and `db.statement`.

use std::io::IsTerminal;

use serde::Serialize;

/// How stderr's lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Tracing on stderr in `format`: `RUST_LOG` if set, else warn/info/debug/trace by `-v` count.
pub fn init(verbose: u8, format: LogFormat) {
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        // The target lets a log shipper tell oauthctl's events from sqlx's statement log.
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
    };
}

/// A line oauthctl writes itself, in the shape of tracing's JSON lines.
#[derive(Serialize)]
struct Line<'a> {
    timestamp: String,
    level: &'a str,
    message: &'a str,
    target: &'a str,
}

/// `message` as one JSON line at `level` (`ERROR`, `WARN`, `INFO`), without the newline.
/// Newlines inside the message (DOT's multi-line validation report) are escaped, so it stays one
/// line.
pub fn json_line(level: &str, message: &str) -> String {
    let line = Line {
        timestamp: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        level,
        message,
        target: "oauthctl",
    };
    // A struct of strings always serialises.
    serde_json::to_string(&line).unwrap_or_default()
}

/// The one error line `main` prints, in `format`.
pub fn error_line(format: LogFormat, rendered: &str) -> String {
    match format {
        LogFormat::Text => rendered.to_string(),
        LogFormat::Json => json_line("ERROR", rendered),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_parsable_line() {
        let text = json_line(
            "ERROR",
            "Please correct the following errors:\n - name: ['x \"y\"']",
        );
        assert!(!text.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["level"], "ERROR");
        assert_eq!(
            value["message"],
            "Please correct the following errors:\n - name: ['x \"y\"']"
        );
        assert!(value["timestamp"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn text_errors_stay_as_rendered() {
        assert_eq!(error_line(LogFormat::Text, "error: x"), "error: x");
        let json: serde_json::Value =
            serde_json::from_str(&error_line(LogFormat::Json, "error: x")).unwrap();
        assert_eq!(json["message"], "error: x");
    }
}
