//! Overlapping runs: two and ten `cleartokens` started at once on one database. Exactly one
//! works (exit 0); the others exit 3 promptly with a message naming the lock; the final rows
//! equal those of a single run on an identical copy.

use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::{backend_test, code, now, stderr, Backend, TestDb, NOW};

const UNITS: i64 = 4_000;

fn args() -> Vec<&'static str> {
    vec![
        "cleartokens",
        "--batch-size",
        "50",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ]
}

fn overlap(backend: Backend, runs: usize) {
    let db = TestDb::migrated(backend, "overlap");
    seed(&db, UNITS, now());
    let reference = TestDb::migrated(backend, "overlapref");
    seed(&reference, UNITS, now());
    let single = reference
        .oauthctl(&args())
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&single), 0, "{backend:?}: {}", stderr(&single));

    // Start them together: each thread spawns its process as the barrier opens.
    let barrier = Arc::new(Barrier::new(runs));
    let handles: Vec<_> = (0..runs)
        .map(|_| {
            let barrier = barrier.clone();
            let mut cmd = db.oauthctl(&args());
            cmd.env("OAUTHCTL_NOW", NOW)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            std::thread::spawn(move || {
                barrier.wait();
                let started = Instant::now();
                let out = cmd.output().unwrap();
                (out, started.elapsed())
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let winners: Vec<_> = results.iter().filter(|(o, _)| code(o) == 0).collect();
    let losers: Vec<_> = results.iter().filter(|(o, _)| code(o) == 3).collect();
    assert_eq!(
        winners.len(),
        1,
        "{backend:?}: exactly one run works; codes {:?}, stderr {:?}",
        results.iter().map(|(o, _)| code(o)).collect::<Vec<_>>(),
        results.iter().map(|(o, _)| stderr(o)).collect::<Vec<_>>()
    );
    assert_eq!(losers.len(), runs - 1, "{backend:?}: the others exit 3");
    let mut slowest = Duration::ZERO;
    for (out, took) in &losers {
        let err = stderr(out);
        assert!(err.contains("lock"), "{backend:?}: names the lock: {err}");
        assert!(
            err.contains("another oauthctl cleartokens run"),
            "{backend:?}: {err}"
        );
        assert!(
            *took < Duration::from_secs(5),
            "{backend:?}: refused after {took:?}"
        );
        slowest = slowest.max(*took);
    }
    assert_eq!(dangling(&db), vec![]);
    assert!(
        snapshot(&db) == snapshot(&reference),
        "{backend:?}: final rows differ from a single run's"
    );
    println!(
        "RELIABILITY overlap {backend:?}: {runs} at once: 1 exit 0, {} exit 3, slowest refusal {} ms, winner {} ms, final rows equal a single run's",
        losers.len(),
        slowest.as_millis(),
        winners[0].1.as_millis()
    );
}

backend_test!(two_runs_at_once, |backend| {
    overlap(backend, 2);
});

backend_test!(ten_runs_at_once, |backend| {
    overlap(backend, 10);
});
