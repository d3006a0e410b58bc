//! What a run is asked to do, and checking it before anything is deleted: DOT's five settings with
//! where each came from, validated in DOT's own words; the cutoffs DOT's `clear_expired()` derives
//! from one "now"; and oauthctl's own `--max-duration` and `--lock-budget`.
//!
//! Every problem is a [`Failure::Usage`] (exit 2) naming the setting, found before the database
//! is touched.

use std::time::Duration;

use anyhow::{bail, Result};
use chrono::TimeDelta;

use crate::db::{Cutoffs, RulesInUse};
use crate::django::repr::repr_str;
use crate::django::settings::parse_bool;
use crate::django::timezone::{DjangoTime, TimeSettings};
use crate::error::Failure;

/// DOT's default `CLEAR_EXPIRED_TOKENS_BATCH_SIZE`.
pub const DEFAULT_BATCH_SIZE: u64 = 10_000;

/// Python's `timedelta.max` in microseconds: DOT rejects larger values as not being seconds.
const PY_TIMEDELTA_MAX_MICROS: i128 = (999_999_999 * 86_400 + 86_399) * 1_000_000 + 999_999;
/// The batch interval is a pause between batches; a day or more is surely a unit mistake.
const MAX_BATCH_INTERVAL_SECONDS: i128 = 86_400;
/// The largest `--lock-budget`: beyond an hour it no longer protects a live server.
const MAX_LOCK_BUDGET: Duration = Duration::from_secs(3_600);

const EXPIRE: &str = "REFRESH_TOKEN_EXPIRE_SECONDS";
const GRACE: &str = "REFRESH_TOKEN_GRACE_PERIOD_SECONDS";
const REUSE: &str = "REFRESH_TOKEN_REUSE_PROTECTION";
const SIZE: &str = "CLEAR_EXPIRED_TOKENS_BATCH_SIZE";
const INTERVAL: &str = "CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL";

/// Where a setting's raw value came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Flag(&'static str),
    Env(&'static str),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "from {flag}"),
            Source::Env(var) => write!(f, "from the environment variable {var}"),
        }
    }
}

/// A raw setting value and its source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Raw {
    pub value: String,
    pub source: Source,
}

/// The flag's value, else the environment variable's; an empty variable counts as unset, as a
/// falsy Django setting does.
pub fn pick(flag: Option<&str>, flag_name: &'static str, env: &'static str) -> Option<Raw> {
    if let Some(value) = flag {
        return Some(Raw {
            value: value.to_string(),
            source: Source::Flag(flag_name),
        });
    }
    match std::env::var(env) {
        Ok(value) if !value.trim().is_empty() => Some(Raw {
            value,
            source: Source::Env(env),
        }),
        _ => None,
    }
}

/// Whose cleanup rules to follow: `--dot-version`, else `OAUTHCTL_DOT_VERSION`, else auto, with
/// the name of where the choice came from (for messages and the JSON summary). Shared by every
/// command that applies or reports the rules.
pub fn dot_version(flag: Option<&str>) -> anyhow::Result<(crate::db::DotVersion, &'static str)> {
    let Some(raw) = pick(flag, "--dot-version", "OAUTHCTL_DOT_VERSION") else {
        return Ok((crate::db::DotVersion::Auto, "auto"));
    };
    let what = match raw.source {
        Source::Flag(flag) => flag,
        Source::Env(var) => var,
    };
    Ok((crate::db::DotVersion::parse(&raw.value, what)?, what))
}

/// The raw settings of a run, one per DOT setting.
#[derive(Clone, Debug, Default)]
pub struct RawSettings {
    pub refresh_token_expire_seconds: Option<Raw>,
    pub refresh_token_grace_period_seconds: Option<Raw>,
    /// `--reuse-protection` (true) or the environment variable's text.
    pub refresh_token_reuse_protection: Option<Raw>,
    pub batch_size: Option<Raw>,
    pub batch_interval: Option<Raw>,
}

/// Validated settings (DOT's `oauth2_settings` for `clear_expired`).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `None` when unset or 0: refresh tokens never age-expire (and DOT warns).
    pub refresh_token_expire: Option<TimeDelta>,
    pub refresh_token_grace_period: TimeDelta,
    pub reuse_protection: bool,
    pub batch_size: u64,
    pub batch_interval: Duration,
}

fn invalid(setting: &str, requirement: &str, raw: &Raw) -> anyhow::Error {
    anyhow::Error::new(Failure::Usage(format!(
        "{setting} {requirement}: got {} ({})",
        repr_str(&raw.value),
        raw.source
    )))
}

/// Why a text is not a number of seconds.
#[derive(Debug, PartialEq, Eq)]
enum SecondsError {
    NotANumber,
    Negative,
}

/// A decimal number of seconds (`500`, `0.5`, `.25`) in microseconds, rounded half to even as
/// Python's `timedelta(seconds=…)` does. No exponents, infinities or NaN.
fn parse_seconds(text: &str) -> Result<i128, SecondsError> {
    let text = text.trim();
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return Err(SecondsError::NotANumber);
    }
    // Saturate absurdly long inputs instead of overflowing; they are rejected as too large.
    let mut micros: i128 = 0;
    for b in whole.bytes() {
        micros = micros
            .saturating_mul(10)
            .saturating_add(i128::from(b - b'0'));
    }
    micros = micros.saturating_mul(1_000_000);
    let frac: Vec<u8> = fraction.bytes().map(|b| b - b'0').collect();
    let mut frac_micros: i128 = 0;
    for i in 0..6 {
        frac_micros = frac_micros * 10 + i128::from(*frac.get(i).unwrap_or(&0));
    }
    // Round half to even on the digits past the microsecond.
    if frac.len() > 6 {
        let first = frac[6];
        let rest_nonzero = frac[7..].iter().any(|&d| d != 0);
        if first > 5 || (first == 5 && (rest_nonzero || frac_micros % 2 == 1)) {
            frac_micros += 1;
        }
    }
    micros = micros.saturating_add(frac_micros);
    if negative && micros != 0 {
        return Err(SecondsError::Negative);
    }
    Ok(micros)
}

fn micros_to_delta(micros: i128) -> TimeDelta {
    // Callers bound `micros` by Python's timedelta.max, far inside TimeDelta's range.
    TimeDelta::microseconds(i64::try_from(micros).unwrap_or(i64::MAX))
}

/// `refresh_token_expire_timedelta()`: falsy → None; str or overflow → "must be either a
/// timedelta or seconds"; negative → "must not be negative".
fn refresh_token_expire(raw: Option<&Raw>) -> Result<Option<TimeDelta>> {
    let Some(r) = raw else { return Ok(None) };
    match parse_seconds(&r.value) {
        Err(SecondsError::NotANumber) => {
            Err(invalid(EXPIRE, "must be either a timedelta or seconds", r))
        }
        Err(SecondsError::Negative) => Err(invalid(EXPIRE, "must not be negative", r)),
        Ok(m) if m > PY_TIMEDELTA_MAX_MICROS => {
            Err(invalid(EXPIRE, "must be either a timedelta or seconds", r))
        }
        Ok(0) => Ok(None),
        Ok(m) => Ok(Some(micros_to_delta(m))),
    }
}

/// `clear_expired()`: TypeError → "must be in seconds"; negative → "must not be negative".
fn refresh_token_grace_period(raw: Option<&Raw>) -> Result<TimeDelta> {
    let Some(r) = raw else {
        return Ok(TimeDelta::zero());
    };
    match parse_seconds(&r.value) {
        Err(SecondsError::NotANumber) => Err(invalid(GRACE, "must be in seconds", r)),
        Err(SecondsError::Negative) => Err(invalid(GRACE, "must not be negative", r)),
        // DOT crashes with OverflowError here; say what is wrong instead.
        Ok(m) if m > PY_TIMEDELTA_MAX_MICROS => Err(invalid(GRACE, "is too large", r)),
        Ok(m) => Ok(micros_to_delta(m)),
    }
}

fn reuse_protection(raw: Option<&Raw>) -> Result<bool> {
    let Some(r) = raw else { return Ok(false) };
    parse_bool(&r.value).ok_or_else(|| invalid(REUSE, "must be true or false", r))
}

fn batch_size(raw: Option<&Raw>) -> Result<u64> {
    let Some(r) = raw else {
        return Ok(DEFAULT_BATCH_SIZE);
    };
    let text = r.value.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            SIZE,
            "must be a whole number of rows, at least 1",
            r,
        ));
    }
    match text.parse::<i64>() {
        // DOT loops for ever on 0 (LIMIT 0 never empties the queryset).
        Ok(0) => Err(invalid(
            SIZE,
            "must be at least 1 (0 would never delete anything)",
            r,
        )),
        Ok(n) => Ok(n as u64),
        Err(_) => Err(invalid(SIZE, "is too large", r)),
    }
}

fn batch_interval(raw: Option<&Raw>) -> Result<Duration> {
    let Some(r) = raw else {
        return Ok(Duration::ZERO);
    };
    match parse_seconds(&r.value) {
        Err(SecondsError::NotANumber) => Err(invalid(INTERVAL, "must be a number of seconds", r)),
        Err(SecondsError::Negative) => Err(invalid(INTERVAL, "must not be negative", r)),
        Ok(m) if m > MAX_BATCH_INTERVAL_SECONDS * 1_000_000 => {
            Err(invalid(INTERVAL, "is too large (at most 86400 seconds)", r))
        }
        Ok(m) => Ok(Duration::from_micros(m as u64)),
    }
}

impl Settings {
    /// Validates every setting, as DOT does before deleting anything; the first problem is a
    /// usage error (exit 2) naming the setting.
    pub fn resolve(raw: &RawSettings) -> Result<Settings> {
        Ok(Settings {
            refresh_token_expire: refresh_token_expire(raw.refresh_token_expire_seconds.as_ref())?,
            refresh_token_grace_period: refresh_token_grace_period(
                raw.refresh_token_grace_period_seconds.as_ref(),
            )?,
            reuse_protection: reuse_protection(raw.refresh_token_reuse_protection.as_ref())?,
            batch_size: batch_size(raw.batch_size.as_ref())?,
            batch_interval: batch_interval(raw.batch_interval.as_ref())?,
        })
    }

    /// DOT's `clear_expired()` set-up: the cutoffs from one "now". A cutoff before year 1 is
    /// Python's "date value out of range": a usage error naming the setting.
    pub fn cutoffs(&self, now: DjangoTime) -> Result<Cutoffs> {
        fn minus(now: DjangoTime, delta: TimeDelta, setting: &str) -> Result<DjangoTime> {
            match now.checked_sub(delta) {
                Some(cut) if cut.year() >= 1 => Ok(cut),
                _ => bail!(Failure::Usage(format!(
                    "{setting} is too large: now minus {} s is before year 1 (date value out of range)",
                    delta.num_seconds()
                ))),
            }
        }
        let mut refresh_revoked_at = Some(now);
        if !self.refresh_token_grace_period.is_zero() {
            refresh_revoked_at = Some(minus(now, self.refresh_token_grace_period, GRACE)?);
        }
        let refresh_expire_at = match self.refresh_token_expire {
            Some(delta) => Some(minus(now, delta, EXPIRE)?),
            None => None,
        };
        // Reuse protection keeps revoked tokens as long as live ones: the grace period yields to
        // the expiry cutoff, and with no expiry nothing revoked is deleted.
        if self.reuse_protection {
            refresh_revoked_at = refresh_expire_at;
        }
        Ok(Cutoffs {
            now,
            refresh_revoked_at,
            refresh_expire_at,
            rules: crate::db::Rules::default(),
            incremental_since: None,
        })
    }
}

/// `--max-duration`: `90s`, `10m`, `1h`, `1h30m`, `500ms`, `2d`, or plain seconds (`90`, `1.5`).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    if let Ok(micros) = parse_seconds(text) {
        return Some(Duration::from_micros(u64::try_from(micros).ok()?));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(number_end);
        let unit_end = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_end);
        let seconds_per_unit: u64 = match unit.trim() {
            "ms" => 0,
            "s" | "sec" | "secs" => 1,
            "m" | "min" | "mins" => 60,
            "h" | "hr" | "hrs" => 3_600,
            "d" | "day" | "days" => 86_400,
            _ => return None,
        };
        let micros = u64::try_from(parse_seconds(number).ok()?).ok()?;
        let part = if seconds_per_unit == 0 {
            Duration::from_micros(micros / 1_000)
        } else {
            Duration::from_micros(micros.checked_mul(seconds_per_unit)?)
        };
        total = total.checked_add(part)?;
        rest = tail;
    }
    Some(total)
}

/// `--max-duration`: unset (or blank) means no time budget; otherwise a positive duration.
fn max_duration(text: Option<&str>) -> Result<Option<Duration>> {
    let Some(text) = text.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    match parse_duration(text) {
        Some(d) if !d.is_zero() => Ok(Some(d)),
        _ => bail!(Failure::Usage(format!(
            "--max-duration must be a positive duration such as 90s, 10m or 1h: got {}",
            repr_str(text)
        ))),
    }
}

/// `--lock-budget`: 0 turns it off (`None`).
fn lock_budget(text: &str) -> Result<Option<Duration>> {
    match parse_duration(text) {
        Some(d) if d.is_zero() => Ok(None),
        Some(d) if d <= MAX_LOCK_BUDGET => Ok(Some(d)),
        _ => bail!(Failure::Usage(format!(
            "--lock-budget must be a number of seconds from 0 (off) to 3600, such as 0.5: got {}",
            repr_str(text)
        ))),
    }
}

/// Everything a run is asked to do, as given (flags and environment).
#[derive(Clone, Debug, Default)]
pub struct RawPlan {
    pub settings: RawSettings,
    /// `--max-duration` (or `OAUTHCTL_MAX_DURATION`).
    pub max_duration: Option<String>,
    /// `--lock-budget` (or `OAUTHCTL_LOCK_BUDGET`), in seconds.
    pub lock_budget: String,
    pub dry_run: bool,
    /// Django's time settings (checked with the global options): what "now" is to DOT.
    pub time: TimeSettings,
}

/// A checked run: validated settings, the cutoffs of this run's "now", and the run's limits.
#[derive(Clone, Debug)]
pub struct Plan {
    pub settings: Settings,
    pub cutoffs: Cutoffs,
    /// `--max-duration`: no batch is started that the rest of the budget cannot fit.
    pub max_duration: Option<Duration>,
    /// `--lock-budget`: a batch whose write transaction took longer makes the next batches of
    /// its step smaller (see [`super::batching::next_limit`]); `None`: always the batch size.
    pub lock_budget: Option<Duration>,
    pub dry_run: bool,
    /// The DOT release whose rules the run follows (3.4.1's until [`Plan::follow`]).
    pub dot_rules: RulesInUse,
    /// `--incremental` (set by the command once the rules are known); `None`: DOT's full pass.
    pub incremental: Option<super::incremental::Request>,
}

impl Plan {
    /// Follows `dot_rules` from now on: the cutoffs become that release's.
    pub fn follow(&mut self, dot_rules: RulesInUse) {
        self.cutoffs = dot_rules.rules.cutoffs(&self.cutoffs);
        self.dot_rules = dot_rules;
    }

    /// Checks everything in the order the errors are reported: DOT's settings, the limits, the
    /// clock (`OAUTHCTL_NOW`), then the cutoffs.
    pub fn resolve(raw: &RawPlan) -> Result<Plan> {
        let settings = Settings::resolve(&raw.settings)?;
        let max_duration = max_duration(raw.max_duration.as_deref())?;
        let lock_budget = lock_budget(&raw.lock_budget)?;
        let now = raw.time.django_now(crate::django::clock::now()?);
        let cutoffs = settings.cutoffs(now)?;
        Ok(Plan {
            settings,
            cutoffs,
            max_duration,
            lock_budget,
            dry_run: raw.dry_run,
            dot_rules: RulesInUse::default(),
            incremental: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn raw(value: &str) -> Option<Raw> {
        Some(Raw {
            value: value.into(),
            source: Source::Env("X"),
        })
    }

    #[test]
    fn seconds_parse_like_python_timedelta() {
        assert_eq!(parse_seconds("500"), Ok(500_000_000));
        assert_eq!(parse_seconds(" 0.5 "), Ok(500_000));
        assert_eq!(parse_seconds(".25"), Ok(250_000));
        assert_eq!(parse_seconds("1."), Ok(1_000_000));
        assert_eq!(parse_seconds("0.0000005"), Ok(0)); // half to even
        assert_eq!(parse_seconds("0.0000015"), Ok(2));
        assert_eq!(parse_seconds("0.00000051"), Ok(1));
        assert_eq!(parse_seconds("-0"), Ok(0));
        assert_eq!(parse_seconds("-1"), Err(SecondsError::Negative));
        for bad in ["", ".", "abc", "1e3", "inf", "nan", "1 2", "0x10", "--1"] {
            assert_eq!(parse_seconds(bad), Err(SecondsError::NotANumber), "{bad}");
        }
    }

    #[test]
    fn settings_follow_dot_validation() {
        let ok = |r: RawSettings| Settings::resolve(&r).unwrap();
        let err = |r: RawSettings| Settings::resolve(&r).unwrap_err().to_string();

        let s = ok(RawSettings::default());
        assert_eq!(s.refresh_token_expire, None);
        assert_eq!(s.batch_size, 10_000);
        assert_eq!(s.batch_interval, Duration::ZERO);

        let s = ok(RawSettings {
            refresh_token_expire_seconds: raw("0"),
            ..Default::default()
        });
        assert_eq!(s.refresh_token_expire, None, "0 is falsy: expiry off");
        let s = ok(RawSettings {
            refresh_token_expire_seconds: raw("0.5"),
            ..Default::default()
        });
        assert_eq!(s.refresh_token_expire, Some(TimeDelta::milliseconds(500)));

        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("A"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("-3600"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must not be negative"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_expire_seconds: raw("100000000000000000000"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_grace_period_seconds: raw("A"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_GRACE_PERIOD_SECONDS must be in seconds"),
            "{e}"
        );
        let e = err(RawSettings {
            refresh_token_grace_period_seconds: raw("-1000"),
            ..Default::default()
        });
        assert!(
            e.starts_with("REFRESH_TOKEN_GRACE_PERIOD_SECONDS must not be negative"),
            "{e}"
        );
        for bad in ["0", "-1", "x", "1.5", "99999999999999999999"] {
            let e = err(RawSettings {
                batch_size: raw(bad),
                ..Default::default()
            });
            assert!(e.starts_with("CLEAR_EXPIRED_TOKENS_BATCH_SIZE"), "{e}");
        }
        for bad in ["-1", "x", "1e9", "100000"] {
            let e = err(RawSettings {
                batch_interval: raw(bad),
                ..Default::default()
            });
            assert!(e.starts_with("CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL"), "{e}");
        }
        let e = err(RawSettings {
            refresh_token_reuse_protection: raw("maybe"),
            ..Default::default()
        });
        assert!(e.starts_with("REFRESH_TOKEN_REUSE_PROTECTION"), "{e}");
    }

    #[test]
    fn the_first_invalid_setting_is_reported_in_dots_order() {
        // Every setting wrong at once: DOT's order decides which one is named.
        let all_wrong = RawSettings {
            refresh_token_expire_seconds: raw("A"),
            refresh_token_grace_period_seconds: raw("A"),
            refresh_token_reuse_protection: raw("maybe"),
            batch_size: raw("0"),
            batch_interval: raw("x"),
        };
        let e = Settings::resolve(&all_wrong).unwrap_err().to_string();
        assert_eq!(
            e,
            "REFRESH_TOKEN_EXPIRE_SECONDS must be either a timedelta or seconds: got 'A' (from the environment variable X)"
        );
        let e = Settings::resolve(&RawSettings {
            refresh_token_expire_seconds: None,
            ..all_wrong.clone()
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("REFRESH_TOKEN_GRACE_PERIOD_SECONDS"), "{e}");
        let e = Settings::resolve(&RawSettings {
            refresh_token_expire_seconds: None,
            refresh_token_grace_period_seconds: None,
            refresh_token_reuse_protection: None,
            ..all_wrong
        })
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "CLEAR_EXPIRED_TOKENS_BATCH_SIZE must be at least 1 (0 would never delete anything): got '0' (from the environment variable X)"
        );
    }

    #[test]
    fn limits_are_checked_with_their_flag_names() {
        assert_eq!(max_duration(None).unwrap(), None);
        assert_eq!(max_duration(Some("  ")).unwrap(), None);
        assert_eq!(
            max_duration(Some("90s")).unwrap(),
            Some(Duration::from_secs(90))
        );
        for bad in ["0", "0s", "x"] {
            let e = max_duration(Some(bad)).unwrap_err();
            assert!(matches!(crate::error::failure(&e), Some(Failure::Usage(_))));
            assert_eq!(
                e.to_string(),
                format!("--max-duration must be a positive duration such as 90s, 10m or 1h: got '{bad}'")
            );
        }
        assert_eq!(lock_budget("0").unwrap(), None);
        assert_eq!(
            lock_budget("0.8").unwrap(),
            Some(Duration::from_millis(800))
        );
        assert_eq!(lock_budget("1h").unwrap(), Some(MAX_LOCK_BUDGET));
        for bad in ["3601", "-1", ""] {
            let e = lock_budget(bad).unwrap_err().to_string();
            assert!(
                e.starts_with("--lock-budget must be a number of seconds from 0 (off) to 3600"),
                "{e}"
            );
        }
    }

    #[test]
    fn cutoffs_follow_clear_expired_setup() {
        let now: DjangoTime = chrono::Utc
            .with_ymd_and_hms(2026, 11, 26, 20, 0, 0)
            .unwrap()
            .into();
        let settings = |expire: Option<i64>, grace: i64, reuse: bool| Settings {
            refresh_token_expire: expire.map(TimeDelta::seconds),
            refresh_token_grace_period: TimeDelta::seconds(grace),
            reuse_protection: reuse,
            batch_size: 10,
            batch_interval: Duration::ZERO,
        };
        let c = settings(None, 0, false).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now));
        assert_eq!(c.refresh_expire_at, None);
        let c = settings(Some(500), 1000, false).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now - TimeDelta::seconds(1000)));
        assert_eq!(c.refresh_expire_at, Some(now - TimeDelta::seconds(500)));
        let c = settings(Some(1500), 1000, true).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, Some(now - TimeDelta::seconds(1500)));
        let c = settings(None, 1000, true).cutoffs(now).unwrap();
        assert_eq!(c.refresh_revoked_at, None);
        let e = settings(Some(80_000_000_000_000), 0, false)
            .cutoffs(now)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("REFRESH_TOKEN_EXPIRE_SECONDS is too large"),
            "{e}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2d"), Some(Duration::from_secs(172_800)));
        for bad in ["", "abc", "10x", "m", "-5s", "1h-5m"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
