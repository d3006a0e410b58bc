//! Port of Django OAuth Toolkit 3.4.1's `AllowedURIValidator` (`oauth2_provider/validators.py`),
//! together with the pieces of Django 5.2's `URLValidator` and of CPython 3.11's
//! `urllib.parse.urlsplit` / `ipaddress` that decide its outcome and its messages.
//!
//! Everything here works on Unicode scalar values (Python `str` code points), never on bytes:
//! lengths, classes and `repr()` escapes follow CPython 3.11 (Unicode 14.0 data, from
//! [`crate::django`]'s generated tables). The parts:
//!
//! - this file: the public [`UriValidator`] and DOT's own checks, in DOT's order;
//! - `urlsplit.rs`: Python's `urlsplit` and the netloc checks that make it raise;
//! - `ip.rs`: Python's `ipaddress` rules for a valid IPv4 / IPv6 address;
//! - `patterns.rs`: DOT's and Django's URL regular expressions, as hand-written matchers.
//!
//! `urlsplit` is CPython 3.11 with the gh-105704 (CVE-2025-0938) fix to bracket handling, as in
//! 3.11.12+, 3.12.9+, 3.13.2+ and patched distribution builds. Unpatched 3.11.4 to 3.11.11 check
//! the first bracketed substring of the whole netloc instead, so under them DOT accepts e.g.
//! `https://[::1]x/` and `https://[::1]@x/`, which this port (like a patched Python) rejects.
//!
//! Nothing in this module panics: string slicing happens only at ASCII delimiters found by
//! `find`/`split_once`, and the `[char]` matchers check bounds before they index.
//!
//! `tests/uri_golden/generate.py` runs DOT's real validator over generated URIs and
//! `tests/uri_validator.rs` checks this port against its output, message for message.

mod idna2003;
mod ip;
pub mod legacy;
mod nameprep_tables;
mod patterns;
mod urlsplit;

#[cfg(test)]
mod tests;

use patterns::{authorityless_match, bracketed_host_group, dot_uri_regex_search};
use urlsplit::{hostname_len, urlsplit, SplitResult};

/// Python's `str.split()` with no argument (which also does the `strip()`): how
/// `Application.clean()` turns the `redirect_uris` field into URIs.
pub use crate::django::pystr::split_whitespace as py_split_whitespace;

/// DOT's `AllowedURIValidator`, configured the way `Application.clean()` uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriValidator {
    /// `"redirect uri"` or `"allowed origin"`; the first word(s) of every message.
    pub name: &'static str,
    /// Allowed schemes. `validate` compares them with the URI's scheme as `urlsplit` returns
    /// it, i.e. lower-cased, so an entry with upper-case letters never matches (as in DOT).
    /// [`UriValidator::redirect_uri`] lower-cases its input, as `Application.clean()` does.
    pub schemes: Vec<String>,
    pub allow_path: bool,
    pub allow_query: bool,
    pub allow_fragment: bool,
    pub allow_hostname_wildcard: bool,
}

/// Schemes whose URIs must have an authority: no RFC 8252 private-use form for them.
const SCHEMES_REQUIRING_AUTHORITY: [&str; 5] = ["http", "https", "ws", "wss", "ftp"];

/// Django's `URLValidator.max_length` (`django.utils.http.MAX_URL_LENGTH`).
const MAX_URL_LENGTH: usize = 2048;

/// `str(ValidationError("Enter a valid URL."))` as DOT interpolates it.
const ENTER_A_VALID_URL: &str = "['Enter a valid URL.']";

/// Django's `MAX_IPV6_ADDRESS_LENGTH` (`django.utils.ipv6`).
const MAX_IPV6_ADDRESS_LENGTH: usize = 39;

/// Django's `URLValidator` limit on `len(urlsplit(value).hostname)`.
const MAX_HOSTNAME_LENGTH: usize = 253;

impl UriValidator {
    /// DOT's redirect-URI settings: name "redirect uri", allow_path, allow_query, no fragment.
    ///
    /// `schemes` is `ALLOWED_REDIRECT_URI_SCHEMES`; like `Application.clean()` this lower-cases
    /// every entry (`{s.lower() for s in ...}`).
    pub fn redirect_uri(schemes: &[String], allow_wildcards: bool) -> Self {
        let mut lowered: Vec<String> = Vec::with_capacity(schemes.len());
        for s in schemes {
            let l = s.to_lowercase();
            if !lowered.contains(&l) {
                lowered.push(l);
            }
        }
        UriValidator {
            name: "redirect uri",
            schemes: lowered,
            allow_path: true,
            allow_query: true,
            allow_fragment: false,
            allow_hostname_wildcard: allow_wildcards,
        }
    }

    /// DOT's allowed-origins settings: name "allowed origin", no path/query/fragment.
    ///
    /// `schemes` is `ALLOWED_SCHEMES`; DOT passes that setting through unchanged (no
    /// lower-casing), and so does this constructor.
    pub fn allowed_origin(schemes: &[String], allow_wildcards: bool) -> Self {
        UriValidator {
            name: "allowed origin",
            schemes: schemes.to_vec(),
            allow_path: false,
            allow_query: false,
            allow_fragment: false,
            allow_hostname_wildcard: allow_wildcards,
        }
    }

    fn scheme_allowed(&self, scheme: &str) -> bool {
        self.schemes.iter().any(|s| s == scheme)
    }

    /// Ok(()) or Err(message) where message is DOT's exact text, e.g.
    /// "redirect uri URI Validation error. invalid_scheme: ftp://x" or
    /// "redirect uri URI validation error. ['Enter a valid URL.']: https://-exa"
    ///
    /// The checks run in `AllowedURIValidator.__call__`'s order, since the first one that
    /// fails decides the message.
    pub fn validate(&self, value: &str) -> Result<(), String> {
        let fail = |cause: &str| -> Result<(), String> {
            Err(format!(
                "{} URI validation error. {}: {}",
                self.name, cause, value
            ))
        };

        let parts = match urlsplit(value) {
            Ok(parts) => parts,
            Err(cause) => return fail(&cause),
        };
        if !self.scheme_allowed(&parts.scheme) {
            // DOT spells this one message with a capital "V".
            return Err(format!(
                "{} URI Validation error. invalid_scheme: {}",
                self.name, value
            ));
        }
        if let Err(cause) = self.check_components(value, &parts) {
            return fail(cause);
        }
        if parts.netloc.is_empty() {
            return match authorityless_cause(&parts.scheme, value) {
                Some(cause) => fail(cause),
                None => Ok(()),
            };
        }
        let netloc = match self.strip_wildcard(&parts.netloc) {
            Ok(netloc) => netloc,
            Err(cause) => return fail(cause),
        };
        if !self.url_validator_accepts(&reassemble(&parts, netloc)) {
            return fail(ENTER_A_VALID_URL);
        }
        Ok(())
    }

    /// The query, fragment and path settings, checked on the raw value as DOT does.
    fn check_components(&self, value: &str, parts: &SplitResult) -> Result<(), &'static str> {
        // A "?" opens a query only when it comes before the first "#".
        let before_fragment = value.split('#').next().unwrap_or("");
        if before_fragment.contains('?') && !self.allow_query {
            return Err("query string not allowed");
        }
        if value.contains('#') && !self.allow_fragment {
            return Err("fragment not allowed");
        }
        if !parts.path.is_empty() && !self.allow_path {
            return Err("path not allowed");
        }
        Ok(())
    }

    /// DOT's hostname-wildcard rules: the netloc Django's `URLValidator` is then run on, with a
    /// leading `*.`/`*` (and one or two following dashes) removed, or the cause of rejection.
    /// Without `allow_hostname_wildcard` the netloc is used as it is, "*" and all.
    fn strip_wildcard<'a>(&self, netloc: &'a str) -> Result<&'a str, &'static str> {
        if !self.allow_hostname_wildcard || !netloc.contains('*') {
            return Ok(netloc);
        }
        if netloc.matches('*').count() > 1 {
            return Err("only one wildcard is allowed in the hostname");
        }
        if !netloc.starts_with('*') {
            return Err("wildcards must be at the beginning of the hostname");
        }
        // len(netloc.split(".")) < 3
        if netloc.matches('.').count() < 2 {
            return Err("wildcards cannot be in the top level or second level domain");
        }
        let netloc = netloc
            .strip_prefix("*.")
            .or_else(|| netloc.strip_prefix('*'))
            .unwrap_or(netloc);
        Ok(netloc
            .strip_prefix("--")
            .or_else(|| netloc.strip_prefix('-'))
            .unwrap_or(netloc))
    }

    /// Django's `URLValidator.__call__` with DOT's `URIValidator.regex`; `true` when it does
    /// not raise.
    fn url_validator_accepts(&self, value: &str) -> bool {
        if value.chars().count() > MAX_URL_LENGTH {
            return false;
        }
        if value.contains(['\t', '\r', '\n']) {
            return false;
        }
        // value.split("://")[0].lower()
        let scheme = value.split("://").next().unwrap_or("").to_lowercase();
        if !self.scheme_allowed(&scheme) {
            return false;
        }
        let split = match urlsplit(value) {
            Ok(split) => split,
            Err(_) => return false,
        };
        if !dot_uri_regex_search(value) {
            return false;
        }
        if let Some(potential_ip) = bracketed_host_group(&split.netloc) {
            // django.utils.ipv6.is_valid_ipv6_address
            if potential_ip.chars().count() > MAX_IPV6_ADDRESS_LENGTH
                || !ip::ipv6_address_valid(potential_ip)
            {
                return false;
            }
        }
        matches!(hostname_len(&split.netloc), Some(len) if len <= MAX_HOSTNAME_LENGTH)
    }
}

/// Why DOT rejects a URI without an authority, or `None` when it accepts it (RFC 8252's
/// private-use form, e.g. `com.example.app:/cb`).
fn authorityless_cause(scheme: &str, value: &str) -> Option<&'static str> {
    if SCHEMES_REQUIRING_AUTHORITY.contains(&scheme) {
        return Some("missing host");
    }
    if !authorityless_match(value) {
        return Some("invalid URI");
    }
    None
}

/// `f"{scheme}://{netloc}{path}"` plus `?query` and `#fragment` where they are not empty:
/// the URI DOT hands to Django's `URLValidator` once the wildcard is gone.
fn reassemble(parts: &SplitResult, netloc: &str) -> String {
    let mut reassembled = format!("{}://{}{}", parts.scheme, netloc, parts.path);
    if !parts.query.is_empty() {
        reassembled.push('?');
        reassembled.push_str(&parts.query);
    }
    if !parts.fragment.is_empty() {
        reassembled.push('#');
        reassembled.push_str(&parts.fragment);
    }
    reassembled
}
