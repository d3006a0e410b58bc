//! oauthctl's integration tests, in one binary (one link, one `tests/it/support` compile).
//!
//! Each module is one area; tests that run on several backends are made by
//! [`support::backend_test!`] and are named `area::test::sqlite`, `…::postgres`, `…::mariadb`, so
//!
//! ```sh
//! cargo test                      # everything this machine can run (a note says what it skipped)
//! cargo test sqlite               # only the SQLite tests (and tests of nothing but SQLite)
//! cargo test cleartokens::        # one area
//! bash tests/run.sh               # CI: every server and the venv are required, nothing skipped
//! ```
//!
//! Servers, private-server binaries and the interop venv: see `support/availability.rs`.

mod support;

mod apply;
mod bench_smoke;
mod cleartokens;
mod createapplication;
mod doctor;
mod dot_releases;
mod harness;
mod hostile_input;
mod indexes;
mod interop;
mod interop_cleartokens;
mod observability;
mod packaging;
mod reliability_crash;
mod reliability_faults;
mod reliability_live;
mod reliability_network;
mod reliability_overlap;
mod reliability_restart;
mod secrets;
mod time_zones;
mod uri_validator;
