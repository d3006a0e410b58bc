//! Bounds on a server that stops answering: a network path that goes silent (a fail-over, a
//! dropped NAT entry, a middlebox that still acknowledges) sends no FIN and no RST, so neither
//! side would ever notice by itself.
//!
//! Two halves, both derived from one setting, the network timeout `N` (`--network-timeout`,
//! default 30 s), and for `cleartokens` from its lock budget `L` and batch interval `I`:
//!
//! - **Client deadlines** ([`Deadlines`]), applied with `tokio::time::timeout` where the store
//!   talks to the driver: connecting (and a pooled connection's session set-up), every lock call
//!   (take, check, release) and every statement outside a batch get `N`; one batch, its whole
//!   transaction, gets `B = max(N, 4·L)` (a batch that holds its row locks four times its lock
//!   budget is already far outside what the budget allows, yet the server is still working). A
//!   connection whose exchange ran out of time is never reused: its state is unknown.
//! - **Server session timeouts** ([`Deadlines::server_idle`] and the backends' session
//!   settings), so that the server ends a session whose client went silent and frees its run
//!   lock: idle sessions after `S = N + B + max(I, 5 s)` — longer than the longest gap the lock's
//!   session legitimately sits idle between two lock checks (a batch, then the pause or a retry's
//!   back-off of at most 5 s), with `N` to spare; a session idle inside a transaction after `N`
//!   (a batch's transaction never waits on the client); a statement after `B`.
//!
//! The cleanup's retry loop ([`crate::cleartokens::retry`]) treats a deadline like a lost
//! connection (the statement's fate is unknown; DOT's deletes are idempotent, so running the
//! batch again on a new connection is safe) and retries for at most `N` from the first failure,
//! each retry cut to what is left of that. So a run whose server goes silent at `t0` exits 1 by
//! `t0 + I + B + N`, and a new run gets the lock by `t0 + S` (the lock's session was last used
//! before `t0`).

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Result};

use crate::error::Failure;

/// `--network-timeout` when not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The shortest `--network-timeout`: below it a loaded server's ordinary answers would miss it.
const MIN_TIMEOUT: Duration = Duration::from_millis(500);
/// The longest `--network-timeout`: an hour is already no bound an operator would wait for.
const MAX_TIMEOUT: Duration = Duration::from_secs(3_600);
/// The longest back-off between two attempts of a batch (each attempt checks the run lock), as
/// the retry loop caps it.
const LONGEST_BACKOFF: Duration = Duration::from_secs(5);

static TIMEOUT: OnceLock<Duration> = OnceLock::new();

/// Sets the network timeout of this process (once, from the command line, before any database
/// is opened); later calls change nothing.
pub fn configure(timeout: Duration) {
    let _ = TIMEOUT.set(timeout);
}

/// The network timeout `N` of this process.
pub fn timeout() -> Duration {
    TIMEOUT.get().copied().unwrap_or(DEFAULT_TIMEOUT)
}

/// `--network-timeout`: seconds, fractions allowed, from 0.5 to 3600. `source` names where the
/// text came from, for the message.
pub fn parse_timeout(text: &str, source: &str) -> Result<Duration> {
    let seconds = text.trim().parse::<f64>().ok().filter(|s| s.is_finite());
    match seconds.map(Duration::try_from_secs_f64) {
        Some(Ok(d)) if (MIN_TIMEOUT..=MAX_TIMEOUT).contains(&d) => Ok(d),
        _ => bail!(Failure::Usage(format!(
            "{source} must be a number of seconds from 0.5 to 3600, such as 30: got {}",
            crate::django::repr::repr_str(text)
        ))),
    }
}

/// How a cleanup paces its batches: what its deadlines are derived from.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CleanupPace {
    /// `--lock-budget` (`None`: off).
    pub lock_budget: Option<Duration>,
    /// `--batch-interval`.
    pub batch_interval: Duration,
}

/// The deadlines of one process's database sessions (see the module docs for the formulas).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Deadlines {
    /// `N`: connecting, a lock call, a statement outside a batch.
    pub exchange: Duration,
    /// `B`: one batch of a cleanup, its whole transaction (or a dry run's count).
    pub batch: Duration,
    /// `I`, the pause between batches.
    batch_interval: Duration,
}

impl Deadlines {
    /// For a command that runs no batches (createapplication, migrate): everything gets `N`.
    pub fn plain(network_timeout: Duration) -> Deadlines {
        Deadlines {
            exchange: network_timeout,
            batch: network_timeout,
            batch_interval: Duration::ZERO,
        }
    }

    /// For a cleanup paced as `pace`.
    pub fn for_cleanup(network_timeout: Duration, pace: CleanupPace) -> Deadlines {
        let four_budgets = pace.lock_budget.unwrap_or(Duration::ZERO).saturating_mul(4);
        Deadlines {
            exchange: network_timeout,
            batch: network_timeout.max(four_budgets),
            batch_interval: pace.batch_interval,
        }
    }

    /// `S`: how long the server lets a session sit idle before it ends it (and a run lock with
    /// it).
    pub fn server_idle(&self) -> Duration {
        self.exchange + self.batch + self.batch_interval.max(LONGEST_BACKOFF)
    }

    /// How long the server lets a session sit idle inside a transaction.
    pub fn server_idle_in_transaction(&self) -> Duration {
        self.exchange
    }

    /// How long the server lets one statement run.
    pub fn server_statement(&self) -> Duration {
        self.batch
    }
}

/// The server did not answer within a deadline. The retry loop treats it as a lost connection.
#[derive(Debug, thiserror::Error)]
#[error("the database at {place} did not answer within {} ({what}); check the network path to it, or raise --network-timeout", seconds(*within))]
pub struct Unanswered {
    /// `host:port`.
    pub place: String,
    pub within: Duration,
    /// What was waiting for the answer.
    pub what: String,
}

/// `30 s`, `2.5 s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

/// Whether `error` is (or was caused by) a deadline that ran out.
pub fn is_unanswered(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| cause.is::<Unanswered>())
}

/// Where a store's server is, for [`Unanswered`] messages.
#[derive(Clone, Debug)]
pub struct Place(pub String);

impl Place {
    /// `host:port` of a server URL (the backend's default port when it names none).
    pub fn of(url: &str, default_port: u16) -> Place {
        let parsed = ::url::Url::parse(url).ok();
        let host = parsed
            .as_ref()
            .and_then(|u| u.host_str().map(str::to_string))
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "localhost".to_string());
        let port = parsed.and_then(|u| u.port()).unwrap_or(default_port);
        Place(format!("{host}:{port}"))
    }

    /// `work`, unless it takes longer than `within`: then it is given up (dropped) and the
    /// result is [`Unanswered`] naming `what`.
    pub async fn within<T>(
        &self,
        within: Duration,
        what: &str,
        work: impl Future<Output = Result<T>>,
    ) -> Result<T> {
        match tokio::time::timeout(within, work).await {
            Ok(result) => result,
            Err(_) => Err(anyhow::Error::new(Unanswered {
                place: self.0.clone(),
                within,
                what: what.to_string(),
            })),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_in_range_only() {
        assert_eq!(
            parse_timeout("30", "--network-timeout").unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            parse_timeout(" 2.5 ", "--network-timeout").unwrap(),
            Duration::from_millis(2_500)
        );
        for bad in ["", "0", "0.1", "-3", "abc", "inf", "NaN", "3601", "1e9"] {
            let error = parse_timeout(bad, "--network-timeout").unwrap_err();
            assert!(
                matches!(crate::error::failure(&error), Some(Failure::Usage(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn deadlines_follow_the_documented_formulas() {
        let n = Duration::from_secs(30);
        let defaults = Deadlines::for_cleanup(
            n,
            CleanupPace {
                lock_budget: Some(Duration::from_millis(800)),
                batch_interval: Duration::ZERO,
            },
        );
        assert_eq!(defaults.batch, n);
        assert_eq!(defaults.server_idle(), Duration::from_secs(65));
        assert_eq!(defaults.server_idle_in_transaction(), n);
        let slow = Deadlines::for_cleanup(
            n,
            CleanupPace {
                lock_budget: Some(Duration::from_secs(20)),
                batch_interval: Duration::from_secs(60),
            },
        );
        assert_eq!(slow.batch, Duration::from_secs(80));
        assert_eq!(slow.server_statement(), Duration::from_secs(80));
        assert_eq!(slow.server_idle(), Duration::from_secs(30 + 80 + 60));
        assert_eq!(Deadlines::plain(n).server_idle(), Duration::from_secs(65));
    }

    #[test]
    fn places_name_host_and_port() {
        assert_eq!(
            Place::of("postgres://u:p@db.example:6432/x", 5432).0,
            "db.example:6432"
        );
        assert_eq!(
            Place::of("mysql://root@10.0.0.5/x", 3306).0,
            "10.0.0.5:3306"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_names_the_place_and_what_waited() {
        let place = Place("db:5432".into());
        let error = place
            .within(Duration::from_secs(2), "deleting a batch", async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            })
            .await
            .unwrap_err();
        assert!(is_unanswered(&error));
        assert_eq!(
            error.to_string(),
            "the database at db:5432 did not answer within 2 s (deleting a batch); check the network path to it, or raise --network-timeout"
        );
        let fine = place
            .within(Duration::from_secs(2), "x", async { Ok(7) })
            .await
            .unwrap();
        assert_eq!(fine, 7);
    }
}
