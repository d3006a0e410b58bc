//! The regular expressions of DOT's `URIValidator` and Django's `URLValidator`, as matchers.
//!
//! oauthctl uses no regex engine for them: each pattern is matched by a small function that
//! accepts exactly the strings the Python pattern (compiled with `re.IGNORECASE`, on `str`)
//! accepts, working on `[char]` so that lengths and classes are per code point as in Python.
//! Character classes are written out below in the form CPython 3.11 gives them under
//! IGNORECASE; `scripts/gen_unicode_tables.py` asserts each of those forms against Python's
//! `re` when it generates the tables these predicates read.
//!
//! Every matcher checks bounds before it indexes, so arbitrary input cannot make one panic,
//! and none backtracks: the patterns' quantified parts are delimited by characters they
//! cannot contain, so the first way to match is the only one that needs trying.

use super::ip::ipv4_octet_valid;
use crate::django::pystr::{ignorecase_ascii_fold, is_decimal, is_space};

/// `URIValidator.regex.search(value)`: scheme, `://`, then one of the host alternatives. The
/// port and path parts of the pattern are optional and the pattern has no `\Z`, so only a
/// prefix of the host has to match.
pub(super) fn dot_uri_regex_search(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    // ^(?:[a-z][a-z0-9\.\-\+]*)://   (":" is not a scheme character, so there is no backtracking)
    let Some(scheme_end) = scheme_len(&chars) else {
        return false;
    };
    if chars.get(scheme_end..scheme_end + 3) != Some(&[':', '/', '/'][..]) {
        return false;
    }
    let host = &chars[scheme_end + 3..];
    host_matches_localhost(host)
        || host_matches_domain(host)
        || host_matches_ipv4(host)
        || host_matches_bracketed(host)
        || host_matches_dotless(host)
}

/// `URIValidator.authorityless_regex.match(value)`:
/// `^[a-z][a-z0-9\.\-\+]*:/(?!/)[^\s]*\Z`, case-insensitive.
pub(super) fn authorityless_match(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    let Some(scheme_end) = scheme_len(&chars) else {
        return false;
    };
    if chars.get(scheme_end..scheme_end + 2) != Some(&[':', '/'][..]) {
        return false;
    }
    let rest = &chars[scheme_end + 2..];
    rest.first() != Some(&'/') && !rest.iter().any(|&c| is_space(c))
}

/// Django's `re.search(r"^\[(.+)\](?::[0-9]{1,5})?$", netloc)`, group 1. The group is greedy,
/// so the last "]" that leaves a valid (or no) port wins.
pub(super) fn bracketed_host_group(netloc: &str) -> Option<&str> {
    let inner = netloc.strip_prefix('[')?;
    if inner.contains('\n') {
        // Unreachable (urlsplit removed every "\n"); "." would not match it.
        return None;
    }
    for (i, _) in inner.rmatch_indices(']') {
        if i == 0 {
            continue;
        }
        let tail = &inner[i + 1..];
        let port_ok = match tail.strip_prefix(':') {
            Some(digits) => {
                (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
            }
            None => tail.is_empty(),
        };
        if port_ok {
            return Some(&inner[..i]);
        }
    }
    None
}

/// `[a-z][a-z0-9\.\-\+]*` at the start of `chars`: the scheme's length, if one is there.
fn scheme_len(chars: &[char]) -> Option<usize> {
    if !chars.first().is_some_and(|&c| is_alpha_i(c)) {
        return None;
    }
    Some(
        1 + chars[1..]
            .iter()
            .take_while(|&&c| is_scheme_char_i(c))
            .count(),
    )
}

/// `localhost` (case-insensitive, so Python also accepts U+017F LONG S for the "s").
fn host_matches_localhost(s: &[char]) -> bool {
    let word = "localhost";
    s.len() >= word.len() && word.chars().zip(s).all(|(w, &c)| eq_ignorecase(c, w))
}

/// `hostname_re + domain_re + tld_re` matches a prefix of `s`.
///
/// The first label and every domain label are followed by a literal "." and cannot contain
/// one, so each of them is a whole dot-separated segment; only the TLD may stop early.
fn host_matches_domain(s: &[char]) -> bool {
    // hostname_re: [L](?:[Ld]{0,61}[L])?, then "\."
    let first_len = s.iter().take_while(|&&c| is_label_char(c)).count();
    if first_len == 0 || first_len > 63 || s.get(first_len) != Some(&'.') {
        return false;
    }
    if !is_label_char_nodash(s[0]) || !is_label_char_nodash(s[first_len - 1]) {
        return false;
    }
    let mut dot = first_len;
    loop {
        let after = &s[dot + 1..];
        if tld_prefix_matches(after) {
            return true;
        }
        // domain_re label: \.(?!-)[Ld]{1,63}(?<!-) followed by another "\."
        let len = after.iter().take_while(|&&c| is_label_char(c)).count();
        if len == 0 || len > 63 || after.get(len) != Some(&'.') {
            return false;
        }
        if after[0] == '-' || after[len - 1] == '-' {
            return false;
        }
        dot += 1 + len;
    }
}

/// `(?!-)(?:[T]{2,63}|xn--[a-z0-9]{1,59})(?<!-)` matches a prefix of `s` (the TLD after its dot).
fn tld_prefix_matches(s: &[char]) -> bool {
    if s.first().map_or(true, |&c| c == '-') {
        return false;
    }
    let run = s.iter().take(63).take_while(|&&c| is_tld_char(c)).count();
    // Some length 2..=run whose last character is not "-".
    if run >= 2 && s[1..run].iter().any(|&c| c != '-') {
        return true;
    }
    s.len() >= 5
        && eq_ignorecase(s[0], 'x')
        && eq_ignorecase(s[1], 'n')
        && s[2] == '-'
        && s[3] == '-'
        && is_punycode_char(s[4])
}

/// `ipv4_re` matches a prefix of `s`: three whole octets, each followed by ".", then a digit.
fn host_matches_ipv4(s: &[char]) -> bool {
    let mut pos = 0;
    for _ in 0..3 {
        let len = s[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        let octet: String = s[pos..pos + len].iter().collect();
        if !ipv4_octet_valid(&octet) || s.get(pos + len) != Some(&'.') {
            return false;
        }
        pos += len + 1;
    }
    s.get(pos).is_some_and(|c| c.is_ascii_digit())
}

/// `\[[0-9a-f:.]+\]` matches a prefix of `s`.
fn host_matches_bracketed(s: &[char]) -> bool {
    if s.first() != Some(&'[') {
        return false;
    }
    let len = s[1..].iter().take_while(|&&c| is_ipv6_re_char(c)).count();
    len > 0 && s.get(1 + len) == Some(&']')
}

/// `(?!-)[A-Z\d-]{1,63}(?<!-)` matches a prefix of `s`: one character is enough.
fn host_matches_dotless(s: &[char]) -> bool {
    s.first().is_some_and(|&c| c != '-' && is_dotless_char(c))
}

// Character classes as CPython 3.11's `re` sees them with IGNORECASE on a str pattern.

/// The literal ASCII lower-case letter `lower`, case-insensitively: either case of it, or a
/// non-ASCII character that IGNORECASE folds onto it.
fn eq_ignorecase(c: char, lower: char) -> bool {
    c.to_ascii_lowercase() == lower || ignorecase_ascii_fold(c) == Some(lower)
}

/// `[a-z]` with IGNORECASE.
fn is_alpha_i(c: char) -> bool {
    c.is_ascii_alphabetic() || ignorecase_ascii_fold(c).is_some()
}

/// `[a-z0-9\.\-\+]` with IGNORECASE.
fn is_scheme_char_i(c: char) -> bool {
    is_alpha_i(c) || c.is_ascii_digit() || matches!(c, '.' | '-' | '+')
}

/// `[a-z\u00a1-\uffff0-9]` with IGNORECASE (Django's `hostname_re` ends). The non-ASCII
/// IGNORECASE folds all lie inside U+00A1..U+FFFF already.
fn is_label_char_nodash(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('\u{A1}'..='\u{FFFF}').contains(&c)
}

/// `[a-z\u00a1-\uffff0-9-]` with IGNORECASE.
fn is_label_char(c: char) -> bool {
    c == '-' || is_label_char_nodash(c)
}

/// `[a-z\u00a1-\uffff-]` with IGNORECASE (Django's TLD label).
fn is_tld_char(c: char) -> bool {
    c == '-' || c.is_ascii_alphabetic() || ('\u{A1}'..='\u{FFFF}').contains(&c)
}

/// `[a-z0-9]` with IGNORECASE (Django's punycode TLD).
fn is_punycode_char(c: char) -> bool {
    c.is_ascii_digit() || is_alpha_i(c)
}

/// `[0-9a-f:.]` with IGNORECASE (Django's `ipv6_re`): no non-ASCII character folds onto a-f.
fn is_ipv6_re_char(c: char) -> bool {
    c.is_ascii_hexdigit() || c == ':' || c == '.'
}

/// `[A-Z\d-]` with IGNORECASE (DOT's `dotless_domain_re`); `\d` is Unicode category Nd.
fn is_dotless_char(c: char) -> bool {
    c == '-' || is_alpha_i(c) || is_decimal(c)
}
