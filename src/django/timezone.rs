//! Django's time-zone settings and the datetimes its code holds under them.
//!
//! Three settings decide how Django turns "now" into what a database stores and compares:
//!
//! - `USE_TZ = True` (the default): `timezone.now()` is an aware UTC instant, and arithmetic on it
//!   (`now - timedelta`) is on instants. On PostgreSQL (`timestamptz`) the instant is sent as
//!   it is; SQLite and MySQL store naive wall-clock time in the connection's zone: UTC, or the
//!   per-database `TIME_ZONE` when one is set (`make_naive` in `adapt_datetimefield_value`).
//! - `USE_TZ = False`: `timezone.now()` is the process's naive local wall-clock time, and Django
//!   makes that local time `TIME_ZONE` (it sets `TZ`). Arithmetic is on the wall clock, so across
//!   a DST change `now - R` is an hour away from the instant `R` ago. SQLite and MySQL store the
//!   naive value; on PostgreSQL Django sets the session's `TimeZone` to `TIME_ZONE` and sends the
//!   naive value, which the server resolves in that zone.
//! - The per-database `TIME_ZONE` is refused with `USE_TZ = False` (Django's `check_settings`).
//!   On PostgreSQL it only names the session zone: values are still instants.
//!
//! [`DjangoTime`] is such a value, carrying what its backend needs to adapt it; the one place
//! that turns it into a bound parameter is [`crate::db::sql::Bound::of`].

use anyhow::{bail, Result};
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::error::Failure;

/// `TIME_ZONE` when not given: Django's project template's (global_settings says Chicago, but
/// `startproject` writes UTC, and oauthctl has always assumed it).
pub const DEFAULT_TIME_ZONE: Tz = Tz::UTC;

/// Django's `USE_TZ`, `TIME_ZONE` and the per-database `DATABASES[…]["TIME_ZONE"]`, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeSettings {
    use_tz: bool,
    time_zone: Tz,
    database_time_zone: Option<Tz>,
}

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            use_tz: true,
            time_zone: DEFAULT_TIME_ZONE,
            database_time_zone: None,
        }
    }
}

/// The settings as given (flag or environment), before checking. `None`: not given.
#[derive(Clone, Debug, Default)]
pub struct RawTimeSettings {
    pub use_tz: Option<String>,
    pub time_zone: Option<String>,
    pub database_time_zone: Option<String>,
}

impl TimeSettings {
    /// Checks the settings as Django would at start-up: a zone name must be one the zone
    /// database knows, and a per-database zone needs `USE_TZ = True`. Each failure is a usage
    /// error naming the setting.
    pub fn resolve(raw: &RawTimeSettings) -> Result<TimeSettings> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
        };
        let use_tz = match given(&raw.use_tz) {
            None => true,
            Some(text) => match crate::django::settings::parse_bool(&text) {
                Some(flag) => flag,
                None => bail!(Failure::Usage(format!(
                    "--use-tz (USE_TZ) must be true or false: got {}",
                    crate::django::repr::repr_str(&text)
                ))),
            },
        };
        let time_zone = match given(&raw.time_zone) {
            None => DEFAULT_TIME_ZONE,
            Some(name) => zone("--time-zone (TIME_ZONE)", &name)?,
        };
        let database_time_zone = match given(&raw.database_time_zone) {
            None => None,
            Some(name) => Some(zone("--database-time-zone (DATABASE_TIME_ZONE)", &name)?),
        };
        if database_time_zone.is_some() && !use_tz {
            bail!(Failure::Usage(
                "--database-time-zone (DATABASE_TIME_ZONE) cannot be set when --use-tz is false: \
                 Django refuses a per-database TIME_ZONE without USE_TZ = True; drop one of them"
                    .into()
            ));
        }
        Ok(TimeSettings {
            use_tz,
            time_zone,
            database_time_zone,
        })
    }

    pub fn use_tz(&self) -> bool {
        self.use_tz
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    pub fn database_time_zone(&self) -> Option<Tz> {
        self.database_time_zone
    }

    /// Django's `connection.timezone_name`: the zone a PostgreSQL session is set to.
    pub fn session_zone_name(&self) -> &'static str {
        if !self.use_tz {
            self.time_zone.name()
        } else {
            self.database_time_zone.map_or("UTC", |z| z.name())
        }
    }

    /// The zone naive stored values are wall-clock time of: the connection's zone with
    /// `USE_TZ = True`, `TIME_ZONE` without.
    pub fn storage_zone(&self) -> Tz {
        if self.use_tz {
            self.database_time_zone.unwrap_or(Tz::UTC)
        } else {
            self.time_zone
        }
    }

    /// Django's `timezone.now()` at the instant `at` (oauthctl's one "now", an absolute
    /// instant): itself with `USE_TZ`, else the wall clock in `TIME_ZONE` at that instant.
    pub fn django_now(&self, at: DateTime<Utc>) -> DjangoTime {
        if self.use_tz {
            DjangoTime::Aware {
                at,
                zone: self.storage_zone(),
            }
        } else {
            DjangoTime::Naive(at.with_timezone(&self.time_zone).naive_local())
        }
    }

    /// A stored value as an instant: itself, or a naive one read as [`TimeSettings::read_naive`].
    pub fn instant(&self, stored: DjangoTime) -> DateTime<Utc> {
        match stored {
            DjangoTime::Aware { at, .. } => at,
            DjangoTime::Naive(wall) => self.read_naive(wall),
        }
    }

    /// A naive value read from SQLite or MySQL as the instant Django reads it: `make_aware` in
    /// the storage zone; in a repeated hour the first (daylight) occurrence, in a gap the
    /// offset before it (what `zoneinfo` gives `fold = 0`).
    pub fn read_naive(&self, wall: NaiveDateTime) -> DateTime<Utc> {
        let zone = self.storage_zone();
        match zone.from_local_datetime(&wall) {
            chrono::LocalResult::Single(t) => t.with_timezone(&Utc),
            chrono::LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
            chrono::LocalResult::None => {
                let before = zone.offset_from_utc_datetime(&(wall - TimeDelta::days(1)));
                let offset = chrono::Offset::fix(&before);
                (wall - TimeDelta::seconds(i64::from(offset.local_minus_utc()))).and_utc()
            }
        }
    }
}

fn zone(setting: &str, name: &str) -> Result<Tz> {
    name.parse::<Tz>().map_err(|_| {
        Failure::Usage(format!(
            "{setting} must be an IANA time zone such as UTC or America/New_York: got {}",
            crate::django::repr::repr_str(name)
        ))
        .into()
    })
}

/// A datetime as Django's code holds it under the time settings: an aware instant (with the
/// zone SQLite and MySQL store it in) or a naive wall-clock value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DjangoTime {
    /// `USE_TZ = True`: an instant; `zone` is the connection's zone naive backends store in.
    Aware { at: DateTime<Utc>, zone: Tz },
    /// `USE_TZ = False`: local wall-clock time in `TIME_ZONE`.
    Naive(NaiveDateTime),
}

impl std::fmt::Display for DjangoTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// An instant under the default settings (`USE_TZ = True`, UTC).
impl From<DateTime<Utc>> for DjangoTime {
    fn from(at: DateTime<Utc>) -> Self {
        DjangoTime::Aware { at, zone: Tz::UTC }
    }
}

/// `value - timedelta`, panicking on overflow as chrono's own `-` does; [`DjangoTime::checked_sub`]
/// for values that come from the user.
impl std::ops::Sub<TimeDelta> for DjangoTime {
    type Output = DjangoTime;

    fn sub(self, delta: TimeDelta) -> DjangoTime {
        self.checked_sub(delta).expect("datetime out of range")
    }
}

impl DjangoTime {
    /// Python's `value - timedelta`: on the instant when aware, on the wall clock when naive.
    pub fn checked_sub(self, delta: TimeDelta) -> Option<DjangoTime> {
        match self {
            DjangoTime::Aware { at, zone } => at
                .checked_sub_signed(delta)
                .map(|at| DjangoTime::Aware { at, zone }),
            DjangoTime::Naive(wall) => wall.checked_sub_signed(delta).map(DjangoTime::Naive),
        }
    }

    /// The value a naive column holds: `make_naive` in the connection's zone, or the naive value.
    pub fn wall(self) -> NaiveDateTime {
        match self {
            DjangoTime::Aware { at, zone } => at.with_timezone(&zone).naive_local(),
            DjangoTime::Naive(wall) => wall,
        }
    }

    /// For reports: RFC 3339 for an instant, the naive ISO text (no offset) for wall-clock time.
    pub fn display(self) -> String {
        match self {
            DjangoTime::Aware { at, .. } => at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            DjangoTime::Naive(wall) => wall.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        }
    }

    /// The year, for Python's "date value out of range" check.
    pub fn year(self) -> i32 {
        use chrono::Datelike;
        match self {
            DjangoTime::Aware { at, .. } => at.year(),
            DjangoTime::Naive(wall) => wall.year(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn raw(use_tz: Option<&str>, tz: Option<&str>, db: Option<&str>) -> RawTimeSettings {
        RawTimeSettings {
            use_tz: use_tz.map(Into::into),
            time_zone: tz.map(Into::into),
            database_time_zone: db.map(Into::into),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn naive(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    #[test]
    fn defaults_are_use_tz_utc() {
        let s = TimeSettings::resolve(&raw(None, Some(" "), None)).unwrap();
        assert_eq!(s, TimeSettings::default());
        assert_eq!(s.session_zone_name(), "UTC");
    }

    #[test]
    fn rejects_what_django_rejects() {
        let err = |r| TimeSettings::resolve(&r).unwrap_err().to_string();
        assert!(err(raw(None, Some("Mars/Olympus"), None)).starts_with("--time-zone"));
        assert!(err(raw(None, None, Some("america/new_york"))).starts_with("--database-time-zone"));
        assert!(err(raw(Some("maybe"), None, None)).starts_with("--use-tz"));
        let e = err(raw(Some("false"), None, Some("Asia/Kolkata")));
        assert!(e.contains("--use-tz is false"), "{e}");
    }

    #[test]
    fn session_zone_is_django_timezone_name() {
        let s = |r| TimeSettings::resolve(&r).unwrap().session_zone_name();
        assert_eq!(
            s(raw(Some("0"), Some("Asia/Kolkata"), None)),
            "Asia/Kolkata"
        );
        assert_eq!(s(raw(None, Some("Asia/Kolkata"), None)), "UTC");
        assert_eq!(
            s(raw(None, Some("Asia/Kolkata"), Some("America/New_York"))),
            "America/New_York"
        );
    }

    #[test]
    fn naive_now_is_local_wall_clock_and_subtracts_on_it() {
        let s = TimeSettings::resolve(&raw(Some("false"), Some("America/New_York"), None)).unwrap();
        // 05:30 UTC on 2026-11-01 is 01:30 EDT, the first pass through the repeated hour.
        let now = s.django_now(utc("2026-11-01T05:30:00Z"));
        assert_eq!(now, DjangoTime::Naive(naive("2026-11-01 01:30:00")));
        // One day back on the wall clock is 25 hours back in absolute time.
        let cut = now.checked_sub(TimeDelta::days(1)).unwrap();
        assert_eq!(cut.wall(), naive("2026-10-31 01:30:00"));
    }

    #[test]
    fn aware_now_subtracts_on_the_instant_and_stores_in_the_database_zone() {
        let s = TimeSettings::resolve(&raw(None, None, Some("America/New_York"))).unwrap();
        let now = s.django_now(utc("2026-11-01T06:30:00Z")); // 01:30 EST, second pass
        assert_eq!(now.wall(), naive("2026-11-01 01:30:00"));
        let cut = now.checked_sub(TimeDelta::hours(1)).unwrap();
        assert_eq!(cut.wall(), naive("2026-11-01 01:30:00")); // 01:30 EDT
        let cut = now.checked_sub(TimeDelta::days(1)).unwrap();
        assert_eq!(cut.wall(), naive("2026-10-31 02:30:00"));
        let kolkata = TimeSettings::resolve(&raw(None, None, Some("Asia/Kolkata"))).unwrap();
        assert_eq!(
            kolkata.django_now(utc("2026-11-26T20:00:00Z")).wall(),
            naive("2026-11-27 01:30:00")
        );
    }

    #[test]
    fn reads_naive_values_as_make_aware_does() {
        let s = TimeSettings::resolve(&raw(None, None, Some("America/New_York"))).unwrap();
        assert_eq!(
            s.read_naive(naive("2026-11-01 01:30:00")),
            utc("2026-11-01T05:30:00Z")
        );
        // 02:30 on 2026-03-08 does not exist: the offset before the gap (EST).
        assert_eq!(
            s.read_naive(naive("2026-03-08 02:30:00")),
            utc("2026-03-08T07:30:00Z")
        );
        let d = NaiveDate::from_ymd_opt(2026, 6, 1)
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap();
        assert_eq!(s.read_naive(d), utc("2026-06-01T16:00:00Z"));
    }
}
