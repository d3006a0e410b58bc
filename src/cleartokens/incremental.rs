//! `cleartokens --incremental`: which pass a run makes, and the high-water mark it keeps.
//!
//! The mark is the `now` of the last run that completed under the same fingerprint (the DOT
//! rules, the refresh-token settings and the time settings: what decides which rows are
//! deletable). A run that finds a usable mark bounds steps 4 and 5 to the rows that can have
//! become deletable since ([`crate::db::Cutoffs::incremental_since`]); every other case is DOT's
//! full pass, and the summary says why ([`Mode`]). The state is stored by
//! [`crate::db::cleanup_state`]; this module only decides, and writes the "started" marker
//! before a run and the new mark after one that completed.

use anyhow::{Context, Result};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::db::{cleanup_state, Rules, Store};
use crate::django::timezone::{DjangoTime, TimeSettings};

/// The indexes incremental steps 4 and 5 walk (`oauthctl indexes create`).
const NEEDED_INDEXES: [&str; 2] = ["oauthctl_accesstoken_expires", "oauthctl_idtoken_expires"];

/// What `--incremental` asks for.
#[derive(Clone, Debug)]
pub struct Request {
    /// `--full-pass-every`: a full pass at least this often.
    pub full_pass_every: TimeDelta,
    /// What the mark is valid for ([`fingerprint`]).
    pub fingerprint: String,
}

/// Which pass a run made (or, in a dry run, would make), for the summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Mode {
    pub kind: ModeKind,
    /// Why (README, "Incremental mode"): `mark` for an incremental pass; for a full one
    /// `no_mark`, `settings_changed`, `full_pass_due`, `previous_run_incomplete`,
    /// `clock_went_back`, `indexes_missing`, `rules`.
    pub reason: &'static str,
    /// The mark steps 4 and 5 start from (incremental only).
    pub since: Option<String>,
    /// The `now` of the last complete full pass, if any.
    pub last_full_pass: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModeKind {
    Incremental,
    Full,
}

impl Mode {
    /// The text note.
    pub fn describe(&self) -> String {
        match self.kind {
            ModeKind::Incremental => format!(
                "incremental pass: steps 4 and 5 look at rows that expired since {}",
                self.since.as_deref().unwrap_or("?")
            ),
            ModeKind::Full => format!("full pass ({})", self.reason.replace('_', " ")),
        }
    }
}

/// The stored state of one table set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub fingerprint: String,
    /// `now` of the last complete run (either pass).
    pub mark: Option<String>,
    /// `now` of the last complete full pass.
    pub last_full: Option<String>,
    /// `now` of a run that started and has not completed.
    pub started: Option<String>,
}

/// What the mark depends on: a run under another fingerprint starts with a full pass.
pub fn fingerprint(rules: Rules, settings: &Settings, time: &TimeSettings) -> String {
    format!(
        "rules={};expire={};grace={};reuse={};use_tz={};time_zone={};database_time_zone={}",
        rules.name(),
        settings
            .refresh_token_expire
            .map_or(0, |delta| delta.num_microseconds().unwrap_or(i64::MAX)),
        settings
            .refresh_token_grace_period
            .num_microseconds()
            .unwrap_or(i64::MAX),
        settings.reuse_protection,
        time.use_tz(),
        time.time_zone(),
        time.database_time_zone()
            .map_or_else(String::new, |zone| zone.to_string()),
    )
}

/// Reads a stored time back as the same kind of value as `now` (the fingerprint holds
/// `USE_TZ`, so a mark of the other kind never gets this far with the same fingerprint).
fn parse_time(text: &str, now: DjangoTime) -> Option<DjangoTime> {
    match now {
        DjangoTime::Aware { zone, .. } => {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|at| DjangoTime::Aware {
                    at: at.with_timezone(&Utc),
                    zone,
                })
        }
        DjangoTime::Naive(_) => NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(DjangoTime::Naive),
    }
}

/// `later - earlier`, on the instant or the wall clock as the values are.
fn elapsed(later: DjangoTime, earlier: DjangoTime) -> Option<TimeDelta> {
    match (later, earlier) {
        (DjangoTime::Aware { at: l, .. }, DjangoTime::Aware { at: e, .. }) => Some(l - e),
        (DjangoTime::Naive(l), DjangoTime::Naive(e)) => Some(l - e),
        _ => None,
    }
}

/// The inputs of [`decide`] besides the state.
pub struct Situation<'a> {
    pub request: &'a Request,
    pub now: DjangoTime,
    pub rules: Rules,
    pub indexes_present: bool,
}

/// Which pass to make, and the mark when incremental. Pure, so that every case is unit-tested.
pub fn decide(state: Option<&State>, at: &Situation) -> (Mode, Option<DjangoTime>) {
    let last_full = state.and_then(|s| s.last_full.clone());
    let full = |reason| {
        let mode = Mode {
            kind: ModeKind::Full,
            reason,
            since: None,
            last_full_pass: last_full.clone(),
        };
        (mode, None)
    };
    // Only 3.4.1's `save_bearer_token` and `revoke()` were read for the reasoning the bound
    // rests on (docs/compatibility.md, "Incremental mode").
    if at.rules != Rules::Dot3_4_1 {
        return full("rules");
    }
    if !at.indexes_present {
        return full("indexes_missing");
    }
    let Some(state) = state else {
        return full("no_mark");
    };
    if state.fingerprint != at.request.fingerprint {
        return full("settings_changed");
    }
    if state.started.is_some() {
        return full("previous_run_incomplete");
    }
    let parsed = |text: &Option<String>| text.as_deref().and_then(|t| parse_time(t, at.now));
    let (Some(mark), Some(last_full_at)) = (parsed(&state.mark), parsed(&state.last_full)) else {
        return full("no_mark");
    };
    match (elapsed(at.now, mark), elapsed(at.now, last_full_at)) {
        (Some(since_mark), Some(_)) if since_mark < TimeDelta::zero() => full("clock_went_back"),
        (Some(_), Some(since_full)) if since_full < TimeDelta::zero() => full("clock_went_back"),
        (Some(_), Some(since_full)) if since_full >= at.request.full_pass_every => {
            full("full_pass_due")
        }
        (Some(_), Some(_)) => {
            let mode = Mode {
                kind: ModeKind::Incremental,
                reason: "mark",
                since: Some(mark.display()),
                last_full_pass: last_full.clone(),
            };
            (mode, Some(mark))
        }
        _ => full("no_mark"),
    }
}

/// Whether the indexes incremental steps walk are present and valid.
pub async fn indexes_present(store: &dyn Store) -> Result<bool> {
    let states = store.cleanup_indexes().await?;
    Ok(NEEDED_INDEXES.iter().all(|name| {
        states
            .iter()
            .any(|s| s.index.name == *name && s.status == crate::db::IndexStatus::Present)
    }))
}

/// The stored state of this store's table set; an unreadable row counts as none.
pub async fn load(store: &dyn Store) -> Result<Option<State>> {
    let key = cleanup_state::table_set(store.tables());
    let Some(text) = cleanup_state::read(store, &key).await? else {
        return Ok(None);
    };
    Ok(serde_json::from_str(&text).ok())
}

/// Writes `state` as this store's table set's row.
pub async fn save(store: &dyn Store, state: &State) -> Result<()> {
    let key = cleanup_state::table_set(store.tables());
    let text = serde_json::to_string(state).context("encoding the cleanup state")?;
    cleanup_state::write(store, &key, &text).await
}

/// The state to store once a run that began from `before` completed at `now` in `mode`.
pub fn completed(before: Option<&State>, request: &Request, now: DjangoTime, mode: &Mode) -> State {
    let last_full = match mode.kind {
        ModeKind::Full => Some(now.display()),
        ModeKind::Incremental => before.and_then(|s| s.last_full.clone()),
    };
    State {
        fingerprint: request.fingerprint.clone(),
        mark: Some(now.display()),
        last_full,
        started: None,
    }
}

/// The state to store as a run starts: the previous mark kept, the run marked as started.
pub fn started(before: Option<&State>, request: &Request, now: DjangoTime) -> State {
    let mut state = before.cloned().unwrap_or_default();
    if state.fingerprint != request.fingerprint {
        state = State::default();
    }
    state.fingerprint = request.fingerprint.clone();
    state.started = Some(now.display());
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DjangoTime {
        Utc.with_ymd_and_hms(2026, 12, 1, 3, 0, 0).unwrap().into()
    }

    fn request() -> Request {
        Request {
            full_pass_every: TimeDelta::days(7),
            fingerprint: "f".into(),
        }
    }

    fn state(mark_hours_ago: i64, full_days_ago: i64) -> State {
        State {
            fingerprint: "f".into(),
            mark: Some((now() - TimeDelta::hours(mark_hours_ago)).display()),
            last_full: Some((now() - TimeDelta::days(full_days_ago)).display()),
            started: None,
        }
    }

    fn reason(state: Option<&State>, rules: Rules, indexes: bool) -> &'static str {
        let request = request();
        let at = Situation {
            request: &request,
            now: now(),
            rules,
            indexes_present: indexes,
        };
        decide(state, &at).0.reason
    }

    #[test]
    fn every_case_has_its_reason() {
        let ok = state(24, 2);
        assert_eq!(reason(Some(&ok), Rules::Dot3_4_1, true), "mark");
        assert_eq!(reason(None, Rules::Dot3_4_1, true), "no_mark");
        assert_eq!(reason(Some(&ok), Rules::Dot3_4_0, true), "rules");
        assert_eq!(reason(Some(&ok), Rules::Dot3_4_1, false), "indexes_missing");
        let other = State {
            fingerprint: "g".into(),
            ..ok.clone()
        };
        assert_eq!(
            reason(Some(&other), Rules::Dot3_4_1, true),
            "settings_changed"
        );
        let running = State {
            started: Some(now().display()),
            ..ok.clone()
        };
        assert_eq!(
            reason(Some(&running), Rules::Dot3_4_1, true),
            "previous_run_incomplete"
        );
        assert_eq!(
            reason(Some(&state(-1, 2)), Rules::Dot3_4_1, true),
            "clock_went_back"
        );
        assert_eq!(
            reason(Some(&state(24, 7)), Rules::Dot3_4_1, true),
            "full_pass_due"
        );
    }

    #[test]
    fn the_mark_is_the_last_complete_runs_now() {
        let request = request();
        let at = Situation {
            request: &request,
            now: now(),
            rules: Rules::Dot3_4_1,
            indexes_present: true,
        };
        let (mode, mark) = decide(Some(&state(24, 2)), &at);
        assert_eq!(mode.kind, ModeKind::Incremental);
        assert_eq!(mark, Some(now() - TimeDelta::hours(24)));
        let after = completed(Some(&state(24, 2)), &request, now(), &mode);
        assert_eq!(after.mark, Some(now().display()));
        assert_eq!(after.last_full, state(24, 2).last_full);
        assert_eq!(after.started, None);
    }
}
