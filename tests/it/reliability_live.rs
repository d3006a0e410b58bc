//! Live traffic during cleanup: a DOT-like token endpoint (concurrent sqlx clients) issues,
//! exchanges, refreshes and revokes tokens while `oauthctl cleartokens --batch-size 500` works
//! through a 200,000-row backlog. The writer must see no error, no token that was live is
//! deleted, every row the oracle says goes is gone, and no row references a deleted row.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::load::*;
use crate::support::{backend_test, code, stderr, stdout, Backend, TestDb};

/// Units of `load::seed`: about 3.9 rows each, so ≥ 200,000 rows.
const UNITS: i64 = 51_500;
const WRITER_TASKS: usize = 8;

fn live_traffic(backend: Backend) {
    let db = TestDb::migrated(backend, "live");
    let seeded = seed(&db, UNITS, chrono::Utc::now());
    assert!(seeded.rows >= 200_000, "{}", seeded.rows);

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let refreshable = seeded.refreshable.clone();
        spawn_writer(
            backend,
            db.url.clone(),
            WRITER_TASKS,
            10_000_000,
            refreshable,
            stop,
        )
    };
    // Let the writer reach full speed before cleanup starts.
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    let out = db
        .oauthctl(&[
            "cleartokens",
            "--batch-size",
            "500",
            "--refresh-token-expire-seconds",
            EXPIRE_SECONDS,
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let cleanup_time = started.elapsed();
    // Keep writing a little after cleanup ended, then stop.
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::SeqCst);
    let report = writer.join().unwrap();

    assert_eq!(code(&out), 0, "{backend:?}: {}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(json["stop_reason"], "completed");
    if !report.errors.is_empty() && backend == Backend::MySql {
        let status = db.rows("SHOW ENGINE INNODB STATUS");
        let text = status[0][2].clone().unwrap_or_default();
        let deadlock = text
            .split("LATEST DETECTED DEADLOCK")
            .nth(1)
            .and_then(|t| t.split("TRANSACTIONS\n").next())
            .unwrap_or("");
        eprintln!("{backend:?}: latest deadlock:{deadlock}");
    }
    assert!(
        report.errors.is_empty(),
        "{backend:?}: the writer saw {} errors in {} ops, e.g. {:?}",
        report.errors.len(),
        report.ops,
        &report.errors[..report.errors.len().min(5)]
    );
    assert!(
        report.ops > 100,
        "{backend:?}: writer barely ran ({})",
        report.ops
    );

    // Nothing live was deleted: seeded rows DOT keeps (unless the writer revoked them) and
    // everything the writer left live.
    let (at, rtk, idt, grant) = (ids(&db, AT), ids(&db, RT), ids(&db, IDT), ids(&db, GRANT));
    let missing = |what: &str,
                   want: &std::collections::BTreeSet<i64>,
                   have: &std::collections::BTreeSet<i64>| {
        let lost: Vec<i64> = want.difference(have).copied().take(10).collect();
        assert!(
            lost.is_empty(),
            "{backend:?}: live {what} deleted: {lost:?}"
        );
    };
    let keep_at = seeded
        .keep_at
        .difference(&report.touched_at)
        .copied()
        .collect();
    let keep_rt = seeded
        .keep_rt
        .difference(&report.touched_rt)
        .copied()
        .collect();
    missing("access tokens (seeded)", &keep_at, &at);
    missing("refresh tokens (seeded)", &keep_rt, &rtk);
    // A revoked access token is deleted; its (expired) ID token is then DOT's to delete. Seeded
    // ID token i belongs to access token i.
    let keep_idt = seeded
        .keep_idt
        .difference(&report.touched_at)
        .copied()
        .collect();
    missing("ID tokens (seeded)", &keep_idt, &idt);
    missing("grants (seeded)", &seeded.keep_grant, &grant);
    missing("access tokens (writer)", &report.live_at, &at);
    missing("refresh tokens (writer)", &report.live_rt, &rtk);
    missing("ID tokens (writer)", &report.live_idt, &idt);
    missing("grants (writer)", &report.live_grant, &grant);
    // Everything DOT's rules delete is gone.
    for (what, gone, have) in [
        ("access tokens", &seeded.delete_at, &at),
        ("refresh tokens", &seeded.delete_rt, &rtk),
        ("ID tokens", &seeded.delete_idt, &idt),
        ("grants", &seeded.delete_grant, &grant),
    ] {
        let left: Vec<i64> = gone.intersection(have).copied().take(10).collect();
        assert!(
            left.is_empty(),
            "{backend:?}: deletable {what} left: {left:?}"
        );
    }
    assert_eq!(dangling(&db), vec![], "{backend:?}: dangling references");

    println!(
        "RELIABILITY live {backend:?}: rows seeded {}, deleted {}, cleanup {:.1} s, writer ops {} (max op {} ms), writer errors {}, slowest batch {} s",
        seeded.rows,
        json["deleted_total"],
        cleanup_time.as_secs_f64(),
        report.ops,
        report.max_op.as_millis(),
        report.errors.len(),
        json["slowest_batch_seconds"]
    );
}

backend_test!(live_traffic, |backend| {
    live_traffic(backend);
});
