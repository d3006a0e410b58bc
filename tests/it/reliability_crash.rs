//! Crash at any instant: `cleartokens` is SIGKILLed at random moments of its run (≥ 20 hits per
//! backend). After each kill no row references a deleted row and the run lock is free (the next
//! run is not refused); a final uninterrupted run then leaves exactly the rows a never-interrupted
//! run leaves on an identical copy. (SIGTERM/SIGINT — exit 4 after the current batch, summary
//! printed — is covered by tests/it/cleartokens.rs `sigterm_finishes_the_batch_…`.)

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::{backend_test, code, now, stderr, Backend, TestDb, NOW};

const UNITS: i64 = 3_000;
const KILLS: usize = 20;

fn args() -> Vec<&'static str> {
    vec![
        "cleartokens",
        "--batch-size",
        "20",
        "--refresh-token-expire-seconds",
        EXPIRE_SECONDS,
    ]
}

fn crash(backend: Backend) {
    let db = TestDb::migrated(backend, "crash");
    let seeded = seed(&db, UNITS, now());
    let reference = TestDb::migrated(backend, "crashref");
    seed(&reference, UNITS, now());
    let started = Instant::now();
    let out = reference
        .oauthctl(&args())
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    let full_run = started.elapsed();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));

    // Random delays spanning the run (xorshift, fixed seed: reproducible).
    let mut state: u64 = 0x5851_f42d_4c95_7f2d ^ backend as u64;
    let mut rand = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let span_ms = (full_run.as_millis() as u64).max(200);
    let (mut hits, mut attempts, mut finished_first) = (0, 0, 0);
    let total = |db: &TestDb| db.count(AT) + db.count(RT) + db.count(IDT) + db.count(GRANT);
    let final_rows = total(&reference);
    let initial_work = (total(&db) - final_rows).max(1) as u64;
    let mut remaining_before = total(&db);
    while hits < KILLS {
        attempts += 1;
        assert!(
            attempts < KILLS * 4,
            "{backend:?}: the runs kept finishing before the kill"
        );
        // Kill early in the remaining work: each kill costs progress, so aim at the first
        // third of what is left, and sometimes at the very start (connect, lock, set-up).
        let work_left = (remaining_before - final_rows).max(0) as u64;
        let span_left = span_ms * work_left / initial_work;
        let delay = match rand(4) {
            0 => rand(60),
            _ => rand(span_left / 2 + 30),
        };
        let mut child = db
            .oauthctl(&args())
            .env("OAUTHCTL_NOW", NOW)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        if still_running {
            hits += 1;
        } else {
            finished_first += 1;
            assert!(
                matches!(code(&out), 0),
                "{backend:?}: a run exited {} before the kill: {}",
                code(&out),
                stderr(&out)
            );
        }
        assert_eq!(
            dangling(&db),
            vec![],
            "{backend:?}: dangling references after a kill at {delay} ms"
        );
        // The lock is free: a dry run needs none, so check with a real run that is refused
        // only if the killed run's lock survived it. `--max-duration 1ms` stops it before its
        // first batch.
        let probe = db
            .oauthctl(&[
                "cleartokens",
                "--max-duration",
                "0.001",
                "--refresh-token-expire-seconds",
                EXPIRE_SECONDS,
            ])
            .env("OAUTHCTL_NOW", NOW)
            .output()
            .unwrap();
        assert!(
            matches!(code(&probe), 0 | 4),
            "{backend:?}: after a kill at {delay} ms the next run was refused ({}): {}",
            code(&probe),
            stderr(&probe)
        );
        let remaining = total(&db);
        assert!(remaining <= remaining_before);
        remaining_before = remaining;
    }
    let out = db
        .oauthctl(&args())
        .env("OAUTHCTL_NOW", NOW)
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    assert_eq!(dangling(&db), vec![]);
    let (a, b) = (snapshot(&db), snapshot(&reference));
    assert_eq!(a.len(), b.len(), "{backend:?}: row counts differ");
    assert!(
        a == b,
        "{backend:?}: final rows differ from a never-interrupted run's"
    );
    println!(
        "RELIABILITY crash {backend:?}: rows seeded {}, SIGKILLs mid-run {hits} (+{finished_first} that came after the run ended), uninterrupted run {} ms, final rows ({}) equal a never-interrupted run's",
        seeded.rows,
        full_run.as_millis(),
        a.len()
    );
}

backend_test!(sigkill_at_random_moments, |backend| {
    crash(backend);
});
