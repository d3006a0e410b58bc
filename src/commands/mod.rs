//! One module per subcommand, each with an `Args` (its clap arguments) and a `run`.

pub mod cleartokens;
pub mod createapplication;
pub mod migrate;
pub mod completions;
pub mod manpages;
