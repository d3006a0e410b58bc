//! The one "now" of a run, and the text form Django stores datetimes in.
//!
//! Django keeps SQLite datetimes as text and compares them as text, so every cutoff and every
//! timestamp oauthctl writes there must be in exactly Django's form: `YYYY-MM-DD HH:MM:SS.ffffff`,
//! without the fraction when the microseconds are zero.

use anyhow::{Context, Result};
use chrono::{DateTime, SubsecRound, Timelike, Utc};

/// Environment variable that fixes "now" (RFC 3339), for tests and reproducible runs.
pub const NOW_ENV: &str = "OAUTHCTL_NOW";

/// The current instant, or the one `OAUTHCTL_NOW` fixes, truncated to Django's microseconds.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var(NOW_ENV) {
        Ok(text) if !text.trim().is_empty() => parse_rfc3339(text.trim()).with_context(|| {
            format!("{NOW_ENV} must be an RFC 3339 time such as 2026-11-26T20:00:00.5Z")
        }),
        _ => Ok(Utc::now().trunc_subsecs(6)),
    }
}

fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>> {
    let parsed =
        DateTime::parse_from_rfc3339(text).with_context(|| format!("{text:?} is not RFC 3339"))?;
    Ok(parsed.with_timezone(&Utc).trunc_subsecs(6))
}

/// Django's `str(naive_utc_datetime)`.
pub fn django_text(at: DateTime<Utc>) -> String {
    let naive = at.naive_utc();
    let micros = naive.nanosecond() / 1_000;
    if micros == 0 {
        naive.format("%Y-%m-%d %H:%M:%S").to_string()
    } else {
        format!("{}.{micros:06}", naive.format("%Y-%m-%d %H:%M:%S"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_python_str() {
        let t = parse_rfc3339("2026-11-26T20:43:26.389532Z").unwrap();
        assert_eq!(django_text(t), "2026-11-26 20:43:26.389532");
        let t = parse_rfc3339("2026-11-26T20:43:26Z").unwrap();
        assert_eq!(django_text(t), "2026-11-26 20:43:26");
        let t = parse_rfc3339("2026-11-26T20:00:00.5+01:00").unwrap();
        assert_eq!(django_text(t), "2026-11-26 19:00:00.500000");
        // Nanoseconds beyond Django's precision are dropped, not rounded.
        let t = parse_rfc3339("2026-11-26T20:00:00.0000009Z").unwrap();
        assert_eq!(django_text(t), "2026-11-26 20:00:00");
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(parse_rfc3339("2026-11-26 20:00:00").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
