//! Port of DOT's `AllowedURIValidator` (and the Django `URLValidator` it builds on).
//! TEMPORARY minimal version (lead); replaced by the full port.

pub struct UriValidator {
    pub name: &'static str,
    pub schemes: Vec<String>,
    pub allow_path: bool,
    pub allow_query: bool,
    pub allow_fragment: bool,
    pub allow_hostname_wildcard: bool,
}

impl UriValidator {
    pub fn redirect_uri(schemes: &[String], allow_wildcards: bool) -> Self {
        UriValidator {
            name: "redirect uri",
            schemes: schemes.iter().map(|s| s.to_lowercase()).collect(),
            allow_path: true,
            allow_query: true,
            allow_fragment: false,
            allow_hostname_wildcard: allow_wildcards,
        }
    }

    pub fn allowed_origin(schemes: &[String], allow_wildcards: bool) -> Self {
        UriValidator {
            name: "allowed origin",
            schemes: schemes.iter().map(|s| s.to_lowercase()).collect(),
            allow_path: false,
            allow_query: false,
            allow_fragment: false,
            allow_hostname_wildcard: allow_wildcards,
        }
    }

    pub fn validate(&self, value: &str) -> Result<(), String> {
        let scheme = value
            .split_once(':')
            .map(|(s, _)| s.to_lowercase())
            .unwrap_or_default();
        if !self.schemes.contains(&scheme) {
            return Err(format!(
                "{} URI Validation error. invalid_scheme: {value}",
                self.name
            ));
        }
        Ok(())
    }
}
