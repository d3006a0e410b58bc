//! One module per subcommand, each with an `Args` (its clap arguments) and a `run`.

pub mod cleartokens;
pub mod completions;
pub mod createapplication;
pub mod manpages;
pub mod migrate;
