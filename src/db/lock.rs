//! The "one cleartokens run at a time" locks behind [`CleanupLock`].
//!
//! PostgreSQL (an advisory lock) and MySQL (`GET_LOCK`) both hold a lock that lives as long as a
//! session: [`SessionLock`] is that logic once (its own connection, never the pool's, which may
//! be replaced; a lost session re-taken; a conflict reported), given the dialect's statements as
//! a [`LockSpec`].
//!
//! The lock stays on a session of its own rather than on the batches' connection: a batch that
//! runs out of its deadline throws its connection away ([`super::server::Checkout`]), and the lock
//! must not go with it while the retry runs the batch again. That session sits idle between
//! batches, so it is kept visibly alive instead: [`CleanupLock::ensure_held`] runs a ping on it
//! (bounded by the network timeout) before every attempt of every batch, which also makes the
//! gap between two pings the longest the session is ever idle — what the server's idle-session
//! timeout is sized against ([`super::network::Deadlines::server_idle`]). A session that does
//! not answer is given up and the lock taken again on a new one, or, when another run holds it
//! by then (or our silent session still does, on the server), the run ends with exit 3: it never
//! goes on unlocked. Every lock call is bounded by the network timeout; the server ends a silent
//! session, and frees its lock, after its idle timeout. SQLite has no sessions to lock with: [`FileLock`] is an exclusive OS lock on a
//! sidecar file next to the database.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::Connection;

use super::driver::Run;
use super::network::Place;
use super::server::{connect_once, Options};
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

/// How the lock's sessions are opened: where, set up how, each exchange bounded by what.
pub(crate) struct LockSession<DB: Run> {
    /// May name the session for the server's session list.
    pub options: Options<DB>,
    pub redacted_url: String,
    pub place: Place,
    /// The server session timeouts, run on every new lock session.
    pub setup: Vec<String>,
    /// The deadline of each exchange (the network timeout).
    pub exchange: Duration,
}

impl<DB: Run> LockSession<DB> {
    /// A new session, set up.
    pub async fn open(&self) -> Result<DB::Connection> {
        let mut conn = connect_once::<DB>(&self.options, &self.place)
            .await?
            .with_context(|| format!("cannot connect to {} for the run lock", self.redacted_url))?;
        self.within("setting up the run lock's session", async {
            for statement in &self.setup {
                DB::execute_text(&mut conn, statement).await?;
            }
            Ok(())
        })
        .await?;
        Ok(conn)
    }

    async fn within<T>(
        &self,
        what: &str,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.place.within(self.exchange, what, work).await
    }
}

/// A lock held by a session of its own: it lives as long as that session.
pub(crate) struct SessionLock<DB: Run> {
    conn: Option<DB::Connection>,
    session: LockSession<DB>,
    spec: LockSpec,
}

impl<DB: Run> SessionLock<DB> {
    /// Takes the lock on `conn` (opened by `session`), which then belongs to the lock; fails
    /// with [`crate::error::Failure::Conflict`] when another run holds it.
    pub async fn take(
        conn: DB::Connection,
        session: LockSession<DB>,
        spec: LockSpec,
    ) -> Result<Self> {
        let conn = take_on::<DB>(conn, &spec, &session).await?;
        Ok(SessionLock {
            conn: Some(conn),
            session,
            spec,
        })
    }
}

/// Takes the lock on `conn` and hands the connection back, or closes it and fails.
async fn take_on<DB: Run>(
    mut conn: DB::Connection,
    spec: &LockSpec,
    session: &LockSession<DB>,
) -> Result<DB::Connection> {
    let taken = session
        .within(spec.taking, async {
            DB::fetch_flag(&mut conn, &spec.take)
                .await
                .context(spec.taking)
        })
        .await?;
    if taken != Some(true) {
        let _ = session
            .within("closing a session", async { Ok(conn.close().await?) })
            .await;
        return Err(conflict(&session.redacted_url, &spec.held));
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
            // A session that answers still holds the lock. One that does not answer in time is
            // given up (the server ends it, and its lock, after its idle timeout).
            let ping = async { Ok(conn.ping().await?) };
            if self
                .session
                .within("checking the run lock", ping)
                .await
                .is_ok()
            {
                return Ok(false);
            }
        }
        // The lock's session is gone, and the lock with it: take it again or give way.
        self.conn = None;
        let conn = self.session.open().await?;
        self.conn = Some(take_on::<DB>(conn, &self.spec, &self.session).await?);
        Ok(true)
    }

    async fn release(mut self: Box<Self>) -> Result<()> {
        if let Some(mut conn) = self.conn.take() {
            let spec = &self.spec;
            self.session
                .within(spec.releasing, async {
                    DB::execute(&mut conn, &spec.release)
                        .await
                        .context(spec.releasing)?;
                    let _ = conn.close().await;
                    Ok(())
                })
                .await?;
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

/// Whether another process holds the file lock at `path`, found by taking a shared lock for an
/// instant (a run holds it exclusively). A missing lock file means no run: it is not created.
pub(crate) fn file_lock_held(path: &std::path::Path) -> Result<bool> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot open the lock file {}", path.display()))
        }
    };
    match fs4::FileExt::try_lock_shared(&file) {
        // Closing the file (the drop) releases the shared lock at once.
        Ok(()) => Ok(false),
        Err(fs4::TryLockError::WouldBlock) => Ok(true),
        Err(fs4::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot probe the lock file {}", path.display()))
        }
    }
}
