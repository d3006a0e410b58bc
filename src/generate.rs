//! Client id and secret generation, as DOT's default generators do it.
//!
//! DOT draws each character uniformly from `[A-Za-z0-9]` with the OS CSPRNG (`SystemRandom`);
//! a client id has 40 characters and a secret 128.

use rand::rngs::OsRng;
use rand::seq::SliceRandom;

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
