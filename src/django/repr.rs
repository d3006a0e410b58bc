//! Python's `repr()` of a `str` and of a list of `str`, byte-exact with CPython 3.11.
//!
//! DOT prints validation errors as `str(list_of_messages)` (a list repr) and interpolates
//! `repr(value)` into others, such as `ipaddress`'s "'zz' does not appear to be an IPv4 or
//! IPv6 address"; every such message oauthctl prints goes through this one implementation, so
//! two callers can never quote the same text differently.

use super::pystr::is_printable;

/// `repr(s)` for a Python `str`: `unicode_repr` in CPython's `Objects/unicodeobject.c`.
pub fn repr_str(s: &str) -> String {
    // Single quotes, unless the text contains a single quote and no double quote.
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
            // ASCII is decided without the table, exactly as CPython does.
            _ if cp < 0x20 || cp == 0x7F => out.push_str(&format!("\\x{cp:02x}")),
            _ if cp < 0x7F || is_printable(c) => out.push(c),
            _ if cp <= 0xFF => out.push_str(&format!("\\x{cp:02x}")),
            _ if cp <= 0xFFFF => out.push_str(&format!("\\u{cp:04x}")),
            _ => out.push_str(&format!("\\U{cp:08x}")),
        }
    }
    out.push(quote);
    out
}

/// `repr(list_of_str)`, which is also `str()` of it.
pub fn repr_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
    format!("[{}]", inner.join(", "))
}
