//! Python 3.11's `idna` codec (`encodings.idna`, IDNA 2003): nameprep, ToASCII and punycode,
//! as Django 4.2's `URLValidator` uses it to retry a non-ASCII netloc.
//!
//! The Unicode data (stringprep tables, Unicode 3.2 decompositions, combining classes and
//! compositions) is in `nameprep_tables.rs`, generated from Python itself.

use super::nameprep_tables::{B1, B2, CCC, COMPOSE, D1, D2, NFKD, PROHIBITED};

/// `netloc.encode("idna").decode("ascii")`, or `None` where Python raises `UnicodeError`.
pub(super) fn encode(input: &str) -> Option<String> {
    if input.is_ascii() {
        return ascii_fast_path(input);
    }
    let mut labels: Vec<&str> = input
        .split(['.', '\u{3002}', '\u{FF0E}', '\u{FF61}'])
        .collect();
    let trailing_dot = labels.last() == Some(&"");
    if trailing_dot {
        labels.pop();
    }
    let mut out = Vec::with_capacity(labels.len());
    for label in labels {
        out.push(to_ascii(label)?);
    }
    let mut joined = out.join(".");
    if trailing_dot {
        joined.push('.');
    }
    Some(joined)
}

/// An ASCII name is returned as it is once every label but the last is 1 to 63 long and the
/// last under 64.
fn ascii_fast_path(input: &str) -> Option<String> {
    if input.is_empty() {
        return Some(String::new());
    }
    let labels: Vec<&str> = input.split('.').collect();
    let (last, init) = labels.split_last()?;
    if init.iter().any(|l| l.is_empty() || l.len() >= 64) || last.len() >= 64 {
        return None;
    }
    Some(input.to_string())
}

fn checked_len(label: String) -> Option<String> {
    (!label.is_empty() && label.len() < 64).then_some(label)
}

/// RFC 3490 ToASCII with AllowUnassigned and without UseSTD3ASCIIRules.
fn to_ascii(label: &str) -> Option<String> {
    if label.is_ascii() {
        return checked_len(label.to_string());
    }
    let label = nameprep(label)?;
    if label.is_ascii() {
        return checked_len(label);
    }
    if label.starts_with("xn--") {
        return None;
    }
    checked_len(format!("xn--{}", punycode(&label)?))
}

fn in_ranges(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

fn lookup<T: Copy>(table: &[(u32, T)], c: char) -> Option<T> {
    table
        .binary_search_by_key(&(c as u32), |&(k, _)| k)
        .ok()
        .map(|i| table[i].1)
}

/// RFC 3491 nameprep as `encodings.idna.nameprep` does it.
fn nameprep(label: &str) -> Option<String> {
    let mut mapped = String::new();
    for c in label.chars().filter(|&c| !in_ranges(B1, c)) {
        match lookup(B2, c) {
            Some(m) => mapped.push_str(m),
            None => mapped.push(c),
        }
    }
    let label = nfkc(&mapped);
    if label.chars().any(|c| in_ranges(PROHIBITED, c)) {
        return None;
    }
    let rand_al: Vec<bool> = label.chars().map(|c| in_ranges(D1, c)).collect();
    if rand_al.iter().any(|&r| r) {
        let ends = rand_al.first() == Some(&true) && rand_al.last() == Some(&true);
        if label.chars().any(|c| in_ranges(D2, c)) || !ends {
            return None;
        }
    }
    Some(label)
}

const S_BASE: u32 = 0xAC00;
const L_BASE: u32 = 0x1100;
const V_BASE: u32 = 0x1161;
const T_BASE: u32 = 0x11A7;
const V_COUNT: u32 = 21;
const T_COUNT: u32 = 28;
const S_COUNT: u32 = 11172;

fn ccc(c: char) -> u8 {
    lookup(CCC, c).unwrap_or(0)
}

/// NFKC with Unicode 3.2 data: full decomposition, canonical ordering, canonical composition.
fn nfkc(s: &str) -> String {
    let mut chars: Vec<char> = Vec::new();
    for c in s.chars() {
        let sindex = (c as u32).wrapping_sub(S_BASE);
        if sindex < S_COUNT {
            let l = L_BASE + sindex / (V_COUNT * T_COUNT);
            let v = V_BASE + (sindex % (V_COUNT * T_COUNT)) / T_COUNT;
            let t = T_BASE + sindex % T_COUNT;
            chars.extend([l, v].iter().filter_map(|&u| char::from_u32(u)));
            if t != T_BASE {
                chars.extend(char::from_u32(t));
            }
        } else if let Some(d) = lookup(NFKD, c) {
            chars.extend(d.chars());
        } else {
            chars.push(c);
        }
    }
    canonical_order(&mut chars);
    compose(&chars).into_iter().collect()
}

/// A stable sort of each run of non-starters by combining class.
fn canonical_order(chars: &mut [char]) {
    let mut i = 0;
    while i < chars.len() {
        if ccc(chars[i]) == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ccc(chars[i]) != 0 {
            i += 1;
        }
        chars[start..i].sort_by_key(|&c| ccc(c));
    }
}

fn compose_pair(a: char, b: char) -> Option<char> {
    let (a, b) = (a as u32, b as u32);
    if (L_BASE..L_BASE + 19).contains(&a) && (V_BASE..V_BASE + V_COUNT).contains(&b) {
        let s = S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
        return char::from_u32(s);
    }
    let sindex = a.wrapping_sub(S_BASE);
    if sindex < S_COUNT && sindex % T_COUNT == 0 && (T_BASE + 1..T_BASE + T_COUNT).contains(&b) {
        return char::from_u32(a + (b - T_BASE));
    }
    COMPOSE
        .binary_search_by_key(&(a, b), |&(x, y, _)| (x, y))
        .ok()
        .and_then(|i| char::from_u32(COMPOSE[i].2))
}

/// Canonical composition: a character joins the last starter unless a character between them
/// has a combining class of zero or at least its own.
fn compose(chars: &[char]) -> Vec<char> {
    let mut out: Vec<char> = Vec::with_capacity(chars.len());
    let Some((&first, rest)) = chars.split_first() else {
        return out;
    };
    out.push(first);
    let mut starter = 0;
    // 256: a leading non-starter is no starter to compose with.
    let mut last_class: u16 = if ccc(first) == 0 { 0 } else { 256 };
    for &c in rest {
        let class = u16::from(ccc(c));
        if last_class < class || last_class == 0 {
            if let Some(composed) = compose_pair(out[starter], c) {
                out[starter] = composed;
                continue;
            }
        }
        if class == 0 {
            starter = out.len();
        }
        last_class = class;
        out.push(c);
    }
    out
}

/// RFC 3492 punycode encoding; `None` on overflow (Python cannot overflow, but no label that
/// long survives the length check anyway).
fn punycode(input: &str) -> Option<String> {
    const BASE: u32 = 36;
    let cps: Vec<u32> = input.chars().map(|c| c as u32).collect();
    let mut out: String = input.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    let mut handled = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (128u32, 0u32, 72u32);
    while (handled as usize) < cps.len() {
        let m = *cps.iter().filter(|&&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(handled + 1)?)?;
        n = m;
        for &c in &cps {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        1
                    } else if k >= bias + 26 {
                        26
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, handled + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n += 1;
    }
    Some(out)
}

fn digit(d: u32) -> char {
    let d = d as u8;
    (if d < 26 { b'a' + d } else { b'0' + d - 26 }) as char
}

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / 700 } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > 455 {
        delta /= 35;
        k += 36;
    }
    k + (36 * delta) / (delta + 38)
}

#[cfg(test)]
mod tests {
    /// Python's own codec output for 3000 random hosts (`tests/uri_golden/idna_cases.json`).
    #[test]
    fn encode_agrees_with_pythons_idna_codec() {
        let text = include_str!("../../tests/uri_golden/idna_cases.json");
        let doc: serde_json::Value = serde_json::from_str(text).expect("parse idna_cases.json");
        let cases = doc["cases"].as_array().expect("cases");
        assert!(cases.len() >= 3000);
        let mut failures = Vec::new();
        for case in cases {
            let host = case[0].as_str().expect("host");
            let expected = case[1].as_str().map(str::to_string);
            let got = super::encode(host);
            if got != expected {
                failures.push(format!("{host:?}: Python {expected:?}, port {got:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}
