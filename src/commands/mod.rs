//! One module per subcommand, each with an `Args` (its clap arguments) and a `run`; `metrics_file`
//! is the file I/O of `cleartokens --metrics-file`.

pub mod apply;
pub mod cleartokens;
pub mod completions;
pub mod createapplication;
pub mod doctor;
pub mod indexes;
pub mod listapplications;
pub mod manpages;
pub mod metrics_file;
pub mod migrate;
