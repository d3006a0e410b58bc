//! DOT 3.4.1's `clear_expired()` conditions (docs/compatibility.md#the-six-steps), written once for every dialect.
//!
//! Each backend composes its own batch statements (a CTE on PostgreSQL, a scratch table on
//! SQLite, an id range or list on MySQL) around these conditions, so the predicates and
//! boundaries that decide which rows go (`<=` for steps 1 and 3, `<` for steps 4-6) exist in
//! exactly one place. Cutoffs are bound, never interpolated; each backend binds them in its
//! native type. Table names are validated identifiers and are quoted here.
//!
//! Aliases: the step's own table is always `t`; subqueries use `r` (refresh tokens) and `a`
//! (access tokens).

use super::sql::{Dialect, Sql, Value};
use super::{BatchRequest, BatchShape, Cutoffs, Step, Tables};

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
        // Q(revoked__lte=refresh_revoked_at)
        Step::RevokedRefreshTokens => match cutoffs.refresh_revoked_at {
            Some(cut) => {
                sql.col(t, "revoked").push(" <= ").time(cut);
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
        // Q(revoked__isnull=True, access_token__expires__lte=refresh_expire_at): DOT's INNER JOIN,
        // as EXISTS on the access token's primary key.
        Step::ExpiredRefreshTokens => match cutoffs.refresh_expire_at {
            Some(cut) => {
                sql.col(t, "revoked")
                    .push(" IS NULL AND EXISTS (SELECT 1 FROM ")
                    .ident(&tables.access_token)
                    .push(" a WHERE ")
                    .col("a", "id")
                    .push(" = ")
                    .col(t, "access_token_id")
                    .push(" AND ")
                    .col("a", "expires")
                    .push(" <= ")
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
        }
        // Q(access_token__isnull=True, expires__lt=now)
        Step::ExpiredIdTokens => {
            let access_tokens = (tables.access_token.as_str(), "a", "id_token_id");
            expired_and_unreferenced(sql, t, cutoffs, access_tokens).push(")");
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
        }
        _ => step_condition(sql, tables, step, cutoffs),
    }
}

/// Appends the condition under which a row of `step`'s table (aliased `t`) is deleted by a full
/// run, *including the effect of the earlier steps of the same run*: an access token becomes
/// deletable in step 4 when its refresh token goes in step 1 or 3, and an ID token in step 5 when
/// its access token goes in step 4. Used by `--dry-run`, so that its counts are what a real run
/// then deletes. Steps 1-3 are disjoint (revoked vs. not revoked, no access token vs. one), so
/// their own conditions need no adjustment.
pub(crate) fn deletable_condition(sql: &mut Sql, tables: &Tables, step: Step, cutoffs: &Cutoffs) {
    match step {
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
            if revoked_step {
                sql.push("(")
                    .col(rt, "revoked")
                    .push(" IS NOT NULL AND ")
                    .col(rt, "revoked")
                    .push(" <= ")
                    .time(cut)
                    .push(")");
            } else {
                sql.push("(")
                    .col(rt, "revoked")
                    .push(" IS NULL AND ")
                    .col(at, "expires")
                    .push(" <= ")
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
                condition
                    .col("t", "revoked")
                    .push(" IS NULL AND ")
                    .col("a", "expires")
                    .push(" <= ")
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
