//! Database URLs: which backend a URL names, and its password-free form for messages.

use anyhow::{bail, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::MySql => "mysql",
        })
    }
}

/// A parsed `--database-url`. `Debug` and [`DatabaseUrl::redacted`] never show the password.
#[derive(Clone)]
pub struct DatabaseUrl {
    raw: String,
    backend: Backend,
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self> {
        let scheme = raw.split_once(':').map(|(s, _)| s.to_ascii_lowercase());
        let backend = match scheme.as_deref() {
            Some("sqlite") => Backend::Sqlite,
            Some("postgres") | Some("postgresql") => Backend::Postgres,
            Some("mysql") | Some("mariadb") => Backend::MySql,
            _ => bail!(crate::error::Failure::Usage(
                "--database-url must start with sqlite:, postgres://, postgresql://, mysql:// or mariadb:// (e.g. sqlite://db.sqlite3)"
                    .into()
            )),
        };
        if backend != Backend::Sqlite && ::url::Url::parse(raw).is_err() {
            bail!(crate::error::Failure::Usage(format!(
                "--database-url is not a valid URL ({}); percent-encode special characters in the user name and password",
                redact(raw)
            )));
        }
        Ok(DatabaseUrl {
            raw: raw.to_string(),
            backend,
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL to hand to the driver. Contains the password: never print it.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// `mariadb://` is our alias; the driver only knows `mysql://`.
    pub fn driver_url(&self) -> String {
        match self.raw.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("mariadb") => {
                format!("mysql://{rest}")
            }
            _ => self.raw.clone(),
        }
    }

    /// The URL with any password replaced by `****`.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }

    /// For SQLite: the file path (`sqlite://db.sqlite3`, `sqlite:db.sqlite3`, `sqlite:///abs/path`).
    pub fn sqlite_path(&self) -> Option<String> {
        if self.backend != Backend::Sqlite {
            return None;
        }
        let rest = &self.raw["sqlite:".len()..];
        let rest = rest.strip_prefix("//").unwrap_or(rest);
        let path = rest.split('?').next().unwrap_or(rest);
        Some(path.to_string())
    }
}

/// Replaces the password of `scheme://user:password@host…` with `****`, without parsing fully
/// (so that even a malformed URL is never echoed with its password).
pub fn redact(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_string();
    };
    // The authority ends at the first '/', '?' or '#'; the password is between the first ':'
    // and the last '@' inside it.
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = (&authority[..at], &authority[at + 1..]);
            match userinfo.split_once(':') {
                Some((user, _password)) => format!("{user}:****@{host}"),
                None => authority.to_string(),
            }
        }
        None => authority.to_string(),
    };
    let mut redacted = format!("{scheme}://{authority}{tail}");
    // `?password=…` in the query string, as some drivers accept.
    if let Some(q) = redacted.find('?') {
        let (base, query) = redacted.split_at(q + 1);
        let parts: Vec<String> = query
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=****"),
                _ => kv.to_string(),
            })
            .collect();
        redacted = format!("{base}{}", parts.join("&"));
    }
    redacted
}

/// Removes the URL's password from a driver message, in case the driver quotes the URL.
pub fn scrub(message: &str, url: &DatabaseUrl) -> String {
    let mut cleaned = message.replace(url.expose(), &url.redacted());
    if let Ok(parsed) = ::url::Url::parse(url.expose()) {
        if let Some(password) = parsed.password().filter(|p| !p.is_empty()) {
            cleaned = cleaned.replace(password, "****");
            let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
            if !decoded.is_empty() {
                cleaned = cleaned.replace(decoded.as_ref(), "****");
            }
        }
    }
    cleaned
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_backend_from_scheme() {
        assert_eq!(
            DatabaseUrl::parse("sqlite://db.sqlite3").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:x.db").unwrap().backend(),
            Backend::Sqlite
        );
        assert_eq!(
            DatabaseUrl::parse("postgres://u@h/d").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://u@h/d").unwrap().backend(),
            Backend::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("mysql://u@h/d").unwrap().backend(),
            Backend::MySql
        );
        assert_eq!(
            DatabaseUrl::parse("mariadb://u@h/d").unwrap().driver_url(),
            "mysql://u@h/d"
        );
        assert!(DatabaseUrl::parse("oracle://u@h/d").is_err());
        assert!(DatabaseUrl::parse("db.sqlite3").is_err());
    }

    #[test]
    fn sqlite_paths() {
        let p = |u: &str| DatabaseUrl::parse(u).unwrap().sqlite_path().unwrap();
        assert_eq!(p("sqlite://db.sqlite3"), "db.sqlite3");
        assert_eq!(p("sqlite:db.sqlite3"), "db.sqlite3");
        assert_eq!(p("sqlite:///tmp/x.db"), "/tmp/x.db");
        assert_eq!(p("sqlite://x.db?mode=rwc"), "x.db");
    }

    #[test]
    fn never_shows_passwords() {
        assert_eq!(
            redact("postgres://app:s3cr%40t@db:5432/oauth"),
            "postgres://app:****@db:5432/oauth"
        );
        assert_eq!(
            redact("mysql://root@localhost/x"),
            "mysql://root@localhost/x"
        );
        assert_eq!(
            redact("postgres://a:b@c@host/db"),
            "postgres://a:****@host/db"
        );
        assert_eq!(
            redact("postgres://h/db?user=a&password=zzz"),
            "postgres://h/db?user=a&password=****"
        );
        let url = DatabaseUrl::parse("postgres://app:hunter2@db/oauth").unwrap();
        assert!(!format!("{url:?}").contains("hunter2"));
        let err = DatabaseUrl::parse("postgres://app:hun ter2@[db/oauth")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hun ter2"), "{err}");
    }
}
