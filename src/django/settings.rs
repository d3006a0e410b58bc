//! Django settings as oauthctl reads them from the environment.

/// A boolean setting given as text (`REFRESH_TOKEN_REUSE_PROTECTION=true`,
/// `ALLOW_URI_WILDCARDS=0`): the usual spellings, case-insensitive; empty counts as unset, i.e.
/// false, as a falsy Django setting does. `None` for anything else.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "" | "0" | "false" | "no" | "off" => Some(false),
        "1" | "true" | "yes" | "on" => Some(true),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_bool;

    #[test]
    fn spellings() {
        for yes in ["1", "true", "TRUE", " yes ", "On"] {
            assert_eq!(parse_bool(yes), Some(true), "{yes}");
        }
        for no in ["", "0", "false", "No", "off "] {
            assert_eq!(parse_bool(no), Some(false), "{no}");
        }
        for bad in ["maybe", "2", "t", "y"] {
            assert_eq!(parse_bool(bad), None, "{bad}");
        }
    }
}
