//! Smoke run of the benchmark (`bench/cleartokens.sh --smoke BACKEND`): N = 2,000 tokens, both
//! mixes, DOT's `cleartokens`, oauthctl and the single-statement floor on identical copies. It
//! fails unless all three leave the same rows, so the benchmark itself cannot rot unnoticed.
//! The real figures (N = 1,000,000) are in BENCHMARKS.md; they are never asserted here.

use std::process::Command;

fn smoke(backend: &str) {
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
    let out = Command::new("bash")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/cleartokens.sh"))
        .args(["--smoke", backend])
        .env("OAUTHCTL_BIN", env!("CARGO_BIN_EXE_oauthctl"))
        .env_remove("DATABASE_URL")
        .env_remove("OAUTHCTL_NOW")
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

#[test]
fn bench_smoke_sqlite() {
    smoke("sqlite");
}

#[test]
fn bench_smoke_postgres() {
    smoke("postgres");
}

#[test]
fn bench_smoke_mysql() {
    smoke("mysql");
}
