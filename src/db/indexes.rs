//! The cleanup indexes (`oauthctl indexes`): what lets each cleartokens step find its candidates
//! without reading its whole table. DOT's schema indexes none of the columns the steps filter on
//! (`accesstoken.expires`, `idtoken.expires`, `grant.expires`, `refreshtoken.revoked`), so
//! without these every step is a full scan however little it deletes.
//!
//! Which indexes, per step (the steps' conditions are in `predicates.rs`):
//!
//! | index | PostgreSQL / SQLite | MySQL / MariaDB | steps |
//! |---|---|---|---|
//! | `oauthctl_refreshtoken_revoked` | `(revoked) WHERE revoked IS NOT NULL` | `(revoked, access_token_id)` | 1 (and 2 on MySQL) |
//! | `oauthctl_refreshtoken_orphan` | `(id) WHERE access_token_id IS NULL AND revoked IS NULL` | — | 2 |
//! | `oauthctl_accesstoken_expires` | `(expires)` | `(expires)` | 3, 4 |
//! | `oauthctl_idtoken_expires` | `(expires)` | `(expires)` | 5 |
//! | `oauthctl_grant_expires` | `(expires)` | `(expires)` | 6 |
//!
//! MySQL has no partial indexes; its one refresh-token index serves step 1 by its prefix and
//! step 2 by equality on both columns (NULL is a key like any other there), with the primary key
//! every InnoDB secondary index carries giving the batches their id order. Step 3 finds its
//! expired access tokens by `expires` and reaches their refresh token through Django's own unique
//! index on `refreshtoken.access_token_id`; the anti-joins of steps 4 and 5 probe Django's unique
//! indexes on `refreshtoken.access_token_id` and `accesstoken.id_token_id`.
//!
//! Names are fixed (one DOT installation per schema), prefixed `oauthctl_`, and only these names
//! are ever created or dropped: Django's indexes and columns are never touched. An index counts
//! as present only under its name *on its table* (a custom table name is respected). Building is
//! online where the backend can: PostgreSQL `CREATE INDEX CONCURRENTLY` outside any transaction
//! (an INVALID index an interrupted build left behind is dropped concurrently and built again),
//! MySQL/MariaDB `ALGORITHM=INPLACE, LOCK=NONE`, SQLite a plain `CREATE INDEX IF NOT EXISTS`
//! (SQLite has one writer at a time anyway).

use anyhow::{bail, Context, Result};

use super::sql::{Dialect, Sql, Value};
use super::url::Backend;
use super::{Step, Store, Tables};
use crate::error::Failure;

/// What a partial index's condition asks of one column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullTest {
    IsNull,
    IsNotNull,
}

/// One cleanup index as oauthctl defines it for a backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CleanupIndex {
    pub name: &'static str,
    pub table: String,
    /// The table option that names `table`, for messages.
    pub table_option: &'static str,
    pub columns: Vec<&'static str>,
    /// A partial index's condition (ANDed); empty for a plain index.
    pub predicate: Vec<(&'static str, NullTest)>,
    /// The cleartokens steps whose candidate search uses it.
    pub serves: Vec<Step>,
}

/// What the catalogue says of a cleanup index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexStatus {
    /// Present on its table and usable.
    Present,
    /// PostgreSQL: present but INVALID (`pg_index.indisvalid` false), the remains of an
    /// interrupted `CREATE INDEX CONCURRENTLY`; the planner never uses it, writes still pay for
    /// it. `indexes create` rebuilds it.
    Invalid,
    Missing,
}

/// A cleanup index and its state in the database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexState {
    pub index: CleanupIndex,
    pub status: IndexStatus,
}

/// What `indexes create` or `indexes drop` did to one index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexChange {
    Created,
    /// An INVALID index dropped and built again.
    Rebuilt,
    /// `create`: it was already there.
    AlreadyPresent,
    Dropped,
    /// `drop`: it was not there.
    AlreadyAbsent,
}

/// The SQL flavour statements are written for: MariaDB accepts `IF [NOT] EXISTS` on index DDL,
/// MySQL 8 does not (its statements are guarded by a catalogue check instead).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DdlFlavor {
    Sqlite,
    Postgres,
    MySql,
    MariaDb,
}

impl DdlFlavor {
    fn dialect(self) -> Dialect {
        match self {
            DdlFlavor::Sqlite => Dialect::Sqlite,
            DdlFlavor::Postgres => Dialect::Postgres,
            DdlFlavor::MySql | DdlFlavor::MariaDb => Dialect::MySql,
        }
    }

    /// The flavour a live connection's statements use: on MySQL-protocol servers the one both
    /// accept (existence is checked in the catalogue first).
    pub fn of(backend: Backend) -> DdlFlavor {
        match backend {
            Backend::Sqlite => DdlFlavor::Sqlite,
            Backend::Postgres => DdlFlavor::Postgres,
            Backend::MySql => DdlFlavor::MySql,
        }
    }

    pub fn backend(self) -> Backend {
        self.dialect().backend()
    }
}

/// The cleanup indexes for `backend`, on the tables named by `tables`.
pub fn cleanup_indexes(backend: Backend, tables: &Tables) -> Vec<CleanupIndex> {
    use NullTest::*;
    let expires = |name, table: &str, table_option, serves: &[Step]| CleanupIndex {
        name,
        table: table.to_string(),
        table_option,
        columns: vec!["expires"],
        predicate: vec![],
        serves: serves.to_vec(),
    };
    let refresh = |name, columns, predicate, serves: &[Step]| CleanupIndex {
        name,
        table: tables.refresh_token.clone(),
        table_option: "--refresh-token-table",
        columns,
        predicate,
        serves: serves.to_vec(),
    };
    let mut indexes = match backend {
        Backend::Postgres | Backend::Sqlite => vec![
            refresh(
                "oauthctl_refreshtoken_revoked",
                vec!["revoked"],
                vec![("revoked", IsNotNull)],
                &[Step::RevokedRefreshTokens],
            ),
            refresh(
                "oauthctl_refreshtoken_orphan",
                vec!["id"],
                vec![("access_token_id", IsNull), ("revoked", IsNull)],
                &[Step::OrphanedRefreshTokens],
            ),
        ],
        Backend::MySql => vec![refresh(
            "oauthctl_refreshtoken_revoked",
            vec!["revoked", "access_token_id"],
            vec![],
            &[Step::RevokedRefreshTokens, Step::OrphanedRefreshTokens],
        )],
    };
    indexes.extend([
        expires(
            "oauthctl_accesstoken_expires",
            &tables.access_token,
            "--access-token-table",
            &[Step::ExpiredRefreshTokens, Step::ExpiredAccessTokens],
        ),
        expires(
            "oauthctl_idtoken_expires",
            &tables.id_token,
            "--id-token-table",
            &[Step::ExpiredIdTokens],
        ),
        expires(
            "oauthctl_grant_expires",
            &tables.grant,
            "--grant-table",
            &[Step::ExpiredGrants],
        ),
    ]);
    indexes
}

impl CleanupIndex {
    /// The partial index condition as SQL (quoted for `dialect`), if any.
    pub fn predicate_sql(&self, dialect: Dialect) -> Option<String> {
        if self.predicate.is_empty() {
            return None;
        }
        let terms: Vec<String> = self
            .predicate
            .iter()
            .map(|(column, test)| {
                let test = match test {
                    NullTest::IsNull => "IS NULL",
                    NullTest::IsNotNull => "IS NOT NULL",
                };
                format!("{} {test}", dialect.quote(column))
            })
            .collect();
        Some(terms.join(" AND "))
    }

    /// Every column the index names, in its key or its condition (to check the table has them).
    pub fn referenced_columns(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.columns
            .iter()
            .copied()
            .chain(self.predicate.iter().map(|(column, _)| *column))
    }

    /// `CREATE INDEX …` for `flavor`, online where the backend can build online.
    pub fn create_sql(&self, flavor: DdlFlavor) -> String {
        let dialect = flavor.dialect();
        let columns: Vec<String> = self.columns.iter().map(|c| dialect.quote(c)).collect();
        let (head, tail) = match flavor {
            DdlFlavor::Postgres => ("CREATE INDEX CONCURRENTLY IF NOT EXISTS", ""),
            DdlFlavor::Sqlite => ("CREATE INDEX IF NOT EXISTS", ""),
            DdlFlavor::MariaDb => ("CREATE INDEX IF NOT EXISTS", " ALGORITHM=INPLACE LOCK=NONE"),
            DdlFlavor::MySql => ("CREATE INDEX", " ALGORITHM=INPLACE LOCK=NONE"),
        };
        let mut sql = format!(
            "{head} {} ON {} ({}){tail}",
            dialect.quote(self.name),
            dialect.quote(&self.table),
            columns.join(", ")
        );
        if let Some(predicate) = self.predicate_sql(dialect) {
            sql.push_str(" WHERE ");
            sql.push_str(&predicate);
        }
        sql
    }

    /// `DROP INDEX …` for `flavor`, online where the backend can.
    pub fn drop_sql(&self, flavor: DdlFlavor) -> String {
        let dialect = flavor.dialect();
        let name = dialect.quote(self.name);
        let table = dialect.quote(&self.table);
        match flavor {
            DdlFlavor::Postgres => format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"),
            DdlFlavor::Sqlite => format!("DROP INDEX IF EXISTS {name}"),
            // MariaDB's DROP INDEX takes no ALGORITHM or LOCK; ALTER TABLE does, on both.
            DdlFlavor::MariaDb => {
                format!(
                    "ALTER TABLE {table} DROP INDEX IF EXISTS {name}, ALGORITHM=INPLACE, LOCK=NONE"
                )
            }
            DdlFlavor::MySql => {
                format!("ALTER TABLE {table} DROP INDEX {name}, ALGORITHM=INPLACE, LOCK=NONE")
            }
        }
    }

    /// A query giving one integer: 1 when the index exists on its table and is valid, 0 when it
    /// exists but is INVALID (PostgreSQL), -1 when it does not exist there.
    pub fn status_sql(&self, dialect: Dialect) -> Sql {
        let mut sql = Sql::new(dialect);
        match dialect {
            Dialect::Postgres => {
                // to_regclass follows search_path, as Django's unqualified names do.
                sql.push(
                    "SELECT COALESCE((SELECT CASE WHEN i.indisvalid THEN 1 ELSE 0 END \
                     FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     WHERE i.indrelid = to_regclass(",
                )
                .bind(Value::Text(dialect.quote(&self.table)))
                .push(") AND c.relname = ")
                .bind(Value::Text(self.name.to_string()))
                .push("), -1)::bigint");
            }
            Dialect::MySql => {
                sql.push(
                    "SELECT CAST(COALESCE((SELECT 1 FROM information_schema.statistics \
                     WHERE table_schema = DATABASE() AND table_name = ",
                )
                .bind(Value::Text(self.table.clone()))
                .push(" AND index_name = ")
                .bind(Value::Text(self.name.to_string()))
                .push(" LIMIT 1), -1) AS SIGNED)");
            }
            Dialect::Sqlite => {
                sql.push(
                    "SELECT COALESCE((SELECT 1 FROM sqlite_master \
                     WHERE type = 'index' AND name = ",
                )
                .bind(Value::Text(self.name.to_string()))
                .push(" AND tbl_name = ")
                .bind(Value::Text(self.table.clone()))
                .push("), -1)");
            }
        }
        sql
    }
}

impl IndexStatus {
    /// From [`CleanupIndex::status_sql`]'s answer.
    pub fn from_code(code: i64) -> IndexStatus {
        match code {
            1 => IndexStatus::Present,
            0 => IndexStatus::Invalid,
            _ => IndexStatus::Missing,
        }
    }
}

/// The cleanup indexes of `store` and their state ([`Store::cleanup_indexes`]). Fails with a
/// usage error naming the table option when a table or a column an index needs is missing.
pub(crate) async fn states<S: Store + ?Sized>(store: &S) -> Result<Vec<IndexState>> {
    let indexes = cleanup_indexes(store.backend(), store.tables());
    check_tables(store, &indexes).await?;
    let mut states = Vec::with_capacity(indexes.len());
    for index in indexes {
        let code = store
            .queries()
            .fetch_i64(&index.status_sql(store.dialect()))
            .await
            .with_context(|| format!("looking up index {} in the catalogue", index.name))?;
        let status = IndexStatus::from_code(code);
        states.push(IndexState { index, status });
    }
    Ok(states)
}

/// Every table the indexes are on exists and has the columns they name: checked for all of
/// them before any index is built or dropped, so bad table options change nothing.
async fn check_tables<S: Store + ?Sized>(store: &S, indexes: &[CleanupIndex]) -> Result<()> {
    for index in indexes {
        let Some(columns) = store.table_columns(&index.table).await? else {
            bail!(Failure::Usage(format!(
                "table {} does not exist; create DOT's tables (`manage.py migrate` or `oauthctl migrate`) or name yours with {}",
                index.table, index.table_option
            )));
        };
        for wanted in index.referenced_columns() {
            if !columns.iter().any(|c| c.name == wanted) {
                bail!(Failure::Usage(format!(
                    "table {} has no column {wanted}, so it is not DOT's table; name the right one with {}",
                    index.table, index.table_option
                )));
            }
        }
    }
    Ok(())
}

/// `indexes create`: builds every missing index and rebuilds every INVALID one, one at a time;
/// the present ones are left alone (idempotent).
pub(crate) async fn create<S: Store + ?Sized>(
    store: &S,
) -> Result<Vec<(CleanupIndex, IndexChange)>> {
    let flavor = DdlFlavor::of(store.backend());
    let mut changes = Vec::new();
    for IndexState { index, status } in states(store).await? {
        let change = match status {
            IndexStatus::Present => IndexChange::AlreadyPresent,
            IndexStatus::Invalid => {
                run(
                    store,
                    &index.drop_sql(flavor),
                    "dropping the INVALID index",
                    &index,
                )
                .await?;
                build(store, flavor, &index).await?;
                IndexChange::Rebuilt
            }
            IndexStatus::Missing => {
                build(store, flavor, &index).await?;
                IndexChange::Created
            }
        };
        tracing::info!(index = index.name, table = %index.table, change = ?change, "cleanup index");
        changes.push((index, change));
    }
    Ok(changes)
}

/// `indexes drop`: drops the cleanup indexes that exist (only those, by their names on their
/// tables).
pub(crate) async fn drop<S: Store + ?Sized>(store: &S) -> Result<Vec<(CleanupIndex, IndexChange)>> {
    let flavor = DdlFlavor::of(store.backend());
    let mut changes = Vec::new();
    for IndexState { index, status } in states(store).await? {
        let change = if status == IndexStatus::Missing {
            IndexChange::AlreadyAbsent
        } else {
            run(store, &index.drop_sql(flavor), "dropping", &index).await?;
            IndexChange::Dropped
        };
        changes.push((index, change));
    }
    Ok(changes)
}

/// Builds `index` and checks that it is now there, valid, on its table: `IF NOT EXISTS` would
/// silently skip a build whose name another table's index already has.
async fn build<S: Store + ?Sized>(
    store: &S,
    flavor: DdlFlavor,
    index: &CleanupIndex,
) -> Result<()> {
    run(store, &index.create_sql(flavor), "building", index).await?;
    let code = store
        .queries()
        .fetch_i64(&index.status_sql(store.dialect()))
        .await
        .with_context(|| format!("looking up index {} in the catalogue", index.name))?;
    if IndexStatus::from_code(code) != IndexStatus::Present {
        bail!(
            "index {} was not built on {}: an index of that name exists elsewhere (another table or schema); drop or rename it",
            index.name,
            index.table
        );
    }
    Ok(())
}

async fn run<S: Store + ?Sized>(
    store: &S,
    statement: &str,
    doing: &str,
    index: &CleanupIndex,
) -> Result<()> {
    tracing::debug!(statement, "index DDL");
    store
        .run_index_ddl(statement)
        .await
        .with_context(|| format!("{doing} index {} on {}", index.name, index.table))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(backend: Backend, name: &str) -> CleanupIndex {
        cleanup_indexes(backend, &Tables::default())
            .into_iter()
            .find(|i| i.name == name)
            .unwrap()
    }

    #[test]
    fn every_step_has_an_index_on_every_backend() {
        for backend in [Backend::Sqlite, Backend::Postgres, Backend::MySql] {
            let indexes = cleanup_indexes(backend, &Tables::default());
            for step in Step::ALL {
                assert!(
                    indexes.iter().any(|i| i.serves.contains(&step)),
                    "{backend}: {step:?}"
                );
            }
            for index in &indexes {
                assert!(index.name.starts_with("oauthctl_") && index.name.len() <= 63);
            }
        }
    }

    #[test]
    fn statements_per_flavour() {
        let revoked = find(Backend::Postgres, "oauthctl_refreshtoken_revoked");
        assert_eq!(
            revoked.create_sql(DdlFlavor::Postgres),
            r#"CREATE INDEX CONCURRENTLY IF NOT EXISTS "oauthctl_refreshtoken_revoked" ON "oauth2_provider_refreshtoken" ("revoked") WHERE "revoked" IS NOT NULL"#
        );
        assert_eq!(
            revoked.drop_sql(DdlFlavor::Postgres),
            r#"DROP INDEX CONCURRENTLY IF EXISTS "oauthctl_refreshtoken_revoked""#
        );
        let orphan = find(Backend::Sqlite, "oauthctl_refreshtoken_orphan");
        assert_eq!(
            orphan.create_sql(DdlFlavor::Sqlite),
            r#"CREATE INDEX IF NOT EXISTS "oauthctl_refreshtoken_orphan" ON "oauth2_provider_refreshtoken" ("id") WHERE "access_token_id" IS NULL AND "revoked" IS NULL"#
        );
        let mysql = find(Backend::MySql, "oauthctl_refreshtoken_revoked");
        assert_eq!(
            mysql.create_sql(DdlFlavor::MySql),
            "CREATE INDEX `oauthctl_refreshtoken_revoked` ON `oauth2_provider_refreshtoken` (`revoked`, `access_token_id`) ALGORITHM=INPLACE LOCK=NONE"
        );
        assert_eq!(
            mysql.drop_sql(DdlFlavor::MariaDb),
            "ALTER TABLE `oauth2_provider_refreshtoken` DROP INDEX IF EXISTS `oauthctl_refreshtoken_revoked`, ALGORITHM=INPLACE, LOCK=NONE"
        );
    }

    #[test]
    fn custom_tables_are_indexed() {
        let tables = Tables {
            access_token: "my_tokens".into(),
            ..Tables::default()
        };
        let index = cleanup_indexes(Backend::Postgres, &tables)
            .into_iter()
            .find(|i| i.name == "oauthctl_accesstoken_expires")
            .unwrap();
        assert!(index
            .create_sql(DdlFlavor::Postgres)
            .contains(r#"ON "my_tokens""#));
        assert_eq!(index.table_option, "--access-token-table");
    }
}
