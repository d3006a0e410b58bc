//! `createapplication` as a domain operation: DOT's validation (`validation`), the client's
//! credentials (`credentials`) and Django's password hashes (`hashing`), and [`create`], which
//! checks a request against the database and inserts the row DOT would save.
//!
//! Nothing here knows the command line: `commands::createapplication` maps flags onto a
//! [`Request`] and prints what [`create`] returns.

pub mod credentials;
pub mod hashing;
pub mod release;
pub mod validation;

use anyhow::{bail, Result};

pub use self::hashing::Hasher;
pub use self::release::Schema;
pub use self::validation::{
    parse_user, validate, Candidate, FieldErrors, Lookups, Policy, UserRef, REPORT_HEADER,
    UNIQUE_CLIENT_ID_MESSAGE,
};
use crate::db::{self, DatabaseUrl, InsertError, NewApplication, Store};
use crate::error::Failure;

/// One application to create, as the operator asked for it.
#[derive(Clone, Debug)]
pub struct Request {
    /// The fields DOT validates; the secret is plaintext or an already-made Django hash.
    pub candidate: Candidate,
    /// The secret was generated here, so it is shown once.
    pub secret_generated: bool,
    pub skip_authorization: bool,
    pub hasher: Hasher,
    /// The deployment's PBKDF2 iteration count (`--pbkdf2-iterations`).
    pub pbkdf2_iterations: u32,
    pub policy: Policy,
    /// "Now", for `created` and `updated`.
    pub created: crate::django::timezone::DjangoTime,
}

/// The application as inserted.
#[derive(Clone, Debug)]
pub struct Created {
    pub id: i64,
    pub row: NewApplication,
    /// The generated secret in plain text, to be shown once; `None` when the operator gave it.
    pub generated_secret: Option<String>,
}

/// Validates `request` as DOT's `full_clean()` would against this database and inserts it.
/// A taken client id is [`Failure::ClientIdTaken`] (also when another run wins the race to
/// insert it); any other validation error is [`Failure::Invalid`]; nothing is written then.
pub async fn create(store: &dyn Store, url: &DatabaseUrl, request: Request) -> Result<Created> {
    let candidate = &request.candidate;
    let table = store.tables().application.clone();
    let columns = db::require_table(store, url, &table).await?;
    let schema = Schema::new(store.detect_dot_release().await?, &table, &columns);
    if let Some(unsupported) = schema.unsupported(candidate, &request.policy).first() {
        bail!(Failure::Usage(unsupported.message.clone()));
    }
    let lookups = Lookups {
        user_exists: user_exists(store, candidate).await?,
        client_id_taken: store.client_id_exists(&candidate.client_id).await?,
    };
    let errors = validate(candidate, &schema.policy(&request.policy), lookups);
    if errors.only_duplicate_client_id() {
        bail!(Failure::ClientIdTaken(errors));
    }
    if !errors.is_empty() {
        bail!(Failure::Invalid(errors));
    }
    let row = row_to_insert(&request)?;
    let id = match store.insert_application(&row).await {
        Ok(id) => id,
        // Another run created the same client id between our check and our insert.
        Err(InsertError::DuplicateClientId) => {
            let mut errors = FieldErrors::default();
            errors.add("client_id", UNIQUE_CLIENT_ID_MESSAGE);
            bail!(Failure::ClientIdTaken(errors));
        }
        Err(InsertError::Other(e)) => return Err(e),
    };
    tracing::info!(id, client_id = %row.client_id, "application created");
    let generated_secret = request
        .secret_generated
        .then(|| request.candidate.client_secret.clone());
    Ok(Created {
        id,
        row,
        generated_secret,
    })
}

/// The row DOT's model saves: the secret hashed unless it already is a hash or hashing is off.
fn row_to_insert(request: &Request) -> Result<NewApplication> {
    let candidate = &request.candidate;
    let client_secret =
        if candidate.hash_client_secret && !hashing::is_django_hash(&candidate.client_secret) {
            hashing::make_password(
                &candidate.client_secret,
                request.hasher,
                request.pbkdf2_iterations,
            )?
        } else {
            candidate.client_secret.clone()
        };
    let user_id = match candidate.user.as_deref().map(parse_user) {
        Some(UserRef::Id(id)) => Some(id),
        _ => None,
    };
    Ok(NewApplication {
        client_id: candidate.client_id.clone(),
        user_id,
        redirect_uris: candidate.redirect_uris.clone(),
        post_logout_redirect_uris: candidate.post_logout_redirect_uris.clone(),
        client_type: candidate.client_type.clone(),
        authorization_grant_type: candidate.authorization_grant_type.clone(),
        client_secret,
        hash_client_secret: candidate.hash_client_secret,
        name: candidate.name.clone(),
        skip_authorization: request.skip_authorization,
        algorithm: candidate.algorithm.clone(),
        allowed_origins: candidate.allowed_origins.clone(),
        created: request.created,
    })
}

/// `Some(exists)` when the user is an id and a users table exists to check it against.
async fn user_exists(store: &dyn Store, candidate: &Candidate) -> Result<Option<bool>> {
    let Some(UserRef::Id(id)) = candidate.user.as_deref().map(parse_user) else {
        return Ok(None);
    };
    if store.table_columns(&store.tables().user).await?.is_none() {
        return Ok(None);
    }
    Ok(Some(store.user_exists(id).await?))
}
