//! Smoke run of the benchmark (`bench/cleartokens.sh --smoke BACKEND`): the backlog mix at N =
//! 2,000 with DOT's `cleartokens`, oauthctl and the single-statement floor on identical copies,
//! then issue 10's comparison at small N (`bench/cleanup_indexes.sh BACKEND --smoke`: steady 2,000
//! vs quiet 20,000, the floor and oauthctl also with the cleanup indexes, pages touched, the index
//! build and a 2 s write path). It fails unless every tool leaves the same rows, so the benchmark
//! itself cannot rot unnoticed. The real figures are in BENCHMARKS.md; they are never asserted
//! here.
//!
//! Needs the interop venv and the backend's server: without them it is not run, unless
//! OAUTHCTL_TEST_REQUIRE_ALL=1 (see `support/availability.rs`).

use std::process::Command;

use crate::support::{backend_test, bin, require, scrub_env, Need};

fn smoke(backend: &str) {
    require!(Need::InteropVenv);
    let setup = Command::new("bash")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/interop/setup_venv.sh"
        ))
        .status()
        .expect("running setup_venv.sh");
    assert!(
        setup.success(),
        "the interop virtualenv could not be set up"
    );
    let mut bench = Command::new("bash");
    // The script runs oauthctl as well: the developer's oauthctl settings stay out of it too.
    scrub_env(&mut bench);
    let out = bench
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/cleartokens.sh"))
        .args(["--smoke", backend])
        .env("OAUTHCTL_BIN", bin())
        .output()
        .expect("running bench/cleartokens.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "benchmark smoke run failed on {backend}"
    );
}

backend_test!(benchmark_smoke_run, |backend| {
    smoke(backend.script_name());
});
