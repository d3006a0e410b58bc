//! An application as DOT's `createapplication` saves it, and the row that becomes in a table
//! whose columns may be those of an older or newer DOT, or of a swapped model.

use crate::django::timezone::DjangoTime;
use anyhow::{bail, Result};

use super::sql::Value;
use super::ColumnInfo;

/// An application as DOT's `createapplication` would save it (after validation and hashing).
#[derive(Clone, Debug)]
pub struct NewApplication {
    pub client_id: String,
    pub user_id: Option<i64>,
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub client_type: String,
    pub authorization_grant_type: String,
    /// Already hashed unless `hash_client_secret` is false.
    pub client_secret: String,
    pub hash_client_secret: bool,
    pub name: String,
    pub skip_authorization: bool,
    pub algorithm: String,
    /// Space-separated CORS origins (`createapplication` leaves them empty, `apply` may set them).
    pub allowed_origins: String,
    /// `created` and `updated` (`auto_now_add`, `auto_now`): Django's `timezone.now()`.
    pub created: DjangoTime,
}

/// The columns of the application table that DOT's model defines (3.4.1 and the unreleased
/// master), with the value DOT's model gives each on creation. Columns an older schema lacks are
/// simply not written.
pub fn application_values(app: &NewApplication) -> Vec<(&'static str, Value)> {
    vec![
        ("client_id", Value::Text(app.client_id.clone())),
        ("user_id", Value::Int(app.user_id)),
        ("redirect_uris", Value::Text(app.redirect_uris.clone())),
        (
            "post_logout_redirect_uris",
            Value::Text(app.post_logout_redirect_uris.clone()),
        ),
        ("client_type", Value::Text(app.client_type.clone())),
        (
            "authorization_grant_type",
            Value::Text(app.authorization_grant_type.clone()),
        ),
        ("client_secret", Value::Text(app.client_secret.clone())),
        (
            "hash_client_secret",
            Value::Bool(Some(app.hash_client_secret)),
        ),
        ("name", Value::Text(app.name.clone())),
        (
            "skip_authorization",
            Value::Bool(Some(app.skip_authorization)),
        ),
        ("created", Value::Timestamp(Some(app.created))),
        ("updated", Value::Timestamp(Some(app.created))),
        ("algorithm", Value::Text(app.algorithm.clone())),
        ("allowed_origins", Value::Text(app.allowed_origins.clone())),
        ("registration_source", Value::Text("manual".into())),
        ("cimd_expires_at", Value::Timestamp(None)),
        // Unreleased DOT master (0024/0025); written only where a database already has them.
        ("token_endpoint_auth_method", Value::Text(String::new())),
        ("client_jwks", Value::Text(String::new())),
        ("client_jwks_uri", Value::Text(String::new())),
        ("require_pushed_authorization_requests", Value::Bool(None)),
    ]
}

/// Chooses, from the table's real columns, what an INSERT writes: every known column that exists.
/// Fails when the table has a NOT NULL column without default that DOT's model does not define
/// (a swapped model with extra fields): the INSERT would fail, so say why up front.
pub fn application_insert_plan(
    table: &str,
    columns: &[ColumnInfo],
    app: &NewApplication,
) -> Result<Vec<(&'static str, Value)>> {
    let known = application_values(app);
    for column in columns {
        let is_known = column.name == "id" || known.iter().any(|(name, _)| *name == column.name);
        if !is_known && column.not_null && !column.has_default {
            bail!(
                "table {table} has a NOT NULL column {:?} without a default that DOT's Application model does not define; oauthctl cannot fill it",
                column.name
            );
        }
    }
    Ok(known
        .into_iter()
        .filter(|(name, _)| columns.iter().any(|c| c.name == *name))
        .collect())
}

/// Why an application could not be inserted.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("client id already exists")]
    DuplicateClientId,
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_plan_follows_existing_columns_and_rejects_unknown_required_ones() {
        let app = NewApplication {
            client_id: "c".into(),
            user_id: None,
            redirect_uris: String::new(),
            post_logout_redirect_uris: String::new(),
            client_type: "public".into(),
            authorization_grant_type: "password".into(),
            client_secret: "s".into(),
            hash_client_secret: true,
            name: String::new(),
            skip_authorization: false,
            algorithm: String::new(),
            allowed_origins: String::new(),
            created: chrono::Utc::now().into(),
        };
        let col = |name: &str, not_null: bool, has_default: bool| ColumnInfo {
            name: name.into(),
            not_null,
            has_default,
        };
        let old_schema = vec![
            col("id", true, true),
            col("client_id", true, false),
            col("client_secret", true, false),
        ];
        let plan = application_insert_plan("t", &old_schema, &app).unwrap();
        assert_eq!(
            plan.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec!["client_id", "client_secret"]
        );

        let swapped = vec![col("id", true, true), col("tenant", true, false)];
        let err = application_insert_plan("t", &swapped, &app)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"tenant\""), "{err}");

        let with_nullable_extra = vec![col("client_id", true, false), col("note", false, false)];
        assert!(application_insert_plan("t", &with_nullable_extra, &app).is_ok());
    }
}
