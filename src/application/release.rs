//! What the DOT release of a database changes for `createapplication` and `apply`: the fields its
//! `Application` model has (a row is written with those columns only, `db::new_application`) and
//! the validation that differs from 3.4.1's.
//!
//! The release comes from Django's migration ledger ([`Detection`]); the table's own columns
//! also count, so a database without the ledger whose table lacks a column is refused the
//! same way. Differences, from each release's `models.py` and migrations:
//! - `post_logout_redirect_uris` from 2.3 (0007); `hash_client_secret` and `allowed_origins`
//!   from 2.4 (0009, 0010): before them DOT always hashes, and has neither field;
//! - `ALLOW_URI_WILDCARDS` from 3.1 (0012 is 3.0's and 3.1's last migration);
//! - the device-code grant type from 3.2 (0013, which widened the column to 44 characters);
//! - `client_id` of up to 255 characters from 3.4.0 (0020); 100 before;
//! - `clean()` raises at its first problem, as a non-field error (`__all__`), before 3.4.1,
//!   and HS256's conditions on the secret (present, unhashed) start with 3.4.0;
//! - redirect URIs are checked by `RedirectURIValidator` on Django 4.2 before 2.4
//!   (`uri_validator::legacy`), by `AllowedURIValidator` from 2.4.

use super::validation::{Candidate, Policy};
use crate::db::{ColumnInfo, Detection};

/// The application table as one DOT release defines it.
#[derive(Clone, Debug)]
pub struct Schema {
    detection: Detection,
    table: String,
    columns: Vec<String>,
}

/// A field or setting the request uses that the database's release does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    /// The model field (or setting) concerned.
    pub field: &'static str,
    /// How `createapplication` spells the request for it.
    pub option: &'static str,
    /// The first release that has it.
    pub since: &'static str,
    /// Why, without the option: `needs DOT 2.4 or later; this database is …`.
    pub why: String,
    /// The sentence for the operator: the option, what it needs, and what the database is.
    pub message: String,
}

impl Schema {
    pub fn new(detection: Detection, table: &str, columns: &[ColumnInfo]) -> Schema {
        Schema {
            detection,
            table: table.to_string(),
            columns: columns.iter().map(|c| c.name.clone()).collect(),
        }
    }

    /// The latest migration's number; a database without the ledger is oauthctl's (3.4.1).
    fn migration(&self) -> u32 {
        self.detection
            .migration
            .as_deref()
            .and_then(|name| name.get(..4))
            .and_then(|digits| digits.parse().ok())
            .unwrap_or(u32::MAX)
    }

    /// Whether the release has the column (added by migration `since`) and the table too.
    fn has(&self, column: &str, since: u32) -> bool {
        self.migration() >= since && self.columns.iter().any(|c| c == column)
    }

    /// The release in words, for messages.
    fn describe(&self, column: Option<&str>) -> String {
        match (&self.detection.migration, column) {
            (Some(_), _) => format!(
                "this database is DOT {} ({})",
                self.detection.release,
                self.detection.source()
            ),
            (None, Some(column)) => format!("table {} has no {column} column", self.table),
            (None, None) => "this database is DOT 3.4.1".to_string(),
        }
    }

    /// 3.4.1's validation settings, narrowed to what the release validates: a shorter
    /// `client_id`, no device-code grant before 3.2.
    pub fn policy(&self, policy: &Policy) -> Policy {
        let migration = self.migration();
        Policy {
            client_id_max_length: if migration >= 20 { 255 } else { 100 },
            device_grant: migration >= 13,
            clean_reports_all: migration >= 21,
            hs256_secret_checks: migration >= 15,
            // 0007 is 2.3's last migration; 2.4 brought AllowedURIValidator.
            legacy_redirect_uris: migration <= 7,
            ..policy.clone()
        }
    }

    /// Everything `candidate` (with `policy`'s settings) asks for that the release lacks.
    pub fn unsupported(&self, candidate: &Candidate, policy: &Policy) -> Vec<Unsupported> {
        let mut found = Vec::new();
        let mut need = |used: bool, field, option, column: Option<&str>, since, ok: bool| {
            if used && !ok {
                let why = format!("needs DOT {since} or later; {}", self.describe(column));
                found.push(Unsupported {
                    field,
                    option,
                    since,
                    message: format!("{option} {why}"),
                    why,
                });
            }
        };
        need(
            !candidate.hash_client_secret,
            "hash_client_secret",
            "--no-hash-client-secret",
            Some("hash_client_secret"),
            "2.4",
            self.has("hash_client_secret", 9),
        );
        need(
            !candidate.post_logout_redirect_uris.is_empty(),
            "post_logout_redirect_uris",
            "--post-logout-redirect-uris",
            Some("post_logout_redirect_uris"),
            "2.3",
            self.has("post_logout_redirect_uris", 7),
        );
        need(
            !candidate.allowed_origins.trim().is_empty(),
            "allowed_origins",
            "allowed_origins",
            Some("allowed_origins"),
            "2.4",
            self.has("allowed_origins", 10),
        );
        need(
            policy.allow_uri_wildcards,
            "redirect_uris",
            "ALLOW_URI_WILDCARDS (--allow-uri-wildcards)",
            None,
            "3.1",
            self.migration() >= 12,
        );
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn columns(names: &[&str]) -> Vec<ColumnInfo> {
        names
            .iter()
            .map(|n| ColumnInfo {
                name: n.to_string(),
                not_null: true,
                has_default: false,
            })
            .collect()
    }

    fn candidate() -> Candidate {
        Candidate {
            client_id: "c".into(),
            user: None,
            redirect_uris: String::new(),
            post_logout_redirect_uris: "https://x.example/out".into(),
            client_type: "confidential".into(),
            authorization_grant_type: "client-credentials".into(),
            client_secret: "s".into(),
            hash_client_secret: false,
            name: String::new(),
            algorithm: String::new(),
            allowed_origins: "https://x.example".into(),
        }
    }

    const ALL: &[&str] = &[
        "id",
        "client_id",
        "post_logout_redirect_uris",
        "hash_client_secret",
        "allowed_origins",
    ];

    fn at(migration: &str, names: &[&str]) -> Schema {
        let detection = Detection::from_migrations(&[migration.to_string()]);
        Schema::new(detection, "app", &columns(names))
    }

    #[test]
    fn each_field_needs_its_release() {
        let policy = Policy {
            allow_uri_wildcards: true,
            ..Policy::default()
        };
        let fields = |schema: &Schema| -> Vec<&str> {
            schema
                .unsupported(&candidate(), &policy)
                .into_iter()
                .map(|u| u.field)
                .collect()
        };
        assert_eq!(
            fields(&at("0006_alter_application_client_secret", ALL)),
            [
                "hash_client_secret",
                "post_logout_redirect_uris",
                "allowed_origins",
                "redirect_uris"
            ]
        );
        assert_eq!(
            fields(&at("0007_application_post_logout_redirect_uris", ALL)),
            ["hash_client_secret", "allowed_origins", "redirect_uris"]
        );
        assert_eq!(
            fields(&at("0010_application_allowed_origins", ALL)),
            ["redirect_uris"]
        );
        assert!(fields(&at("0012_add_token_checksum", ALL)).is_empty());
        // Without the ledger the table's columns decide.
        let no_ledger = Schema::new(Detection::without_ledger(), "app", &columns(&["id"]));
        let found = no_ledger.unsupported(&candidate(), &policy);
        assert_eq!(found.len(), 3);
        assert_eq!(
            found[0].message,
            "--no-hash-client-secret needs DOT 2.4 or later; table app has no hash_client_secret column"
        );
        let old = at("0006_alter_application_client_secret", ALL);
        assert_eq!(
            old.unsupported(&candidate(), &policy)[1].message,
            "--post-logout-redirect-uris needs DOT 2.3 or later; this database is DOT 2.0-2.2 (django_migrations: 0006_alter_application_client_secret)"
        );
    }

    #[test]
    fn before_3_4_1_clean_reports_only_its_first_problem_as_a_non_field_error() {
        use crate::application::validation::{validate, Lookups};
        let mut c = candidate();
        c.client_type = "public".into();
        c.authorization_grant_type = "authorization-code".into();
        c.algorithm = "HS256".into();
        c.hash_client_secret = true;
        c.allowed_origins = String::new();
        let report_on = |c: &Candidate, migration: &str| {
            let policy = at(migration, ALL).policy(&Policy::default());
            let errors = validate(c, &policy, Lookups::default());
            if errors.is_empty() {
                String::new()
            } else {
                errors.to_string()
            }
        };
        let report = |migration: &str| report_on(&c, migration);
        let old = report("0014_alter_help_text");
        assert!(
            old.contains("__all__: ['redirect_uris cannot be empty"),
            "{old}"
        );
        assert!(!old.contains("HS256"), "{old}");
        let new = report("0022_refreshtoken_token_family_index");
        assert!(
            new.contains("redirect_uris: ['redirect_uris cannot be empty"),
            "{new}"
        );
        assert!(new.contains("algorithm: ['You cannot use HS256"), "{new}");
        assert!(
            new.contains("hash_client_secret: ['You cannot use HS256 with a hashed"),
            "{new}"
        );
        // 3.3 accepts HS256 with a hashed secret; 3.4.0 refuses it (first problem only).
        c.client_type = "confidential".into();
        c.redirect_uris = "https://example.com/cb".into();
        assert_eq!(report_on(&c, "0014_alter_help_text"), "");
        let v340 = report_on(&c, "0020_cimd_application_fields");
        assert!(
            v340.contains("__all__: ['You cannot use HS256 with a hashed"),
            "{v340}"
        );
    }

    #[test]
    fn validation_narrows_with_the_release() {
        let p = |m: &str| at(m, ALL).policy(&Policy::default());
        assert_eq!(p("0014_alter_help_text").client_id_max_length, 100);
        assert_eq!(p("0020_cimd_application_fields").client_id_max_length, 255);
        assert!(!p("0012_add_token_checksum").device_grant);
        assert!(p("0013_alter_application_authorization_grant_type_device").device_grant);
        assert!(!p("0020_cimd_application_fields").clean_reports_all);
        assert!(p("0020_cimd_application_fields").hs256_secret_checks);
        assert!(!p("0014_alter_help_text").hs256_secret_checks);
        assert!(p("0021_translatable_field_labels").clean_reports_all);
        assert!(p("0007_application_post_logout_redirect_uris").legacy_redirect_uris);
        assert!(!p("0009_add_hash_client_secret").legacy_redirect_uris);
        let none = Schema::new(Detection::without_ledger(), "app", &columns(ALL));
        let policy = none.policy(&Policy::default());
        assert!(policy.device_grant && policy.client_id_max_length == 255);
        assert!(policy.clean_reports_all && policy.hs256_secret_checks);
        assert!(!policy.legacy_redirect_uris);
    }
}
