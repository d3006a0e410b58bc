//! Redirect-URI validation as DOT 2.0–2.3 had it (with Django 4.2's `URLValidator`).
//!
//! Before 2.4, `Application.clean()` runs DOT's `RedirectURIValidator` with a scheme set that
//! contains everything, then refuses a URI whose `urlsplit` fragment is not empty, and only
//! then compares the scheme with `ALLOWED_REDIRECT_URI_SCHEMES`. Django 4.2's `URLValidator`
//! differs from 5.2's in one way that matters here: when the regular expression does not match,
//! it retries once with the netloc converted by Python's `idna` codec (`idna2003.rs`).

use super::patterns::{bracketed_host_group, dot_uri_regex_search};
use super::urlsplit::{hostname_len, urlsplit, SplitResult};
use super::{idna2003, ip, MAX_HOSTNAME_LENGTH, MAX_IPV6_ADDRESS_LENGTH, MAX_URL_LENGTH};

/// Django's `URLValidator.message`.
pub const ENTER_A_VALID_URL: &str = "Enter a valid URL.";
/// `RedirectURIValidator`'s message for a fragment.
pub const FRAGMENT_MESSAGE: &str = "Redirect URIs must not contain fragments";

/// Python's `urllib.parse.uses_netloc` (3.11).
const USES_NETLOC: [&str; 27] = [
    "",
    "ftp",
    "http",
    "gopher",
    "nntp",
    "telnet",
    "imap",
    "wais",
    "file",
    "mms",
    "https",
    "shttp",
    "snews",
    "prospero",
    "rtsp",
    "rtsps",
    "rtspu",
    "rsync",
    "svn",
    "svn+ssh",
    "sftp",
    "nfs",
    "git",
    "git+ssh",
    "ws",
    "wss",
    "itms-services",
];

/// What DOT 2.3's `clean()` makes of one redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LegacyOutcome {
    Valid,
    /// `clean()` raises this message (a non-field error).
    Invalid(String),
}

/// One redirect URI through `RedirectURIValidator(WildcardSet())` and the scheme check.
/// `schemes` is `ALLOWED_REDIRECT_URI_SCHEMES`, compared lower-cased as `clean()` does.
pub fn validate_redirect_uri(schemes: &[String], value: &str) -> LegacyOutcome {
    let parts = match url_validator(value) {
        Check::Pass(parts) => parts,
        Check::Fail => return LegacyOutcome::Invalid(ENTER_A_VALID_URL.to_string()),
    };
    if !parts.fragment.is_empty() {
        return LegacyOutcome::Invalid(FRAGMENT_MESSAGE.to_string());
    }
    // urlparse(uri).scheme splits the scheme exactly as urlsplit does.
    if !schemes.iter().any(|s| s.to_lowercase() == parts.scheme) {
        return LegacyOutcome::Invalid(format!("Unauthorized redirect scheme: {}", parts.scheme));
    }
    LegacyOutcome::Valid
}

enum Check {
    Pass(SplitResult),
    Fail,
}

/// Django 4.2's `URLValidator.__call__` with DOT's regex and every scheme allowed.
fn url_validator(value: &str) -> Check {
    if value.chars().count() > MAX_URL_LENGTH || value.contains(['\t', '\r', '\n']) {
        return Check::Fail;
    }
    let Ok(split) = urlsplit(value) else {
        return Check::Fail;
    };
    if dot_uri_regex_search(value) {
        if let Some(potential_ip) = bracketed_host_group(&split.netloc) {
            if potential_ip.chars().count() > MAX_IPV6_ADDRESS_LENGTH
                || !ip::ipv6_address_valid(potential_ip)
            {
                return Check::Fail;
            }
        }
    } else {
        // The IDNA retry; it skips the IPv6 check.
        let Some(netloc) = idna2003::encode(&split.netloc) else {
            return Check::Fail;
        };
        let retried = SplitResult {
            netloc,
            ..split.clone()
        };
        if !dot_uri_regex_search(&urlunsplit(&retried)) {
            return Check::Fail;
        }
    }
    match hostname_len(&split.netloc) {
        Some(len) if len <= MAX_HOSTNAME_LENGTH => Check::Pass(split),
        _ => Check::Fail,
    }
}

/// Python 3.11's `urlunsplit`.
fn urlunsplit(parts: &SplitResult) -> String {
    let mut url = parts.path.clone();
    let scheme = parts.scheme.as_str();
    if !parts.netloc.is_empty()
        || (!scheme.is_empty() && USES_NETLOC.contains(&scheme) && !url.starts_with("//"))
    {
        if !url.is_empty() && !url.starts_with('/') {
            url.insert(0, '/');
        }
        url = format!("//{}{}", parts.netloc, url);
    }
    if !scheme.is_empty() {
        url = format!("{scheme}:{url}");
    }
    if !parts.query.is_empty() {
        url.push('?');
        url.push_str(&parts.query);
    }
    if !parts.fragment.is_empty() {
        url.push('#');
        url.push_str(&parts.fragment);
    }
    url
}
