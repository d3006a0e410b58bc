//! Smoke run of the benchmark (`bench/cleartokens.sh --smoke BACKEND`): N = 2,000 tokens, both
//! mixes, DOT's `cleartokens`, oauthctl and the single-statement floor on identical copies. It
//! fails unless all three leave the same rows, so the benchmark itself cannot rot unnoticed.
//! The real figures (N = 1,000,000) are in BENCHMARKS.md; they are never asserted here.
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
