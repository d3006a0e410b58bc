//! Client-secret hashes in the exact string formats Django's `check_password` accepts.
//!
//! DOT stores `make_password(secret)`; a deployment verifies with `check_password`, which picks
//! the hasher from the text before the first `$`. We write two of Django's formats:
//! `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>` (needs `argon2-cffi` on the Django
//! side) and `pbkdf2_sha256$<iterations>$<salt>$<hash>` (works on every Django).

use anyhow::{anyhow, bail, Result};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::Sha256;

/// Django's Argon2 parameters (unchanged from Django 4.2 to 6.1).
pub const ARGON2_MEMORY_KIB: u32 = 102_400;
pub const ARGON2_TIME_COST: u32 = 2;
pub const ARGON2_PARALLELISM: u32 = 8;
/// Django 5.2 LTS's PBKDF2 iteration count, the default of `--pbkdf2-iterations`. Each Django
/// release raises it (4.2: 600,000; 5.0: 720,000; 5.1: 870,000; 5.2: 1,000,000); any count
/// verifies on every Django, but every client authentication pays for the count in the hash,
/// so the setting lets it cost what the deployment's own Django would make it cost.
pub const PBKDF2_ITERATIONS: u32 = 1_000_000;
/// `--pbkdf2-iterations` bounds: no Django since 2.0 used fewer than 100,000 (its count then),
/// and 100,000,000 already takes about a minute per hash.
pub const PBKDF2_ITERATIONS_RANGE: std::ops::RangeInclusive<u32> = 100_000..=100_000_000;

/// Algorithm names of the hashers in Django's default `PASSWORD_HASHERS`: a secret starting with
/// one of these and a `$` is treated by DOT as already hashed and stored as given.
const DJANGO_DEFAULT_HASHERS: &[&str] = &[
    "pbkdf2_sha256",
    "pbkdf2_sha1",
    "argon2",
    "bcrypt_sha256",
    "scrypt",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hasher {
    /// Django's Argon2PasswordHasher (needs argon2-cffi on the Django side).
    Argon2,
    /// Django's PBKDF2PasswordHasher (available in every Django install).
    Pbkdf2Sha256,
}

/// True when DOT's `identify_hasher` would accept `secret` as a hash of a default hasher.
pub fn is_django_hash(secret: &str) -> bool {
    match secret.split_once('$') {
        Some((algorithm, _)) => DJANGO_DEFAULT_HASHERS.contains(&algorithm),
        None => false,
    }
}

/// Django's 22-character salt (`get_random_string(22)`, ~128 bits).
pub fn new_salt() -> String {
    super::credentials::random_string(22)
}

/// `--pbkdf2-iterations` (or its variable): a whole number in [`PBKDF2_ITERATIONS_RANGE`];
/// `None` or empty gives Django 5.2's count. `source` names the option for the message.
pub fn pbkdf2_iterations(text: Option<&str>, source: &str) -> Result<u32> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(PBKDF2_ITERATIONS);
    };
    match text.replace('_', "").parse::<u32>() {
        Ok(n) if PBKDF2_ITERATIONS_RANGE.contains(&n) => Ok(n),
        _ => bail!(crate::error::Failure::Usage(format!(
            "{source} must be a whole number from {} to {}, such as 600000 for Django 4.2: got {}",
            PBKDF2_ITERATIONS_RANGE.start(),
            PBKDF2_ITERATIONS_RANGE.end(),
            crate::django::repr::repr_str(text)
        ))),
    }
}

/// Django's `make_password(secret)` with this hasher; `pbkdf2_iterations` is the deployment's
/// PBKDF2 count (unused by Argon2).
pub fn make_password(secret: &str, hasher: Hasher, pbkdf2_iterations: u32) -> Result<String> {
    let salt = new_salt();
    match hasher {
        Hasher::Argon2 => argon2_hash(
            secret,
            &salt,
            ARGON2_MEMORY_KIB,
            ARGON2_TIME_COST,
            ARGON2_PARALLELISM,
        ),
        Hasher::Pbkdf2Sha256 => Ok(pbkdf2_sha256_hash(secret, &salt, pbkdf2_iterations)),
    }
}

pub fn pbkdf2_sha256_hash(secret: &str, salt: &str, iterations: u32) -> String {
    let mut derived = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret.as_bytes(), salt.as_bytes(), iterations, &mut derived);
    format!(
        "pbkdf2_sha256${iterations}${salt}${}",
        STANDARD.encode(derived)
    )
}

pub fn argon2_hash(
    secret: &str,
    salt: &str,
    memory_kib: u32,
    time_cost: u32,
    parallelism: u32,
) -> Result<String> {
    let params = argon2::Params::new(memory_kib, time_cost, parallelism, Some(32))
        .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
    let engine = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut derived = [0u8; 32];
    engine
        .hash_password_into(secret.as_bytes(), salt.as_bytes(), &mut derived)
        .map_err(|e| anyhow!("argon2 hashing failed: {e}"))?;
    Ok(format!(
        "argon2$argon2id$v=19$m={memory_kib},t={time_cost},p={parallelism}${}${}",
        STANDARD_NO_PAD.encode(salt.as_bytes()),
        STANDARD_NO_PAD.encode(derived)
    ))
}

/// Re-computes `encoded` from `secret` the way Django's `check_password` does, for the formats
/// oauthctl writes (and pbkdf2_sha1). Used by tests and by `--verify`-style self checks.
pub fn check_password(secret: &str, encoded: &str) -> Result<bool> {
    let parts: Vec<&str> = encoded.split('$').collect();
    match parts.as_slice() {
        ["pbkdf2_sha256", iterations, salt, _] => {
            let iterations: u32 = iterations.parse()?;
            Ok(constant_time_eq(
                pbkdf2_sha256_hash(secret, salt, iterations).as_bytes(),
                encoded.as_bytes(),
            ))
        }
        ["pbkdf2_sha1", iterations, salt, _] => {
            let iterations: u32 = iterations.parse()?;
            let mut derived = [0u8; 20];
            pbkdf2::pbkdf2_hmac::<sha1::Sha1>(
                secret.as_bytes(),
                salt.as_bytes(),
                iterations,
                &mut derived,
            );
            let recomputed = format!(
                "pbkdf2_sha1${iterations}${salt}${}",
                STANDARD.encode(derived)
            );
            Ok(constant_time_eq(recomputed.as_bytes(), encoded.as_bytes()))
        }
        ["argon2", "argon2id", "v=19", params, salt_b64, hash_b64] => {
            let mut memory = None;
            let mut time = None;
            let mut lanes = None;
            for kv in params.split(',') {
                match kv.split_once('=') {
                    Some(("m", v)) => memory = Some(v.parse::<u32>()?),
                    Some(("t", v)) => time = Some(v.parse::<u32>()?),
                    Some(("p", v)) => lanes = Some(v.parse::<u32>()?),
                    _ => bail!("unknown argon2 parameter {kv:?}"),
                }
            }
            let (Some(m), Some(t), Some(p)) = (memory, time, lanes) else {
                bail!("incomplete argon2 parameters")
            };
            let salt = STANDARD_NO_PAD.decode(salt_b64)?;
            let expected = STANDARD_NO_PAD.decode(hash_b64)?;
            let params = argon2::Params::new(m, t, p, Some(expected.len()))
                .map_err(|e| anyhow!("invalid argon2 parameters: {e}"))?;
            let engine =
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
            let mut derived = vec![0u8; expected.len()];
            engine
                .hash_password_into(secret.as_bytes(), &salt, &mut derived)
                .map_err(|e| anyhow!("argon2 hashing failed: {e}"))?;
            Ok(constant_time_eq(&derived, &expected))
        }
        _ => bail!("not a hash format oauthctl can verify"),
    }
}

/// Compares in time that does not depend on where the inputs differ (as Django's
/// `constant_time_compare`), so a verifier leaks nothing about how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Test vectors from Django 5.2's check_password (docs/compatibility.md#hash-formats): password SECRET.
    #[test]
    fn pbkdf2_sha256_matches_django_vectors() {
        assert_eq!(
            pbkdf2_sha256_hash("SECRET", "abcdefghijklmnopqrstuv", 1_000_000),
            "pbkdf2_sha256$1000000$abcdefghijklmnopqrstuv$DItEmvNT9a5216IzMu1M9yq5PtPOgc/RxKIQe283zdk="
        );
        assert_eq!(
            pbkdf2_sha256_hash("SECRET", "saltsaltsaltsaltsaltsa", 1000),
            "pbkdf2_sha256$1000$saltsaltsaltsaltsaltsa$RlpzKRXLsRWv+CY4aNmnrrMGMabN29Y4X5UeK1OblU0="
        );
        assert!(check_password(
            "SECRET",
            "pbkdf2_sha256$1200000$abcdefghijklmnopqrstuv$1NKb5b5VhEgM+8Ho3sWIAOywdXj/puu+EkZHYZU9TFo="
        )
        .unwrap());
        assert!(!check_password(
            "SECRET2",
            "pbkdf2_sha256$1000$saltsaltsaltsaltsaltsa$RlpzKRXLsRWv+CY4aNmnrrMGMabN29Y4X5UeK1OblU0="
        )
        .unwrap());
    }

    #[test]
    fn pbkdf2_sha1_vectors_verify() {
        assert!(check_password(
            "SECRET",
            "pbkdf2_sha1$1000000$abcdefghijklmnopqrstuv$bmmDgz43MCshuqb5t/OxNyMZD94="
        )
        .unwrap());
    }

    #[test]
    fn argon2_matches_django_vectors() {
        assert_eq!(
            argon2_hash("SECRET", "abcdefghijklmnopqrstuv", 102_400, 2, 8).unwrap(),
            "argon2$argon2id$v=19$m=102400,t=2,p=8$YWJjZGVmZ2hpamtsbW5vcHFyc3R1dg$UOfX3KFS2ECTGczczlWhk+aLQQBn0dWodIZXIpx0ozg"
        );
        assert_eq!(
            argon2_hash("SECRET", "saltsaltsaltsaltsaltsa", 8192, 1, 1).unwrap(),
            "argon2$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdHNhbHRzYQ$zIKLCcEJDoYHe2IMvfpOTvpIpQcpWRJis0HNbZHoGkk"
        );
    }

    #[test]
    fn make_password_round_trips_with_fresh_salts() {
        let a = make_password("s3cret", Hasher::Pbkdf2Sha256, PBKDF2_ITERATIONS).unwrap();
        let b = make_password("s3cret", Hasher::Pbkdf2Sha256, PBKDF2_ITERATIONS).unwrap();
        assert_ne!(a, b, "salts must differ");
        assert!(a.starts_with("pbkdf2_sha256$1000000$"));
        assert_eq!(a.len(), 89);
        assert!(check_password("s3cret", &a).unwrap());
        assert!(!check_password("s3creT", &a).unwrap());

        let h = make_password("s3cret", Hasher::Argon2, PBKDF2_ITERATIONS).unwrap();
        assert!(h.starts_with("argon2$argon2id$v=19$m=102400,t=2,p=8$"));
        assert_eq!(h.len(), 112);
        assert!(check_password("s3cret", &h).unwrap());
        assert!(!check_password("other", &h).unwrap());
    }

    #[test]
    fn pbkdf2_hashes_carry_and_verify_with_the_chosen_count() {
        let h = make_password("s3cret", Hasher::Pbkdf2Sha256, 600_000).unwrap();
        assert!(h.starts_with("pbkdf2_sha256$600000$"), "{h}");
        assert!(check_password("s3cret", &h).unwrap());
        assert!(!check_password("s3creT", &h).unwrap());
    }

    #[test]
    fn pbkdf2_iterations_are_checked() {
        let parse = |t| pbkdf2_iterations(t, "--pbkdf2-iterations");
        assert_eq!(parse(None).unwrap(), 1_000_000);
        assert_eq!(parse(Some(" ")).unwrap(), 1_000_000);
        assert_eq!(parse(Some("600000")).unwrap(), 600_000);
        assert_eq!(parse(Some("870_000")).unwrap(), 870_000);
        assert_eq!(parse(Some("100000000")).unwrap(), 100_000_000);
        for bad in ["99999", "100000001", "-1", "1e6", "abc", "0"] {
            let e = parse(Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("--pbkdf2-iterations must be"), "{bad}: {e}");
        }
    }

    #[test]
    fn recognises_django_hashes_like_identify_hasher() {
        assert!(is_django_hash("pbkdf2_sha256$notreally"));
        assert!(is_django_hash("argon2$argon2id$x"));
        assert!(is_django_hash("bcrypt_sha256$x"));
        assert!(
            !is_django_hash("md5$abc$def"),
            "md5 is not in the default hashers"
        );
        assert!(!is_django_hash("plain-secret"));
        assert!(!is_django_hash("$pbkdf2_sha256"));
    }
}
