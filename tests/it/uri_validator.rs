//! Differential test: `oauthctl::uri_validator` against DOT 3.4.1's real `AllowedURIValidator`.
//!
//! `tests/uri_golden/cases.json` is produced by `tests/uri_golden/generate.py` (see there for how
//! to run it); every case must agree on the outcome and on the exact message. To check a bigger
//! file written by `generate.py --scale N --out PATH`, set `OAUTHCTL_URI_GOLDEN=PATH`.

use serde::Deserialize;

use crate::support::UriValidator;

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
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/uri_golden/cases_dot23.json");
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
