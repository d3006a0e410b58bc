//! What a failed statement means for the cleanup loop: retry it, reconnect, or give up.
//!
//! The decision is data: each backend's error codes that are worth another try are listed in
//! [`codes`], in the form its driver reports them (SQLite's primary result code, PostgreSQL's
//! SQLSTATE, MySQL's server error number), so the tables can be read and tested on their own.

use sqlx::error::DatabaseError;

use super::sql::Dialect;

/// How a failed statement should be handled by the cleanup loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Deadlock, serialization failure, lock wait timeout, a foreign key a concurrent writer just
    /// started using: the batch was rolled back, try it again.
    Transient,
    /// The connection was lost: try again on a new one (and check the run lock is still held).
    ConnectionLost,
    /// Anything else: give up.
    Permanent,
}

/// The database error codes of one backend that are not permanent.
struct Codes {
    transient: &'static [&'static str],
    connection_lost: &'static [&'static str],
    /// SQLSTATE classes (code prefixes) whose every code means the connection is gone.
    connection_lost_classes: &'static [&'static str],
}

const SQLITE_CODES: Codes = Codes {
    // SQLITE_BUSY and SQLITE_LOCKED (extended codes reduced to these): another connection holds
    // the lock past our busy timeout.
    transient: &["5", "6"],
    connection_lost: &[],
    connection_lost_classes: &[],
};

const POSTGRES_CODES: Codes = Codes {
    // serialization_failure, deadlock_detected, lock_not_available (lock_timeout), and a foreign
    // key violation at commit: a concurrent writer started referencing a row of the batch; the
    // retry re-reads and keeps that row.
    transient: &["40001", "40P01", "55P03", "23503"],
    // too_many_connections, admin/crash shutdown, cannot_connect_now, class 08.
    connection_lost: &["53300", "57P01", "57P02", "57P03"],
    connection_lost_classes: &["08"],
};

const MYSQL_CODES: Codes = Codes {
    // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, ER_CHECKREAD (record changed), and
    // ER_ROW_IS_REFERENCED_2: a concurrent writer started referencing a row of the batch; the
    // retry re-reads and keeps that row.
    transient: &["1213", "1205", "1020", "1451"],
    // Too many connections, server shutdown, connection killed, gone away, lost.
    connection_lost: &["1040", "1053", "1927", "2006", "2013"],
    connection_lost_classes: &[],
};

fn codes(dialect: Dialect) -> &'static Codes {
    match dialect {
        Dialect::Sqlite => &SQLITE_CODES,
        Dialect::Postgres => &POSTGRES_CODES,
        Dialect::MySql => &MYSQL_CODES,
    }
}

/// Classifies an error from a batch for the retry loop.
pub fn classify(dialect: Dialect, error: &anyhow::Error) -> ErrorClass {
    // A deadline that ran out: whether the server ran the statement is unknown, but the
    // connection is gone for us (thrown away), and a batch may run again on a new one.
    if super::network::is_unanswered(error) {
        return ErrorClass::ConnectionLost;
    }
    let Some(e) = sqlx_error(error) else {
        return ErrorClass::Permanent;
    };
    match e.as_database_error() {
        Some(db) => classify_code(dialect, database_code(dialect, db).as_deref()),
        None => classify_driver_error(dialect, e),
    }
}

/// The class of a database error with `code` ([`database_code`]).
fn classify_code(dialect: Dialect, code: Option<&str>) -> ErrorClass {
    let codes = codes(dialect);
    match code {
        Some(code) if codes.transient.contains(&code) => ErrorClass::Transient,
        Some(code) if codes.connection_lost.contains(&code) => ErrorClass::ConnectionLost,
        Some(code)
            if codes
                .connection_lost_classes
                .iter()
                .any(|class| code.starts_with(class)) =>
        {
            ErrorClass::ConnectionLost
        }
        _ => ErrorClass::Permanent,
    }
}

/// A database error's code in the form the code tables list it.
fn database_code(dialect: Dialect, error: &dyn DatabaseError) -> Option<String> {
    match dialect {
        Dialect::Sqlite => error
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .map(|c| (c & 0xff).to_string()),
        Dialect::Postgres => error.code().map(|c| c.into_owned()),
        // sqlx's `code()` is the SQLSTATE; the server's error number is more precise.
        Dialect::MySql => error
            .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .map(|my| my.number().to_string()),
    }
}

/// An error that did not come from the database server itself.
fn classify_driver_error(dialect: Dialect, error: &sqlx::Error) -> ErrorClass {
    match dialect {
        // A file has no connection to lose: its I/O error is a disk problem. A pool timeout means
        // our one connection was busy: worth another try.
        Dialect::Sqlite => match error {
            sqlx::Error::PoolTimedOut => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        },
        Dialect::Postgres | Dialect::MySql => {
            classify_common(error).unwrap_or(ErrorClass::Permanent)
        }
    }
}

/// The classes every server backend shares: a broken or unobtainable connection is worth
/// another try.
pub(crate) fn classify_common(error: &sqlx::Error) -> Option<ErrorClass> {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => Some(ErrorClass::ConnectionLost),
        _ => None,
    }
}

/// The first `sqlx::Error` in an error's chain, if any (for classifying failures).
pub(crate) fn sqlx_error(error: &anyhow::Error) -> Option<&sqlx::Error> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<sqlx::Error>())
}

/// Whether an INSERT failed on a unique constraint (a race on `client_id` lost).
pub(crate) fn is_unique_violation(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .is_some_and(|e| e.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_and_locked_are_transient() {
        let class = |code| classify_code(Dialect::Sqlite, code);
        assert_eq!(class(Some("5")), ErrorClass::Transient);
        assert_eq!(class(Some("6")), ErrorClass::Transient);
        assert_eq!(class(Some("19")), ErrorClass::Permanent);
        assert_eq!(class(None), ErrorClass::Permanent);
    }

    #[test]
    fn postgres_sqlstates() {
        let class = |code| classify_code(Dialect::Postgres, Some(code));
        for code in ["40001", "40P01", "55P03", "23503"] {
            assert_eq!(class(code), ErrorClass::Transient, "{code}");
        }
        for code in ["53300", "57P01", "57P02", "57P03", "08000", "08006"] {
            assert_eq!(class(code), ErrorClass::ConnectionLost, "{code}");
        }
        for code in ["23505", "42P01", "5", "1213"] {
            assert_eq!(class(code), ErrorClass::Permanent, "{code}");
        }
    }

    #[test]
    fn mysql_error_numbers() {
        let class = |code| classify_code(Dialect::MySql, Some(code));
        for code in ["1213", "1205", "1020", "1451"] {
            assert_eq!(class(code), ErrorClass::Transient, "{code}");
        }
        for code in ["1040", "1053", "1927", "2006", "2013"] {
            assert_eq!(class(code), ErrorClass::ConnectionLost, "{code}");
        }
        // No SQLSTATE classes here: 08S01 is not how MySQL errors are matched.
        for code in ["1062", "1146", "08S01", "40001"] {
            assert_eq!(class(code), ErrorClass::Permanent, "{code}");
        }
    }

    #[test]
    fn driver_errors_depend_on_whether_there_is_a_connection() {
        let io = || sqlx::Error::Io(std::io::Error::other("reset"));
        assert_eq!(
            classify_driver_error(Dialect::Sqlite, &io()),
            ErrorClass::Permanent
        );
        assert_eq!(
            classify_driver_error(Dialect::Sqlite, &sqlx::Error::PoolTimedOut),
            ErrorClass::Transient
        );
        for dialect in [Dialect::Postgres, Dialect::MySql] {
            assert_eq!(
                classify_driver_error(dialect, &io()),
                ErrorClass::ConnectionLost
            );
            assert_eq!(
                classify_driver_error(dialect, &sqlx::Error::RowNotFound),
                ErrorClass::Permanent
            );
        }
    }

    #[test]
    fn classification_looks_through_context() {
        let error = anyhow::Error::new(sqlx::Error::PoolTimedOut).context("deleting a batch");
        assert_eq!(
            classify(Dialect::Postgres, &error),
            ErrorClass::ConnectionLost
        );
        assert_eq!(
            classify(Dialect::MySql, &anyhow::anyhow!("no sqlx error")),
            ErrorClass::Permanent
        );
    }
}
