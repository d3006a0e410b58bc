//! Client credentials: ids and secrets generated as DOT's default generators make them, and a
//! secret read from where the operator keeps it.
//!
//! DOT draws each character uniformly from `[A-Za-z0-9]` with the OS CSPRNG (`SystemRandom`);
//! a client id has 40 characters and a secret 128. A given secret comes from argv, standard
//! input, a file or an environment variable; the last three keep it out of the process list.

use std::io::Read;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use rand::rngs::OsRng;
use rand::seq::SliceRandom;

use crate::error::Failure;

/// DOT's `UNICODE_ASCII_CHARACTER_SET`.
pub const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
pub const CLIENT_ID_LENGTH: usize = 40;
pub const CLIENT_SECRET_LENGTH: usize = 128;

/// `length` characters drawn uniformly from [`ALPHABET`] with the operating system's CSPRNG.
pub fn random_string(length: usize) -> String {
    let mut rng = OsRng;
    (0..length)
        .map(|_| *ALPHABET.choose(&mut rng).expect("alphabet is not empty") as char)
        .collect()
}

pub fn client_id() -> String {
    random_string(CLIENT_ID_LENGTH)
}

pub fn client_secret() -> String {
    random_string(CLIENT_SECRET_LENGTH)
}

/// Where a given client secret is read from.
#[derive(Clone, Debug)]
pub enum SecretSource {
    /// Given on the command line (DOT's `--client-secret`).
    Argument(String),
    Stdin,
    File(PathBuf),
    /// The name of an environment variable.
    Env(String),
}

impl SecretSource {
    /// The secret, with one trailing newline dropped from stdin and files. An empty argument
    /// means "generate one" (`None`), as DOT treats it; an empty stdin, file or variable, a
    /// multi-line one or one that is not UTF-8 is a usage error naming the source.
    pub fn read(&self) -> Result<Option<String>> {
        let (text, source) = match self {
            SecretSource::Argument(text) => return Ok(Some(text.clone()).filter(|t| !t.is_empty())),
            SecretSource::Stdin => {
                let mut bytes = Vec::new();
                std::io::stdin()
                    .read_to_end(&mut bytes)
                    .context("reading the client secret from standard input")?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    Failure::Usage("the client secret on standard input is not valid UTF-8".into())
                })?;
                (strip_newline(text), "standard input".to_string())
            }
            SecretSource::File(path) => {
                let bytes = std::fs::read(path).with_context(|| {
                    format!("reading the client secret file {}", path.display())
                })?;
                let text = String::from_utf8(bytes).map_err(|_| {
                    Failure::Usage(format!(
                        "the client secret file {} is not valid UTF-8",
                        path.display()
                    ))
                })?;
                (strip_newline(text), format!("file {}", path.display()))
            }
            SecretSource::Env(var) => (read_env(var)?, format!("environment variable {var}")),
        };
        require_content(text, &source).map(Some)
    }
}

fn read_env(var: &str) -> Result<String> {
    match std::env::var(var) {
        Ok(text) => Ok(text),
        Err(std::env::VarError::NotPresent) => bail!(Failure::Usage(format!(
            "environment variable {var} (from --client-secret-env) is not set"
        ))),
        Err(std::env::VarError::NotUnicode(_)) => bail!(Failure::Usage(format!(
            "environment variable {var} is not valid UTF-8"
        ))),
    }
}

fn strip_newline(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

fn require_content(text: String, source: &str) -> Result<String> {
    if text.is_empty() {
        bail!(Failure::Usage(format!("the client secret from {source} is empty; give a non-empty secret or omit the option to generate one")));
    }
    if text.contains(['\n', '\r', '\0']) {
        bail!(Failure::Usage(format!("the client secret from {source} spans several lines or contains NUL; give a single line")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn lengths_match_dot() {
        assert_eq!(client_id().chars().count(), 40);
        assert_eq!(client_secret().chars().count(), 128);
    }

    #[test]
    fn only_alphanumerics_and_every_one_appears() {
        let mut seen: HashMap<char, usize> = HashMap::new();
        for _ in 0..200 {
            for c in client_secret().chars() {
                assert!(c.is_ascii_alphanumeric(), "unexpected {c:?}");
                *seen.entry(c).or_default() += 1;
            }
        }
        // 25,600 draws over 62 symbols: every symbol appears, none wildly over-represented.
        assert_eq!(seen.len(), 62);
        let expected = 25_600.0 / 62.0;
        for (c, n) in seen {
            let n = n as f64;
            assert!(
                n > expected * 0.6 && n < expected * 1.4,
                "{c} drawn {n} times"
            );
        }
    }

    #[test]
    fn draws_differ() {
        assert_ne!(client_id(), client_id());
    }
}
