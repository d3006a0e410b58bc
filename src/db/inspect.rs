//! What `oauthctl doctor` reads about a database without changing it: the server's version, cheap
//! row estimates from the catalogue, and whether a cleartokens run holds the run lock.
//!
//! Backends supply the dialect ([`super::Store::server_version_sql`],
//! [`super::Store::estimate_rows`], [`super::Store::probe_cleanup_lock`]); this file holds the
//! vocabulary they answer in.

use serde::Serialize;

/// A table's size as the catalogue estimates it: never a `COUNT(*)`, which would read every page
/// of a table of 10⁸ rows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowEstimate {
    /// `None` when the catalogue has no figure yet (e.g. a table never analyzed).
    pub rows: Option<i64>,
    /// Where the figure comes from, e.g. `pg_class.reltuples`.
    pub source: &'static str,
}

/// Whether the cleartokens run lock is held now, as seen from outside.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LockProbe {
    pub held: bool,
    /// The lock as the operator can find it (`pg_locks`, `IS_USED_LOCK`, the lock file).
    pub lock: String,
    /// Who holds it, where the backend says (a PostgreSQL backend pid, a MySQL connection id).
    pub holder: Option<String>,
}
