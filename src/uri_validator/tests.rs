//! Unit tests of the URI validator: DOT 3.4.1's own test cases with the messages DOT gave,
//! the limits (URL and hostname length), urlsplit's errors, and property tests that no input
//! panics and every message has DOT's shape.

use super::*;
use proptest::prelude::*;

fn validator(
    name: &'static str,
    schemes: &[&str],
    allow_path: bool,
    allow_query: bool,
    allow_fragment: bool,
    allow_hostname_wildcard: bool,
) -> UriValidator {
    UriValidator {
        name,
        schemes: schemes.iter().map(|s| s.to_string()).collect(),
        allow_path,
        allow_query,
        allow_fragment,
        allow_hostname_wildcard,
    }
}

/// Each case is (URI, None when DOT accepts it, or Some(DOT's exact message)).
fn check(v: &UriValidator, cases: &[(&str, Option<&str>)]) {
    for &(uri, expected) in cases {
        let expected = match expected {
            None => Ok(()),
            Some(message) => Err(message.to_string()),
        };
        assert_eq!(v.validate(uri), expected, "URI {uri:?}");
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// DOT 3.4.1 test_validators.py: `valid_schemes`; expected messages recorded from DOT itself.
#[test]
fn dot_valid_schemes() {
    let v = validator(
        "test",
        &["my-scheme", "https", "git+ssh"],
        false,
        false,
        false,
        false,
    );
    check(
        &v,
        &[
            ("my-scheme://example.com", None),
            ("my-scheme://example", None),
            ("my-scheme://localhost", None),
            ("https://example.com", None),
            ("HTTPS://example.com", None),
            ("git+ssh://example.com", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `invalid_schemes`; expected messages recorded from DOT itself.
#[test]
fn dot_invalid_schemes() {
    let v = validator("test", &["https"], false, false, false, false);
    check(
        &v,
        &[
            ("http:/example.com", Some("test URI Validation error. invalid_scheme: http:/example.com")),
            ("HTTP://localhost", Some("test URI Validation error. invalid_scheme: HTTP://localhost")),
            ("HTTP://example.com", Some("test URI Validation error. invalid_scheme: HTTP://example.com")),
            ("https://-exa", Some("test URI validation error. ['Enter a valid URL.']: https://-exa")),
            ("HTTP://example.com/path", Some("test URI Validation error. invalid_scheme: HTTP://example.com/path")),
            ("HTTP://example.com/path?query=string", Some("test URI Validation error. invalid_scheme: HTTP://example.com/path?query=string")),
            ("HTTP://example.com/path?query=string#fragmemt", Some("test URI Validation error. invalid_scheme: HTTP://example.com/path?query=string#fragmemt")),
            ("HTTP://example.com.", Some("test URI Validation error. invalid_scheme: HTTP://example.com.")),
            ("http://example.com/path/#fragment", Some("test URI Validation error. invalid_scheme: http://example.com/path/#fragment")),
            ("http://example.com?query=string#fragment", Some("test URI Validation error. invalid_scheme: http://example.com?query=string#fragment")),
            ("123://example.com", Some("test URI Validation error. invalid_scheme: 123://example.com")),
            ("http://fe80::1", Some("test URI Validation error. invalid_scheme: http://fe80::1")),
            ("git+ssh://example.com", Some("test URI Validation error. invalid_scheme: git+ssh://example.com")),
            ("my-scheme://example.com", Some("test URI Validation error. invalid_scheme: my-scheme://example.com")),
            ("uri-without-a-scheme", Some("test URI Validation error. invalid_scheme: uri-without-a-scheme")),
            ("https://example.com/#fragment", Some("test URI validation error. fragment not allowed: https://example.com/#fragment")),
            ("good://example.com/#fragment", Some("test URI Validation error. invalid_scheme: good://example.com/#fragment")),
            ("    ", Some("test URI Validation error. invalid_scheme:     ")),
            ("", Some("test URI Validation error. invalid_scheme: ")),
            ("https://[\"><script>alert()</script>", Some("test URI validation error. Invalid IPv6 URL: https://[\"><script>alert()</script>")),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_paths_valid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_paths_valid() {
    let v = validator("test", &["https", "myapp"], true, false, false, false);
    check(
        &v,
        &[
            ("https://example.com", None),
            ("https://example.com:8080", None),
            ("https://example", None),
            ("https://example.com/path", None),
            ("https://example.com:8080/path", None),
            ("https://example/path", None),
            ("https://localhost/path", None),
            ("myapp://host/path", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_paths_invalid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_paths_invalid() {
    let v = validator("test", &["https", "myapp"], true, false, false, false);
    check(
        &v,
        &[
            ("https://example.com?query=string", Some("test URI validation error. query string not allowed: https://example.com?query=string")),
            ("https://example.com#fragment", Some("test URI validation error. fragment not allowed: https://example.com#fragment")),
            ("https://example.com/path?query=string", Some("test URI validation error. query string not allowed: https://example.com/path?query=string")),
            ("https://example.com/path#fragment", Some("test URI validation error. fragment not allowed: https://example.com/path#fragment")),
            ("https://example.com/path?query=string#fragment", Some("test URI validation error. query string not allowed: https://example.com/path?query=string#fragment")),
            ("myapp://example.com/path?query=string", Some("test URI validation error. query string not allowed: myapp://example.com/path?query=string")),
            ("myapp://example.com/path#fragment", Some("test URI validation error. fragment not allowed: myapp://example.com/path#fragment")),
            ("myapp://example.com/path?query=string#fragment", Some("test URI validation error. query string not allowed: myapp://example.com/path?query=string#fragment")),
            ("bad://example.com/path", Some("test URI Validation error. invalid_scheme: bad://example.com/path")),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `bare_fragment`; expected messages recorded from DOT itself.
#[test]
fn dot_bare_fragment() {
    let v = validator("test", &["https"], true, false, false, false);
    check(
        &v,
        &[
            (
                "https://example.com/cb#",
                Some("test URI validation error. fragment not allowed: https://example.com/cb#"),
            ),
            (
                "https://example.com/cb#frag",
                Some(
                    "test URI validation error. fragment not allowed: https://example.com/cb#frag",
                ),
            ),
            ("https://example.com/cb%23", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `bare_fragment_permissive`; expected messages recorded from DOT itself.
#[test]
fn dot_bare_fragment_permissive() {
    let v = validator("test", &["https"], true, false, true, false);
    check(
        &v,
        &[
            ("https://example.com/cb#", None),
            ("https://example.com/cb#frag", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `bare_query`; expected messages recorded from DOT itself.
#[test]
fn dot_bare_query() {
    let v = validator("test", &["https"], false, false, false, false);
    check(
        &v,
        &[
            (
                "https://example.com?",
                Some("test URI validation error. query string not allowed: https://example.com?"),
            ),
            (
                "https://example.com?a=1",
                Some(
                    "test URI validation error. query string not allowed: https://example.com?a=1",
                ),
            ),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `bare_query_fragments_ok`; expected messages recorded from DOT itself.
#[test]
fn dot_bare_query_fragments_ok() {
    let v = validator("test", &["https"], false, false, true, false);
    check(&v, &[("https://example.com#a?b", None)]);
}

/// DOT 3.4.1 test_validators.py: `bare_query_permissive`; expected messages recorded from DOT itself.
#[test]
fn dot_bare_query_permissive() {
    let v = validator("test", &["https"], false, true, false, false);
    check(
        &v,
        &[
            ("https://example.com?", None),
            ("https://example.com?a=1", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_query_valid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_query_valid() {
    let v = validator("test", &["https", "myapp"], false, true, false, false);
    check(
        &v,
        &[
            ("https://example.com", None),
            ("https://example.com:8080", None),
            ("https://example.com?query=string", None),
            ("https://example", None),
            ("myapp://example.com?query=string", None),
            ("myapp://example?query=string", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_query_invalid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_query_invalid() {
    let v = validator("test", &["https", "myapp"], false, true, false, false);
    check(
        &v,
        &[
            ("https://example.com/path", Some("test URI validation error. path not allowed: https://example.com/path")),
            ("https://example.com#fragment", Some("test URI validation error. fragment not allowed: https://example.com#fragment")),
            ("https://example.com/path?query=string", Some("test URI validation error. path not allowed: https://example.com/path?query=string")),
            ("https://example.com/path#fragment", Some("test URI validation error. fragment not allowed: https://example.com/path#fragment")),
            ("https://example.com/path?query=string#fragment", Some("test URI validation error. fragment not allowed: https://example.com/path?query=string#fragment")),
            ("https://example.com:8080/path", Some("test URI validation error. path not allowed: https://example.com:8080/path")),
            ("https://example/path", Some("test URI validation error. path not allowed: https://example/path")),
            ("https://localhost/path", Some("test URI validation error. path not allowed: https://localhost/path")),
            ("myapp://example.com/path?query=string", Some("test URI validation error. path not allowed: myapp://example.com/path?query=string")),
            ("myapp://example.com/path#fragment", Some("test URI validation error. fragment not allowed: myapp://example.com/path#fragment")),
            ("myapp://example.com/path?query=string#fragment", Some("test URI validation error. fragment not allowed: myapp://example.com/path?query=string#fragment")),
            ("bad://example.com/path", Some("test URI Validation error. invalid_scheme: bad://example.com/path")),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_fragment_valid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_fragment_valid() {
    let v = validator("test", &["https", "myapp"], false, false, true, false);
    check(
        &v,
        &[
            ("https://example.com", None),
            ("https://example.com#fragment", None),
            ("https://example.com:8080", None),
            ("https://example.com:8080#fragment", None),
            ("https://example", None),
            ("https://example#fragment", None),
            ("myapp://example", None),
            ("myapp://example#fragment", None),
            ("myapp://example.com", None),
            ("myapp://example.com#fragment", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `allow_fragment_invalid`; expected messages recorded from DOT itself.
#[test]
fn dot_allow_fragment_invalid() {
    let v = validator("test", &["https", "myapp"], false, false, true, false);
    check(
        &v,
        &[
            ("https://example.com?query=string", Some("test URI validation error. query string not allowed: https://example.com?query=string")),
            ("https://example.com?query=string#fragment", Some("test URI validation error. query string not allowed: https://example.com?query=string#fragment")),
            ("https://example.com/path", Some("test URI validation error. path not allowed: https://example.com/path")),
            ("https://example.com/path?query=string", Some("test URI validation error. query string not allowed: https://example.com/path?query=string")),
            ("https://example.com/path#fragment", Some("test URI validation error. path not allowed: https://example.com/path#fragment")),
            ("https://example.com/path?query=string#fragment", Some("test URI validation error. query string not allowed: https://example.com/path?query=string#fragment")),
            ("https://example.com:8080/path", Some("test URI validation error. path not allowed: https://example.com:8080/path")),
            ("https://example?query=string", Some("test URI validation error. query string not allowed: https://example?query=string")),
            ("https://example?query=string#fragment", Some("test URI validation error. query string not allowed: https://example?query=string#fragment")),
            ("https://example/path", Some("test URI validation error. path not allowed: https://example/path")),
            ("https://example/path?query=string", Some("test URI validation error. query string not allowed: https://example/path?query=string")),
            ("https://example/path#fragment", Some("test URI validation error. path not allowed: https://example/path#fragment")),
            ("https://example/path?query=string#fragment", Some("test URI validation error. query string not allowed: https://example/path?query=string#fragment")),
            ("myapp://example?query=string", Some("test URI validation error. query string not allowed: myapp://example?query=string")),
            ("myapp://example?query=string#fragment", Some("test URI validation error. query string not allowed: myapp://example?query=string#fragment")),
            ("myapp://example/path", Some("test URI validation error. path not allowed: myapp://example/path")),
            ("myapp://example/path?query=string", Some("test URI validation error. query string not allowed: myapp://example/path?query=string")),
            ("myapp://example/path#fragment", Some("test URI validation error. path not allowed: myapp://example/path#fragment")),
            ("myapp://example.com/path?query=string", Some("test URI validation error. query string not allowed: myapp://example.com/path?query=string")),
            ("myapp://example.com/path#fragment", Some("test URI validation error. path not allowed: myapp://example.com/path#fragment")),
            ("myapp://example.com/path?query=string#fragment", Some("test URI validation error. query string not allowed: myapp://example.com/path?query=string#fragment")),
            ("myapp://example.com?query=string", Some("test URI validation error. query string not allowed: myapp://example.com?query=string")),
            ("bad://example.com", Some("test URI Validation error. invalid_scheme: bad://example.com")),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `hostname_wildcard`; expected messages recorded from DOT itself.
#[test]
fn dot_hostname_wildcard() {
    let v = validator("test", &["https"], false, false, false, true);
    check(
        &v,
        &[
            ("https://*.example.com", None),
            ("https://*-partial.example.com", None),
            ("https://*.partial.example.com", None),
            ("https://*-partial.valid.example.com", None),
            ("https://*--sitename.netlify.app", None),
            ("https://*/", Some("test URI validation error. path not allowed: https://*/")),
            ("https://*-partial", Some("test URI validation error. wildcards cannot be in the top level or second level domain: https://*-partial")),
            ("https://*.com", Some("test URI validation error. wildcards cannot be in the top level or second level domain: https://*.com")),
            ("https://*-partial.com", Some("test URI validation error. wildcards cannot be in the top level or second level domain: https://*-partial.com")),
            ("https://*---sitename.netlify.app", Some("test URI validation error. ['Enter a valid URL.']: https://*---sitename.netlify.app")),
            ("https://*.*.example.com", Some("test URI validation error. only one wildcard is allowed in the hostname: https://*.*.example.com")),
            ("https://invalid.*.example.com", Some("test URI validation error. wildcards must be at the beginning of the hostname: https://invalid.*.example.com")),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `private_use_valid`; expected messages recorded from DOT itself.
#[test]
fn dot_private_use_valid() {
    let v = validator(
        "test",
        &["com.example.app", "myapp"],
        true,
        false,
        false,
        false,
    );
    check(
        &v,
        &[
            ("com.example.app:/oauth2redirect/example-provider", None),
            ("com.example.app:/oauth2redirect", None),
            ("com.example.app:/", None),
            ("myapp:/callback", None),
            ("COM.EXAMPLE.APP:/oauth2redirect", None),
            ("com.example.app://oauth2redirect", None),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `private_use_query`; expected messages recorded from DOT itself.
#[test]
fn dot_private_use_query() {
    let v = validator("test", &["com.example.app"], true, true, false, false);
    check(&v, &[("com.example.app:/oauth2redirect?state=xyz", None)]);
}

/// DOT 3.4.1 test_validators.py: `private_use_invalid`; expected messages recorded from DOT itself.
#[test]
fn dot_private_use_invalid() {
    let v = validator(
        "test",
        &["com.example.app", "myapp"],
        true,
        false,
        false,
        false,
    );
    check(
        &v,
        &[
            (
                "com.example.app:",
                Some("test URI validation error. invalid URI: com.example.app:"),
            ),
            (
                "com.example.app://",
                Some("test URI validation error. invalid URI: com.example.app://"),
            ),
            (
                "com.example.app:///oauth2redirect",
                Some("test URI validation error. invalid URI: com.example.app:///oauth2redirect"),
            ),
            (
                "com.example.app:oauth2redirect",
                Some("test URI validation error. invalid URI: com.example.app:oauth2redirect"),
            ),
            (
                "com.example.app:/oauth2 redirect",
                Some("test URI validation error. invalid URI: com.example.app:/oauth2 redirect"),
            ),
            (
                "com.other.app:/oauth2redirect",
                Some("test URI Validation error. invalid_scheme: com.other.app:/oauth2redirect"),
            ),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `requiring_authority`; expected messages recorded from DOT itself.
#[test]
fn dot_requiring_authority() {
    let v = validator(
        "test",
        &["https", "http", "ws", "wss", "ftp"],
        true,
        false,
        false,
        false,
    );
    check(
        &v,
        &[
            (
                "https:/example.com",
                Some("test URI validation error. missing host: https:/example.com"),
            ),
            (
                "http:/example.com",
                Some("test URI validation error. missing host: http:/example.com"),
            ),
            (
                "ws:/x",
                Some("test URI validation error. missing host: ws:/x"),
            ),
            (
                "wss:/x",
                Some("test URI validation error. missing host: wss:/x"),
            ),
            (
                "ftp:/x",
                Some("test URI validation error. missing host: ftp:/x"),
            ),
        ],
    );
}

/// DOT 3.4.1 test_validators.py: `private_use_no_path`; expected messages recorded from DOT itself.
#[test]
fn dot_private_use_no_path() {
    let v = validator("test", &["com.example.app"], false, false, false, false);
    check(
        &v,
        &[(
            "com.example.app:/oauth2redirect",
            Some("test URI validation error. path not allowed: com.example.app:/oauth2redirect"),
        )],
    );
}

/// DOT 3.4.1 test_models.py wildcard tests (Application.clean, ALLOW_URI_WILDCARDS=True): `models_wildcards`; expected messages recorded from DOT itself.
#[test]
fn dot_models_wildcards() {
    let v = validator("redirect uri", &["http", "https"], true, true, false, true);
    check(
        &v,
        &[
            ("https://*.example.com/path", None),
            ("https://*-partial.example.com/path", None),
            ("https://invalid-*.example.com/path", Some("redirect uri URI validation error. wildcards must be at the beginning of the hostname: https://invalid-*.example.com/path")),
            ("https://*.com/path", Some("redirect uri URI validation error. wildcards cannot be in the top level or second level domain: https://*.com/path")),
            ("https://*-partial.com/path", Some("redirect uri URI validation error. wildcards cannot be in the top level or second level domain: https://*-partial.com/path")),
            ("https://invalid-*.com/path", Some("redirect uri URI validation error. wildcards must be at the beginning of the hostname: https://invalid-*.com/path")),
            ("https://*/path", Some("redirect uri URI validation error. wildcards cannot be in the top level or second level domain: https://*/path")),
            ("https://*-partial/path", Some("redirect uri URI validation error. wildcards cannot be in the top level or second level domain: https://*-partial/path")),
            ("https://invalid-*/path", Some("redirect uri URI validation error. wildcards must be at the beginning of the hostname: https://invalid-*/path")),
        ],
    );
}

/// DOT 3.4.1 test_models.py fixtures and the brief's examples (Application.clean redirect settings): `models_redirect`; expected messages recorded from DOT itself.
#[test]
fn dot_models_redirect() {
    let v = validator("redirect uri", &["http", "https"], true, true, false, false);
    check(
        &v,
        &[
            ("http://localhost", None),
            ("http://example.com", None),
            ("http://example.org", None),
            (
                "invalid",
                Some("redirect uri URI Validation error. invalid_scheme: invalid"),
            ),
            (
                "invalid-one",
                Some("redirect uri URI Validation error. invalid_scheme: invalid-one"),
            ),
            (
                "invalid-two",
                Some("redirect uri URI Validation error. invalid_scheme: invalid-two"),
            ),
            (
                "ftp://x",
                Some("redirect uri URI Validation error. invalid_scheme: ftp://x"),
            ),
            (
                "https://-exa",
                Some("redirect uri URI validation error. ['Enter a valid URL.']: https://-exa"),
            ),
        ],
    );
}

/// DOT 3.4.1 test_models.py test_application_clean (allowed_origins): `models_origin`; expected messages recorded from DOT itself.
#[test]
fn dot_models_origin() {
    let v = validator("allowed origin", &["https"], false, false, false, false);
    check(
        &v,
        &[
            (
                "http://example.com",
                Some("allowed origin URI Validation error. invalid_scheme: http://example.com"),
            ),
            ("https://example.com", None),
        ],
    );
}

/// Examples observed from DOT 3.4.1 itself (docs/compatibility.md#redirect-uri-validator): `reference_examples`; expected messages recorded from DOT itself.
#[test]
fn dot_reference_examples() {
    let v = validator("redirect uri", &["http", "https"], true, true, false, false);
    check(
        &v,
        &[
            ("https://user@example.com/cb", None),
            ("https://exa mple.com", None),
            ("https://a_b.example.com/", None),
            ("https://example.com:1/cb", None),
            ("https://-exa", Some("redirect uri URI validation error. ['Enter a valid URL.']: https://-exa")),
            ("http://localhost", None),
            ("http://127.0.0.1:5/x", None),
            ("https://[::1]:8080/cb", None),
            ("HTTPS://Example.COM/cb", None),
            ("https://example.com/cb?", None),
            ("https://localhost./", None),
            ("https://ex\u{e4}mple.com/", None),
            ("https://[zz]/cb", Some("redirect uri URI validation error. 'zz' does not appear to be an IPv4 or IPv6 address: https://[zz]/cb")),
        ],
    );
}
/// DOT rejects a 250-character label followed by a TLD (the hostname is 254 > 253 long).
#[test]
fn dot_long_host_label() {
    let v = UriValidator::redirect_uri(&strings(&["http", "https"]), false);
    let uri = format!("https://{}.com", "a".repeat(250));
    assert_eq!(
        v.validate(&uri),
        Err(format!(
            "redirect uri URI validation error. ['Enter a valid URL.']: {uri}"
        ))
    );
    let uri = format!("https://{}.com", "a".repeat(249));
    assert_eq!(v.validate(&uri), Ok(()));
    // U+0130 lower-cases to two code points, which counts against the 253 limit.
    let uri = format!("https://{}.co", "\u{130}".repeat(125));
    assert_eq!(v.validate(&uri), Ok(()));
    let uri = format!("https://{}.co", "\u{130}".repeat(126));
    assert!(v.validate(&uri).is_err());
}

/// Django's URLValidator rejects a reassembled URI longer than 2048 code points.
#[test]
fn url_length_limit() {
    let v = UriValidator::redirect_uri(&strings(&["https"]), true);
    let base = "https://example.com/";
    let ok = format!("{base}{}", "\u{e9}".repeat(2048 - base.len()));
    assert_eq!(v.validate(&ok), Ok(()));
    let too_long = format!("{ok}a");
    assert_eq!(
        v.validate(&too_long),
        Err(format!(
            "redirect uri URI validation error. ['Enter a valid URL.']: {too_long}"
        ))
    );
    // The wildcard is stripped before the length check.
    let wild = format!("https://*.example.com/{}", "a".repeat(2048 - base.len()));
    assert_eq!(v.validate(&wild), Ok(()));
}

#[test]
fn constructors() {
    let r = UriValidator::redirect_uri(&strings(&["HTTPS", "http", "Http"]), true);
    assert_eq!(r.name, "redirect uri");
    assert_eq!(r.schemes, strings(&["https", "http"]));
    assert!(r.allow_path && r.allow_query && !r.allow_fragment && r.allow_hostname_wildcard);
    assert_eq!(r.validate("HTTPS://example.com/cb?x=1"), Ok(()));
    assert_eq!(
        r.validate("https://example.com/cb#x"),
        Err(
            "redirect uri URI validation error. fragment not allowed: https://example.com/cb#x"
                .into()
        )
    );

    let o = UriValidator::allowed_origin(&strings(&["https"]), false);
    assert_eq!(o.name, "allowed origin");
    assert!(!o.allow_path && !o.allow_query && !o.allow_fragment && !o.allow_hostname_wildcard);
    assert_eq!(o.validate("https://example.com"), Ok(()));
    assert_eq!(
        o.validate("https://example.com/"),
        Err("allowed origin URI validation error. path not allowed: https://example.com/".into())
    );
    // Like DOT, ALLOWED_SCHEMES is not lower-cased, so "HTTPS" matches nothing.
    let upper = UriValidator::allowed_origin(&strings(&["HTTPS"]), false);
    assert!(upper.validate("HTTPS://example.com").is_err());
}

#[test]
fn urlsplit_value_errors() {
    let v = UriValidator::redirect_uri(&strings(&["https"]), false);
    let cases = [
        ("https://[::1", "Invalid IPv6 URL"),
        ("https://::1]/", "Invalid IPv6 URL"),
        ("https://x[::1]/", "Invalid IPv6 URL"),
        ("https://[::1]x/", "Invalid IPv6 URL"),
        (
            "https://[zz]",
            "'zz' does not appear to be an IPv4 or IPv6 address",
        ),
        ("https://[1.2.3.4]", "An IPv4 address cannot be in brackets"),
        ("https://[vz.x]", "IPvFuture address is invalid"),
        (
            "https://[a'b]",
            "\"a'b\" does not appear to be an IPv4 or IPv6 address",
        ),
        (
            "https://[a'\"\u{ad}\u{1F600}\u{E0001}]",
            "'a\\'\"\\xad\u{1F600}\\U000e0001' does not appear to be an IPv4 or IPv6 address",
        ),
        (
            "https://\u{2100}.com",
            "netloc '\u{2100}.com' contains invalid characters under NFKC normalization",
        ),
    ];
    for (uri, cause) in cases {
        assert_eq!(
            v.validate(uri),
            Err(format!("redirect uri URI validation error. {cause}: {uri}")),
            "URI {uri:?}"
        );
    }
    assert_eq!(
        v.validate("https://[v1.x]/"),
        Err("redirect uri URI validation error. ['Enter a valid URL.']: https://[v1.x]/".into())
    );
    assert_eq!(
        v.validate("https://[::1%25eth0]/"),
        Err(
            "redirect uri URI validation error. ['Enter a valid URL.']: https://[::1%25eth0]/"
                .into()
        )
    );
}

#[test]
fn huge_inputs_do_not_blow_up() {
    let v = UriValidator::redirect_uri(&strings(&["https", "myapp"]), true);
    let big = "a".repeat(1 << 20);
    for uri in [
        format!("https://{big}"),
        format!("https://[{}]", ":".repeat(1 << 20)),
        format!("https://*.{big}.com"),
        format!("myapp:/{big}"),
        format!("https://{}", "a.".repeat(1 << 19)),
        format!("https://\u{e9}{}", ".\u{e9}".repeat(1 << 18)),
        "\u{0}".repeat(1 << 20),
    ] {
        let _ = v.validate(&uri);
    }
}

fn configs() -> Vec<UriValidator> {
    vec![
        UriValidator::redirect_uri(&strings(&["http", "https"]), false),
        UriValidator::redirect_uri(&strings(&["https", "myapp", "com.example.app", ""]), true),
        UriValidator::allowed_origin(&strings(&["https"]), true),
        validator("test", &["https", "myapp"], false, true, true, false),
    ]
}

fn check_no_panic(uri: &str) {
    for v in configs() {
        if let Err(message) = v.validate(uri) {
            // Every message is "{name} URI [Vv]alidation error. {cause}: {value}".
            assert!(message.starts_with(v.name), "{message:?}");
            assert!(message.ends_with(&format!(": {uri}")), "{message:?}");
        }
    }
}

fn url_shaped() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just(String::new()), "[ \\x00-\\x20\u{a0}]{0,2}",],
        prop_oneof![
            Just("https".to_string()),
            Just("myapp".to_string()),
            "[a-zA-Z\u{130}\u{17f}][a-zA-Z0-9+.\\-]{0,6}",
        ],
        prop_oneof![Just("://"), Just(":/"), Just(":"), Just(":///"), Just("//")],
        "([a-z:\\[\\]@%]{0,6}@)?",
        prop_oneof![
            "[a-zA-Z0-9.\\-_*\u{e9}\u{130}\u{212a}\u{663}\u{2100}\u{1f600}]{0,40}",
            "\\[[0-9a-fvA-F:.%\\]\\[]{0,20}\\]?",
            "[0-9]{1,4}(\\.[0-9]{1,4}){0,4}",
            "\\PC{0,12}",
        ],
        "(:[0-9a-z]{0,6})?",
        "[/?#a-z %\\t\\n\u{3000}\\[\\]]{0,12}",
    )
        .prop_map(|(pre, scheme, sep, user, host, port, tail)| {
            format!("{pre}{scheme}{sep}{user}{host}{port}{tail}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn uri_never_panics_on_arbitrary_strings(s in any::<String>()) {
        check_no_panic(&s);
    }

    #[test]
    fn uri_never_panics_on_control_and_bracket_soup(s in "[\\x00-\\x20\\[\\]:/?#@%.*\\-\u{85}\u{a0}\u{2028}\u{130}\u{fffd}\u{10ffff}a1v]{0,40}") {
        check_no_panic(&s);
        check_no_panic(&format!("https://{s}"));
    }

    #[test]
    fn uri_never_panics_on_url_shaped_strings(s in url_shaped()) {
        check_no_panic(&s);
    }
}
