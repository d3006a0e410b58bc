//! The manifest `oauthctl apply` reads: a list of applications keyed by `client_id`, in TOML or
//! JSON, with DOT's field names. Secrets appear only as references (`client_secret_env`,
//! `client_secret_file`); an inline `client_secret` is refused, because a manifest lives in a
//! repository and a secret must not.
//!
//! Every entry is read on its own, so one report names every problem of every entry, each
//! prefixed with the entry's client id. Unknown keys are errors: a misspelt `redirect_uri` must
//! not silently leave the field at its default.
//!
//! No YAML: the serde YAML crate most projects used (`serde_yaml`) is archived and unmaintained,
//! and its forks are young; TOML (`toml`, maintained with cargo itself) and JSON (`serde_json`)
//! cover what CI pipelines write.

use std::path::PathBuf;

use serde::Deserialize;
use serde_json::Value as Json;

use crate::application::credentials::SecretSource;
use crate::application::Hasher;

/// One application as the manifest describes it, with its secret reference resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub client_id: String,
    pub name: String,
    pub client_type: String,
    pub authorization_grant_type: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub skip_authorization: bool,
    pub algorithm: String,
    pub user: Option<UserSpec>,
    pub hash_client_secret: bool,
    /// `None`: the command's `--hasher`.
    pub hasher: Option<Hasher>,
    /// The secret the reference points at; `None` when the entry references none.
    pub secret: Option<String>,
}

/// `user`: a primary key (an integer) or a username (a string).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum UserSpec {
    Id(i64),
    Username(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    client_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    client_type: String,
    #[serde(default)]
    authorization_grant_type: String,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    allowed_origins: Vec<String>,
    #[serde(default)]
    skip_authorization: bool,
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    user: Option<UserSpec>,
    #[serde(default = "hashed_by_default")]
    hash_client_secret: bool,
    #[serde(default)]
    hasher: Option<HasherName>,
    #[serde(default)]
    client_secret_env: Option<String>,
    #[serde(default)]
    client_secret_file: Option<PathBuf>,
    /// Accepted by the parser only to be refused with the reason.
    #[serde(default)]
    client_secret: Option<serde::de::IgnoredAny>,
}

fn hashed_by_default() -> bool {
    true
}

#[derive(Clone, Copy, Deserialize)]
enum HasherName {
    #[serde(rename = "argon2")]
    Argon2,
    #[serde(rename = "pbkdf2_sha256")]
    Pbkdf2Sha256,
}

impl From<HasherName> for Hasher {
    fn from(name: HasherName) -> Hasher {
        match name {
            HasherName::Argon2 => Hasher::Argon2,
            HasherName::Pbkdf2Sha256 => Hasher::Pbkdf2Sha256,
        }
    }
}

/// The manifest's entries, or every problem found in it (one line each, naming the entry).
pub fn parse(text: &str) -> Result<Vec<Entry>, Vec<String>> {
    let document = parse_document(text).map_err(|e| vec![e])?;
    let entries = top_level_entries(document)?;
    let mut problems = Vec::new();
    let mut parsed = Vec::new();
    for (index, raw) in entries.into_iter().enumerate() {
        let label = entry_label(&raw, index);
        match serde_json::from_value::<RawEntry>(raw) {
            Ok(entry) => match resolve(entry) {
                Ok(entry) => parsed.push(entry),
                Err(messages) => {
                    problems.extend(messages.into_iter().map(|m| format!("{label}: {m}")))
                }
            },
            Err(e) => problems.push(format!("{label}: {e}")),
        }
    }
    problems.extend(duplicate_client_ids(&parsed));
    if problems.is_empty() {
        Ok(parsed)
    } else {
        Err(problems)
    }
}

/// JSON when the text starts with `{` (a TOML document cannot), TOML otherwise.
fn parse_document(text: &str) -> Result<Json, String> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("the manifest is not valid JSON: {e}"))
    } else {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            format!(
                "the manifest is not valid TOML: {}",
                e.to_string().trim_end()
            )
        })?;
        serde_json::to_value(table).map_err(|e| format!("the manifest cannot be read: {e}"))
    }
}

fn top_level_entries(document: Json) -> Result<Vec<Json>, Vec<String>> {
    let Json::Object(mut top) = document else {
        return Err(vec![
            "the manifest must be a table (TOML) or an object (JSON) with a list `applications`"
                .into(),
        ]);
    };
    let unknown: Vec<String> = top
        .keys()
        .filter(|key| *key != "applications")
        .map(|key| format!("unknown top-level key `{key}`: the manifest has only `applications`"))
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    match top.remove("applications") {
        Some(Json::Array(entries)) => Ok(entries),
        Some(_) => Err(vec![
            "`applications` must be a list ([[applications]] in TOML)".into(),
        ]),
        None => Err(vec![
            "the manifest has no `applications` list; an empty manifest is `applications = []`"
                .into(),
        ]),
    }
}

/// How messages name an entry: its client id, else its position.
fn entry_label(raw: &Json, index: usize) -> String {
    match raw.get("client_id").and_then(Json::as_str) {
        Some(client_id) => format!("application {}", crate::django::repr::repr_str(client_id)),
        None => format!("application #{} (no client_id)", index + 1),
    }
}

fn duplicate_client_ids(entries: &[Entry]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut problems = Vec::new();
    for entry in entries {
        if !seen.insert(entry.client_id.as_str()) {
            problems.push(format!(
                "application {}: listed more than once; each client_id may appear once",
                crate::django::repr::repr_str(&entry.client_id)
            ));
        }
    }
    problems
}

fn resolve(raw: RawEntry) -> Result<Entry, Vec<String>> {
    let mut problems = Vec::new();
    if raw.client_secret.is_some() {
        problems.push(
            "client_secret is not accepted in a manifest: a manifest lives in a repository and secrets must not; \
             use client_secret_env = \"VAR\" (from the CI secret store) or client_secret_file = \"path\""
                .to_string(),
        );
    }
    if raw.client_id.is_empty() {
        problems.push("client_id is empty; every entry needs its client id".to_string());
    }
    let secret = match (&raw.client_secret_env, &raw.client_secret_file) {
        (Some(_), Some(_)) => {
            problems.push("give client_secret_env or client_secret_file, not both".to_string());
            None
        }
        (Some(var), None) => read_env_secret(var).map_err(|m| problems.push(m)).ok(),
        (None, Some(path)) => read_file_secret(path).map_err(|m| problems.push(m)).ok(),
        (None, None) => None,
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Entry {
        client_id: raw.client_id,
        name: raw.name,
        client_type: raw.client_type,
        authorization_grant_type: raw.authorization_grant_type,
        redirect_uris: raw.redirect_uris,
        post_logout_redirect_uris: raw.post_logout_redirect_uris,
        allowed_origins: raw.allowed_origins,
        skip_authorization: raw.skip_authorization,
        algorithm: raw.algorithm,
        user: raw.user,
        hash_client_secret: raw.hash_client_secret,
        hasher: raw.hasher.map(Hasher::from),
        secret,
    })
}

fn read_env_secret(var: &str) -> Result<String, String> {
    if std::env::var_os(var).is_none() {
        return Err(format!(
            "client_secret_env: environment variable {var} is not set; export it (e.g. from the CI secret store) or remove the reference to keep the stored secret"
        ));
    }
    read_secret(SecretSource::Env(var.to_string()), "client_secret_env")
}

fn read_file_secret(path: &std::path::Path) -> Result<String, String> {
    read_secret(SecretSource::File(path.to_path_buf()), "client_secret_file")
}

fn read_secret(source: SecretSource, key: &str) -> Result<String, String> {
    match source.read() {
        Ok(Some(secret)) => Ok(secret),
        Ok(None) => Err(format!("{key}: the secret is empty")),
        Err(e) => Err(format!("{key}: {}", crate::error::message(&e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<String> {
        parse(text).unwrap_err()
    }

    #[test]
    fn toml_and_json_read_the_same() {
        let toml = r#"
            [[applications]]
            client_id = "a"
            client_type = "public"
            authorization_grant_type = "password"
            redirect_uris = ["https://a.example/cb"]
            user = 3
        "#;
        let json = r#"{"applications": [{"client_id": "a", "client_type": "public",
            "authorization_grant_type": "password", "redirect_uris": ["https://a.example/cb"], "user": 3}]}"#;
        let from_toml = parse(toml).unwrap();
        assert_eq!(from_toml, parse(json).unwrap());
        assert_eq!(from_toml[0].user, Some(UserSpec::Id(3)));
        assert!(from_toml[0].hash_client_secret);
        assert_eq!(from_toml[0].secret, None);
    }

    #[test]
    fn unknown_keys_name_the_key_and_the_entry() {
        let found = problems(
            "[[applications]]\nclient_id = \"a\"\nredirect_uri = []\n[[applications]]\nclient_id = \"b\"\nnmae = \"x\"\n",
        );
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(
            found[0].starts_with("application 'a': unknown field `redirect_uri`"),
            "{found:?}"
        );
        assert!(
            found[1].starts_with("application 'b': unknown field `nmae`"),
            "{found:?}"
        );
        assert!(problems("colour = 1\napplications = []")[0].contains("`colour`"));
    }

    #[test]
    fn inline_secrets_are_refused_with_the_reason() {
        let found = problems("[[applications]]\nclient_id = \"a\"\nclient_secret = \"hunter2\"\n");
        assert_eq!(found.len(), 1);
        assert!(found[0].contains("must not") && found[0].contains("client_secret_env"));
        assert!(!found[0].contains("hunter2"));
    }

    #[test]
    fn missing_variables_and_files_are_named() {
        let found = problems(
            "[[applications]]\nclient_id = \"a\"\nclient_secret_env = \"OAUTHCTL_TEST_SURELY_UNSET_VAR\"\n\
             [[applications]]\nclient_id = \"b\"\nclient_secret_file = \"/nonexistent/secret\"\n",
        );
        assert!(
            found[0].contains("OAUTHCTL_TEST_SURELY_UNSET_VAR"),
            "{found:?}"
        );
        assert!(found[1].contains("/nonexistent/secret"), "{found:?}");
    }

    #[test]
    fn duplicates_and_bad_documents() {
        assert!(problems(
            "[[applications]]\nclient_id = \"a\"\n[[applications]]\nclient_id = \"a\"\n"
        )[0]
        .contains("more than once"));
        assert!(problems("applications = 3")[0].contains("must be a list"));
        assert!(problems("{")[0].contains("not valid JSON"));
        assert!(problems("[[applications]\n")[0].contains("not valid TOML"));
        assert!(problems("")[0].contains("no `applications`"));
        assert_eq!(parse("applications = []").unwrap(), vec![]);
    }
}
