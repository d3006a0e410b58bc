//! CPython 3.11's `urllib.parse.urlsplit`, with the netloc checks that make it raise.
//!
//! DOT calls `urlsplit(value)` first and reports its `ValueError` text as the cause, so this
//! returns that text exactly. The bracket handling is 3.11 with the gh-105704 (CVE-2025-0938)
//! fix (3.11.12+, 3.12.9+, 3.13.2+ and patched distribution builds); see the module docs of
//! [`super`] for what unpatched interpreters do instead.
//!
//! Slicing happens only at ASCII delimiters found by `find`/`split_once`, so nothing here can
//! split a UTF-8 sequence or panic.

use super::ip::{ipv4_address_valid, ipv6_address_valid};
use crate::django::pystr::lower_len;
use crate::django::repr::repr_str;
use crate::django::unicode_tables::NFKC_DELIMITER_SOURCES;

/// The five components `urlsplit` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SplitResult {
    pub(super) scheme: String,
    pub(super) netloc: String,
    pub(super) path: String,
    pub(super) query: String,
    pub(super) fragment: String,
}

/// `urllib.parse.scheme_chars`.
fn is_url_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// `urlsplit(url)` with the default arguments; `Err` carries `str(ValueError)`.
pub(super) fn urlsplit(input: &str) -> Result<SplitResult, String> {
    // url.lstrip(_WHATWG_C0_CONTROL_OR_SPACE), then drop every "\t", "\r" and "\n".
    let url: String = input
        .trim_start_matches(|c: char| c <= '\u{20}')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();

    let mut scheme = String::new();
    let mut rest: &str = &url;
    if let Some(i) = url.find(':') {
        let head = &url[..i];
        if i > 0 && head.as_bytes()[0].is_ascii_alphabetic() && head.bytes().all(is_url_scheme_char)
        {
            scheme = head.to_ascii_lowercase();
            rest = &url[i + 1..];
        }
    }

    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
        let open = netloc.contains('[');
        let close = netloc.contains(']');
        if open != close {
            return Err("Invalid IPv6 URL".to_string());
        }
        if open && close {
            check_bracketed_netloc(netloc)?;
        }
    }
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    check_netloc_nfkc(netloc)?;
    Ok(SplitResult {
        scheme,
        netloc: netloc.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        fragment: fragment.to_string(),
    })
}

/// `netloc.rpartition('@')[2]`.
fn host_and_port(netloc: &str) -> &str {
    netloc.rsplit_once('@').map_or(netloc, |(_, host)| host)
}

/// `urllib.parse._check_bracketed_netloc`.
fn check_bracketed_netloc(netloc: &str) -> Result<(), String> {
    let hostname_and_port = host_and_port(netloc);
    let hostname = match hostname_and_port.split_once('[') {
        Some((before, bracketed)) => {
            if !before.is_empty() {
                return Err("Invalid IPv6 URL".to_string());
            }
            let (hostname, port) = bracketed.split_once(']').unwrap_or((bracketed, ""));
            if !port.is_empty() && !port.starts_with(':') {
                return Err("Invalid IPv6 URL".to_string());
            }
            hostname
        }
        None => hostname_and_port
            .split_once(':')
            .map_or(hostname_and_port, |(h, _)| h),
    };
    check_bracketed_host(hostname)
}

/// `urllib.parse._check_bracketed_host`, including the `ipaddress.ip_address` message.
fn check_bracketed_host(hostname: &str) -> Result<(), String> {
    if hostname.starts_with('v') {
        if ipvfuture_match(hostname) {
            return Ok(());
        }
        return Err("IPvFuture address is invalid".to_string());
    }
    if ipv4_address_valid(hostname) {
        return Err("An IPv4 address cannot be in brackets".to_string());
    }
    if ipv6_address_valid(hostname) {
        return Ok(());
    }
    Err(format!(
        "{} does not appear to be an IPv4 or IPv6 address",
        repr_str(hostname)
    ))
}

/// `re.match(r"\Av[a-fA-F0-9]+\..+\Z", hostname)`.
fn ipvfuture_match(hostname: &str) -> bool {
    let Some(rest) = hostname.strip_prefix('v') else {
        return false;
    };
    let hex_len = rest.bytes().take_while(u8::is_ascii_hexdigit).count();
    if hex_len == 0 {
        return false;
    }
    match rest[hex_len..].strip_prefix('.') {
        Some(tail) => !tail.is_empty() && !tail.contains('\n'),
        None => false,
    }
}

/// `urllib.parse._checknetloc`: some characters turn into one of `/?#@:` under NFKC.
/// Only those characters can make NFKC(netloc) contain a delimiter (no canonical composition
/// involves a delimiter; the table's generator asserts it), so checking for them is exact.
fn check_netloc_nfkc(netloc: &str) -> Result<(), String> {
    if netloc.is_ascii() {
        return Ok(());
    }
    if netloc.chars().any(|c| NFKC_DELIMITER_SOURCES.contains(&c)) {
        return Err(format!(
            "netloc '{}' contains invalid characters under NFKC normalization",
            netloc
        ));
    }
    Ok(())
}

/// `len(SplitResult.hostname)`, or `None` where `hostname` is `None`.
pub(super) fn hostname_len(netloc: &str) -> Option<usize> {
    let hostinfo = host_and_port(netloc);
    let hostname = match hostinfo.split_once('[') {
        Some((_, bracketed)) => bracketed.split_once(']').map_or(bracketed, |(h, _)| h),
        None => hostinfo.split_once(':').map_or(hostinfo, |(h, _)| h),
    };
    if hostname.is_empty() {
        return None;
    }
    // hostname.lower() + "%" + zone: only the name part is lower-cased, and lower-casing can
    // change its length (U+0130 becomes two code points).
    let (name, zone) = match hostname.split_once('%') {
        Some((name, zone)) => (name, Some(zone)),
        None => (hostname, None),
    };
    let name_len = name.chars().map(lower_len).sum::<usize>();
    Some(name_len + zone.map_or(0, |z| 1 + z.chars().count()))
}
