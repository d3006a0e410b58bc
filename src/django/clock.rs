//! The one "now" of a run.
//!
//! Every cutoff cleartokens computes and every timestamp createapplication writes comes from
//! a single call to [`now`], so one run never mixes instants. It is truncated to microseconds
//! because that is all Django stores; a finer "now" would compare differently with the rows
//! it wrote than Django's own would. `OAUTHCTL_NOW` pins it for tests and reproducible runs.
//!
//! It is always an absolute instant (UTC). What Django's `timezone.now()` would be at that
//! instant under the deployment's time settings (the naive wall-clock time in `TIME_ZONE` when
//! `USE_TZ = False`) is [`super::timezone::TimeSettings::django_now`].

use anyhow::{Context, Result};
use chrono::{DateTime, SubsecRound, Utc};

use crate::error::Failure;

/// Environment variable that fixes "now" (RFC 3339), for tests and reproducible runs.
pub const NOW_ENV: &str = "OAUTHCTL_NOW";

/// The current instant, or the one `OAUTHCTL_NOW` fixes, truncated to Django's microseconds.
/// A malformed `OAUTHCTL_NOW` is a usage error (exit 2) for every command.
pub fn now() -> Result<DateTime<Utc>> {
    match std::env::var(NOW_ENV) {
        Ok(text) if !text.trim().is_empty() => parse_rfc3339(text.trim()).map_err(|e| {
            Failure::Usage(format!(
                "{NOW_ENV} must be an RFC 3339 time such as 2026-11-26T20:00:00.5Z: {e:#}"
            ))
            .into()
        }),
        _ => Ok(Utc::now().trunc_subsecs(6)),
    }
}

fn parse_rfc3339(text: &str) -> Result<DateTime<Utc>> {
    let parsed =
        DateTime::parse_from_rfc3339(text).with_context(|| format!("{text:?} is not RFC 3339"))?;
    Ok(parsed.with_timezone(&Utc).trunc_subsecs(6))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Timelike;

    #[test]
    fn parses_and_truncates_to_microseconds() {
        let t = parse_rfc3339("2026-11-26T20:00:00.5+01:00").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-26T19:00:00.500+00:00");
        // Nanoseconds beyond Django's precision are dropped, not rounded.
        let t = parse_rfc3339("2026-11-26T20:00:00.0000009Z").unwrap();
        assert_eq!(t.nanosecond(), 0);
        let t = parse_rfc3339("2026-11-26T20:43:26.3895329Z").unwrap();
        assert_eq!(t.nanosecond(), 389_532_000);
    }

    #[test]
    fn rejects_non_rfc3339() {
        assert!(parse_rfc3339("2026-11-26 20:00:00").is_err());
        assert!(parse_rfc3339("yesterday").is_err());
    }
}
