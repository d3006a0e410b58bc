//! One module per subcommand, each with an `Args` (its clap arguments) and a `run`.

pub mod apply;
pub mod cleartokens;
pub mod createapplication;
pub mod listapplications;
pub mod migrate;
