//! The "one cleartokens run at a time" locks behind [`CleanupLock`].
//!
//! PostgreSQL (an advisory lock) and MySQL (`GET_LOCK`) both hold a lock that lives as long as a
//! session: [`SessionLock`] is that logic once (its own connection, never the pool's, which may
//! be replaced; a lost session re-taken; a conflict reported), given the dialect's statements as
//! a [`LockSpec`]. SQLite has no sessions to lock with: [`FileLock`] is an exclusive OS lock on a
//! sidecar file next to the database.

use std::path::PathBuf;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::Connection;

use super::driver::Run;
use super::server::{connect_once, Options, CONNECT_TIMEOUT};
use super::sql::Sql;
use super::CleanupLock;

/// The failure when another run holds the lock: `place` is the database, `held` the lock as the
/// operator can find it.
fn conflict(place: &str, held: &str) -> anyhow::Error {
    anyhow::Error::new(crate::error::Failure::Conflict(format!(
        "another oauthctl cleartokens run is active on {place}: it holds {held}; try again when it has finished"
    )))
}

/// How a server dialect takes and releases its session lock, and how messages name it.
pub(crate) struct LockSpec {
    /// For [`CleanupLock::describe`].
    pub name: String,
    /// What the conflict message says the other run holds.
    pub held: String,
    /// Takes the lock without waiting; its one value is true when the lock is now ours.
    pub take: Sql,
    pub release: Sql,
    /// What a failed `take` or `release` was doing, for its message.
    pub taking: &'static str,
    pub releasing: &'static str,
}

/// A lock held by a session of its own: it lives as long as that session.
pub(crate) struct SessionLock<DB: Run> {
    conn: Option<DB::Connection>,
    options: Options<DB>,
    redacted_url: String,
    spec: LockSpec,
}

impl<DB: Run> SessionLock<DB> {
    /// The lock's own connection (`options` may name it for the server's session list).
    pub async fn connect(options: &Options<DB>, redacted_url: &str) -> Result<DB::Connection> {
        connect_once::<DB>(options)
            .await?
            .with_context(|| format!("cannot connect to {redacted_url} for the run lock"))
    }

    /// Takes the lock on `conn`, which then belongs to the lock; fails with
    /// [`crate::error::Failure::Conflict`] when another run holds it.
    pub async fn take(
        conn: DB::Connection,
        options: Options<DB>,
        redacted_url: &str,
        spec: LockSpec,
    ) -> Result<Self> {
        let conn = take_on::<DB>(conn, &spec, redacted_url).await?;
        Ok(SessionLock {
            conn: Some(conn),
            options,
            redacted_url: redacted_url.to_string(),
            spec,
        })
    }
}

/// Takes the lock on `conn` and hands the connection back, or closes it and fails.
async fn take_on<DB: Run>(
    mut conn: DB::Connection,
    spec: &LockSpec,
    redacted_url: &str,
) -> Result<DB::Connection> {
    let taken = DB::fetch_flag(&mut conn, &spec.take)
        .await
        .context(spec.taking)?;
    if taken != Some(true) {
        let _ = conn.close().await;
        return Err(conflict(redacted_url, &spec.held));
    }
    Ok(conn)
}

#[async_trait]
impl<DB: Run> CleanupLock for SessionLock<DB> {
    fn describe(&self) -> String {
        self.spec.name.clone()
    }

    async fn ensure_held(&mut self) -> Result<bool> {
        if let Some(conn) = self.conn.as_mut() {
            // A session that answers still holds the lock. One that does not answer within the
            // connect timeout is given up (its lock goes when the server notices).
            if let Ok(Ok(())) = tokio::time::timeout(CONNECT_TIMEOUT, conn.ping()).await {
                return Ok(false);
            }
        }
        // The lock's session is gone, and the lock with it: take it again or give way.
        self.conn = None;
        let conn = Self::connect(&self.options, &self.redacted_url).await?;
        self.conn = Some(take_on::<DB>(conn, &self.spec, &self.redacted_url).await?);
        Ok(true)
    }

    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(mut conn) = self.conn.take() {
            DB::execute(&mut conn, &self.spec.release)
                .await
                .context(self.spec.releasing)?;
            let _ = conn.close().await;
        }
        Ok(())
    }
}

/// SQLite's run lock: an exclusive OS lock on a sidecar file; closing the file (drop) releases
/// it.
pub(crate) struct FileLock {
    path: PathBuf,
    _file: Option<std::fs::File>,
}

impl FileLock {
    /// For a private in-memory database, which no other process can reach: nothing to lock.
    pub fn in_memory() -> Self {
        FileLock {
            path: PathBuf::from(":memory:"),
            _file: None,
        }
    }

    /// Locks `path` without waiting; `database` names the database in the conflict message.
    pub fn acquire(database: &str, path: PathBuf) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        // Fully qualified: std's own File::try_lock (Rust 1.89) would otherwise shadow fs4's.
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => Ok(FileLock {
                path,
                _file: Some(file),
            }),
            Err(fs4::TryLockError::WouldBlock) => Err(conflict(
                database,
                &format!("the lock file {}", path.display()),
            )),
            Err(fs4::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", path.display()))
            }
        }
    }
}

#[async_trait]
impl CleanupLock for FileLock {
    fn describe(&self) -> String {
        format!("lock file {}", self.path.display())
    }

    async fn ensure_held(&mut self) -> Result<bool> {
        // An OS file lock lives as long as our file handle: it cannot be lost.
        Ok(false)
    }

    async fn release(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}
