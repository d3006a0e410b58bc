//! What PostgreSQL and MySQL share as client/server databases: how a URL becomes connect
//! options, one direct connection tried before any pool exists (a pool would retry until its
//! timeout and hide the cause: refused, unknown host, bad password, missing database), and the
//! pool of one connection whose session settings are applied again to every connection it opens
//! later (after a lost one). Every exchange with the server is bounded here
//! ([`super::network`]): connecting, each statement, and each batch run on a connection of the
//! pool that is thrown away, never reused, when its deadline ran out.

use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context, Result};
use async_trait::async_trait;
use sqlx::pool::{PoolConnection, PoolOptions};
use sqlx::{ConnectOptions, Connection, Pool};

use super::driver::{Queries, Run};
use super::lock::LockSession;
use super::network::{self, CleanupPace, Deadlines, Place, Unanswered};
use super::sql::{Dialect, Sql};
use super::url::scrub;
use super::{ColumnInfo, DatabaseUrl};

/// A driver's connect options.
pub(crate) type Options<DB> = <<DB as sqlx::Database>::Connection as Connection>::Options;

/// The session settings a backend runs on its connections.
pub(crate) struct SessionSettings {
    /// On every connection.
    pub always: &'static [&'static str],
    /// On every connection from [`ServerPool::prepare_cleanup`] on.
    pub cleanup: &'static [&'static str],
    /// The statements that make the server end a session gone silent, for these deadlines
    /// (on every connection, the run lock's included).
    pub timeouts: fn(&Deadlines) -> Vec<String>,
    /// The port a URL without one means.
    pub default_port: u16,
}

/// The connect options a URL describes; a driver message is cleaned of the password.
pub(crate) fn parse_options<O>(url: &DatabaseUrl, driver_url: &str, product: &str) -> Result<O>
where
    O: FromStr<Err = sqlx::Error>,
{
    O::from_str(driver_url)
        .map_err(|e| anyhow::anyhow!(scrub(&e.to_string(), url)))
        .with_context(|| format!("invalid {product} URL {}", url.redacted()))
}

/// Opens one connection, giving up after the network timeout (an [`Unanswered`] error). The
/// driver's own failure is the inner result, for the caller to describe.
pub(crate) async fn connect_once<DB: Run>(
    options: &Options<DB>,
    place: &Place,
) -> Result<Result<DB::Connection, sqlx::Error>> {
    place
        .within(network::timeout(), "connecting", async {
            Ok(options.connect().await)
        })
        .await
}

/// What every connection of a pool is set up with, shared with the pool's connect hook.
#[derive(Clone, Copy)]
struct Session {
    deadlines: Deadlines,
    /// Set by `prepare_cleanup`: connections opened later (after a lost one) get the same
    /// session settings.
    cleanup: bool,
}

/// A server backend's pool and what it needs to open more connections.
pub(crate) struct ServerPool<DB: Run> {
    pub pool: Pool<DB>,
    pub options: Options<DB>,
    pub redacted_url: String,
    pub place: Place,
    settings: &'static SessionSettings,
    session: Arc<Mutex<Session>>,
}

impl<DB: Run> ServerPool<DB> {
    pub async fn connect(
        url: &DatabaseUrl,
        options: Options<DB>,
        settings: &'static SessionSettings,
    ) -> Result<Self> {
        Self::connect_with(url, options, settings, Vec::new()).await
    }

    /// [`ServerPool::connect`], with `store_session` run first on every pool connection: the
    /// settings of this store (PostgreSQL's session time zone) rather than of the backend.
    pub async fn connect_with(
        url: &DatabaseUrl,
        options: Options<DB>,
        settings: &'static SessionSettings,
        store_session: Vec<String>,
    ) -> Result<Self> {
        let store_session: Arc<[String]> = store_session.into();
        let place = Place::of(url.expose(), settings.default_port);
        let probe = connect_once::<DB>(&options, &place)
            .await?
            .map_err(|e| anyhow::anyhow!(scrub(&e.to_string(), url)))
            .with_context(|| format!("cannot connect to {}", url.redacted()))?;
        // Closing says goodbye to the server: bounded too, and its failure does not matter.
        let _ = tokio::time::timeout(network::timeout(), probe.close()).await;
        let session = Arc::new(Mutex::new(Session {
            deadlines: Deadlines::plain(network::timeout()),
            cleanup: false,
        }));
        let shared = session.clone();
        let pool = PoolOptions::<DB>::new()
            .max_connections(1)
            // Bounds connecting, the session set-up below and the check of an idle connection.
            .acquire_timeout(network::timeout())
            .after_connect(move |conn, _meta| {
                let session = *shared.lock().unwrap_or_else(PoisonError::into_inner);
                let store_session = store_session.clone();
                Box::pin(async move {
                    apply::<DB, _>(conn, &store_session).await?;
                    apply::<DB, _>(conn, settings.always).await?;
                    apply::<DB, _>(conn, &(settings.timeouts)(&session.deadlines)).await?;
                    if session.cleanup {
                        apply::<DB, _>(conn, settings.cleanup).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(ServerPool {
            pool,
            options,
            redacted_url: url.redacted(),
            place,
            settings,
            session,
        })
    }

    pub fn deadlines(&self) -> Deadlines {
        self.session().deadlines
    }

    fn session(&self) -> Session {
        *self.session.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A cleanup paced as `pace` is about to start: its deadlines, for the sessions opened from
    /// now on (the run lock's) and, with [`ServerPool::prepare_cleanup`], the pool's.
    pub fn pace_cleanup(&self, pace: CleanupPace) {
        let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
        session.deadlines = Deadlines::for_cleanup(network::timeout(), pace);
    }

    /// Applies the cleanup session settings (and the cleanup's server timeouts) now and to every
    /// later connection.
    pub async fn prepare_cleanup(&self) -> Result<()> {
        let session = {
            let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            session.cleanup = true;
            *session
        };
        let timeouts = (self.settings.timeouts)(&session.deadlines);
        let mut conn = self.acquire().await?;
        let result = self
            .place
            .within(
                session.deadlines.exchange,
                "setting up the cleanup session",
                async {
                    apply::<DB, _>(&mut conn, &timeouts).await?;
                    apply::<DB, _>(&mut conn, self.settings.cleanup).await?;
                    Ok(())
                },
            )
            .await;
        conn.finish(&result);
        result.context("setting up the cleanup session")
    }

    /// How the run lock opens its sessions (`options` may name them).
    pub fn lock_session(&self, options: Options<DB>) -> LockSession<DB> {
        let deadlines = self.deadlines();
        LockSession {
            options,
            redacted_url: self.redacted_url.clone(),
            place: self.place.clone(),
            setup: (self.settings.timeouts)(&deadlines),
            exchange: deadlines.exchange,
        }
    }

    /// The pool's connection; a server that does not let us connect within the network timeout
    /// is [`Unanswered`].
    pub async fn acquire(&self) -> Result<Checkout<DB>> {
        match self.pool.acquire().await {
            Ok(conn) => Ok(Checkout { conn: Some(conn) }),
            Err(sqlx::Error::PoolTimedOut) => Err(anyhow::Error::new(Unanswered {
                place: self.place.0.clone(),
                within: network::timeout(),
                what: "connecting".into(),
            })),
            Err(e) => Err(anyhow::Error::new(e).context("connecting")),
        }
    }
}

impl<DB: Run> ServerPool<DB> {
    /// One long statement (an index build) on a connection of its own: `setup` (within the
    /// network timeout) lifts the session's statement bound, then the statement runs without a
    /// client deadline (the session's TCP keepalives still notice a dead peer). The connection
    /// is closed afterwards rather than pooled, its session changed.
    pub async fn run_long(&self, setup: &[&str], statement: &str) -> Result<()> {
        let mut conn = self.acquire().await?;
        self.place
            .within(network::timeout(), "preparing the session", async {
                Ok(apply::<DB, _>(&mut conn, setup).await?)
            })
            .await?;
        DB::execute_text(&mut conn, statement).await?;
        Ok(())
    }
}

/// The pool's connection, lent out for one bounded exchange. It goes back to the pool only
/// through [`Checkout::finish`] after an exchange that ended; dropped before (the exchange's
/// future was given up: a deadline, an abort) or finished by a deadline that ran out, it is
/// thrown away unpooled: its protocol state is unknown, and the pool would first test it,
/// waiting on the silent server again. Dropping the bare connection closes the socket without
/// waiting on anyone.
pub(crate) struct Checkout<DB: Run> {
    conn: Option<PoolConnection<DB>>,
}

impl<DB: Run> Checkout<DB> {
    /// The exchange ended with `result`: back to the pool, unless its deadline ran out.
    pub fn finish<T>(mut self, result: &Result<T>) {
        let unanswered = matches!(result, Err(error) if network::is_unanswered(error));
        if !unanswered {
            // A pooled connection dropped is a connection returned.
            drop(self.conn.take());
        }
    }
}

impl<DB: Run> Drop for Checkout<DB> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            drop(conn.detach());
        }
    }
}

impl<DB: Run> std::ops::Deref for Checkout<DB> {
    type Target = DB::Connection;

    fn deref(&self) -> &DB::Connection {
        self.conn.as_ref().expect("a lent connection")
    }
}

impl<DB: Run> std::ops::DerefMut for Checkout<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        self.conn.as_mut().expect("a lent connection")
    }
}

async fn apply<DB: Run, S: AsRef<str>>(
    conn: &mut DB::Connection,
    statements: &[S],
) -> Result<(), sqlx::Error> {
    for statement in statements {
        DB::execute_text(conn, statement.as_ref()).await?;
    }
    Ok(())
}

/// The verbs [`super::Store`] writes once, each exchange bounded by the network timeout.
#[async_trait]
impl<DB: Run> Queries for ServerPool<DB> {
    fn dialect(&self) -> Dialect {
        DB::DIALECT
    }

    async fn exists(&self, sql: &Sql) -> Result<bool> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::exists(conn, sql)))
            .await
    }

    async fn fetch_i64(&self, sql: &Sql) -> Result<i64> {
        // A dry run's counts are the long statements here: they get a batch's deadline.
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::fetch_i64(conn, sql)))
            .await
    }

    async fn fetch_columns(&self, sql: &Sql) -> Result<Vec<ColumnInfo>> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::fetch_columns(conn, sql)))
            .await
    }

    async fn fetch_texts(&self, sql: &Sql) -> Result<Vec<String>> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::fetch_texts(conn, sql)))
            .await
    }

    async fn insert(&self, sql: &Sql) -> Result<i64> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::insert(conn, sql)))
            .await
    }

    async fn fetch_optional_text(&self, sql: &Sql) -> Result<Option<String>> {
        self.bounded_statement(sql, |conn, sql| {
            Box::pin(DB::fetch_optional_text(conn, sql))
        })
        .await
    }

    async fn fetch_optional_i64(&self, sql: &Sql) -> Result<Option<i64>> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::fetch_optional_i64(conn, sql)))
            .await
    }

    async fn fetch_i64s(&self, sql: &Sql) -> Result<Vec<i64>> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::fetch_i64s(conn, sql)))
            .await
    }

    async fn execute(&self, sql: &Sql) -> Result<u64> {
        self.bounded_statement(sql, |conn, sql| Box::pin(DB::execute(conn, sql)))
            .await
    }
}

/// A statement's future on a borrowed connection.
type StatementFuture<'c, T> =
    std::pin::Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

impl<DB: Run> ServerPool<DB> {
    /// One statement on the pool's connection, within the batch deadline (the network timeout
    /// outside a cleanup).
    async fn bounded_statement<T: Send + 'static>(
        &self,
        sql: &Sql,
        statement: for<'c> fn(&'c mut DB::Connection, &'c Sql) -> StatementFuture<'c, T>,
    ) -> Result<T> {
        let within = self.deadlines().batch;
        let mut conn = self.acquire().await?;
        let result = self
            .place
            .within(within, "running a query", async {
                Ok(statement(&mut conn, sql).await?)
            })
            .await;
        conn.finish(&result);
        result
    }
}
