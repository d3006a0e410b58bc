//! oauthctl: Django OAuth Toolkit's `cleartokens` and `createapplication`, straight on the database.

pub mod uri_validator;
