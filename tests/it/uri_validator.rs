//! Differential test: `oauthctl::uri_validator` against DOT 3.4.1's real `AllowedURIValidator`.
//!
//! `tests/uri_golden/cases.json` is produced by `tests/uri_golden/generate.py` (see there for how
//! to run it); every case must agree on the outcome and on the exact message. To check a bigger
//! file written by `generate.py --scale N --out PATH`, set `OAUTHCTL_URI_GOLDEN=PATH`.

use serde::Deserialize;

use crate::support::{backend_test, code, stderr, Backend, TestDb, UriValidator};

#[derive(Deserialize)]
struct Config {
    id: String,
    name: String,
    schemes: Vec<String>,
    allow_path: bool,
    allow_query: bool,
    allow_fragment: bool,
    allow_hostname_wildcard: bool,
}

#[derive(Deserialize)]
struct Case {
    config: usize,
    uri: String,
    ok: bool,
    message: Option<String>,
}

#[derive(Deserialize)]
struct Golden {
    python: String,
    django: String,
    django_oauth_toolkit: String,
    configs: Vec<Config>,
    cases: Vec<Case>,
}

/// Cases where the port knowingly differs from DOT, as (config id, URI, reason).
const KNOWN_DIVERGENCES: &[(&str, &str, &str)] = &[];

fn name_of(name: &str) -> &'static str {
    match name {
        "redirect uri" => "redirect uri",
        "allowed origin" => "allowed origin",
        "test" => "test",
        other => panic!("unexpected validator name {other:?} in cases.json"),
    }
}

#[test]
fn uri_validator_agrees_with_dot() {
    let path = std::env::var("OAUTHCTL_URI_GOLDEN").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/uri_golden/cases.json").to_string()
    });
    let text = std::fs::read_to_string(&path).expect("read the golden file");
    let golden: Golden = serde_json::from_str(&text).expect("parse cases.json");
    assert_eq!(golden.django_oauth_toolkit, "3.4.1");
    assert!(golden.django.starts_with("5.2"), "{}", golden.django);
    assert!(golden.python.starts_with("3.11"), "{}", golden.python);

    let validators: Vec<UriValidator> = golden
        .configs
        .iter()
        .map(|c| UriValidator {
            name: name_of(&c.name),
            schemes: c.schemes.clone(),
            allow_path: c.allow_path,
            allow_query: c.allow_query,
            allow_fragment: c.allow_fragment,
            allow_hostname_wildcard: c.allow_hostname_wildcard,
        })
        .collect();

    let mut failures = Vec::new();
    let mut skipped = 0;
    for case in &golden.cases {
        let config = &golden.configs[case.config];
        if KNOWN_DIVERGENCES
            .iter()
            .any(|&(id, uri, _)| id == config.id && uri == case.uri)
        {
            skipped += 1;
            continue;
        }
        let expected = if case.ok {
            Ok(())
        } else {
            Err(case.message.clone().expect("a failing case has a message"))
        };
        let got = validators[case.config].validate(&case.uri);
        if got != expected {
            failures.push(format!(
                "[{}] {:?}\n    DOT:  {:?}\n    ours: {:?}",
                config.id, case.uri, expected, got
            ));
        }
    }
    if std::env::var_os("OAUTHCTL_URI_GOLDEN").is_none() {
        assert_eq!(
            skipped,
            KNOWN_DIVERGENCES.len(),
            "stale KNOWN_DIVERGENCES entry"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases disagree with DOT:\n{}",
        failures.len(),
        golden.cases.len(),
        failures[..failures.len().min(200)].join("\n")
    );
}

#[derive(Deserialize)]
struct LegacyConfig {
    schemes: Vec<String>,
}

#[derive(Deserialize)]
struct LegacyGolden {
    django: String,
    django_oauth_toolkit: String,
    configs: Vec<LegacyConfig>,
    cases: Vec<Case>,
}

/// `oauthctl::uri_validator::legacy` against DOT 2.3.0's `Application.clean()` on Django 4.2
/// (`tests/uri_golden/cases_dot23.json`, from `generate_legacy.py`): outcome and message.
#[test]
fn legacy_uri_validator_agrees_with_dot_2_3() {
    use oauthctl::uri_validator::legacy::{validate_redirect_uri, LegacyOutcome};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/uri_golden/cases_dot23.json"
    );
    let text = std::fs::read_to_string(path).expect("read cases_dot23.json");
    let golden: LegacyGolden = serde_json::from_str(&text).expect("parse cases_dot23.json");
    assert_eq!(golden.django_oauth_toolkit, "2.3.0");
    assert!(golden.django.starts_with("4.2"), "{}", golden.django);

    let mut failures = Vec::new();
    for case in &golden.cases {
        let schemes = &golden.configs[case.config].schemes;
        let expected = match &case.message {
            None if case.ok => LegacyOutcome::Valid,
            Some(m) if !case.ok => LegacyOutcome::Invalid(m.clone()),
            _ => panic!("inconsistent case {:?}", case.uri),
        };
        match validate_redirect_uri(schemes, &case.uri) {
            got if got == expected => {}
            got => failures.push(format!("{:?}: DOT {expected:?}, port {got:?}", case.uri)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        golden.cases.len(),
        failures.join("\n")
    );
}

/// A database at DOT 2.3: the ledger up to 0007 and the application table without 2.4's and
/// later columns.
fn dot_2_3_database(backend: Backend) -> TestDb {
    let db = TestDb::migrated(backend, "legacyuri");
    let applied = match backend {
        Backend::Sqlite => "datetime",
        Backend::Postgres => "timestamp with time zone",
        Backend::MySql => "datetime(6)",
    };
    let mut sql = vec![format!(
        "CREATE TABLE django_migrations (id integer NOT NULL PRIMARY KEY, app varchar(255) NOT NULL, name varchar(255) NOT NULL, applied {applied} NOT NULL)"
    )];
    let names = [
        "0001_initial",
        "0002_auto_20190406_1805",
        "0003_auto_20201211_1314",
        "0004_auto_20200902_2022",
        "0005_auto_20211222_2352",
        "0006_alter_application_client_secret",
        "0007_application_post_logout_redirect_uris",
    ];
    for (id, name) in names.iter().enumerate() {
        sql.push(format!(
            "INSERT INTO django_migrations (id, app, name, applied) VALUES ({}, 'oauth2_provider', '{name}', '2025-01-01 00:00:00')",
            id + 1
        ));
    }
    for column in [
        "hash_client_secret",
        "allowed_origins",
        "registration_source",
        "cimd_expires_at",
    ] {
        sql.push(format!(
            "ALTER TABLE oauth2_provider_application DROP COLUMN {column}"
        ));
    }
    db.execute_many(&sql);
    db
}

backend_test!(createapplication_on_dot_2_3_validates_as_2_3, |backend| {
    let db = dot_2_3_database(backend);
    let create = |client_id: &str, uri: &str| {
        db.run(&[
            "createapplication",
            "confidential",
            "authorization-code",
            "--client-id",
            client_id,
            "--redirect-uris",
            uri,
        ])
    };
    // An empty fragment: 2.3 accepts it (3.4.1 says "fragment not allowed").
    let ok = create("empty-fragment", "https://example.com/cb#");
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    assert_eq!(db.count("oauth2_provider_application"), 1);
    for (uri, message) in [
        (
            "https://example.com/cb#x",
            "Redirect URIs must not contain fragments",
        ),
        ("ftp://example.com/cb", "Unauthorized redirect scheme: ftp"),
        ("https://-a.example/cb", "Enter a valid URL."),
    ] {
        let out = create("refused", uri);
        assert_eq!(code(&out), 2, "{uri}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!(" - __all__: ['{message}']")),
            "{uri}: {}",
            stderr(&out)
        );
        assert_eq!(
            db.count("oauth2_provider_application"),
            1,
            "{uri}: nothing written"
        );
    }
});
