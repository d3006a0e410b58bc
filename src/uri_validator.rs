//! Port of Django OAuth Toolkit 3.4.1's `AllowedURIValidator` (`oauth2_provider/validators.py`),
//! together with the pieces of Django 5.2's `URLValidator` and of CPython 3.11's
//! `urllib.parse.urlsplit` / `ipaddress` that decide its outcome and its messages.
//!
//! Everything here works on Unicode scalar values (Python `str` code points), never on bytes:
//! lengths, classes and `repr()` escapes follow CPython 3.11 (Unicode 14.0 data). The regular
//! expressions DOT and Django use are not run through a regex engine; each one is matched by a
//! small hand-written function that accepts exactly the strings the Python pattern (compiled
//! with `re.IGNORECASE`) accepts. The character tables at the bottom of the file were generated
//! by enumerating every code point through Python 3.11's `re` and `str` methods.
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
            return Err(format!(
                "{} URI Validation error. invalid_scheme: {}",
                self.name, value
            ));
        }
        // A "?" opens a query only when it comes before the first "#".
        let before_fragment = value.split('#').next().unwrap_or("");
        if before_fragment.contains('?') && !self.allow_query {
            return fail("query string not allowed");
        }
        if value.contains('#') && !self.allow_fragment {
            return fail("fragment not allowed");
        }
        if !parts.path.is_empty() && !self.allow_path {
            return fail("path not allowed");
        }

        if parts.netloc.is_empty() {
            if SCHEMES_REQUIRING_AUTHORITY.contains(&parts.scheme.as_str()) {
                return fail("missing host");
            }
            if !authorityless_match(value) {
                return fail("invalid URI");
            }
            return Ok(());
        }

        let mut netloc = parts.netloc.as_str();
        if self.allow_hostname_wildcard && netloc.contains('*') {
            if netloc.matches('*').count() > 1 {
                return fail("only one wildcard is allowed in the hostname");
            }
            if !netloc.starts_with('*') {
                return fail("wildcards must be at the beginning of the hostname");
            }
            // len(netloc.split(".")) < 3
            if netloc.matches('.').count() < 2 {
                return fail("wildcards cannot be in the top level or second level domain");
            }
            netloc = netloc
                .strip_prefix("*.")
                .or_else(|| netloc.strip_prefix('*'))
                .unwrap_or(netloc);
            netloc = netloc
                .strip_prefix("--")
                .or_else(|| netloc.strip_prefix('-'))
                .unwrap_or(netloc);
        }

        let mut reassembled = format!("{}://{}{}", parts.scheme, netloc, parts.path);
        if !parts.query.is_empty() {
            reassembled.push('?');
            reassembled.push_str(&parts.query);
        }
        if !parts.fragment.is_empty() {
            reassembled.push('#');
            reassembled.push_str(&parts.fragment);
        }

        if !self.url_validator_accepts(&reassembled) {
            return fail(ENTER_A_VALID_URL);
        }
        Ok(())
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
            // django.utils.ipv6.is_valid_ipv6_address (MAX_IPV6_ADDRESS_LENGTH = 39)
            if potential_ip.chars().count() > 39 || !py_ipv6_address_valid(potential_ip) {
                return false;
            }
        }
        matches!(hostname_len(&split.netloc), Some(len) if len <= 253)
    }
}

/// Python's `str.split()` with no argument (which also does the `strip()`): how
/// `Application.clean()` turns the `redirect_uris` field into URIs.
pub fn py_split_whitespace(s: &str) -> Vec<&str> {
    s.split(is_py_space).filter(|p| !p.is_empty()).collect()
}

// ---------------------------------------------------------------------------------------------
// urllib.parse.urlsplit (CPython 3.11.7)
// ---------------------------------------------------------------------------------------------

/// The five components `urlsplit` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SplitResult {
    scheme: String,
    netloc: String,
    path: String,
    query: String,
    fragment: String,
}

/// `urllib.parse.scheme_chars`.
fn is_url_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')
}

/// `urlsplit(url)` with the default arguments; `Err` carries `str(ValueError)`.
fn urlsplit(input: &str) -> Result<SplitResult, String> {
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
    if py_ipv4_address_valid(hostname) {
        return Err("An IPv4 address cannot be in brackets".to_string());
    }
    if py_ipv6_address_valid(hostname) {
        return Ok(());
    }
    Err(format!(
        "{} does not appear to be an IPv4 or IPv6 address",
        py_repr(hostname)
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
/// Only those characters can make NFKC(netloc) contain a delimiter (the delimiters have no
/// canonical compositions), so checking for them is exact.
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
fn hostname_len(netloc: &str) -> Option<usize> {
    let hostinfo = host_and_port(netloc);
    let hostname = match hostinfo.split_once('[') {
        Some((_, bracketed)) => bracketed.split_once(']').map_or(bracketed, |(h, _)| h),
        None => hostinfo.split_once(':').map_or(hostinfo, |(h, _)| h),
    };
    if hostname.is_empty() {
        return None;
    }
    // hostname.lower() + "%" + zone: str.lower() only changes the length of U+0130, which
    // lower-cases to two code points ("i" + U+0307).
    let (name, zone) = match hostname.split_once('%') {
        Some((name, zone)) => (name, Some(zone)),
        None => (hostname, None),
    };
    let name_len = name
        .chars()
        .map(|c| if c == '\u{130}' { 2 } else { 1 })
        .sum::<usize>();
    Some(name_len + zone.map_or(0, |z| 1 + z.chars().count()))
}

// ---------------------------------------------------------------------------------------------
// ipaddress (CPython 3.11): IPv4Address(str) / IPv6Address(str) validity
// ---------------------------------------------------------------------------------------------

/// `IPv4Address._parse_octet` succeeds.
fn py_ipv4_octet_valid(octet: &str) -> bool {
    !octet.is_empty()
        && octet.len() <= 3
        && octet.bytes().all(|b| b.is_ascii_digit())
        && (octet == "0" || !octet.starts_with('0'))
        && octet.parse::<u16>().is_ok_and(|v| v <= 255)
}

/// `ipaddress.IPv4Address(s)` does not raise.
fn py_ipv4_address_valid(s: &str) -> bool {
    if s.contains('/') || s.is_empty() {
        return false;
    }
    let octets: Vec<&str> = s.split('.').collect();
    octets.len() == 4 && octets.iter().all(|o| py_ipv4_octet_valid(o))
}

/// `IPv6Address._parse_hextet` succeeds (`int("", 16)` fails too).
fn py_hextet_valid(h: &str) -> bool {
    !h.is_empty() && h.len() <= 4 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `ipaddress.IPv6Address(s)` does not raise (a `%scope` suffix is allowed).
fn py_ipv6_address_valid(s: &str) -> bool {
    if s.contains('/') {
        return false;
    }
    let addr = match s.split_once('%') {
        Some((addr, scope)) => {
            if scope.is_empty() || scope.contains('%') {
                return false;
            }
            addr
        }
        None => s,
    };
    if addr.is_empty() {
        return false;
    }
    let mut parts: Vec<&str> = addr.split(':').collect();
    if parts.len() < 3 {
        return false;
    }
    if parts.last().is_some_and(|p| p.contains('.')) {
        let v4 = parts.pop().unwrap_or("");
        if !py_ipv4_address_valid(v4) {
            return false;
        }
        // Two hextets stand in for the IPv4 tail; their values do not matter here.
        parts.push("0");
        parts.push("0");
    }
    const HEXTETS: usize = 8;
    if parts.len() > HEXTETS + 1 {
        return false;
    }
    let mut skip_index = None;
    for (i, part) in parts.iter().enumerate().take(parts.len() - 1).skip(1) {
        if part.is_empty() {
            if skip_index.is_some() {
                return false;
            }
            skip_index = Some(i);
        }
    }
    let (parts_hi, parts_lo) = match skip_index {
        Some(skip) => {
            let mut hi = skip;
            let mut lo = parts.len() - skip - 1;
            if parts[0].is_empty() {
                hi -= 1;
                if hi != 0 {
                    return false;
                }
            }
            if parts[parts.len() - 1].is_empty() {
                lo -= 1;
                if lo != 0 {
                    return false;
                }
            }
            if hi + lo >= HEXTETS {
                return false;
            }
            (hi, lo)
        }
        None => {
            if parts.len() != HEXTETS || parts[0].is_empty() || parts[HEXTETS - 1].is_empty() {
                return false;
            }
            (parts.len(), 0)
        }
    };
    parts[..parts_hi].iter().all(|p| py_hextet_valid(p))
        && parts[parts.len() - parts_lo..]
            .iter()
            .all(|p| py_hextet_valid(p))
}

// ---------------------------------------------------------------------------------------------
// DOT's URIValidator.regex and authorityless_regex, Django's IPv6 netloc regex
// ---------------------------------------------------------------------------------------------

/// `URIValidator.regex.search(value)`: scheme, `://`, then one of the host alternatives. The
/// port and path parts of the pattern are optional and the pattern has no `\Z`, so only a
/// prefix of the host has to match.
fn dot_uri_regex_search(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    // ^(?:[a-z][a-z0-9\.\-\+]*)://   (":" is not a scheme character, so there is no backtracking)
    if !chars.first().is_some_and(|&c| is_alpha_i(c)) {
        return false;
    }
    let scheme_end = 1 + chars[1..]
        .iter()
        .take_while(|&&c| is_scheme_char_i(c))
        .count();
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

/// `localhost` (case-insensitive; Python also folds U+017F LONG S to "s").
fn host_matches_localhost(s: &[char]) -> bool {
    let word = "localhost";
    s.len() >= word.len()
        && word
            .chars()
            .zip(s)
            .all(|(w, &c)| c.to_ascii_lowercase() == w || (w == 's' && c == '\u{17F}'))
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
        && matches!(s[0], 'x' | 'X')
        && matches!(s[1], 'n' | 'N')
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
        if !py_ipv4_octet_valid(&octet) || s.get(pos + len) != Some(&'.') {
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

/// `URIValidator.authorityless_regex.match(value)`:
/// `^[a-z][a-z0-9\.\-\+]*:/(?!/)[^\s]*\Z`, case-insensitive.
fn authorityless_match(value: &str) -> bool {
    let chars: Vec<char> = value.chars().collect();
    if !chars.first().is_some_and(|&c| is_alpha_i(c)) {
        return false;
    }
    let scheme_end = 1 + chars[1..]
        .iter()
        .take_while(|&&c| is_scheme_char_i(c))
        .count();
    if chars.get(scheme_end..scheme_end + 2) != Some(&[':', '/'][..]) {
        return false;
    }
    let rest = &chars[scheme_end + 2..];
    rest.first() != Some(&'/') && !rest.iter().any(|&c| is_py_space(c))
}

/// Django's `re.search(r"^\[(.+)\](?::[0-9]{1,5})?$", netloc)`, group 1. The group is greedy,
/// so the last "]" that leaves a valid (or no) port wins.
fn bracketed_host_group(netloc: &str) -> Option<&str> {
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

// ---------------------------------------------------------------------------------------------
// Character classes as CPython 3.11's `re` (IGNORECASE, str patterns) and `str` see them
// ---------------------------------------------------------------------------------------------

/// Non-ASCII characters that `re.IGNORECASE` folds onto ASCII letters: U+0130 and U+0131
/// (onto "i"), U+017F LONG S (onto "s") and U+212A KELVIN SIGN (onto "k").
fn is_ascii_letter_fold(c: char) -> bool {
    matches!(c, '\u{130}' | '\u{131}' | '\u{17F}' | '\u{212A}')
}

/// `[a-z]` with IGNORECASE.
fn is_alpha_i(c: char) -> bool {
    c.is_ascii_alphabetic() || is_ascii_letter_fold(c)
}

/// `[a-z0-9\.\-\+]` with IGNORECASE.
fn is_scheme_char_i(c: char) -> bool {
    is_alpha_i(c) || c.is_ascii_digit() || matches!(c, '.' | '-' | '+')
}

/// `[a-z\u00a1-\uffff0-9]` with IGNORECASE (Django's `hostname_re` ends).
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
    c.is_ascii_alphanumeric() || is_ascii_letter_fold(c)
}

/// `[0-9a-f:.]` with IGNORECASE (Django's `ipv6_re`).
fn is_ipv6_re_char(c: char) -> bool {
    c.is_ascii_hexdigit() || c == ':' || c == '.'
}

/// `[A-Z\d-]` with IGNORECASE (DOT's `dotless_domain_re`); `\d` is Unicode category Nd.
fn is_dotless_char(c: char) -> bool {
    c == '-'
        || c.is_ascii_alphanumeric()
        || is_ascii_letter_fold(c)
        || in_table(c, PY_NON_ASCII_DIGITS)
}

/// `\s` in a str pattern, which is also `str.isspace()`.
fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\u{9}'..='\u{D}'
            | '\u{1C}'..='\u{20}'
            | '\u{85}'
            | '\u{A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
    )
}

/// `str.isprintable()` for one character.
fn py_isprintable(c: char) -> bool {
    !in_table(c, PY_NON_PRINTABLE)
}

/// `c` lies in one of the sorted, disjoint inclusive ranges of `table`.
fn in_table(c: char, table: &[(u32, u32)]) -> bool {
    let cp = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `repr(s)` for a Python `str`.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        let cp = c as u32;
        match c {
            _ if c == quote || c == '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            _ if cp < 0x20 || cp == 0x7F => out.push_str(&format!("\\x{:02x}", cp)),
            _ if cp < 0x7F || py_isprintable(c) => out.push(c),
            _ if cp <= 0xFF => out.push_str(&format!("\\x{:02x}", cp)),
            _ if cp <= 0xFFFF => out.push_str(&format!("\\u{:04x}", cp)),
            _ => out.push_str(&format!("\\U{:08x}", cp)),
        }
    }
    out.push(quote);
    out
}

/// Characters whose NFKC form contains one of `/?#@:` (Unicode 14.0).
#[rustfmt::skip]
const NFKC_DELIMITER_SOURCES: [char; 19] = [
    '\u{2047}', '\u{2048}', '\u{2049}', '\u{2100}', '\u{2101}', '\u{2105}', '\u{2106}',
    '\u{2A74}', '\u{FE13}', '\u{FE16}', '\u{FE55}', '\u{FE56}', '\u{FE5F}', '\u{FE6B}',
    '\u{FF03}', '\u{FF0F}', '\u{FF1A}', '\u{FF1F}', '\u{FF20}',
];

/// Non-ASCII code points in Python 3.11's `\d` (Unicode 14.0 category Nd), as ranges.
#[rustfmt::skip]
const PY_NON_ASCII_DIGITS: &[(u32, u32)] = &[
    (0x0660, 0x0669), (0x06F0, 0x06F9), (0x07C0, 0x07C9), (0x0966, 0x096F), (0x09E6, 0x09EF),
    (0x0A66, 0x0A6F), (0x0AE6, 0x0AEF), (0x0B66, 0x0B6F), (0x0BE6, 0x0BEF), (0x0C66, 0x0C6F),
    (0x0CE6, 0x0CEF), (0x0D66, 0x0D6F), (0x0DE6, 0x0DEF), (0x0E50, 0x0E59), (0x0ED0, 0x0ED9),
    (0x0F20, 0x0F29), (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9), (0x1810, 0x1819),
    (0x1946, 0x194F), (0x19D0, 0x19D9), (0x1A80, 0x1A89), (0x1A90, 0x1A99), (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9), (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0xA620, 0xA629), (0xA8D0, 0xA8D9),
    (0xA900, 0xA909), (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9),
    (0xFF10, 0xFF19), (0x104A0, 0x104A9), (0x10D30, 0x10D39), (0x11066, 0x1106F),
    (0x110F0, 0x110F9), (0x11136, 0x1113F), (0x111D0, 0x111D9), (0x112F0, 0x112F9),
    (0x11450, 0x11459), (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9),
    (0x11730, 0x11739), (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11C50, 0x11C59),
    (0x11D50, 0x11D59), (0x11DA0, 0x11DA9), (0x16A60, 0x16A69), (0x16AC0, 0x16AC9),
    (0x16B50, 0x16B59), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9),
    (0x1E950, 0x1E959), (0x1FBF0, 0x1FBF9),
];

/// Code points for which Python 3.11's `str.isprintable()` is false (Unicode 14.0 categories
/// Cc, Cf, Cs, Co, Cn, Zl, Zp and Zs other than U+0020), as ranges.
#[rustfmt::skip]
const PY_NON_PRINTABLE: &[(u32, u32)] = &[
    (0x0, 0x1F), (0x7F, 0xA0), (0xAD, 0xAD), (0x378, 0x379), (0x380, 0x383), (0x38B, 0x38B),
    (0x38D, 0x38D), (0x3A2, 0x3A2), (0x530, 0x530), (0x557, 0x558), (0x58B, 0x58C),
    (0x590, 0x590), (0x5C8, 0x5CF), (0x5EB, 0x5EE), (0x5F5, 0x605), (0x61C, 0x61C),
    (0x6DD, 0x6DD), (0x70E, 0x70F), (0x74B, 0x74C), (0x7B2, 0x7BF), (0x7FB, 0x7FC),
    (0x82E, 0x82F), (0x83F, 0x83F), (0x85C, 0x85D), (0x85F, 0x85F), (0x86B, 0x86F),
    (0x88F, 0x897), (0x8E2, 0x8E2), (0x984, 0x984), (0x98D, 0x98E), (0x991, 0x992),
    (0x9A9, 0x9A9), (0x9B1, 0x9B1), (0x9B3, 0x9B5), (0x9BA, 0x9BB), (0x9C5, 0x9C6),
    (0x9C9, 0x9CA), (0x9CF, 0x9D6), (0x9D8, 0x9DB), (0x9DE, 0x9DE), (0x9E4, 0x9E5),
    (0x9FF, 0xA00), (0xA04, 0xA04), (0xA0B, 0xA0E), (0xA11, 0xA12), (0xA29, 0xA29),
    (0xA31, 0xA31), (0xA34, 0xA34), (0xA37, 0xA37), (0xA3A, 0xA3B), (0xA3D, 0xA3D),
    (0xA43, 0xA46), (0xA49, 0xA4A), (0xA4E, 0xA50), (0xA52, 0xA58), (0xA5D, 0xA5D),
    (0xA5F, 0xA65), (0xA77, 0xA80), (0xA84, 0xA84), (0xA8E, 0xA8E), (0xA92, 0xA92),
    (0xAA9, 0xAA9), (0xAB1, 0xAB1), (0xAB4, 0xAB4), (0xABA, 0xABB), (0xAC6, 0xAC6),
    (0xACA, 0xACA), (0xACE, 0xACF), (0xAD1, 0xADF), (0xAE4, 0xAE5), (0xAF2, 0xAF8),
    (0xB00, 0xB00), (0xB04, 0xB04), (0xB0D, 0xB0E), (0xB11, 0xB12), (0xB29, 0xB29),
    (0xB31, 0xB31), (0xB34, 0xB34), (0xB3A, 0xB3B), (0xB45, 0xB46), (0xB49, 0xB4A),
    (0xB4E, 0xB54), (0xB58, 0xB5B), (0xB5E, 0xB5E), (0xB64, 0xB65), (0xB78, 0xB81),
    (0xB84, 0xB84), (0xB8B, 0xB8D), (0xB91, 0xB91), (0xB96, 0xB98), (0xB9B, 0xB9B),
    (0xB9D, 0xB9D), (0xBA0, 0xBA2), (0xBA5, 0xBA7), (0xBAB, 0xBAD), (0xBBA, 0xBBD),
    (0xBC3, 0xBC5), (0xBC9, 0xBC9), (0xBCE, 0xBCF), (0xBD1, 0xBD6), (0xBD8, 0xBE5),
    (0xBFB, 0xBFF), (0xC0D, 0xC0D), (0xC11, 0xC11), (0xC29, 0xC29), (0xC3A, 0xC3B),
    (0xC45, 0xC45), (0xC49, 0xC49), (0xC4E, 0xC54), (0xC57, 0xC57), (0xC5B, 0xC5C),
    (0xC5E, 0xC5F), (0xC64, 0xC65), (0xC70, 0xC76), (0xC8D, 0xC8D), (0xC91, 0xC91),
    (0xCA9, 0xCA9), (0xCB4, 0xCB4), (0xCBA, 0xCBB), (0xCC5, 0xCC5), (0xCC9, 0xCC9),
    (0xCCE, 0xCD4), (0xCD7, 0xCDC), (0xCDF, 0xCDF), (0xCE4, 0xCE5), (0xCF0, 0xCF0),
    (0xCF3, 0xCFF), (0xD0D, 0xD0D), (0xD11, 0xD11), (0xD45, 0xD45), (0xD49, 0xD49),
    (0xD50, 0xD53), (0xD64, 0xD65), (0xD80, 0xD80), (0xD84, 0xD84), (0xD97, 0xD99),
    (0xDB2, 0xDB2), (0xDBC, 0xDBC), (0xDBE, 0xDBF), (0xDC7, 0xDC9), (0xDCB, 0xDCE),
    (0xDD5, 0xDD5), (0xDD7, 0xDD7), (0xDE0, 0xDE5), (0xDF0, 0xDF1), (0xDF5, 0xE00),
    (0xE3B, 0xE3E), (0xE5C, 0xE80), (0xE83, 0xE83), (0xE85, 0xE85), (0xE8B, 0xE8B),
    (0xEA4, 0xEA4), (0xEA6, 0xEA6), (0xEBE, 0xEBF), (0xEC5, 0xEC5), (0xEC7, 0xEC7),
    (0xECE, 0xECF), (0xEDA, 0xEDB), (0xEE0, 0xEFF), (0xF48, 0xF48), (0xF6D, 0xF70),
    (0xF98, 0xF98), (0xFBD, 0xFBD), (0xFCD, 0xFCD), (0xFDB, 0xFFF), (0x10C6, 0x10C6),
    (0x10C8, 0x10CC), (0x10CE, 0x10CF), (0x1249, 0x1249), (0x124E, 0x124F), (0x1257, 0x1257),
    (0x1259, 0x1259), (0x125E, 0x125F), (0x1289, 0x1289), (0x128E, 0x128F), (0x12B1, 0x12B1),
    (0x12B6, 0x12B7), (0x12BF, 0x12BF), (0x12C1, 0x12C1), (0x12C6, 0x12C7), (0x12D7, 0x12D7),
    (0x1311, 0x1311), (0x1316, 0x1317), (0x135B, 0x135C), (0x137D, 0x137F), (0x139A, 0x139F),
    (0x13F6, 0x13F7), (0x13FE, 0x13FF), (0x1680, 0x1680), (0x169D, 0x169F), (0x16F9, 0x16FF),
    (0x1716, 0x171E), (0x1737, 0x173F), (0x1754, 0x175F), (0x176D, 0x176D), (0x1771, 0x1771),
    (0x1774, 0x177F), (0x17DE, 0x17DF), (0x17EA, 0x17EF), (0x17FA, 0x17FF), (0x180E, 0x180E),
    (0x181A, 0x181F), (0x1879, 0x187F), (0x18AB, 0x18AF), (0x18F6, 0x18FF), (0x191F, 0x191F),
    (0x192C, 0x192F), (0x193C, 0x193F), (0x1941, 0x1943), (0x196E, 0x196F), (0x1975, 0x197F),
    (0x19AC, 0x19AF), (0x19CA, 0x19CF), (0x19DB, 0x19DD), (0x1A1C, 0x1A1D), (0x1A5F, 0x1A5F),
    (0x1A7D, 0x1A7E), (0x1A8A, 0x1A8F), (0x1A9A, 0x1A9F), (0x1AAE, 0x1AAF), (0x1ACF, 0x1AFF),
    (0x1B4D, 0x1B4F), (0x1B7F, 0x1B7F), (0x1BF4, 0x1BFB), (0x1C38, 0x1C3A), (0x1C4A, 0x1C4C),
    (0x1C89, 0x1C8F), (0x1CBB, 0x1CBC), (0x1CC8, 0x1CCF), (0x1CFB, 0x1CFF), (0x1F16, 0x1F17),
    (0x1F1E, 0x1F1F), (0x1F46, 0x1F47), (0x1F4E, 0x1F4F), (0x1F58, 0x1F58), (0x1F5A, 0x1F5A),
    (0x1F5C, 0x1F5C), (0x1F5E, 0x1F5E), (0x1F7E, 0x1F7F), (0x1FB5, 0x1FB5), (0x1FC5, 0x1FC5),
    (0x1FD4, 0x1FD5), (0x1FDC, 0x1FDC), (0x1FF0, 0x1FF1), (0x1FF5, 0x1FF5), (0x1FFF, 0x200F),
    (0x2028, 0x202F), (0x205F, 0x206F), (0x2072, 0x2073), (0x208F, 0x208F), (0x209D, 0x209F),
    (0x20C1, 0x20CF), (0x20F1, 0x20FF), (0x218C, 0x218F), (0x2427, 0x243F), (0x244B, 0x245F),
    (0x2B74, 0x2B75), (0x2B96, 0x2B96), (0x2CF4, 0x2CF8), (0x2D26, 0x2D26), (0x2D28, 0x2D2C),
    (0x2D2E, 0x2D2F), (0x2D68, 0x2D6E), (0x2D71, 0x2D7E), (0x2D97, 0x2D9F), (0x2DA7, 0x2DA7),
    (0x2DAF, 0x2DAF), (0x2DB7, 0x2DB7), (0x2DBF, 0x2DBF), (0x2DC7, 0x2DC7), (0x2DCF, 0x2DCF),
    (0x2DD7, 0x2DD7), (0x2DDF, 0x2DDF), (0x2E5E, 0x2E7F), (0x2E9A, 0x2E9A), (0x2EF4, 0x2EFF),
    (0x2FD6, 0x2FEF), (0x2FFC, 0x3000), (0x3040, 0x3040), (0x3097, 0x3098), (0x3100, 0x3104),
    (0x3130, 0x3130), (0x318F, 0x318F), (0x31E4, 0x31EF), (0x321F, 0x321F), (0xA48D, 0xA48F),
    (0xA4C7, 0xA4CF), (0xA62C, 0xA63F), (0xA6F8, 0xA6FF), (0xA7CB, 0xA7CF), (0xA7D2, 0xA7D2),
    (0xA7D4, 0xA7D4), (0xA7DA, 0xA7F1), (0xA82D, 0xA82F), (0xA83A, 0xA83F), (0xA878, 0xA87F),
    (0xA8C6, 0xA8CD), (0xA8DA, 0xA8DF), (0xA954, 0xA95E), (0xA97D, 0xA97F), (0xA9CE, 0xA9CE),
    (0xA9DA, 0xA9DD), (0xA9FF, 0xA9FF), (0xAA37, 0xAA3F), (0xAA4E, 0xAA4F), (0xAA5A, 0xAA5B),
    (0xAAC3, 0xAADA), (0xAAF7, 0xAB00), (0xAB07, 0xAB08), (0xAB0F, 0xAB10), (0xAB17, 0xAB1F),
    (0xAB27, 0xAB27), (0xAB2F, 0xAB2F), (0xAB6C, 0xAB6F), (0xABEE, 0xABEF), (0xABFA, 0xABFF),
    (0xD7A4, 0xD7AF), (0xD7C7, 0xD7CA), (0xD7FC, 0xF8FF), (0xFA6E, 0xFA6F), (0xFADA, 0xFAFF),
    (0xFB07, 0xFB12), (0xFB18, 0xFB1C), (0xFB37, 0xFB37), (0xFB3D, 0xFB3D), (0xFB3F, 0xFB3F),
    (0xFB42, 0xFB42), (0xFB45, 0xFB45), (0xFBC3, 0xFBD2), (0xFD90, 0xFD91), (0xFDC8, 0xFDCE),
    (0xFDD0, 0xFDEF), (0xFE1A, 0xFE1F), (0xFE53, 0xFE53), (0xFE67, 0xFE67), (0xFE6C, 0xFE6F),
    (0xFE75, 0xFE75), (0xFEFD, 0xFF00), (0xFFBF, 0xFFC1), (0xFFC8, 0xFFC9), (0xFFD0, 0xFFD1),
    (0xFFD8, 0xFFD9), (0xFFDD, 0xFFDF), (0xFFE7, 0xFFE7), (0xFFEF, 0xFFFB), (0xFFFE, 0xFFFF),
    (0x1000C, 0x1000C), (0x10027, 0x10027), (0x1003B, 0x1003B), (0x1003E, 0x1003E),
    (0x1004E, 0x1004F), (0x1005E, 0x1007F), (0x100FB, 0x100FF), (0x10103, 0x10106),
    (0x10134, 0x10136), (0x1018F, 0x1018F), (0x1019D, 0x1019F), (0x101A1, 0x101CF),
    (0x101FE, 0x1027F), (0x1029D, 0x1029F), (0x102D1, 0x102DF), (0x102FC, 0x102FF),
    (0x10324, 0x1032C), (0x1034B, 0x1034F), (0x1037B, 0x1037F), (0x1039E, 0x1039E),
    (0x103C4, 0x103C7), (0x103D6, 0x103FF), (0x1049E, 0x1049F), (0x104AA, 0x104AF),
    (0x104D4, 0x104D7), (0x104FC, 0x104FF), (0x10528, 0x1052F), (0x10564, 0x1056E),
    (0x1057B, 0x1057B), (0x1058B, 0x1058B), (0x10593, 0x10593), (0x10596, 0x10596),
    (0x105A2, 0x105A2), (0x105B2, 0x105B2), (0x105BA, 0x105BA), (0x105BD, 0x105FF),
    (0x10737, 0x1073F), (0x10756, 0x1075F), (0x10768, 0x1077F), (0x10786, 0x10786),
    (0x107B1, 0x107B1), (0x107BB, 0x107FF), (0x10806, 0x10807), (0x10809, 0x10809),
    (0x10836, 0x10836), (0x10839, 0x1083B), (0x1083D, 0x1083E), (0x10856, 0x10856),
    (0x1089F, 0x108A6), (0x108B0, 0x108DF), (0x108F3, 0x108F3), (0x108F6, 0x108FA),
    (0x1091C, 0x1091E), (0x1093A, 0x1093E), (0x10940, 0x1097F), (0x109B8, 0x109BB),
    (0x109D0, 0x109D1), (0x10A04, 0x10A04), (0x10A07, 0x10A0B), (0x10A14, 0x10A14),
    (0x10A18, 0x10A18), (0x10A36, 0x10A37), (0x10A3B, 0x10A3E), (0x10A49, 0x10A4F),
    (0x10A59, 0x10A5F), (0x10AA0, 0x10ABF), (0x10AE7, 0x10AEA), (0x10AF7, 0x10AFF),
    (0x10B36, 0x10B38), (0x10B56, 0x10B57), (0x10B73, 0x10B77), (0x10B92, 0x10B98),
    (0x10B9D, 0x10BA8), (0x10BB0, 0x10BFF), (0x10C49, 0x10C7F), (0x10CB3, 0x10CBF),
    (0x10CF3, 0x10CF9), (0x10D28, 0x10D2F), (0x10D3A, 0x10E5F), (0x10E7F, 0x10E7F),
    (0x10EAA, 0x10EAA), (0x10EAE, 0x10EAF), (0x10EB2, 0x10EFF), (0x10F28, 0x10F2F),
    (0x10F5A, 0x10F6F), (0x10F8A, 0x10FAF), (0x10FCC, 0x10FDF), (0x10FF7, 0x10FFF),
    (0x1104E, 0x11051), (0x11076, 0x1107E), (0x110BD, 0x110BD), (0x110C3, 0x110CF),
    (0x110E9, 0x110EF), (0x110FA, 0x110FF), (0x11135, 0x11135), (0x11148, 0x1114F),
    (0x11177, 0x1117F), (0x111E0, 0x111E0), (0x111F5, 0x111FF), (0x11212, 0x11212),
    (0x1123F, 0x1127F), (0x11287, 0x11287), (0x11289, 0x11289), (0x1128E, 0x1128E),
    (0x1129E, 0x1129E), (0x112AA, 0x112AF), (0x112EB, 0x112EF), (0x112FA, 0x112FF),
    (0x11304, 0x11304), (0x1130D, 0x1130E), (0x11311, 0x11312), (0x11329, 0x11329),
    (0x11331, 0x11331), (0x11334, 0x11334), (0x1133A, 0x1133A), (0x11345, 0x11346),
    (0x11349, 0x1134A), (0x1134E, 0x1134F), (0x11351, 0x11356), (0x11358, 0x1135C),
    (0x11364, 0x11365), (0x1136D, 0x1136F), (0x11375, 0x113FF), (0x1145C, 0x1145C),
    (0x11462, 0x1147F), (0x114C8, 0x114CF), (0x114DA, 0x1157F), (0x115B6, 0x115B7),
    (0x115DE, 0x115FF), (0x11645, 0x1164F), (0x1165A, 0x1165F), (0x1166D, 0x1167F),
    (0x116BA, 0x116BF), (0x116CA, 0x116FF), (0x1171B, 0x1171C), (0x1172C, 0x1172F),
    (0x11747, 0x117FF), (0x1183C, 0x1189F), (0x118F3, 0x118FE), (0x11907, 0x11908),
    (0x1190A, 0x1190B), (0x11914, 0x11914), (0x11917, 0x11917), (0x11936, 0x11936),
    (0x11939, 0x1193A), (0x11947, 0x1194F), (0x1195A, 0x1199F), (0x119A8, 0x119A9),
    (0x119D8, 0x119D9), (0x119E5, 0x119FF), (0x11A48, 0x11A4F), (0x11AA3, 0x11AAF),
    (0x11AF9, 0x11BFF), (0x11C09, 0x11C09), (0x11C37, 0x11C37), (0x11C46, 0x11C4F),
    (0x11C6D, 0x11C6F), (0x11C90, 0x11C91), (0x11CA8, 0x11CA8), (0x11CB7, 0x11CFF),
    (0x11D07, 0x11D07), (0x11D0A, 0x11D0A), (0x11D37, 0x11D39), (0x11D3B, 0x11D3B),
    (0x11D3E, 0x11D3E), (0x11D48, 0x11D4F), (0x11D5A, 0x11D5F), (0x11D66, 0x11D66),
    (0x11D69, 0x11D69), (0x11D8F, 0x11D8F), (0x11D92, 0x11D92), (0x11D99, 0x11D9F),
    (0x11DAA, 0x11EDF), (0x11EF9, 0x11FAF), (0x11FB1, 0x11FBF), (0x11FF2, 0x11FFE),
    (0x1239A, 0x123FF), (0x1246F, 0x1246F), (0x12475, 0x1247F), (0x12544, 0x12F8F),
    (0x12FF3, 0x12FFF), (0x1342F, 0x143FF), (0x14647, 0x167FF), (0x16A39, 0x16A3F),
    (0x16A5F, 0x16A5F), (0x16A6A, 0x16A6D), (0x16ABF, 0x16ABF), (0x16ACA, 0x16ACF),
    (0x16AEE, 0x16AEF), (0x16AF6, 0x16AFF), (0x16B46, 0x16B4F), (0x16B5A, 0x16B5A),
    (0x16B62, 0x16B62), (0x16B78, 0x16B7C), (0x16B90, 0x16E3F), (0x16E9B, 0x16EFF),
    (0x16F4B, 0x16F4E), (0x16F88, 0x16F8E), (0x16FA0, 0x16FDF), (0x16FE5, 0x16FEF),
    (0x16FF2, 0x16FFF), (0x187F8, 0x187FF), (0x18CD6, 0x18CFF), (0x18D09, 0x1AFEF),
    (0x1AFF4, 0x1AFF4), (0x1AFFC, 0x1AFFC), (0x1AFFF, 0x1AFFF), (0x1B123, 0x1B14F),
    (0x1B153, 0x1B163), (0x1B168, 0x1B16F), (0x1B2FC, 0x1BBFF), (0x1BC6B, 0x1BC6F),
    (0x1BC7D, 0x1BC7F), (0x1BC89, 0x1BC8F), (0x1BC9A, 0x1BC9B), (0x1BCA0, 0x1CEFF),
    (0x1CF2E, 0x1CF2F), (0x1CF47, 0x1CF4F), (0x1CFC4, 0x1CFFF), (0x1D0F6, 0x1D0FF),
    (0x1D127, 0x1D128), (0x1D173, 0x1D17A), (0x1D1EB, 0x1D1FF), (0x1D246, 0x1D2DF),
    (0x1D2F4, 0x1D2FF), (0x1D357, 0x1D35F), (0x1D379, 0x1D3FF), (0x1D455, 0x1D455),
    (0x1D49D, 0x1D49D), (0x1D4A0, 0x1D4A1), (0x1D4A3, 0x1D4A4), (0x1D4A7, 0x1D4A8),
    (0x1D4AD, 0x1D4AD), (0x1D4BA, 0x1D4BA), (0x1D4BC, 0x1D4BC), (0x1D4C4, 0x1D4C4),
    (0x1D506, 0x1D506), (0x1D50B, 0x1D50C), (0x1D515, 0x1D515), (0x1D51D, 0x1D51D),
    (0x1D53A, 0x1D53A), (0x1D53F, 0x1D53F), (0x1D545, 0x1D545), (0x1D547, 0x1D549),
    (0x1D551, 0x1D551), (0x1D6A6, 0x1D6A7), (0x1D7CC, 0x1D7CD), (0x1DA8C, 0x1DA9A),
    (0x1DAA0, 0x1DAA0), (0x1DAB0, 0x1DEFF), (0x1DF1F, 0x1DFFF), (0x1E007, 0x1E007),
    (0x1E019, 0x1E01A), (0x1E022, 0x1E022), (0x1E025, 0x1E025), (0x1E02B, 0x1E0FF),
    (0x1E12D, 0x1E12F), (0x1E13E, 0x1E13F), (0x1E14A, 0x1E14D), (0x1E150, 0x1E28F),
    (0x1E2AF, 0x1E2BF), (0x1E2FA, 0x1E2FE), (0x1E300, 0x1E7DF), (0x1E7E7, 0x1E7E7),
    (0x1E7EC, 0x1E7EC), (0x1E7EF, 0x1E7EF), (0x1E7FF, 0x1E7FF), (0x1E8C5, 0x1E8C6),
    (0x1E8D7, 0x1E8FF), (0x1E94C, 0x1E94F), (0x1E95A, 0x1E95D), (0x1E960, 0x1EC70),
    (0x1ECB5, 0x1ED00), (0x1ED3E, 0x1EDFF), (0x1EE04, 0x1EE04), (0x1EE20, 0x1EE20),
    (0x1EE23, 0x1EE23), (0x1EE25, 0x1EE26), (0x1EE28, 0x1EE28), (0x1EE33, 0x1EE33),
    (0x1EE38, 0x1EE38), (0x1EE3A, 0x1EE3A), (0x1EE3C, 0x1EE41), (0x1EE43, 0x1EE46),
    (0x1EE48, 0x1EE48), (0x1EE4A, 0x1EE4A), (0x1EE4C, 0x1EE4C), (0x1EE50, 0x1EE50),
    (0x1EE53, 0x1EE53), (0x1EE55, 0x1EE56), (0x1EE58, 0x1EE58), (0x1EE5A, 0x1EE5A),
    (0x1EE5C, 0x1EE5C), (0x1EE5E, 0x1EE5E), (0x1EE60, 0x1EE60), (0x1EE63, 0x1EE63),
    (0x1EE65, 0x1EE66), (0x1EE6B, 0x1EE6B), (0x1EE73, 0x1EE73), (0x1EE78, 0x1EE78),
    (0x1EE7D, 0x1EE7D), (0x1EE7F, 0x1EE7F), (0x1EE8A, 0x1EE8A), (0x1EE9C, 0x1EEA0),
    (0x1EEA4, 0x1EEA4), (0x1EEAA, 0x1EEAA), (0x1EEBC, 0x1EEEF), (0x1EEF2, 0x1EFFF),
    (0x1F02C, 0x1F02F), (0x1F094, 0x1F09F), (0x1F0AF, 0x1F0B0), (0x1F0C0, 0x1F0C0),
    (0x1F0D0, 0x1F0D0), (0x1F0F6, 0x1F0FF), (0x1F1AE, 0x1F1E5), (0x1F203, 0x1F20F),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F24F), (0x1F252, 0x1F25F), (0x1F266, 0x1F2FF),
    (0x1F6D8, 0x1F6DC), (0x1F6ED, 0x1F6EF), (0x1F6FD, 0x1F6FF), (0x1F774, 0x1F77F),
    (0x1F7D9, 0x1F7DF), (0x1F7EC, 0x1F7EF), (0x1F7F1, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8AF),
    (0x1F8B2, 0x1F8FF), (0x1FA54, 0x1FA5F), (0x1FA6E, 0x1FA6F), (0x1FA75, 0x1FA77),
    (0x1FA7D, 0x1FA7F), (0x1FA87, 0x1FA8F), (0x1FAAD, 0x1FAAF), (0x1FABB, 0x1FABF),
    (0x1FAC6, 0x1FACF), (0x1FADA, 0x1FADF), (0x1FAE8, 0x1FAEF), (0x1FAF7, 0x1FAFF),
    (0x1FB93, 0x1FB93), (0x1FBCB, 0x1FBEF), (0x1FBFA, 0x1FFFF), (0x2A6E0, 0x2A6FF),
    (0x2B739, 0x2B73F), (0x2B81E, 0x2B81F), (0x2CEA2, 0x2CEAF), (0x2EBE1, 0x2F7FF),
    (0x2FA1E, 0x2FFFF), (0x3134B, 0xE00FF), (0xE01F0, 0x10FFFF),
];

#[cfg(test)]
mod tests {
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
                ("https://example.com/cb#", Some("test URI validation error. fragment not allowed: https://example.com/cb#")),
                ("https://example.com/cb#frag", Some("test URI validation error. fragment not allowed: https://example.com/cb#frag")),
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
                ("https://example.com?", Some("test URI validation error. query string not allowed: https://example.com?")),
                ("https://example.com?a=1", Some("test URI validation error. query string not allowed: https://example.com?a=1")),
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
                    Some(
                        "test URI validation error. invalid URI: com.example.app:///oauth2redirect",
                    ),
                ),
                (
                    "com.example.app:oauth2redirect",
                    Some("test URI validation error. invalid URI: com.example.app:oauth2redirect"),
                ),
                (
                    "com.example.app:/oauth2 redirect",
                    Some(
                        "test URI validation error. invalid URI: com.example.app:/oauth2 redirect",
                    ),
                ),
                (
                    "com.other.app:/oauth2redirect",
                    Some(
                        "test URI Validation error. invalid_scheme: com.other.app:/oauth2redirect",
                    ),
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
                Some(
                    "test URI validation error. path not allowed: com.example.app:/oauth2redirect",
                ),
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

    /// DOT 3.4.1 reference §3.5 observed examples: `reference_examples`; expected messages recorded from DOT itself.
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
            Err(
                "allowed origin URI validation error. path not allowed: https://example.com/"
                    .into()
            )
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
            Err(
                "redirect uri URI validation error. ['Enter a valid URL.']: https://[v1.x]/".into()
            )
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
    fn python_helpers() {
        assert_eq!(
            py_split_whitespace(" a\u{1c}b\u{3000}c\n\td  "),
            vec!["a", "b", "c", "d"]
        );
        assert_eq!(py_split_whitespace("a\u{200b}b"), vec!["a\u{200b}b"]);
        assert!(py_split_whitespace(" \u{85}\u{a0} ").is_empty());

        assert_eq!(py_repr(""), "''");
        assert_eq!(py_repr("a\\b\t\n\r\x00\x7f"), "'a\\\\b\\t\\n\\r\\x00\\x7f'");
        assert_eq!(
            py_repr("\u{a0}\u{e9}\u{378}\u{fffe}\u{10ffff}"),
            "'\\xa0\u{e9}\\u0378\\ufffe\\U0010ffff'"
        );
        assert_eq!(py_repr("'\""), "'\\'\"'");

        for ok in [
            "::1",
            "::",
            "1::",
            "1:2:3:4:5:6:7:8",
            "::ffff:1.2.3.4",
            "fe80::1%eth0",
            "1:2:3:4:5:6:1.2.3.4",
            "0000:0000:0000:0000:0000:0000:0000:0001",
        ] {
            assert!(py_ipv6_address_valid(ok), "{ok}");
        }
        for bad in [
            "",
            ":",
            "::1%",
            "::1%a%b",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            ":1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:",
            "12345::",
            "::1.2.3.04",
            "::g",
            "1:2:3:4:5:6:7::8",
            "::\u{663}",
        ] {
            assert!(!py_ipv6_address_valid(bad), "{bad}");
        }
        assert!(py_ipv4_address_valid("0.10.255.1"));
        for bad in [
            "1.2.3",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4.5",
            "\u{663}.1.1.1",
            "1.2.3.4/8",
        ] {
            assert!(!py_ipv4_address_valid(bad), "{bad}");
        }
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
}
