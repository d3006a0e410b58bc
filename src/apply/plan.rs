//! The plan: for each application, what `apply` does to make the database match the manifest —
//! create it, update exactly the fields that differ (and rotate the secret when the referenced
//! one does not verify), leave it alone, or, with `--prune`, delete it.
//!
//! Planning only reads; it is a pure function of the manifest, the stored rows and "now", so a
//! `--dry-run` shows what a real run would do.

use crate::django::timezone::DjangoTime;
use anyhow::Result;
use serde_json::{json, Value as Json};

use super::manifest::Entry;
use crate::application::hashing;
use crate::application::Hasher;
use crate::db::{NewApplication, StoredApplication, Value};
use crate::uri_validator::py_split_whitespace;

/// What `apply` does to one application.
#[derive(Clone, Debug)]
pub enum Action {
    Create(Box<Creation>),
    Update(Box<Update>),
    Unchanged {
        client_id: String,
    },
    /// Only with `--prune`: the application is not in the manifest.
    Delete {
        id: i64,
        client_id: String,
    },
}

impl Action {
    pub fn client_id(&self) -> &str {
        match self {
            Action::Create(creation) => &creation.row.client_id,
            Action::Update(update) => &update.client_id,
            Action::Unchanged { client_id } | Action::Delete { client_id, .. } => client_id,
        }
    }

    /// Whether the action writes anything.
    pub fn changes_something(&self) -> bool {
        !matches!(self, Action::Unchanged { .. })
    }
}

#[derive(Clone, Debug)]
pub struct Creation {
    pub row: NewApplication,
    /// Generated here (the entry references no secret): shown once, after the commit.
    pub generated_secret: Option<String>,
}

#[derive(Clone, Debug)]
pub struct Update {
    pub id: i64,
    pub client_id: String,
    /// The fields that differ, as shown (never the secret).
    pub changes: Vec<FieldChange>,
    pub secret_rotated: bool,
    /// The columns to write (including the secret when rotated, and `updated`).
    pub writes: Vec<(&'static str, Value)>,
}

/// One field that differs, old and new as the listing shows them.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldChange {
    pub field: &'static str,
    pub old: Json,
    pub new: Json,
}

/// An entry with everything the database had to say about it.
pub struct Resolved<'a> {
    pub entry: &'a Entry,
    pub stored: Option<&'a StoredApplication>,
    /// The user's primary key (from `user`, a key or a username).
    pub user_id: Option<i64>,
    /// The secret generated for a new entry without a reference.
    pub generated_secret: Option<String>,
    /// The hasher for a secret written now.
    pub hasher: Hasher,
    pub pbkdf2_iterations: u32,
}

/// The action for one entry.
pub fn plan_entry(resolved: Resolved<'_>, now: DjangoTime) -> Result<Action> {
    match resolved.stored {
        None => create(&resolved, now).map(|c| Action::Create(Box::new(c))),
        Some(stored) => {
            let update = update(&resolved, stored, now)?;
            Ok(if update.changes.is_empty() && !update.secret_rotated {
                Action::Unchanged {
                    client_id: stored.client_id.clone(),
                }
            } else {
                Action::Update(Box::new(update))
            })
        }
    }
}

/// The applications `--prune` deletes: stored, not in the manifest.
pub fn prunes(stored: &[StoredApplication], entries: &[Entry]) -> Vec<Action> {
    stored
        .iter()
        .filter(|app| !entries.iter().any(|e| e.client_id == app.client_id))
        .map(|app| Action::Delete {
            id: app.id,
            client_id: app.client_id.clone(),
        })
        .collect()
}

/// The secret as DOT's `save()` stores it: hashed unless hashing is off or it already is a hash.
pub fn stored_secret(secret: &str, hash: bool, resolved: &Resolved<'_>) -> Result<String> {
    if hash && !hashing::is_django_hash(secret) {
        hashing::make_password(secret, resolved.hasher, resolved.pbkdf2_iterations)
    } else {
        Ok(secret.to_string())
    }
}

fn joined(list: &[String]) -> String {
    list.join(" ")
}

fn create(resolved: &Resolved<'_>, now: DjangoTime) -> Result<Creation> {
    let entry = resolved.entry;
    let plaintext = entry
        .secret
        .clone()
        .or_else(|| resolved.generated_secret.clone())
        .unwrap_or_default();
    let row = NewApplication {
        client_id: entry.client_id.clone(),
        user_id: resolved.user_id,
        redirect_uris: joined(&entry.redirect_uris),
        post_logout_redirect_uris: joined(&entry.post_logout_redirect_uris),
        client_type: entry.client_type.clone(),
        authorization_grant_type: entry.authorization_grant_type.clone(),
        client_secret: stored_secret(&plaintext, entry.hash_client_secret, resolved)?,
        hash_client_secret: entry.hash_client_secret,
        name: entry.name.clone(),
        skip_authorization: entry.skip_authorization,
        algorithm: entry.algorithm.clone(),
        allowed_origins: joined(&entry.allowed_origins),
        created: now,
    };
    Ok(Creation {
        row,
        generated_secret: resolved.generated_secret.clone(),
    })
}

/// Compares field by field; lists are equal when their whitespace-separated items are (a row
/// saved by Django's admin may separate them with newlines).
fn update(resolved: &Resolved<'_>, stored: &StoredApplication, now: DjangoTime) -> Result<Update> {
    let entry = resolved.entry;
    let mut changes = Vec::new();
    let mut writes = Vec::new();
    let mut text = |field: &'static str, old: &str, new: &str| {
        if old != new {
            changes.push(FieldChange {
                field,
                old: json!(old),
                new: json!(new),
            });
            writes.push((field, Value::Text(new.to_string())));
        }
    };
    text("name", &stored.name, &entry.name);
    text("client_type", &stored.client_type, &entry.client_type);
    text(
        "authorization_grant_type",
        &stored.authorization_grant_type,
        &entry.authorization_grant_type,
    );
    text("algorithm", &stored.algorithm, &entry.algorithm);
    for (field, old, new) in [
        ("redirect_uris", &stored.redirect_uris, &entry.redirect_uris),
        (
            "post_logout_redirect_uris",
            &stored.post_logout_redirect_uris,
            &entry.post_logout_redirect_uris,
        ),
        (
            "allowed_origins",
            &stored.allowed_origins,
            &entry.allowed_origins,
        ),
    ] {
        let old_items = py_split_whitespace(old);
        if old_items != new.iter().map(String::as_str).collect::<Vec<_>>() {
            changes.push(FieldChange {
                field,
                old: json!(old_items),
                new: json!(new),
            });
            writes.push((field, Value::Text(joined(new))));
        }
    }
    let mut flag = |field: &'static str, old: bool, new: bool| {
        if old != new {
            changes.push(FieldChange {
                field,
                old: json!(old),
                new: json!(new),
            });
            writes.push((field, Value::Bool(Some(new))));
        }
    };
    flag(
        "skip_authorization",
        stored.skip_authorization,
        entry.skip_authorization,
    );
    flag(
        "hash_client_secret",
        stored.hash_client_secret,
        entry.hash_client_secret,
    );
    if stored.user_id != resolved.user_id {
        changes.push(FieldChange {
            field: "user",
            old: json!(stored.user_id),
            new: json!(resolved.user_id),
        });
        writes.push(("user_id", Value::Int(resolved.user_id)));
    }
    let new_secret = rotated_secret(resolved, stored)?;
    let secret_rotated = new_secret.is_some();
    if let Some(secret) = new_secret {
        writes.push(("client_secret", Value::Text(secret)));
    }
    if !writes.is_empty() {
        // Django's auto_now: every save sets `updated`; a run that saves nothing leaves it.
        writes.push(("updated", Value::Timestamp(Some(now))));
    }
    Ok(Update {
        id: stored.id,
        client_id: stored.client_id.clone(),
        changes,
        secret_rotated,
        writes,
    })
}

/// The secret to store when the referenced one does not match the stored one; `None` when it
/// does, or when the entry references none (the stored secret stays).
fn rotated_secret(resolved: &Resolved<'_>, stored: &StoredApplication) -> Result<Option<String>> {
    let entry = resolved.entry;
    let Some(secret) = &entry.secret else {
        return Ok(None);
    };
    if matches_stored(secret, entry.hash_client_secret, stored) {
        return Ok(None);
    }
    stored_secret(secret, entry.hash_client_secret, resolved).map(Some)
}

/// Whether `secret` is what the row holds: verified against the stored hash when hashing stays
/// on, compared as is otherwise (an unhashed secret, or a reference that itself is a hash).
fn matches_stored(secret: &str, hash: bool, stored: &StoredApplication) -> bool {
    if hash != stored.hash_client_secret {
        return false;
    }
    if !hash || hashing::is_django_hash(secret) {
        return secret == stored.client_secret;
    }
    // A hash oauthctl cannot check (another hasher) counts as not matching: it is replaced.
    hashing::check_password(secret, &stored.client_secret).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            client_id: "ci".into(),
            name: "CI".into(),
            client_type: "confidential".into(),
            authorization_grant_type: "client-credentials".into(),
            redirect_uris: vec!["https://a.example/cb".into()],
            post_logout_redirect_uris: vec![],
            allowed_origins: vec![],
            skip_authorization: false,
            algorithm: String::new(),
            user: None,
            hash_client_secret: true,
            hasher: None,
            secret: Some("s3cret".into()),
        }
    }

    fn stored_from(entry: &Entry) -> StoredApplication {
        StoredApplication {
            id: 1,
            client_id: entry.client_id.clone(),
            user_id: None,
            redirect_uris: "https://a.example/cb".into(),
            post_logout_redirect_uris: String::new(),
            client_type: entry.client_type.clone(),
            authorization_grant_type: entry.authorization_grant_type.clone(),
            client_secret: hashing::pbkdf2_sha256_hash("s3cret", "salt", 1000),
            hash_client_secret: true,
            name: entry.name.clone(),
            skip_authorization: false,
            algorithm: String::new(),
            allowed_origins: String::new(),
            created: None,
            updated: None,
        }
    }

    fn plan(entry: &Entry, stored: &StoredApplication) -> Action {
        plan_entry(
            Resolved {
                entry,
                stored: Some(stored),
                user_id: None,
                generated_secret: None,
                hasher: Hasher::Pbkdf2Sha256,
                pbkdf2_iterations: 100_000,
            },
            chrono::Utc::now().into(),
        )
        .unwrap()
    }

    #[test]
    fn equal_rows_are_unchanged_and_write_nothing() {
        let entry = entry();
        let mut stored = stored_from(&entry);
        // Django's admin separates with newlines; the items are what count.
        stored.redirect_uris = "https://a.example/cb\n".into();
        assert!(matches!(plan(&entry, &stored), Action::Unchanged { .. }));
    }

    #[test]
    fn only_differing_fields_are_written_with_updated() {
        let mut entry = entry();
        let stored = stored_from(&entry);
        entry.redirect_uris = vec!["https://b.example/cb".into()];
        let Action::Update(update) = plan(&entry, &stored) else {
            panic!("expected an update");
        };
        assert_eq!(
            update.changes,
            vec![FieldChange {
                field: "redirect_uris",
                old: json!(["https://a.example/cb"]),
                new: json!(["https://b.example/cb"]),
            }]
        );
        assert!(!update.secret_rotated);
        let columns: Vec<&str> = update.writes.iter().map(|(c, _)| *c).collect();
        assert_eq!(columns, vec!["redirect_uris", "updated"]);
    }

    #[test]
    fn a_new_secret_rotates_and_the_same_one_does_not() {
        let mut entry = entry();
        let stored = stored_from(&entry);
        entry.secret = Some("new-secret".into());
        let Action::Update(update) = plan(&entry, &stored) else {
            panic!("expected a rotation");
        };
        assert!(update.secret_rotated && update.changes.is_empty());
        let Some((_, Value::Text(hash))) =
            update.writes.iter().find(|(c, _)| *c == "client_secret")
        else {
            panic!("no secret written");
        };
        assert!(hashing::check_password("new-secret", hash).unwrap());
        entry.secret = None;
        assert!(matches!(plan(&entry, &stored), Action::Unchanged { .. }));
    }

    #[test]
    fn unhashed_secrets_compare_as_text() {
        let mut entry = entry();
        entry.hash_client_secret = false;
        let mut stored = stored_from(&entry);
        stored.hash_client_secret = false;
        stored.client_secret = "s3cret".into();
        assert!(matches!(plan(&entry, &stored), Action::Unchanged { .. }));
        entry.secret = Some("other".into());
        assert!(matches!(plan(&entry, &stored), Action::Update(u) if u.secret_rotated));
    }

    #[test]
    fn prune_takes_only_what_the_manifest_lacks() {
        let entry = entry();
        let mut other = stored_from(&entry);
        other.client_id = "gone".into();
        other.id = 2;
        let stored = vec![stored_from(&entry), other];
        let deletes = prunes(&stored, &[entry]);
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0].client_id(), "gone");
    }
}
