//! The tables and columns DOT 3.4.1 has, split into what the cleanup reads (it cannot run
//! without them) and the rest (absent in older releases; reported, never an error).
//!
//! The lists follow oauthctl's migration of DOT 3.4.1 (`migrations/*/0001_dot_3_4_1.sql`) and
//! the cleanup's predicates (`src/db/predicates.rs`).

use crate::db::Tables;

/// One of DOT's tables as doctor expects it.
#[derive(Clone, Debug)]
pub struct ExpectedTable {
    /// DOT's model, as doctor names it.
    pub model: &'static str,
    /// Its table in this database.
    pub table: String,
    /// Columns the cleanup's statements use.
    pub cleanup_columns: &'static [&'static str],
    /// DOT 3.4.1's other columns.
    pub other_columns: &'static [&'static str],
}

/// DOT's five tables that oauthctl works on, in the order doctor reports them.
pub fn expected_tables(tables: &Tables) -> Vec<ExpectedTable> {
    let table = |model, name: &String, cleanup_columns, other_columns| ExpectedTable {
        model,
        table: name.clone(),
        cleanup_columns,
        other_columns,
    };
    vec![
        table(
            "application",
            &tables.application,
            &["id"],
            &[
                "client_id",
                "redirect_uris",
                "post_logout_redirect_uris",
                "client_type",
                "authorization_grant_type",
                "client_secret",
                "hash_client_secret",
                "name",
                "user_id",
                "skip_authorization",
                "created",
                "updated",
                "algorithm",
                "allowed_origins",
            ],
        ),
        table(
            "access_token",
            &tables.access_token,
            &["id", "expires", "source_refresh_token_id", "id_token_id"],
            &[
                "token",
                "token_checksum",
                "scope",
                "application_id",
                "user_id",
                "created",
                "updated",
                "resource",
            ],
        ),
        table(
            "refresh_token",
            &tables.refresh_token,
            &["id", "access_token_id", "revoked"],
            &[
                "token",
                "token_checksum",
                "token_family",
                "application_id",
                "user_id",
                "created",
                "updated",
                "resource",
            ],
        ),
        table(
            "id_token",
            &tables.id_token,
            &["id", "expires"],
            &[
                "jti",
                "scope",
                "application_id",
                "user_id",
                "created",
                "updated",
            ],
        ),
        table(
            "grant",
            &tables.grant,
            &["id", "expires"],
            &[
                "code",
                "redirect_uri",
                "scope",
                "application_id",
                "user_id",
                "created",
                "updated",
                "code_challenge",
                "code_challenge_method",
                "nonce",
                "claims",
                "resource",
            ],
        ),
    ]
}
