//! Python `str` behaviour on code points, answered from CPython 3.11's own Unicode tables.
//!
//! Rust's `char` methods follow whatever Unicode version the toolchain ships and draw some
//! lines differently from Python (`char::is_whitespace` leaves out U+001C..U+001F, which
//! `str.isspace()` includes), so nothing that must match DOT uses them for non-ASCII text;
//! these functions look the answer up in [`unicode_tables`](super::unicode_tables) instead.

use super::unicode_tables::{
    IGNORECASE_ASCII_FOLDS, LOWER_LENGTHS, NON_ASCII_DECIMAL, NON_PRINTABLE, WHITESPACE,
};

/// `str.isspace()` for one character, which is also `\s` in a `str` pattern.
pub fn is_space(c: char) -> bool {
    in_table(c, WHITESPACE)
}

/// `str.isprintable()` for one character: whether `repr()` leaves it unescaped.
pub fn is_printable(c: char) -> bool {
    !in_table(c, NON_PRINTABLE)
}

/// `\d` in a `str` pattern (`str.isdecimal()`, Unicode category Nd; not `str.isdigit()`).
pub fn is_decimal(c: char) -> bool {
    c.is_ascii_digit() || in_table(c, NON_ASCII_DECIMAL)
}

/// The ASCII lower-case letter a non-ASCII character matches under `re.IGNORECASE`, if any
/// (U+0130 and U+0131 match "i", U+017F LONG S "s", U+212A KELVIN SIGN "k").
pub fn ignorecase_ascii_fold(c: char) -> Option<char> {
    IGNORECASE_ASCII_FOLDS
        .binary_search_by_key(&c, |&(from, _)| from)
        .ok()
        .map(|i| IGNORECASE_ASCII_FOLDS[i].1)
}

/// `len(c.lower())`: one, except where full lower-casing expands (U+0130 becomes "i" + U+0307).
pub fn lower_len(c: char) -> usize {
    LOWER_LENGTHS
        .binary_search_by_key(&c, |&(from, _)| from)
        .map_or(1, |i| LOWER_LENGTHS[i].1)
}

/// Python's `str.split()` with no argument (which also does the `strip()`).
pub fn split_whitespace(s: &str) -> Vec<&str> {
    s.split(is_space).filter(|p| !p.is_empty()).collect()
}

/// `c` lies in one of the sorted, disjoint inclusive ranges of `table`.
pub fn in_table(c: char, table: &[(u32, u32)]) -> bool {
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
