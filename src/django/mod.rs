//! Python and Django behaviour oauthctl reproduces.
//!
//! DOT's output and stored values are produced by CPython 3.11 and Django 5.2; wherever
//! oauthctl must be byte-for-byte the same, the rule lives here, once, for every caller:
//!
//! - [`repr`]: Python's `repr()` of `str` and of a list of `str` (DOT's error messages);
//! - [`pystr`]: Python's `str` predicates (`isspace`, `isprintable`, `\d`, `re.IGNORECASE`
//!   folds, `lower()` lengths) and `str.split()`;
//! - [`clock`]: the one "now" of a run;
//! - [`datetime`]: the text Django stores a datetime as;
//! - [`settings`]: Django settings read as text (booleans);
//! - [`timezone`]: `USE_TZ`, `TIME_ZONE` and the per-database `TIME_ZONE`, and the datetimes
//!   Django's code holds under them;
//! - [`unicode_tables`]: the Unicode data behind [`pystr`], generated from CPython itself by
//!   `scripts/gen_unicode_tables.py` rather than typed in.

pub mod clock;
pub mod datetime;
pub mod pystr;
pub mod repr;
pub mod settings;
pub mod timezone;
// Generated: keep rustfmt off it so the file stays byte-identical to the generator's output.
#[rustfmt::skip]
pub mod unicode_tables;

#[cfg(test)]
mod tests;
