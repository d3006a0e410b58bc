//! The write half of a batch whose candidates were read beforehand, without locks (SQLite,
//! MySQL): one short transaction that nulls the links to the refresh tokens it deletes (DOT's
//! SET_NULL; first, as MySQL's foreign keys are immediate), then deletes the candidates that
//! still match. PostgreSQL finds and deletes in one statement and does not need it.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::Connection;

use super::driver::Run;
use super::sql::Sql;
use super::{Step, Tables};

/// A batch's write transaction.
pub(crate) struct WriteBatch<'a> {
    pub step: Step,
    pub tables: &'a Tables,
    /// The statement that opens the transaction.
    pub begin: &'static str,
    /// For a step that deletes refresh tokens: DOT's SET_NULL on
    /// `accesstoken.source_refresh_token_id`, for exactly the rows `delete` deletes.
    pub set_null: Option<Sql>,
    /// Deletes the candidates that still match the step's condition.
    pub delete: Sql,
}

impl WriteBatch<'_> {
    /// Runs the transaction on `conn`. Returns the rows deleted and how long the transaction
    /// ran, from its BEGIN to the end of its COMMIT: the longest any of its row locks was held.
    pub async fn run<DB: Run>(self, conn: &mut DB::Connection) -> Result<(u64, Duration)> {
        let started = Instant::now();
        let mut tx = conn
            .begin_with(self.begin)
            .await
            .context("starting the batch transaction")?;
        if let Some(set_null) = &self.set_null {
            DB::execute(&mut tx, set_null).await.with_context(|| {
                format!(
                    "nulling {}.source_refresh_token_id",
                    self.tables.access_token
                )
            })?;
        }
        let deleted = DB::execute(&mut tx, &self.delete)
            .await
            .with_context(|| format!("deleting a batch from {}", self.step.table(self.tables)))?;
        tx.commit().await.context("committing the batch")?;
        Ok((deleted, started.elapsed()))
    }
}
