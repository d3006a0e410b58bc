//! Tests of the Python behaviour in [`crate::django`]: `repr()`, the `str` predicates, and the
//! generated Unicode tables (spot checks against CPython 3.11's answers, so a hand edit of
//! `unicode_tables.rs` fails here, and a rerun of the generator where Python 3.11 exists).

use super::pystr::{
    ignorecase_ascii_fold, is_decimal, is_printable, is_space, lower_len, split_whitespace,
};
use super::repr::{repr_list, repr_str};
use super::unicode_tables::{
    IGNORECASE_ASCII_FOLDS, LOWER_LENGTHS, NFKC_DELIMITER_SOURCES, NON_ASCII_DECIMAL,
    NON_PRINTABLE, UNICODE_VERSION, WHITESPACE,
};

#[test]
fn repr_quotes_like_python() {
    assert_eq!(repr_str(""), "''");
    assert_eq!(repr_str("abc"), "'abc'");
    assert_eq!(repr_str("it's"), "\"it's\"");
    assert_eq!(repr_str("it's \"x\""), "'it\\'s \"x\"'");
    assert_eq!(repr_str("'\""), "'\\'\"'");
    assert_eq!(repr_str("“abc” value"), "'“abc” value'");
}

#[test]
fn repr_escapes_like_python() {
    assert_eq!(
        repr_str("a\\b\t\n\r\x00\x01\x7f"),
        "'a\\\\b\\t\\n\\r\\x00\\x01\\x7f'"
    );
    assert_eq!(
        repr_str("\u{a0}\u{e9}\u{378}\u{fffe}\u{10ffff}"),
        "'\\xa0\u{e9}\\u0378\\ufffe\\U0010ffff'"
    );
    // Format characters, private use and unassigned code points outside the BMP are escaped
    // too (CPython 3.11 answers; Unicode 14.0 leaves U+31350 unassigned).
    assert_eq!(
        repr_str("\u{ad}\u{600}\u{110bd}\u{e0001}\u{f0000}\u{31350}\u{1f600}"),
        "'\\xad\\u0600\\U000110bd\\U000e0001\\U000f0000\\U00031350\u{1f600}'"
    );
    assert_eq!(repr_str("\u{85}\u{2028}\u{3000}"), "'\\x85\\u2028\\u3000'");
}

#[test]
fn repr_list_like_python() {
    assert_eq!(repr_list(&[]), "[]");
    let items = vec!["one".to_string(), "it's".to_string()];
    assert_eq!(repr_list(&items), "['one', \"it's\"]");
}

#[test]
fn split_whitespace_like_python() {
    assert_eq!(
        split_whitespace(" a\u{1c}b\u{3000}c\n\td  "),
        vec!["a", "b", "c", "d"]
    );
    assert_eq!(split_whitespace("a\u{200b}b"), vec!["a\u{200b}b"]);
    assert!(split_whitespace(" \u{85}\u{a0} ").is_empty());
    assert!(split_whitespace("").is_empty());
}

/// (code point, isprintable, isspace, isdecimal, NFKC has one of "/?#@:", len(lower())), as
/// CPython 3.11.7 answers them.
const CPYTHON_ANSWERS: &[(u32, bool, bool, bool, bool, usize)] = &[
    (0x20, true, true, false, false, 1),
    (0x7E, true, false, false, false, 1),
    (0x7F, false, false, false, false, 1),
    (0x85, false, true, false, false, 1),
    (0xA0, false, true, false, false, 1),
    (0xA1, true, false, false, false, 1),
    (0xAD, false, false, false, false, 1),
    (0xB2, true, false, false, false, 1),
    (0xE9, true, false, false, false, 1),
    (0x130, true, false, false, false, 2),
    (0x131, true, false, false, false, 1),
    (0x17F, true, false, false, false, 1),
    (0x378, false, false, false, false, 1),
    (0x600, false, false, false, false, 1),
    (0x660, true, false, true, false, 1),
    (0x1C, false, true, false, false, 1),
    (0x1F, false, true, false, false, 1),
    (0x200B, false, false, false, false, 1),
    (0x2028, false, true, false, false, 1),
    (0x2100, true, false, false, true, 1),
    (0x212A, true, false, false, false, 1),
    (0x2A74, true, false, false, true, 1),
    (0x3000, false, true, false, false, 1),
    (0xE000, false, false, false, false, 1),
    (0xF8FF, false, false, false, false, 1),
    (0xF900, true, false, false, false, 1),
    (0xFE55, true, false, false, true, 1),
    (0xFEFF, false, false, false, false, 1),
    (0xFF10, true, false, true, false, 1),
    (0xFF1A, true, false, false, true, 1),
    (0xFFFD, true, false, false, false, 1),
    (0xFFFE, false, false, false, false, 1),
    (0x110BD, false, false, false, false, 1),
    (0x1D7CE, true, false, true, false, 1),
    (0x1F600, true, false, false, false, 1),
    (0x1FAF7, false, false, false, false, 1),
    (0x1FBF9, true, false, true, false, 1),
    (0x3134A, true, false, false, false, 1),
    (0x31350, false, false, false, false, 1),
    (0xE0001, false, false, false, false, 1),
    (0xF0000, false, false, false, false, 1),
    (0x10FFFF, false, false, false, false, 1),
];

#[test]
fn tables_give_cpython_answers() {
    assert_eq!(UNICODE_VERSION, "14.0.0");
    for &(cp, printable, space, decimal, nfkc, lower) in CPYTHON_ANSWERS {
        let c = char::from_u32(cp).unwrap();
        assert_eq!(is_printable(c), printable, "isprintable U+{cp:04X}");
        assert_eq!(is_space(c), space, "isspace U+{cp:04X}");
        assert_eq!(is_decimal(c), decimal, "isdecimal U+{cp:04X}");
        assert_eq!(NFKC_DELIMITER_SOURCES.contains(&c), nfkc, "NFKC U+{cp:04X}");
        assert_eq!(lower_len(c), lower, "len(lower()) U+{cp:04X}");
    }
    assert_eq!(ignorecase_ascii_fold('\u{17F}'), Some('s'));
    assert_eq!(ignorecase_ascii_fold('\u{212A}'), Some('k'));
    assert_eq!(ignorecase_ascii_fold('\u{130}'), Some('i'));
    assert_eq!(ignorecase_ascii_fold('\u{131}'), Some('i'));
    assert_eq!(ignorecase_ascii_fold('\u{e9}'), None);
    assert_eq!(ignorecase_ascii_fold('k'), None);
}

/// Sizes of the tables as CPython 3.11 gives them: a moved range boundary changes a count.
#[test]
fn tables_have_cpython_sizes() {
    fn size(table: &[(u32, u32)]) -> (usize, u32) {
        (table.len(), table.iter().map(|&(lo, hi)| hi - lo + 1).sum())
    }
    assert_eq!(size(NON_PRINTABLE), (701, 969_596));
    assert_eq!(size(WHITESPACE), (10, 29));
    assert_eq!(size(NON_ASCII_DECIMAL), (61, 650));
    assert_eq!(NFKC_DELIMITER_SOURCES.len(), 19);
    assert_eq!(IGNORECASE_ASCII_FOLDS.len(), 4);
    assert_eq!(LOWER_LENGTHS, &[('\u{130}', 2)]);
}

/// `in_table` and the lookups by binary search need sorted, disjoint, non-adjacent ranges.
#[test]
fn tables_are_sorted_and_disjoint() {
    for table in [NON_PRINTABLE, WHITESPACE, NON_ASCII_DECIMAL] {
        assert!(table.iter().all(|&(lo, hi)| lo <= hi && hi <= 0x10FFFF));
        assert!(table.windows(2).all(|w| w[0].1 + 1 < w[1].0));
    }
    assert!(NFKC_DELIMITER_SOURCES.windows(2).all(|w| w[0] < w[1]));
    assert!(IGNORECASE_ASCII_FOLDS.windows(2).all(|w| w[0].0 < w[1].0));
    assert!(LOWER_LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
}

/// Reruns `scripts/gen_unicode_tables.py` and compares its output with the checked-in file.
/// Skipped, with a note, where `python3` is missing or is not Python 3.11.
#[test]
fn unicode_tables_match_generator() {
    use std::process::Command;
    let root = env!("CARGO_MANIFEST_DIR");
    let version = Command::new("python3")
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output();
    match &version {
        Ok(out) if out.status.success() && out.stdout.trim_ascii() == b"3.11" => {}
        Ok(out) => {
            let found = String::from_utf8_lossy(&out.stdout);
            eprintln!(
                "note: skipping the generator check: python3 is {:?}, not 3.11",
                found.trim()
            );
            return;
        }
        Err(e) => {
            eprintln!("note: skipping the generator check: no python3 ({e})");
            return;
        }
    }
    let out = Command::new("python3")
        .arg(format!("{root}/scripts/gen_unicode_tables.py"))
        .output()
        .expect("run scripts/gen_unicode_tables.py");
    assert!(
        out.status.success(),
        "gen_unicode_tables.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let generated = String::from_utf8(out.stdout).expect("generator output is UTF-8");
    assert!(
        generated == include_str!("unicode_tables.rs"),
        "src/django/unicode_tables.rs differs from scripts/gen_unicode_tables.py's output; \
         regenerate with `python3 scripts/gen_unicode_tables.py --write`"
    );
}
