#!/usr/bin/env python3
"""Generate src/django/unicode_tables.rs from CPython's own Unicode behaviour.

oauthctl reproduces what Django OAuth Toolkit does when it runs on CPython 3.11, so every
Unicode fact it needs is taken from that interpreter: `str.isprintable()` (for `repr()`),
`re`'s `\\d` and `\\s` (for DOT's and Django's URL patterns and `str.split()`),
`unicodedata.normalize("NFKC", ...)` (for `urlsplit`'s netloc check), `re.IGNORECASE` (for the
patterns' letters) and `str.lower()` (for the hostname length limit). Nothing is typed in by
hand, and rerunning this script reproduces the file byte for byte.

Usage, from the repository root:

    python3 scripts/gen_unicode_tables.py            # print the file
    python3 scripts/gen_unicode_tables.py --write    # write src/django/unicode_tables.rs
    python3 scripts/gen_unicode_tables.py --check    # exit 1 if the checked-in file differs

It refuses any Python but 3.11 (pass --any-python to override): the tables must be those of
the interpreter DOT runs on, and CPython changes its Unicode data only in feature releases, so
every 3.11.x gives the same output. The header names the minor version only for that reason.

Besides writing tables, the script asserts the facts about Python's patterns that the
hand-written matchers in src/uri_validator/patterns.rs rely on (for example that
`[a-z\\u00a1-\\uffff0-9]` under IGNORECASE is exactly ASCII letters and digits plus
U+00A1..U+FFFF); if a Python release ever breaks one, generation fails instead of the port
silently drifting.
"""

import os
import re
import sys
import unicodedata

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src", "django",
                   "unicode_tables.rs")

MAX_CP = 0x10FFFF
# Every code point, surrogates included (a Python str may hold them); `findall` over this one
# string is far faster than a million `fullmatch` calls.
ALL = "".join(map(chr, range(MAX_CP + 1)))
SURROGATES = range(0xD800, 0xE000)
# The characters `urllib.parse._checknetloc` looks for after NFKC normalisation.
NETLOC_DELIMITERS = "/?#@:"


def re_set(pattern, flags=0):
    """The code points that `pattern` (one character wide) matches."""
    return {ord(c) for c in re.findall(pattern, ALL, flags)}


def ascii_set(chars):
    return {ord(c) for c in chars}


ASCII_LETTERS = ascii_set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
ASCII_DIGITS = ascii_set("0123456789")
BMP_FROM_A1 = set(range(0xA1, 0x10000))


def ranges(code_points):
    """Sorted code points as maximal inclusive (lo, hi) runs."""
    out = []
    for cp in sorted(code_points):
        if out and out[-1][1] == cp - 1:
            out[-1][1] = cp
        else:
            out.append([cp, cp])
    return [tuple(r) for r in out]


def non_printable():
    # repr() escapes exactly the characters for which Py_UNICODE_ISPRINTABLE is false, which
    # is str.isprintable() of the one-character string.
    return {cp for cp in range(MAX_CP + 1) if not chr(cp).isprintable()}


def whitespace():
    space = re_set(r"\s")
    # `\s` in a str pattern, str.isspace() and the separators of str.split() are one table.
    assert space == {cp for cp in range(MAX_CP + 1) if chr(cp).isspace()}
    assert all(("a" + chr(cp) + "b").split() == ["a", "b"] for cp in space)
    assert all(len(("a" + chr(cp) + "b").split()) == 1 for cp in range(MAX_CP + 1) if cp not in space)
    return space


def non_ascii_decimal():
    digits = re_set(r"\d")
    # sre's `\d` is Py_UNICODE_ISDECIMAL (category Nd), not str.isdigit() (which adds e.g. "²").
    assert digits == {cp for cp in range(MAX_CP + 1) if chr(cp).isdecimal()}
    assert digits >= ASCII_DIGITS
    return digits - ASCII_DIGITS


def nfkc_delimiter_sources():
    found = set()
    for cp in range(0x80, MAX_CP + 1):
        if cp in SURROGATES:
            continue
        nfkc = unicodedata.normalize("NFKC", chr(cp))
        if any(d in nfkc for d in NETLOC_DELIMITERS):
            found.add(cp)
    # Checking characters one at a time is exact only if normalising a whole netloc cannot make
    # a delimiter appear or vanish: no canonical composition involves one of them.
    for cp in range(MAX_CP + 1):
        decomposition = unicodedata.decomposition(chr(cp))
        if decomposition and not decomposition.startswith("<"):
            parts = {int(p, 16) for p in decomposition.split()}
            assert not parts & ascii_set(NETLOC_DELIMITERS), hex(cp)
    return found


def ignorecase_ascii_folds():
    """(non-ASCII code point, ASCII lower-case letter) for each letter IGNORECASE matches."""
    folds = []
    for letter in "abcdefghijklmnopqrstuvwxyz":
        for cp in sorted(re_set(letter, re.IGNORECASE)):
            if cp >= 0x80:
                folds.append((cp, letter))
    folds.sort()
    fold_cps = {cp for cp, _ in folds}
    # The same folds under the class forms the patterns use.
    assert re_set(r"[a-z]", re.I) == ASCII_LETTERS | fold_cps
    assert re_set(r"[A-Z]", re.I) == ASCII_LETTERS | fold_cps
    return folds


def check_pattern_classes(folds, decimal):
    """Assert the decompositions patterns.rs's character predicates are written as."""
    fold_cps = {cp for cp, _ in folds}
    alnum = ASCII_LETTERS | ASCII_DIGITS
    i = re.IGNORECASE
    assert re_set(r"[a-z0-9\.\-\+]", i) == alnum | fold_cps | ascii_set(".-+")
    assert re_set(r"[a-z\u00a1-\uffff0-9]", i) == alnum | BMP_FROM_A1
    assert re_set(r"[a-z\u00a1-\uffff0-9-]", i) == alnum | BMP_FROM_A1 | ascii_set("-")
    assert re_set(r"[a-z\u00a1-\uffff-]", i) == ASCII_LETTERS | BMP_FROM_A1 | ascii_set("-")
    assert re_set(r"[a-z0-9]", i) == alnum | fold_cps
    assert re_set(r"[0-9a-f:.]", i) == ascii_set("0123456789abcdefABCDEF:.")
    assert re_set(r"[A-Z\d-]", i) == alnum | fold_cps | decimal | ascii_set("-")
    assert re_set(r"[0-9]") == ASCII_DIGITS
    assert re_set(r"[a-fA-F0-9]") == ascii_set("0123456789abcdefABCDEF")
    assert re_set(r".") == set(range(MAX_CP + 1)) - {ord("\n")}


def lower_lengths():
    """(code point, len(chr(cp).lower())) wherever that length is not 1."""
    out = []
    for cp in range(MAX_CP + 1):
        n = len(chr(cp).lower())
        if n != 1:
            out.append((cp, n))
    return out


def char_literal(cp):
    return "'\\u{%X}'" % cp


def range_rows(table):
    return rows(["(0x%04X, 0x%04X)" % r for r in table])


def rows(cells, width=100):
    """Cells packed greedily into indented lines of at most `width` columns."""
    lines = []
    line = ""
    for cell in cells:
        candidate = (line + " " if line else "    ") + cell + ","
        if line and len(candidate) > width:
            lines.append(line)
            candidate = "    " + cell + ","
        line = candidate
    if line:
        lines.append(line)
    return "\n".join(lines)


def render():
    version = "%d.%d" % sys.version_info[:2]
    unicode_version = unicodedata.unidata_version
    printable = ranges(non_printable())
    space = ranges(whitespace())
    decimal_set = non_ascii_decimal()
    decimal = ranges(decimal_set)
    nfkc = sorted(nfkc_delimiter_sources())
    folds = ignorecase_ascii_folds()
    check_pattern_classes(folds, decimal_set)
    lowers = lower_lengths()

    out = []
    out.append(
        "// @generated by scripts/gen_unicode_tables.py from Python %s's unicodedata (Unicode %s);"
        " do not edit." % (version, unicode_version))
    out.append("""\
//! Unicode tables taken from CPython %(version)s itself; regenerate, never edit by hand.
//!
//! DOT runs on CPython, so where oauthctl must decide exactly as Python does (`repr()`,
//! `str.split()`, the `re` patterns of DOT's and Django's URL validators, `urlsplit`'s NFKC
//! netloc check) it looks the answer up here. Every range table is sorted, disjoint and
//! inclusive, and is searched with [`super::pystr::in_table`].
//!
//! Regenerate with `python3 scripts/gen_unicode_tables.py --write`; the unit tests in
//! `src/django/tests.rs` rerun the script when Python %(version)s is available and fail if
//! this file differs from its output.

/// The Unicode version of Python %(version)s's `unicodedata`, which every table here follows.
pub const UNICODE_VERSION: &str = "%(unicode)s";

/// Code points for which `str.isprintable()` is false (categories Cc, Cf, Cs, Co, Cn, Zl, Zp
/// and Zs other than U+0020): the ones `repr()` escapes.
pub const NON_PRINTABLE: &[(u32, u32)] = &[
%(printable)s
];

/// Code points for which `str.isspace()` is true: `\\s` in a str pattern and the separators of
/// `str.split()` with no argument.
pub const WHITESPACE: &[(u32, u32)] = &[
%(space)s
];

/// Non-ASCII code points in `\\d` of a str pattern (`str.isdecimal()`, category Nd).
pub const NON_ASCII_DECIMAL: &[(u32, u32)] = &[
%(decimal)s
];

/// Characters whose NFKC form contains one of `/?#@:`, which `urllib.parse._checknetloc`
/// rejects in a non-ASCII netloc. No canonical composition involves a delimiter (the script
/// asserts it), so looking at characters one at a time is exact.
pub const NFKC_DELIMITER_SOURCES: &[char] = &[
%(nfkc)s
];

/// Non-ASCII characters that a lower-case ASCII letter matches under `re.IGNORECASE`, as
/// (character, letter), sorted by character.
pub const IGNORECASE_ASCII_FOLDS: &[(char, char)] = &[
%(folds)s
];

/// Characters whose `str.lower()` is not one code point long, as (character, length).
pub const LOWER_LENGTHS: &[(char, usize)] = &[
%(lowers)s
];
""" % {
        "version": version,
        "unicode": unicode_version,
        "printable": range_rows(printable),
        "space": range_rows(space),
        "decimal": range_rows(decimal),
        "nfkc": rows([char_literal(cp) for cp in nfkc]),
        "folds": rows(["(%s, '%s')" % (char_literal(cp), l) for cp, l in folds]),
        "lowers": rows(["(%s, %d)" % (char_literal(cp), n) for cp, n in lowers]),
    })
    return "\n".join(out)


def main(argv):
    args = set(argv[1:])
    unknown = args - {"--write", "--check", "--any-python"}
    if unknown:
        sys.exit("unknown arguments: %s" % " ".join(sorted(unknown)))
    if sys.version_info[:2] != (3, 11) and "--any-python" not in args:
        sys.exit("needs Python 3.11, the interpreter DOT's behaviour was recorded on "
                 "(this is %d.%d; --any-python overrides)" % sys.version_info[:2])
    text = render()
    if "--check" in args:
        with open(OUT, encoding="utf-8") as f:
            if f.read() != text:
                sys.exit("%s differs from the generator's output" % os.path.normpath(OUT))
    elif "--write" in args:
        with open(OUT, "w", encoding="utf-8") as f:
            f.write(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv)
