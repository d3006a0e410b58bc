//! Python and Django behaviour that oauthctl reproduces byte for byte.

pub mod settings;
