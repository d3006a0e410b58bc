//! Whether CPython 3.11's `ipaddress.IPv4Address(s)` / `IPv6Address(s)` accept a string.
//!
//! `urlsplit` uses them to vet a bracketed host, Django's `is_valid_ipv6_address` to vet the
//! same host again, and DOT's host pattern shares the octet rule; only validity matters, so
//! the addresses are checked, never built. The rules are `ipaddress`'s own, including its
//! quirks (no leading zeros in an octet, at most four hex digits a hextet, a `%scope` suffix).

/// `IPv4Address._parse_octet` succeeds.
pub(super) fn ipv4_octet_valid(octet: &str) -> bool {
    !octet.is_empty()
        && octet.len() <= 3
        && octet.bytes().all(|b| b.is_ascii_digit())
        && (octet == "0" || !octet.starts_with('0'))
        && octet.parse::<u16>().is_ok_and(|v| v <= 255)
}

/// `ipaddress.IPv4Address(s)` does not raise.
pub(super) fn ipv4_address_valid(s: &str) -> bool {
    if s.contains('/') || s.is_empty() {
        return false;
    }
    let octets: Vec<&str> = s.split('.').collect();
    octets.len() == 4 && octets.iter().all(|o| ipv4_octet_valid(o))
}

/// `IPv6Address._parse_hextet` succeeds (`int("", 16)` fails too).
fn hextet_valid(h: &str) -> bool {
    !h.is_empty() && h.len() <= 4 && h.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The number of hextets in an IPv6 address.
const HEXTETS: usize = 8;

/// `ipaddress.IPv6Address(s)` does not raise (a `%scope` suffix is allowed).
pub(super) fn ipv6_address_valid(s: &str) -> bool {
    if s.contains('/') {
        return false;
    }
    let Some(addr) = strip_scope_id(s) else {
        return false;
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
        if !ipv4_address_valid(v4) {
            return false;
        }
        // Two hextets stand in for the IPv4 tail; their values do not matter here.
        parts.push("0");
        parts.push("0");
    }
    if parts.len() > HEXTETS + 1 {
        return false;
    }
    let Some((parts_hi, parts_lo)) = explicit_hextets(&parts) else {
        return false;
    };
    parts[..parts_hi].iter().all(|p| hextet_valid(p))
        && parts[parts.len() - parts_lo..]
            .iter()
            .all(|p| hextet_valid(p))
}

/// `IPv6Address._split_scope_id`: the address without its `%scope`, or `None` when the scope
/// is empty or holds another "%".
fn strip_scope_id(s: &str) -> Option<&str> {
    match s.split_once('%') {
        Some((_, scope)) if scope.is_empty() || scope.contains('%') => None,
        Some((addr, _)) => Some(addr),
        None => Some(s),
    }
}

/// `IPv6Address._ip_int_from_string`'s layout check on the ":"-separated parts: how many come
/// before (`parts_hi`) and after (`parts_lo`) the one "::" gap, or `None` where the layout is
/// invalid (two gaps, a lone leading or trailing ":", too many or too few hextets).
fn explicit_hextets(parts: &[&str]) -> Option<(usize, usize)> {
    let mut skip_index = None;
    for (i, part) in parts.iter().enumerate().take(parts.len() - 1).skip(1) {
        if part.is_empty() {
            if skip_index.is_some() {
                return None;
            }
            skip_index = Some(i);
        }
    }
    let Some(skip) = skip_index else {
        if parts.len() != HEXTETS || parts[0].is_empty() || parts[HEXTETS - 1].is_empty() {
            return None;
        }
        return Some((parts.len(), 0));
    };
    let mut hi = skip;
    let mut lo = parts.len() - skip - 1;
    if parts[0].is_empty() {
        hi -= 1;
        if hi != 0 {
            return None;
        }
    }
    if parts[parts.len() - 1].is_empty() {
        lo -= 1;
        if lo != 0 {
            return None;
        }
    }
    if hi + lo >= HEXTETS {
        return None;
    }
    Some((hi, lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_like_python() {
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
            assert!(ipv6_address_valid(ok), "{ok}");
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
            assert!(!ipv6_address_valid(bad), "{bad}");
        }
    }

    #[test]
    fn ipv4_like_python() {
        assert!(ipv4_address_valid("0.10.255.1"));
        for bad in [
            "1.2.3",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3.4.5",
            "\u{663}.1.1.1",
            "1.2.3.4/8",
        ] {
            assert!(!ipv4_address_valid(bad), "{bad}");
        }
    }
}
