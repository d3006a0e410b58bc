//! DOT's `Application.full_clean()` for a new application, as `createapplication` runs it.
//!
//! Errors are collected per field, in Django's order — field checks in model field order, then
//! `Application.clean()`, then the client-id uniqueness check — and printed in DOT's format:
//! `Please correct the following errors:` then ` - field: ['message', …]` (Python list repr).

use super::hashing::is_django_hash;
use crate::django::repr::{repr_list, repr_str};
use crate::uri_validator::legacy::{validate_redirect_uri, LegacyOutcome};
use crate::uri_validator::{py_split_whitespace, UriValidator};

pub const CLIENT_TYPES: &[&str] = &["confidential", "public"];
pub const GRANT_TYPES: &[&str] = &[
    "authorization-code",
    "urn:ietf:params:oauth:grant-type:device_code",
    "implicit",
    "password",
    "client-credentials",
    "openid-hybrid",
];
pub const ALGORITHMS: &[&str] = &["", "RS256", "HS256"];
/// Grants that redirect the user agent and therefore need at least one redirect URI.
const REDIRECTING_GRANTS: &[&str] = &["authorization-code", "implicit", "openid-hybrid"];
/// Grants with which HS256 is refused (the token reaches a public agent).
const HS256_FORBIDDEN_GRANTS: &[&str] = &["implicit", "openid-hybrid"];

/// The first line of DOT's validation report.
pub const REPORT_HEADER: &str = "Please correct the following errors:";

pub const UNIQUE_CLIENT_ID_MESSAGE: &str = "Application with this Client ID already exists.";

/// The application fields after DOT's rule that empty options fall back to model defaults.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub client_id: String,
    pub user: Option<String>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub client_type: String,
    pub authorization_grant_type: String,
    /// Plaintext (or an already-hashed value the operator supplied).
    pub client_secret: String,
    pub hash_client_secret: bool,
    pub name: String,
    pub algorithm: String,
    /// Space-separated origins (always empty from `createapplication`; `apply` may set them).
    pub allowed_origins: String,
}

/// DOT settings that change validation.
#[derive(Clone, Debug)]
pub struct Policy {
    /// `ALLOWED_REDIRECT_URI_SCHEMES` (default http, https).
    pub redirect_uri_schemes: Vec<String>,
    /// `ALLOW_URI_WILDCARDS` (default false).
    pub allow_uri_wildcards: bool,
    /// Whether `OIDC_RSA_PRIVATE_KEY` is configured (RS256 needs it).
    pub rsa_private_key_configured: bool,
    /// `ALLOWED_SCHEMES`, the schemes an allowed origin may have (default https).
    pub allowed_origin_schemes: Vec<String>,
    /// `client_id`'s `max_length`: 255 from DOT 3.4.0, 100 before (`release.rs`).
    pub client_id_max_length: usize,
    /// Whether the device-code grant type is a choice (DOT 3.2 on).
    pub device_grant: bool,
    /// How `clean()` reports: every problem on its field (3.4.1), or only the first, as a
    /// non-field error `__all__` (DOT before 3.4.1 raised at the first problem).
    pub clean_reports_all: bool,
    /// Whether HS256 also needs an unhashed, non-empty secret (DOT 3.4.0 on).
    pub hs256_secret_checks: bool,
    /// Whether redirect URIs get DOT 2.0–2.3's `RedirectURIValidator` and scheme check
    /// (`uri_validator::legacy`) instead of 2.4+'s `AllowedURIValidator`.
    pub legacy_redirect_uris: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            redirect_uri_schemes: vec!["http".into(), "https".into()],
            allow_uri_wildcards: false,
            rsa_private_key_configured: false,
            allowed_origin_schemes: vec!["https".into()],
            client_id_max_length: 255,
            device_grant: true,
            clean_reports_all: true,
            hs256_secret_checks: true,
            legacy_redirect_uris: false,
        }
    }
}

/// What the database said about the candidate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Lookups {
    /// `Some(false)` when `--user` names no row; `None` when not checked (no users table).
    pub user_exists: Option<bool>,
    pub client_id_taken: bool,
}

/// `--user` as Django's integer primary key conversion reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UserRef {
    Id(i64),
    /// An integer too large for any database key: it cannot name a user.
    OutOfRange(String),
    NotAnInteger,
}

/// Python's `int(text)`: surrounding whitespace, a sign, ASCII digits with single underscores.
pub fn parse_user(text: &str) -> UserRef {
    let trimmed = text.trim_matches(|c: char| c.is_whitespace());
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let valid = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.chars().all(|c| c.is_ascii_digit() || c == '_');
    if !valid {
        return UserRef::NotAnInteger;
    }
    let plain: String = digits.chars().filter(|c| *c != '_').collect();
    let normalized = {
        let stripped = plain.trim_start_matches('0');
        let magnitude = if stripped.is_empty() { "0" } else { stripped };
        if negative && magnitude != "0" {
            format!("-{magnitude}")
        } else {
            magnitude.to_string()
        }
    };
    match normalized.parse::<i64>() {
        Ok(id) => UserRef::Id(id),
        Err(_) => UserRef::OutOfRange(normalized),
    }
}

/// Validation errors, in insertion order of their fields (as Django's error dict keeps them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors {
    fields: Vec<(String, Vec<String>)>,
}

impl FieldErrors {
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        let message = message.into();
        match self.fields.iter_mut().find(|(name, _)| name == field) {
            Some((_, messages)) => messages.push(message),
            None => self.fields.push((field.to_string(), vec![message])),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn has(&self, field: &str) -> bool {
        self.fields.iter().any(|(name, _)| name == field)
    }

    pub fn fields(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.fields
            .iter()
            .map(|(name, messages)| (name.as_str(), messages.as_slice()))
    }

    /// True when the only problem is that the client id is taken (a conflict, not bad input).
    pub fn only_duplicate_client_id(&self) -> bool {
        self.fields.len() == 1
            && self.fields[0].0 == "client_id"
            && self.fields[0]
                .1
                .iter()
                .all(|m| m == UNIQUE_CLIENT_ID_MESSAGE)
    }
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{REPORT_HEADER}")?;
        for (field, messages) in &self.fields {
            write!(f, "\n - {field}: {}", repr_list(messages))?;
        }
        Ok(())
    }
}

fn char_len(text: &str) -> usize {
    text.chars().count()
}

fn max_length_message(limit: usize, text: &str) -> Option<String> {
    let length = char_len(text);
    (length > limit)
        .then(|| format!("Ensure this value has at most {limit} characters (it has {length})."))
}

/// Django's CharField checks with choices: blank, else not a valid choice.
fn check_choice(
    errors: &mut FieldErrors,
    field: &str,
    value: &str,
    choices: &[&str],
    blank_allowed: bool,
) {
    if value.is_empty() {
        if !blank_allowed {
            errors.add(field, "This field cannot be blank.");
        }
    } else if !choices.contains(&value) {
        errors.add(
            field,
            format!("Value {} is not a valid choice.", repr_str(value)),
        );
    }
}

/// Runs DOT's `full_clean()` on the candidate: field checks, then `Application.clean()`, then
/// the uniqueness check, each appending to the errors in Django's order.
pub fn validate(candidate: &Candidate, policy: &Policy, lookups: Lookups) -> FieldErrors {
    let mut errors = FieldErrors::default();
    clean_fields(&mut errors, candidate, policy, lookups);
    clean(&mut errors, candidate, policy);
    // validate_unique(), only for fields without errors.
    if lookups.client_id_taken && !errors.has("client_id") {
        errors.add("client_id", UNIQUE_CLIENT_ID_MESSAGE);
    }
    errors
}

/// `clean_fields()`, in the model's field order.
fn clean_fields(
    errors: &mut FieldErrors,
    candidate: &Candidate,
    policy: &Policy,
    lookups: Lookups,
) {
    if let Some(message) = max_length_message(policy.client_id_max_length, &candidate.client_id) {
        errors.add("client_id", message);
    }
    if let Some(user) = &candidate.user {
        match parse_user(user) {
            UserRef::NotAnInteger => {
                errors.add("user", format!("“{user}” value must be an integer."))
            }
            UserRef::OutOfRange(normalized) => errors.add(
                "user",
                format!("user instance with id {normalized} is not a valid choice."),
            ),
            UserRef::Id(id) => {
                if lookups.user_exists == Some(false) {
                    errors.add(
                        "user",
                        format!("user instance with id {id} is not a valid choice."),
                    );
                }
            }
        }
    }
    check_choice(
        errors,
        "client_type",
        &candidate.client_type,
        CLIENT_TYPES,
        false,
    );
    let device_grant = GRANT_TYPES[1];
    let grant_types: Vec<&str> = GRANT_TYPES
        .iter()
        .copied()
        .filter(|grant| policy.device_grant || *grant != device_grant)
        .collect();
    check_choice(
        errors,
        "authorization_grant_type",
        &candidate.authorization_grant_type,
        &grant_types,
        false,
    );
    // max_length is checked on the plaintext, before hashing, as DOT does.
    if let Some(message) = max_length_message(255, &candidate.client_secret) {
        errors.add("client_secret", message);
    }
    if let Some(message) = max_length_message(255, &candidate.name) {
        errors.add("name", message);
    }
    check_choice(errors, "algorithm", &candidate.algorithm, ALGORITHMS, true);
}

/// `Application.clean()`: errors keyed by field, appended after the field errors.
fn clean(errors: &mut FieldErrors, candidate: &Candidate, policy: &Policy) {
    let mut found = FieldErrors::default();
    clean_checks(&mut found, candidate, policy);
    if policy.clean_reports_all {
        for (field, messages) in found.fields {
            for message in messages {
                errors.add(&field, message);
            }
        }
    } else if let Some((_, messages)) = found.fields.into_iter().next() {
        // The first problem found: each field's messages are in the order they were found,
        // and the first field is the one of the first message.
        if let Some(first) = messages.into_iter().next() {
            errors.add("__all__", first);
        }
    }
}

/// `clean()`'s checks in DOT's order, each problem on its field.
fn clean_checks(errors: &mut FieldErrors, candidate: &Candidate, policy: &Policy) {
    let redirect_uris = py_split_whitespace(&candidate.redirect_uris);
    if redirect_uris.is_empty() {
        if REDIRECTING_GRANTS.contains(&candidate.authorization_grant_type.as_str()) {
            errors.add(
                "redirect_uris",
                format!(
                    "redirect_uris cannot be empty with grant_type {}",
                    candidate.authorization_grant_type
                ),
            );
        }
    } else if policy.legacy_redirect_uris {
        for uri in redirect_uris {
            if let LegacyOutcome::Invalid(message) =
                validate_redirect_uri(&policy.redirect_uri_schemes, uri)
            {
                errors.add("redirect_uris", message);
            }
        }
    } else {
        let validator =
            UriValidator::redirect_uri(&policy.redirect_uri_schemes, policy.allow_uri_wildcards);
        for uri in redirect_uris {
            if let Err(message) = validator.validate(uri) {
                errors.add("redirect_uris", message);
            }
        }
    }
    let allowed_origins = py_split_whitespace(&candidate.allowed_origins);
    if !allowed_origins.is_empty() {
        let validator = UriValidator::allowed_origin(
            &policy.allowed_origin_schemes,
            policy.allow_uri_wildcards,
        );
        for origin in allowed_origins {
            if let Err(message) = validator.validate(origin) {
                errors.add("allowed_origins", message);
            }
        }
    }
    if candidate.algorithm == "RS256" && !policy.rsa_private_key_configured {
        errors.add(
            "algorithm",
            "You must set OIDC_RSA_PRIVATE_KEY to use RSA algorithm",
        );
    }
    if candidate.algorithm == "HS256" {
        if HS256_FORBIDDEN_GRANTS.contains(&candidate.authorization_grant_type.as_str())
            || candidate.client_type == "public"
        {
            errors.add(
                "algorithm",
                "You cannot use HS256 with public grants or clients",
            );
        }
        if !policy.hs256_secret_checks {
            // Before 3.4.0 HS256 had no condition on the secret.
        } else if candidate.client_secret.is_empty() {
            errors.add(
                "client_secret",
                "You cannot use HS256 without a client secret; it is the HMAC signing key.",
            );
        } else if candidate.hash_client_secret || is_django_hash(&candidate.client_secret) {
            let field = if candidate.hash_client_secret {
                "hash_client_secret"
            } else {
                "client_secret"
            };
            errors.add(
                field,
                "You cannot use HS256 with a hashed client secret. For HS256 the client secret is the shared \
                 signing key and must be stored unhashed so the relying party can verify the token; set \
                 hash_client_secret=False and store an unhashed client_secret on this application.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(client_type: &str, grant: &str) -> Candidate {
        Candidate {
            client_id: "someId".into(),
            user: None,
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            client_type: client_type.into(),
            authorization_grant_type: grant.into(),
            client_secret: "SECRET".into(),
            hash_client_secret: true,
            name: String::new(),
            algorithm: String::new(),
            allowed_origins: String::new(),
        }
    }

    fn text(errors: &FieldErrors) -> String {
        errors.to_string()
    }

    #[test]
    fn valid_client_credentials_app_passes() {
        let errors = validate(
            &candidate("confidential", "client-credentials"),
            &Policy::default(),
            Lookups::default(),
        );
        assert!(errors.is_empty(), "{errors}");
    }

    #[test]
    fn authorization_code_needs_redirect_uris() {
        let errors = validate(
            &candidate("confidential", "authorization-code"),
            &Policy::default(),
            Lookups::default(),
        );
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n - redirect_uris: ['redirect_uris cannot be empty with grant_type authorization-code']"
        );
        for grant in ["implicit", "openid-hybrid"] {
            assert!(validate(
                &candidate("public", grant),
                &Policy::default(),
                Lookups::default()
            )
            .has("redirect_uris"));
        }
        for grant in [
            "password",
            "client-credentials",
            "urn:ietf:params:oauth:grant-type:device_code",
        ] {
            assert!(validate(
                &candidate("public", grant),
                &Policy::default(),
                Lookups::default()
            )
            .is_empty());
        }
    }

    #[test]
    fn every_error_at_once_in_dots_order() {
        // DOT 3.4.1 / Django 5.2 output for:
        // createapplication bogus bogus-grant --redirect-uris "ftp://x" --user 999 --algorithm XX
        let mut c = candidate("bogus", "bogus-grant");
        c.redirect_uris = "ftp://x".into();
        c.user = Some("999".into());
        c.algorithm = "XX".into();
        let errors = validate(
            &c,
            &Policy::default(),
            Lookups {
                user_exists: Some(false),
                client_id_taken: false,
            },
        );
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n \
             - user: ['user instance with id 999 is not a valid choice.']\n \
             - client_type: [\"Value 'bogus' is not a valid choice.\"]\n \
             - authorization_grant_type: [\"Value 'bogus-grant' is not a valid choice.\"]\n \
             - algorithm: [\"Value 'XX' is not a valid choice.\"]\n \
             - redirect_uris: ['redirect uri URI Validation error. invalid_scheme: ftp://x']"
        );
    }

    #[test]
    fn hs256_rules() {
        let mut c = candidate("public", "authorization-code");
        c.redirect_uris = "https://a.example/cb".into();
        c.algorithm = "HS256".into();
        let errors = validate(&c, &Policy::default(), Lookups::default());
        let keys: Vec<&str> = errors.fields().map(|(k, _)| k).collect();
        assert_eq!(keys, vec!["algorithm", "hash_client_secret"]);
        assert!(text(&errors).contains("You cannot use HS256 with public grants or clients"));

        let mut ok = candidate("confidential", "client-credentials");
        ok.algorithm = "HS256".into();
        ok.hash_client_secret = false;
        assert!(validate(&ok, &Policy::default(), Lookups::default()).is_empty());

        let mut prehashed = ok.clone();
        prehashed.client_secret = "pbkdf2_sha256$1$salt$hash".into();
        let keys: Vec<String> = validate(&prehashed, &Policy::default(), Lookups::default())
            .fields()
            .map(|(k, _)| k.to_string())
            .collect();
        assert_eq!(keys, vec!["client_secret"]);

        let mut hybrid = ok.clone();
        hybrid.authorization_grant_type = "openid-hybrid".into();
        hybrid.redirect_uris = "https://a.example/cb".into();
        assert!(validate(&hybrid, &Policy::default(), Lookups::default()).has("algorithm"));
    }

    #[test]
    fn rs256_needs_a_key() {
        let mut c = candidate("confidential", "client-credentials");
        c.algorithm = "RS256".into();
        let errors = validate(&c, &Policy::default(), Lookups::default());
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n - algorithm: ['You must set OIDC_RSA_PRIVATE_KEY to use RSA algorithm']"
        );
        let policy = Policy {
            rsa_private_key_configured: true,
            ..Policy::default()
        };
        assert!(validate(&c, &policy, Lookups::default()).is_empty());
    }

    #[test]
    fn lengths_counted_in_characters() {
        let mut c = candidate("confidential", "client-credentials");
        c.client_id = "x".repeat(300);
        c.name = "é".repeat(256);
        c.client_secret = "s".repeat(256);
        let errors = validate(
            &c,
            &Policy::default(),
            Lookups {
                user_exists: None,
                client_id_taken: true,
            },
        );
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n \
             - client_id: ['Ensure this value has at most 255 characters (it has 300).']\n \
             - client_secret: ['Ensure this value has at most 255 characters (it has 256).']\n \
             - name: ['Ensure this value has at most 255 characters (it has 256).']"
        );
    }

    #[test]
    fn duplicate_is_reported_last_and_recognised() {
        let errors = validate(
            &candidate("confidential", "client-credentials"),
            &Policy::default(),
            Lookups {
                user_exists: None,
                client_id_taken: true,
            },
        );
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n - client_id: ['Application with this Client ID already exists.']"
        );
        assert!(errors.only_duplicate_client_id());
    }

    #[test]
    fn user_parsing_follows_python_int() {
        assert_eq!(parse_user("783"), UserRef::Id(783));
        assert_eq!(parse_user(" 7 "), UserRef::Id(7));
        assert_eq!(parse_user("+1_000"), UserRef::Id(1000));
        assert_eq!(parse_user("007"), UserRef::Id(7));
        assert_eq!(parse_user("abc"), UserRef::NotAnInteger);
        assert_eq!(parse_user("1__0"), UserRef::NotAnInteger);
        assert_eq!(parse_user("1.0"), UserRef::NotAnInteger);
        assert_eq!(parse_user(""), UserRef::NotAnInteger);
        assert_eq!(
            parse_user("99999999999999999999"),
            UserRef::OutOfRange("99999999999999999999".into())
        );
        let mut c = candidate("confidential", "client-credentials");
        c.user = Some("abc".into());
        assert_eq!(
            text(&validate(&c, &Policy::default(), Lookups::default())),
            "Please correct the following errors:\n - user: ['“abc” value must be an integer.']"
        );
        c.user = Some("a'b".into());
        assert!(text(&validate(&c, &Policy::default(), Lookups::default()))
            .contains("[\"“a'b” value must be an integer.\"]"));
    }

    #[test]
    fn blank_positionals() {
        let errors = validate(&candidate("", ""), &Policy::default(), Lookups::default());
        assert_eq!(
            text(&errors),
            "Please correct the following errors:\n \
             - client_type: ['This field cannot be blank.']\n \
             - authorization_grant_type: ['This field cannot be blank.']"
        );
    }

    #[test]
    fn every_invalid_uri_is_reported() {
        let mut c = candidate("confidential", "authorization-code");
        c.redirect_uris = "invalid-one\ninvalid-two".into();
        let errors = validate(&c, &Policy::default(), Lookups::default());
        let (_, messages) = errors.fields().next().unwrap();
        assert_eq!(messages.len(), 2);
        assert!(messages[0].contains("invalid-one") && messages[1].contains("invalid-two"));
    }
}
