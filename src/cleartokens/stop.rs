//! When a run stops early: SIGINT/SIGTERM and the time budget (`--max-duration`).
//!
//! The first signal asks for a clean stop: the batch in flight finishes and commits, and the run
//! stops before the next one. A second signal aborts at once: the work in flight is given up
//! (dropping a batch's future drops its transaction, which rolls it back) and the run ends with
//! [`Failure::Aborted`] (exit 4). Nothing here exits the process; every await of a run goes
//! through [`Stop::guard`] or [`Stop::sleep`], which is where signals are noticed.
//!
//! [`Stop::before_next`] is the one stop check, made before every batch and every dry-run count.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Result;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::report::StopReason;
use crate::error::Failure;
use crate::shell::Shell;

/// The signals a run has received (the first two count), shared with the task that receives
/// them.
#[derive(Debug, Default)]
pub struct Signals {
    state: Mutex<Received>,
    notify: Notify,
}

#[derive(Debug, Default)]
struct Received {
    names: Vec<&'static str>,
    /// Whether the first signal's note has been printed.
    announced: bool,
}

impl Signals {
    /// No handlers: signals arrive only through [`Signals::received`].
    pub fn new() -> Arc<Signals> {
        Arc::new(Signals::default())
    }

    /// Installs SIGINT/SIGTERM handlers (must run inside the runtime).
    pub fn install() -> Result<Arc<Signals>> {
        let signals = Signals::new();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            // Registered now, not inside the task: a signal arriving before the task first runs
            // must not kill the process.
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let handle = signals.clone();
            tokio::spawn(async move {
                loop {
                    let name = tokio::select! {
                        _ = term.recv() => "SIGTERM",
                        _ = int.recv() => "SIGINT",
                    };
                    handle.received(name);
                }
            });
        }
        #[cfg(not(unix))]
        {
            let handle = signals.clone();
            tokio::spawn(async move {
                while tokio::signal::ctrl_c().await.is_ok() {
                    handle.received("Ctrl-C");
                }
            });
        }
        Ok(signals)
    }

    /// A signal arrived; the run notices it at its next await.
    pub fn received(&self, name: &'static str) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.names.len() < 2 {
            state.names.push(name);
        }
        drop(state);
        self.notify.notify_waiters();
    }
}

/// The stop conditions of one run, from its start.
pub struct Stop<'a> {
    signals: &'a Signals,
    shell: &'a Shell,
    started: Instant,
    max_duration: Option<Duration>,
}

impl<'a> Stop<'a> {
    /// The run starts now; with `max_duration`, no work is started that would end after it.
    pub fn new(signals: &'a Signals, shell: &'a Shell, max_duration: Option<Duration>) -> Self {
        Stop {
            signals,
            shell,
            started: Instant::now(),
            max_duration,
        }
    }

    pub fn started(&self) -> Instant {
        self.started
    }

    /// The one stop check, before a batch or a dry-run count: first the `pause` after a batch
    /// that did work (the batch interval), unless the budget cannot fit it and the next batch
    /// (estimated by the last one, `last_batch`); then a signal, or a budget that cannot fit the
    /// next batch.
    pub async fn before_next(
        &self,
        pause: Duration,
        last_batch: Duration,
    ) -> Result<Option<StopReason>> {
        self.requested()?;
        if !pause.is_zero() {
            if self.over_budget(pause + last_batch) {
                return Ok(Some(StopReason::MaxDuration));
            }
            if !self.sleep(pause).await? {
                return Ok(Some(StopReason::Signal));
            }
        }
        if self.requested()? {
            Ok(Some(StopReason::Signal))
        } else if self.over_budget(last_batch) {
            Ok(Some(StopReason::MaxDuration))
        } else {
            Ok(None)
        }
    }

    /// Whether the time budget is used up once `next` more has passed.
    fn over_budget(&self, next: Duration) -> bool {
        self.max_duration
            .is_some_and(|max| self.started.elapsed() + next >= max)
    }

    /// Whether a stop was requested. Prints the first signal's note once; fails with
    /// [`Failure::Aborted`] once a second signal has arrived.
    fn requested(&self) -> Result<bool> {
        let mut state = self
            .signals
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(first) = state.names.first().copied() {
            if !state.announced {
                state.announced = true;
                self.shell.note(format_args!(
                    "oauthctl: {first}: finishing the current batch, then stopping (send it again to abort at once)"
                ));
            }
        }
        if let Some(second) = state.names.get(1) {
            return Err(Failure::Aborted(format!(
                "oauthctl: {second} again: aborting now; the open batch is rolled back"
            ))
            .into());
        }
        Ok(!state.names.is_empty())
    }

    /// Runs `work` to its end, noticing signals meanwhile: a first one is announced (the work
    /// goes on), a second one gives the work up (dropped, so its transaction rolls back) and
    /// fails with [`Failure::Aborted`].
    pub async fn guard<F: Future>(&self, work: F) -> Result<F::Output> {
        let mut work = pin!(work);
        loop {
            // Enabled before the state is read, so that no signal slips in between.
            let mut notified = pin!(self.signals.notify.notified());
            notified.as_mut().enable();
            self.requested()?;
            tokio::select! {
                biased;
                () = &mut notified => {}
                out = &mut work => return Ok(out),
            }
        }
    }

    /// Sleeps for `duration` unless a stop is requested first; false if interrupted (or a stop
    /// was already requested).
    pub async fn sleep(&self, duration: Duration) -> Result<bool> {
        let mut sleep = pin!(tokio::time::sleep(duration));
        loop {
            let mut notified = pin!(self.signals.notify.notified());
            notified.as_mut().enable();
            if self.requested()? {
                return Ok(false);
            }
            tokio::select! {
                biased;
                () = &mut notified => {}
                () = &mut sleep => return Ok(!self.requested()?),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_aborted(error: &anyhow::Error) -> bool {
        matches!(crate::error::failure(error), Some(Failure::Aborted(_)))
    }

    #[tokio::test(start_paused = true)]
    async fn budget_counts_the_next_batch_and_the_pause() {
        let signals = Signals::new();
        let shell = Shell::new();
        let stop = Stop::new(&signals, &shell, Some(Duration::from_secs(10)));
        let s = Duration::from_secs;
        assert_eq!(stop.before_next(s(0), s(9)).await.unwrap(), None);
        assert_eq!(
            stop.before_next(s(0), s(10)).await.unwrap(),
            Some(StopReason::MaxDuration)
        );
        // The pause and the next batch together do not fit: no pause is slept.
        assert_eq!(
            stop.before_next(s(5), s(5)).await.unwrap(),
            Some(StopReason::MaxDuration)
        );
        assert_eq!(stop.started().elapsed(), Duration::ZERO);
        // They fit: the pause is slept, then the budget is checked again.
        assert_eq!(stop.before_next(s(4), s(5)).await.unwrap(), None);
        assert_eq!(stop.started().elapsed(), s(4));
        assert_eq!(
            stop.before_next(s(4), s(5)).await.unwrap(),
            Some(StopReason::MaxDuration)
        );
        assert_eq!(stop.started().elapsed(), s(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_signal_ends_a_pause_early() {
        let signals = Signals::new();
        let shell = Shell::new();
        let stop = Stop::new(&signals, &shell, None);
        let handle = signals.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            handle.received("SIGTERM");
        });
        assert_eq!(
            stop.before_next(Duration::from_secs(60), Duration::ZERO)
                .await
                .unwrap(),
            Some(StopReason::Signal)
        );
        assert_eq!(stop.started().elapsed(), Duration::from_secs(3));
        // Once requested, a pause is not even begun.
        assert!(!stop.sleep(Duration::from_secs(60)).await.unwrap());
        assert_eq!(stop.started().elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn the_first_signal_lets_work_finish_the_second_gives_it_up() {
        let signals = Signals::new();
        let shell = Shell::new();
        let stop = Stop::new(&signals, &shell, None);
        let handle = signals.clone();
        let work = async {
            handle.received("SIGINT");
            tokio::time::sleep(Duration::from_secs(1)).await;
            "committed"
        };
        assert_eq!(stop.guard(work).await.unwrap(), "committed");
        assert_eq!(
            stop.before_next(Duration::ZERO, Duration::ZERO)
                .await
                .unwrap(),
            Some(StopReason::Signal)
        );

        let handle = signals.clone();
        let work = async {
            handle.received("SIGINT");
            std::future::pending::<()>().await;
        };
        let error = stop.guard(work).await.unwrap_err();
        assert!(is_aborted(&error), "{error:#}");
        assert_eq!(
            error.to_string(),
            "oauthctl: SIGINT again: aborting now; the open batch is rolled back"
        );
        assert_eq!(
            crate::error::exit_code(&Err(error)),
            crate::error::exit::STOPPED
        );
        // Every later check says the same: nothing more is started.
        let error = stop.sleep(Duration::from_secs(1)).await.unwrap_err();
        assert!(is_aborted(&error));
    }
}
