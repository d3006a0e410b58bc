//! What PostgreSQL and MySQL share as client/server databases: how a URL becomes connect
//! options, one direct connection tried before any pool exists (a pool would retry until its
//! timeout and hide the cause: refused, unknown host, bad password, missing database), and the
//! pool of one connection whose session settings are applied again to every connection it opens
//! later (after a lost one).

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use sqlx::pool::PoolOptions;
use sqlx::{ConnectOptions, Connection, Pool};

use super::driver::Run;
use super::url::scrub;
use super::DatabaseUrl;

/// How long a connection attempt may take, and how long a pooled connection is waited for.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// A driver's connect options.
pub(crate) type Options<DB> = <<DB as sqlx::Database>::Connection as Connection>::Options;

/// The session settings a backend runs on its connections.
pub(crate) struct SessionSettings {
    /// On every connection.
    pub always: &'static [&'static str],
    /// On every connection from [`ServerPool::prepare_cleanup`] on.
    pub cleanup: &'static [&'static str],
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

/// Opens one connection, giving up after [`CONNECT_TIMEOUT`]. The driver's own failure is the
/// inner result, for the caller to describe.
pub(crate) async fn connect_once<DB: Run>(
    options: &Options<DB>,
) -> Result<Result<DB::Connection, sqlx::Error>> {
    tokio::time::timeout(CONNECT_TIMEOUT, options.connect())
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} s", CONNECT_TIMEOUT.as_secs()))
}

/// A server backend's pool and what it needs to open more connections.
pub(crate) struct ServerPool<DB: Run> {
    pub pool: Pool<DB>,
    pub options: Options<DB>,
    pub redacted_url: String,
    settings: &'static SessionSettings,
    /// Set by `prepare_cleanup`: connections opened later (after a lost one) get the same
    /// session settings.
    cleanup_session: Arc<AtomicBool>,
}

impl<DB: Run> ServerPool<DB> {
    pub async fn connect(
        url: &DatabaseUrl,
        options: Options<DB>,
        settings: &'static SessionSettings,
    ) -> Result<Self> {
        let probe = connect_once::<DB>(&options)
            .await?
            .map_err(|e| anyhow::anyhow!(scrub(&e.to_string(), url)))
            .with_context(|| format!("cannot connect to {}", url.redacted()))?;
        let _ = probe.close().await;
        let cleanup_session = Arc::new(AtomicBool::new(false));
        let session_flag = cleanup_session.clone();
        let pool = PoolOptions::<DB>::new()
            .max_connections(1)
            .acquire_timeout(CONNECT_TIMEOUT)
            .after_connect(move |conn, _meta| {
                let cleanup = session_flag.load(Ordering::SeqCst);
                Box::pin(async move {
                    apply::<DB>(conn, settings.always).await?;
                    if cleanup {
                        apply::<DB>(conn, settings.cleanup).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(options.clone());
        Ok(ServerPool {
            pool,
            options,
            redacted_url: url.redacted(),
            settings,
            cleanup_session,
        })
    }

    /// Applies the cleanup session settings now and to every later connection.
    pub async fn prepare_cleanup(&self) -> Result<()> {
        self.cleanup_session.store(true, Ordering::SeqCst);
        let mut conn = self.pool.acquire().await.context("connecting")?;
        apply::<DB>(&mut conn, self.settings.cleanup)
            .await
            .context("setting up the cleanup session")?;
        Ok(())
    }
}

async fn apply<DB: Run>(
    conn: &mut DB::Connection,
    statements: &'static [&'static str],
) -> Result<(), sqlx::Error> {
    for statement in statements {
        DB::execute_text(conn, statement).await?;
    }
    Ok(())
}
