//! The `clear_expired()` conditions of each DOT release this tool follows
//! (docs/compatibility.md#the-steps-per-release), written once for every dialect.
//!
//! [`Rules`] names a release's rule set: which of the six steps it has, in which order, and the
//! boundary of each cutoff. Everything that differs between releases is decided here, from the
//! [`Cutoffs`] the backends pass through unread (they carry the run's `Rules`), so backends know
//! nothing of releases.
//!
//! Each backend composes its own batch statements (a CTE on PostgreSQL, a scratch table on
//! SQLite, an id range or list on MySQL) around these conditions, so the predicates and
//! boundaries that decide which rows go exist in exactly one place. Cutoffs are bound, never
//! interpolated; each backend binds them in its native type. Table names are validated
//! identifiers and are quoted here.
//!
//! Aliases: the step's own table is always `t`; subqueries use `r` (refresh tokens) and `a`
//! (access tokens).

use super::sql::{Dialect, Sql, Value};
use super::{BatchRequest, BatchShape, Cutoffs, Step, Tables};

/// The rule set of one DOT release line's `clear_expired()`. Releases whose cleanup is the same
/// share one: 2.0 covers 2.0-2.2, 2.3 covers 2.3-3.3.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rules {
    /// 2.0-2.2: refresh tokens only when R is set (`revoked < now-R`, then any refresh token
    /// whose access token `expires < now-R`); access tokens; grants. No ID-token step.
    Dot2_0,
    /// 2.3-3.3: 2.0's steps plus ID tokens, after access tokens.
    Dot2_3,
    /// 3.4.0: revoked refresh tokens by the grace period (`revoked <= now-grace`, reuse
    /// protection: `now-R`), even when R is unset; the expired step as in 2.3.
    Dot3_4_0,
    /// 3.4.1: the six steps (orphans, and `revoked IS NULL AND expires <= now-R`).
    #[default]
    Dot3_4_1,
}

/// How a cutoff is compared: strictly before (`__lt`) or at or before (`__lte`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Boundary {
    Before,
    AtOrBefore,
}

impl Boundary {
    fn op(self) -> &'static str {
        match self {
            Boundary::Before => " < ",
            Boundary::AtOrBefore => " <= ",
        }
    }

    /// `<` or `<=`, for messages.
    pub fn symbol(self) -> &'static str {
        self.op().trim()
    }
}

impl Rules {
    pub const ALL: [Rules; 4] = [
        Rules::Dot2_0,
        Rules::Dot2_3,
        Rules::Dot3_4_0,
        Rules::Dot3_4_1,
    ];

    /// The name `--dot-version` takes and the JSON summary shows.
    pub fn name(self) -> &'static str {
        match self {
            Rules::Dot2_0 => "2.0",
            Rules::Dot2_3 => "2.3",
            Rules::Dot3_4_0 => "3.4.0",
            Rules::Dot3_4_1 => "3.4.1",
        }
    }

    /// The releases the rule set covers, in words.
    pub fn releases(self) -> &'static str {
        match self {
            Rules::Dot2_0 => "2.0-2.2",
            Rules::Dot2_3 => "2.3-3.3",
            Rules::Dot3_4_0 => "3.4.0",
            Rules::Dot3_4_1 => "3.4.1",
        }
    }

    /// The rule set named `text` (one of [`Rules::name`]).
    pub fn from_name(text: &str) -> Option<Rules> {
        Rules::ALL.into_iter().find(|rules| rules.name() == text)
    }

    /// The steps the release runs, in its order (a subsequence of [`Step::ALL`]).
    pub fn steps(self) -> &'static [Step] {
        use Step::*;
        match self {
            Rules::Dot2_0 => &[
                RevokedRefreshTokens,
                ExpiredRefreshTokens,
                ExpiredAccessTokens,
                ExpiredGrants,
            ],
            Rules::Dot2_3 | Rules::Dot3_4_0 => &[
                RevokedRefreshTokens,
                ExpiredRefreshTokens,
                ExpiredAccessTokens,
                ExpiredIdTokens,
                ExpiredGrants,
            ],
            Rules::Dot3_4_1 => &Step::ALL,
        }
    }

    /// Whether the release has `step` at all.
    pub fn has(self, step: Step) -> bool {
        self.steps().contains(&step)
    }

    /// Step 1's comparison with `refresh_revoked_at`.
    pub fn revoked_boundary(self) -> Boundary {
        match self {
            Rules::Dot2_0 | Rules::Dot2_3 => Boundary::Before,
            Rules::Dot3_4_0 | Rules::Dot3_4_1 => Boundary::AtOrBefore,
        }
    }

    /// Step 3's comparison of the access token's `expires` with `refresh_expire_at`.
    pub fn expired_boundary(self) -> Boundary {
        match self {
            Rules::Dot3_4_1 => Boundary::AtOrBefore,
            _ => Boundary::Before,
        }
    }

    /// Whether step 3 spares revoked refresh tokens (`revoked IS NULL`); before 3.4.1 it takes
    /// any refresh token whose access token expired.
    pub fn expired_live_only(self) -> bool {
        self == Rules::Dot3_4_1
    }

    /// Whether the release's cleanup reads REFRESH_TOKEN_GRACE_PERIOD_SECONDS and
    /// REFRESH_TOKEN_REUSE_PROTECTION (before 3.4.0 revoked tokens go at `now - R`, whatever they say).
    pub fn reads_revocation_settings(self) -> bool {
        matches!(self, Rules::Dot3_4_0 | Rules::Dot3_4_1)
    }

    /// The run's cutoffs under these rules, from those of 3.4.1's set-up (`base`): before
    /// 3.4.0 revoked refresh tokens share the expiry cutoff, so without R neither refresh-token
    /// step runs.
    pub fn cutoffs(self, base: &Cutoffs) -> Cutoffs {
        let refresh_revoked_at = if self.reads_revocation_settings() {
            base.refresh_revoked_at
        } else {
            base.refresh_expire_at
        };
        Cutoffs {
            rules: self,
            refresh_revoked_at,
            ..base.clone()
        }
    }
}

/// Appends the condition under which DOT deletes a row of `step`'s table (aliased `t`).
///
/// Only called for steps that run ([`Cutoffs::runs`]); a skipped step's condition is `FALSE`.
pub(crate) fn step_condition(sql: &mut Sql, tables: &Tables, step: Step, cutoffs: &Cutoffs) {
    step_condition_on(sql, tables, step, cutoffs, "t")
}

/// [`step_condition`] with the step's table referred to as `t` (an alias, or the quoted table
/// name where the dialect allows no alias, as in MySQL's single-table DELETE).
pub(crate) fn step_condition_on(
    sql: &mut Sql,
    tables: &Tables,
    step: Step,
    cutoffs: &Cutoffs,
    t: &str,
) {
    match step {
        // Q(revoked__lte=refresh_revoked_at); before 3.4.0 Q(revoked__lt=refresh_expire_at)
        Step::RevokedRefreshTokens => match cutoffs.refresh_revoked_at {
            Some(cut) => {
                let op = cutoffs.rules.revoked_boundary().op();
                sql.col(t, "revoked").push(op).time(cut);
            }
            None => {
                sql.push("1 = 0");
            }
        },
        // Q(revoked__isnull=True, access_token__isnull=True)
        Step::OrphanedRefreshTokens => {
            sql.col(t, "revoked")
                .push(" IS NULL AND ")
                .col(t, "access_token_id")
                .push(" IS NULL");
        }
        // Q(revoked__isnull=True, access_token__expires__lte=refresh_expire_at); before 3.4.1
        // Q(access_token__expires__lt=refresh_expire_at). DOT's INNER JOIN, as EXISTS on the
        // access token's primary key.
        Step::ExpiredRefreshTokens => match cutoffs.refresh_expire_at {
            Some(cut) => {
                if cutoffs.rules.expired_live_only() {
                    sql.col(t, "revoked").push(" IS NULL AND ");
                }
                sql.push("EXISTS (SELECT 1 FROM ")
                    .ident(&tables.access_token)
                    .push(" a WHERE ")
                    .col("a", "id")
                    .push(" = ")
                    .col(t, "access_token_id")
                    .push(" AND ")
                    .col("a", "expires")
                    .push(cutoffs.rules.expired_boundary().op())
                    .time(cut)
                    .push(")");
            }
            None => {
                sql.push("1 = 0");
            }
        },
        // Q(refresh_token__isnull=True, expires__lt=now)
        Step::ExpiredAccessTokens => {
            let refresh_tokens = (tables.refresh_token.as_str(), "r", "access_token_id");
            expired_and_unreferenced(sql, t, cutoffs, refresh_tokens).push(")");
            incremental_scope(sql, t, step, cutoffs);
        }
        // Q(access_token__isnull=True, expires__lt=now)
        Step::ExpiredIdTokens => {
            let access_tokens = (tables.access_token.as_str(), "a", "id_token_id");
            expired_and_unreferenced(sql, t, cutoffs, access_tokens).push(")");
            incremental_scope(sql, t, step, cutoffs);
        }
        // Q(expires__lt=now)
        Step::ExpiredGrants => {
            sql.col(t, "expires").push(" < ").time(cutoffs.now);
        }
    }
}

/// Appends `SELECT t.id FROM <step's table> t WHERE t.id > <after_id> AND <condition> ORDER BY
/// t.id LIMIT <limit>`: the candidates of `batch`, by the scan condition for a range and the full
/// one otherwise.
pub(crate) fn batch_candidates(
    sql: &mut Sql,
    tables: &Tables,
    cutoffs: &Cutoffs,
    batch: BatchRequest,
) {
    let step = batch.step;
    sql.push("SELECT ")
        .col("t", "id")
        .push(" FROM ")
        .ident(step.table(tables))
        .push(" t WHERE ")
        .col("t", "id")
        .push(" > ")
        .bind(Value::Int(Some(batch.after_id)))
        .push(" AND ");
    match batch.shape {
        // Ranges: the batch ends at the `limit`-th row meeting the scan condition.
        BatchShape::Range => scan_condition(sql, tables, step, cutoffs),
        BatchShape::Keys | BatchShape::Sweep => step_condition(sql, tables, step, cutoffs),
    }
    batch_order(sql, batch.limit);
}

/// Appends ` ORDER BY t.id LIMIT <limit>`: a batch takes the lowest keys first.
pub(crate) fn batch_order(sql: &mut Sql, limit: u64) {
    sql.push(" ORDER BY ")
        .col("t", "id")
        .push(&format!(" LIMIT {limit}"));
}

/// Appends a condition on the step's own columns (table aliased `t`) that every row matching
/// [`step_condition`] also meets: the cheap part of the condition, without the subquery into
/// another table where that subquery only excludes rows.
///
/// Backends that walk the primary key in ranges use it to find where a batch ends (the id of
/// the `batch size`-th row meeting it), then delete the rows of that range that meet the full
/// condition: the subquery runs once per row instead of once to find the range and again to
/// delete, and a batch never holds more than `batch size` rows. Step 3's subquery selects rather
/// than excludes (a refresh token goes only if its access token expired), so its full condition
/// is kept: a looser one would make most of its batches find little to delete.
pub(crate) fn scan_condition(sql: &mut Sql, tables: &Tables, step: Step, cutoffs: &Cutoffs) {
    match step {
        Step::ExpiredAccessTokens | Step::ExpiredIdTokens => {
            sql.col("t", "expires").push(" < ").time(cutoffs.now);
            incremental_scope(sql, "t", step, cutoffs);
        }
        _ => step_condition(sql, tables, step, cutoffs),
    }
}

/// `cleartokens --incremental`: appends ` AND <t>.expires >= mark` to step 4's or 5's
/// condition: with `expires < now`, one bounded range of the `expires` index, the rows that
/// expired since the last complete run (docs/compatibility.md, "Incremental mode"). It only
/// narrows DOT's condition. What this run's steps 1, 3 and 4 free below the mark is re-checked
/// by id ([`super::cleanup_state`]). (A disjunction with a second range, such as everything below
/// step 3's cutoff, makes PostgreSQL scan the whole expired range through the index and filter:
/// measured at 500,000 rows, 15× the pages of the full pass.)
fn incremental_scope(sql: &mut Sql, t: &str, _step: Step, cutoffs: &Cutoffs) {
    if let Some(since) = cutoffs.incremental_since {
        sql.push(" AND ").col(t, "expires").push(" >= ").time(since);
    }
}

/// Appends the condition under which a row of `step`'s table (aliased `t`) is deleted by a full
/// run, *including the effect of the earlier steps of the same run*: an access token becomes
/// deletable in step 4 when its refresh token goes in step 1 or 3, and an ID token in step 5 when
/// its access token goes in step 4. Used by `--dry-run`, so that its counts are what a real run
/// then deletes. Under 3.4.1 steps 1-3 are disjoint (revoked vs. not revoked, no access token
/// vs. one); before it, step 3 also takes revoked tokens, so those step 1 took are left out.
pub(crate) fn deletable_condition(sql: &mut Sql, tables: &Tables, step: Step, cutoffs: &Cutoffs) {
    match step {
        Step::ExpiredRefreshTokens if !cutoffs.rules.expired_live_only() => {
            step_condition(sql, tables, step, cutoffs);
            if let Some(cut) = cutoffs.refresh_revoked_at {
                // Two-valued: a NULL `revoked` makes the inner conjunction FALSE, not NULL.
                sql.push(" AND NOT (")
                    .col("t", "revoked")
                    .push(" IS NOT NULL AND ")
                    .col("t", "revoked")
                    .push(cutoffs.rules.revoked_boundary().op())
                    .time(cut)
                    .push(")");
            }
        }
        Step::ExpiredAccessTokens => access_token_deleted(sql, tables, cutoffs, "t", "r"),
        Step::ExpiredIdTokens => {
            let access_tokens = (tables.access_token.as_str(), "a", "id_token_id");
            expired_and_unreferenced(sql, "t", cutoffs, access_tokens).push(" AND NOT (");
            access_token_deleted(sql, tables, cutoffs, "a", "r");
            sql.push("))");
        }
        _ => step_condition(sql, tables, step, cutoffs),
    }
}

/// Appends `<t>.expires < now AND NOT EXISTS (SELECT 1 FROM <table> <alias> WHERE
/// <alias>.<column> = <t>.id`, for `referrers` = (table, alias, column): the row `t` has expired
/// and no row of the table refers to it. The subquery is left open, for the caller to narrow
/// and close.
fn expired_and_unreferenced<'s>(
    sql: &'s mut Sql,
    t: &str,
    cutoffs: &Cutoffs,
    (table, alias, column): (&str, &str, &str),
) -> &'s mut Sql {
    sql.col(t, "expires")
        .push(" < ")
        .time(cutoffs.now)
        .push(" AND NOT EXISTS (SELECT 1 FROM ")
        .ident(table)
        .push(" ")
        .push(alias)
        .push(" WHERE ")
        .col(alias, column)
        .push(" = ")
        .col(t, "id")
}

/// Step 4 after steps 1-3: the access token `at` is expired and no refresh token that survives
/// steps 1 and 3 points to it. (Step 2 only removes refresh tokens without an access token.)
/// A refresh token pointing to `at` is the one step 3 examines with `at`'s own `expires`.
fn access_token_deleted(sql: &mut Sql, tables: &Tables, cutoffs: &Cutoffs, at: &str, rt: &str) {
    let refresh_tokens = (tables.refresh_token.as_str(), rt, "access_token_id");
    expired_and_unreferenced(sql, at, cutoffs, refresh_tokens);
    let mut removed_by_earlier_steps = Vec::new();
    if let Some(cut) = cutoffs.refresh_revoked_at {
        removed_by_earlier_steps.push((true, cut));
    }
    if let Some(cut) = cutoffs.refresh_expire_at {
        removed_by_earlier_steps.push((false, cut));
    }
    if !removed_by_earlier_steps.is_empty() {
        // IS [NOT] NULL guards keep the disjunction two-valued: NOT (NULL OR FALSE) is NULL,
        // which would wrongly count a surviving refresh token as deleted.
        sql.push(" AND NOT (");
        for (i, (revoked_step, cut)) in removed_by_earlier_steps.into_iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            let rules = cutoffs.rules;
            if revoked_step {
                sql.push("(")
                    .col(rt, "revoked")
                    .push(" IS NOT NULL AND ")
                    .col(rt, "revoked")
                    .push(rules.revoked_boundary().op())
                    .time(cut)
                    .push(")");
            } else {
                sql.push("(");
                if rules.expired_live_only() {
                    sql.col(rt, "revoked").push(" IS NULL AND ");
                }
                sql.col(at, "expires")
                    .push(rules.expired_boundary().op())
                    .time(cut)
                    .push(")");
            }
        }
        sql.push(")");
    }
    sql.push(")");
}

/// For dialects that cannot read the table they update in a subquery (MySQL error 1093): the
/// condition of a refresh-token step on refresh tokens aliased `t`, written as extra `JOIN`s
/// plus a `WHERE` condition, returned in that order. Step 3's access token is joined as `a`.
pub(crate) fn refresh_token_condition_as_join(
    dialect: Dialect,
    tables: &Tables,
    step: Step,
    cutoffs: &Cutoffs,
) -> (Sql, Sql) {
    let mut joins = Sql::new(dialect);
    let mut condition = Sql::new(dialect);
    match step {
        Step::ExpiredRefreshTokens => match cutoffs.refresh_expire_at {
            Some(cut) => {
                joins
                    .push(" JOIN ")
                    .ident(&tables.access_token)
                    .push(" a ON ")
                    .col("a", "id")
                    .push(" = ")
                    .col("t", "access_token_id");
                if cutoffs.rules.expired_live_only() {
                    condition.col("t", "revoked").push(" IS NULL AND ");
                }
                condition
                    .col("a", "expires")
                    .push(cutoffs.rules.expired_boundary().op())
                    .time(cut);
            }
            None => {
                condition.push("1 = 0");
            }
        },
        Step::RevokedRefreshTokens | Step::OrphanedRefreshTokens => {
            step_condition(&mut condition, tables, step, cutoffs)
        }
        _ => unreachable!("{step:?} does not delete refresh tokens"),
    }
    (joins, condition)
}

/// `SELECT COUNT(*) FROM <table> t WHERE <deletable condition>`.
pub(crate) fn count_sql(dialect: Dialect, tables: &Tables, step: Step, cutoffs: &Cutoffs) -> Sql {
    let mut sql = Sql::new(dialect);
    sql.push("SELECT COUNT(*) FROM ")
        .ident(step.table(tables))
        .push(" t WHERE ");
    deletable_condition(&mut sql, tables, step, cutoffs);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::django::timezone::DjangoTime;
    use chrono::{TimeZone, Utc};

    fn cutoffs(revoked: bool, expire: bool) -> Cutoffs {
        let now: DjangoTime = Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).unwrap().into();
        Cutoffs {
            now,
            refresh_revoked_at: revoked.then(|| now - chrono::TimeDelta::seconds(10)),
            refresh_expire_at: expire.then(|| now - chrono::TimeDelta::seconds(500)),
            rules: Rules::Dot3_4_1,
            incremental_since: None,
        }
    }

    #[test]
    fn conditions_follow_dot_boundaries() {
        let tables = Tables::default();
        let c = cutoffs(true, true);
        let text = |step| {
            let mut sql = Sql::new(Dialect::Postgres);
            step_condition(&mut sql, &tables, step, &c);
            (sql.text, sql.binds.len())
        };
        assert_eq!(
            text(Step::RevokedRefreshTokens),
            (r#"t."revoked" <= $1"#.into(), 1)
        );
        assert_eq!(
            text(Step::OrphanedRefreshTokens),
            (
                r#"t."revoked" IS NULL AND t."access_token_id" IS NULL"#.into(),
                0
            )
        );
        assert_eq!(
            text(Step::ExpiredRefreshTokens).0,
            r#"t."revoked" IS NULL AND EXISTS (SELECT 1 FROM "oauth2_provider_accesstoken" a WHERE a."id" = t."access_token_id" AND a."expires" <= $1)"#
        );
        assert_eq!(
            text(Step::ExpiredAccessTokens).0,
            r#"t."expires" < $1 AND NOT EXISTS (SELECT 1 FROM "oauth2_provider_refreshtoken" r WHERE r."access_token_id" = t."id")"#
        );
        assert_eq!(
            text(Step::ExpiredIdTokens).0,
            r#"t."expires" < $1 AND NOT EXISTS (SELECT 1 FROM "oauth2_provider_accesstoken" a WHERE a."id_token_id" = t."id")"#
        );
        assert_eq!(text(Step::ExpiredGrants).0, r#"t."expires" < $1"#);
    }

    #[test]
    fn each_release_has_its_own_steps_and_boundaries() {
        let tables = Tables::default();
        let base = cutoffs(true, true);
        let text = |rules: Rules, step, deletable: bool| {
            let c = rules.cutoffs(&base);
            let mut sql = Sql::new(Dialect::Postgres);
            if deletable {
                deletable_condition(&mut sql, &tables, step, &c);
            } else {
                step_condition(&mut sql, &tables, step, &c);
            }
            sql.text
        };
        // Before 3.4.0 revoked tokens share the expiry cutoff, strictly.
        let old = Rules::Dot2_3.cutoffs(&base);
        assert_eq!(old.refresh_revoked_at, base.refresh_expire_at);
        assert_eq!(
            Rules::Dot3_4_0.cutoffs(&base).refresh_revoked_at,
            base.refresh_revoked_at
        );
        let no_expiry = Rules::Dot2_0.cutoffs(&cutoffs(true, false));
        assert!(!no_expiry.runs(Step::RevokedRefreshTokens));
        assert!(Rules::Dot3_4_0
            .cutoffs(&cutoffs(true, false))
            .runs(Step::RevokedRefreshTokens));
        for rules in [Rules::Dot2_0, Rules::Dot2_3] {
            assert_eq!(
                text(rules, Step::RevokedRefreshTokens, false),
                r#"t."revoked" < $1"#
            );
        }
        assert_eq!(
            text(Rules::Dot3_4_0, Step::RevokedRefreshTokens, false),
            r#"t."revoked" <= $1"#
        );
        let expired_any = r#"EXISTS (SELECT 1 FROM "oauth2_provider_accesstoken" a WHERE a."id" = t."access_token_id" AND a."expires" < $1)"#;
        for rules in [Rules::Dot2_0, Rules::Dot2_3, Rules::Dot3_4_0] {
            assert_eq!(
                text(rules, Step::ExpiredRefreshTokens, false),
                expired_any,
                "{rules:?}"
            );
            // The dry run leaves out what step 1 took.
            let op = rules.revoked_boundary().symbol();
            assert_eq!(
                text(rules, Step::ExpiredRefreshTokens, true),
                format!(
                    r#"{expired_any} AND NOT (t."revoked" IS NOT NULL AND t."revoked" {op} $2)"#
                )
            );
            assert!(
                text(rules, Step::ExpiredAccessTokens, true).contains(r#"OR (t."expires" < $3))"#),
                "{rules:?}"
            );
        }
        assert!(text(Rules::Dot3_4_1, Step::ExpiredRefreshTokens, false)
            .contains(r#"a."expires" <= $1"#));
        assert_eq!(
            Rules::Dot2_0.steps(),
            [
                Step::RevokedRefreshTokens,
                Step::ExpiredRefreshTokens,
                Step::ExpiredAccessTokens,
                Step::ExpiredGrants
            ]
        );
        assert!(
            Rules::Dot2_3.has(Step::ExpiredIdTokens)
                && !Rules::Dot3_4_0.has(Step::OrphanedRefreshTokens)
        );
        assert!(!Rules::Dot2_3
            .cutoffs(&base)
            .runs(Step::OrphanedRefreshTokens));
        for rules in Rules::ALL {
            // Each release's order is 3.4.1's with steps left out.
            let order: Vec<_> = Step::ALL.into_iter().filter(|s| rules.has(*s)).collect();
            assert_eq!(order, rules.steps());
            assert_eq!(Rules::from_name(rules.name()), Some(rules));
        }
    }

    #[test]
    fn scan_condition_is_implied_by_the_step_condition() {
        // Every row the step deletes must meet the scan condition (a batch's range is found
        // with it), so it may only drop conjuncts of the step condition, never add any.
        let tables = Tables::default();
        let c = cutoffs(true, true);
        for step in Step::ALL {
            let mut full = Sql::new(Dialect::Postgres);
            step_condition(&mut full, &tables, step, &c);
            let mut scan = Sql::new(Dialect::Postgres);
            scan_condition(&mut scan, &tables, step, &c);
            assert!(full.text.starts_with(&scan.text), "{step:?}: {}", scan.text);
            assert_eq!(scan.binds, full.binds[..scan.binds.len()], "{step:?}");
            let rest = &full.text[scan.text.len()..];
            assert!(
                rest.is_empty() || rest.starts_with(" AND "),
                "{step:?}: {rest}"
            );
            match step {
                Step::ExpiredAccessTokens | Step::ExpiredIdTokens => {
                    assert_eq!(scan.text, r#"t."expires" < $1"#)
                }
                _ => assert!(rest.is_empty(), "{step:?}"),
            }
        }
    }

    /// `count_sql` with DOT's default table names.
    fn count(dialect: Dialect, step: Step, cutoffs: &Cutoffs) -> Sql {
        count_sql(dialect, &Tables::default(), step, cutoffs)
    }

    #[test]
    fn positional_params_repeat_values() {
        let sql = count(Dialect::MySql, Step::ExpiredIdTokens, &cutoffs(true, true));
        assert_eq!(sql.text.matches('?').count(), sql.binds.len());
        assert_eq!(sql.binds.len(), 4);
        assert!(!sql.text.contains('"'));
    }

    #[test]
    fn dry_run_access_tokens_account_for_earlier_steps() {
        let step = Step::ExpiredAccessTokens;
        let plain = count(Dialect::Sqlite, step, &cutoffs(false, false));
        assert!(!plain.text.contains("AND NOT ("), "{}", plain.text);
        let full = count(Dialect::Sqlite, step, &cutoffs(true, true));
        assert!(
            full.text.contains(r#"AND NOT ((r."revoked" IS NOT NULL AND r."revoked" <= ?2) OR (r."revoked" IS NULL AND t."expires" <= ?3))"#),
            "{}",
            full.text
        );
    }

    #[test]
    fn refresh_token_conditions_as_joins() {
        let tables = Tables::default();
        let c = cutoffs(true, true);
        let (joins, condition) = refresh_token_condition_as_join(
            Dialect::MySql,
            &tables,
            Step::ExpiredRefreshTokens,
            &c,
        );
        assert_eq!(
            joins.text,
            " JOIN `oauth2_provider_accesstoken` a ON a.`id` = t.`access_token_id`"
        );
        assert_eq!(condition.text, "t.`revoked` IS NULL AND a.`expires` <= ?");
        assert_eq!(condition.binds.len(), 1);
        let (joins, condition) = refresh_token_condition_as_join(
            Dialect::MySql,
            &tables,
            Step::RevokedRefreshTokens,
            &c,
        );
        assert!(joins.text.is_empty());
        assert_eq!(condition.text, "t.`revoked` <= ?");
        let none = cutoffs(true, false);
        let (_, skipped) = refresh_token_condition_as_join(
            Dialect::MySql,
            &tables,
            Step::ExpiredRefreshTokens,
            &none,
        );
        assert_eq!(skipped.text, "1 = 0");
    }
}
