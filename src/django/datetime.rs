//! The text form Django stores datetimes in.
//!
//! Django keeps SQLite datetimes as text and compares them as text, so every cutoff and every
//! timestamp oauthctl writes there must be in exactly Django's form: `YYYY-MM-DD HH:MM:SS.ffffff`,
//! without the fraction when the microseconds are zero. A different but equivalent spelling
//! ("T" separator, trailing zeros) would sort differently against Django's own rows.

use chrono::{DateTime, NaiveDateTime, Timelike, Utc};

/// Django's `str(naive_utc_datetime)`.
pub fn django_text(at: DateTime<Utc>) -> String {
    naive_text(at.naive_utc())
}

/// Python's `str()` of a naive datetime: what Django stores on SQLite.
pub fn naive_text(naive: NaiveDateTime) -> String {
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

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn formats_like_python_str() {
        assert_eq!(
            django_text(at("2026-11-26T20:43:26.389532Z")),
            "2026-11-26 20:43:26.389532"
        );
        assert_eq!(
            django_text(at("2026-11-26T20:43:26Z")),
            "2026-11-26 20:43:26"
        );
        assert_eq!(
            django_text(at("2026-11-26T20:00:00.5+01:00")),
            "2026-11-26 19:00:00.500000"
        );
        // Nanoseconds beyond Django's precision are dropped, not rounded.
        assert_eq!(
            django_text(at("2026-11-26T20:00:00.0000009Z")),
            "2026-11-26 20:00:00"
        );
        assert_eq!(
            django_text(at("2026-11-26T20:00:00.0000019Z")),
            "2026-11-26 20:00:00.000001"
        );
    }
}
