//! Python's `repr()` of strings and lists of strings.
//!
//! DOT prints validation errors as `str(list_of_messages)`, i.e. Python's list repr; to be
//! byte-compatible with its output we reproduce the quoting and escaping rules here.

/// `repr(s)` for a Python `str`.
pub fn repr_str(s: &str) -> String {
    // Python prefers single quotes, switching to double quotes only when the text contains a
    // single quote and no double quote.
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if is_printable(c) => out.push(c),
            c => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
        }
    }
    out.push(quote);
    out
}

/// `repr(list_of_str)`.
pub fn repr_list(items: &[String]) -> String {
    let inner: Vec<String> = items.iter().map(|s| repr_str(s)).collect();
    format!("[{}]", inner.join(", "))
}

/// An approximation of Python's `str.isprintable()` for single characters: control and
/// separator/format characters are escaped, everything else is printed as is.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    // Separators other than ASCII space (Zs, Zl, Zp) and common format characters (Cf).
    !matches!(c as u32,
        0x00A0 | 0x1680 | 0x2000..=0x200F | 0x2028..=0x202F | 0x205F..=0x2064
        | 0x2066..=0x206F | 0x3000 | 0xFEFF | 0x00AD | 0x061C | 0x180E
        | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xD800..=0xDFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_like_python() {
        assert_eq!(repr_str("abc"), "'abc'");
        assert_eq!(repr_str("it's"), "\"it's\"");
        assert_eq!(repr_str("it's \"x\""), "'it\\'s \"x\"'");
        assert_eq!(repr_str("a\\b\n"), "'a\\\\b\\n'");
        assert_eq!(repr_str("\u{1}"), "'\\x01'");
        assert_eq!(repr_str("“abc” value"), "'“abc” value'");
    }

    #[test]
    fn lists_like_python() {
        let items = vec!["one".to_string(), "it's".to_string()];
        assert_eq!(repr_list(&items), "['one', \"it's\"]");
    }
}
