//! SQL text with its bound values, and the dialects' purely textual differences.
//!
//! Every statement oauthctl runs is built as a [`Sql`]: text plus the values of its placeholders,
//! in order. Values are always bound, never written into the text; table names are validated
//! identifiers ([`super::validate_identifier`]) and are quoted. What differs between the dialects
//! on paper (placeholders, identifier quotes, how an INSERT reports the new id) is [`Dialect`], so
//! that the statements common to every backend are written once.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::Backend;
use crate::django::timezone::DjangoTime;

/// How a database spells SQL: placeholders and identifier quotes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `?1, ?2, …` and `"name"`.
    Sqlite,
    /// `$1, $2, …` and `"name"`.
    Postgres,
    /// `?` (positional: a value used twice is bound twice) and `` `name` ``.
    MySql,
}

impl Dialect {
    pub fn backend(self) -> Backend {
        match self {
            Dialect::Sqlite => Backend::Sqlite,
            Dialect::Postgres => Backend::Postgres,
            Dialect::MySql => Backend::MySql,
        }
    }

    /// The placeholder of the `n`-th bound value (from 1).
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
            Dialect::MySql => "?".to_string(),
        }
    }

    /// Whether placeholders carry their value's position: a fragment with values then cannot be
    /// appended after other values (its numbers would be wrong).
    fn numbers_placeholders(self) -> bool {
        self != Dialect::MySql
    }

    /// A validated identifier, quoted.
    pub fn quote(self, name: &str) -> String {
        let quote = match self {
            Dialect::Sqlite | Dialect::Postgres => '"',
            Dialect::MySql => '`',
        };
        format!("{quote}{name}{quote}")
    }

    /// PostgreSQL's protocol reports no id for an INSERT, so the statement must return it.
    pub fn insert_returns_id(self) -> bool {
        self == Dialect::Postgres
    }
}

/// A value to write, typed so that each backend binds its native type (and typed NULLs).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Text(String),
    Bool(Option<bool>),
    Int(Option<i64>),
    /// Django's value; the driver binds it as [`Bound::of`] says.
    Timestamp(Option<DjangoTime>),
}

/// A timestamp as a backend binds it: Django's `adapt_datetimefield_value` for its dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// An aware instant, for PostgreSQL's `timestamptz` under `USE_TZ = True`.
    Instant(DateTime<Utc>),
    /// Naive wall-clock time: what SQLite's text and MySQL's `datetime(6)` hold, and what Django
    /// sends PostgreSQL under `USE_TZ = False` (the session's `TimeZone` resolves it).
    Wall(NaiveDateTime),
}

impl Bound {
    /// The one place a datetime (an instant or wall-clock time under the time settings) becomes
    /// a bound value: PostgreSQL takes instants as instants, everything else is naive —
    /// `make_naive` in the connection's zone for an instant on SQLite and MySQL.
    pub fn of(at: DjangoTime, dialect: Dialect) -> Bound {
        match (at, dialect) {
            (DjangoTime::Aware { at, .. }, Dialect::Postgres) => Bound::Instant(at),
            (at, _) => Bound::Wall(at.wall()),
        }
    }
}

/// SQL text plus the values for its placeholders, in order.
#[derive(Clone, Debug)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Value>,
    dialect: Dialect,
}

impl Sql {
    pub fn new(dialect: Dialect) -> Self {
        Sql {
            text: String::new(),
            binds: Vec::new(),
            dialect,
        }
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// `INSERT INTO table (c1, c2, …) VALUES (p1, p2, …)`, and for a dialect whose protocol does
    /// not report the new id, ` RETURNING "id"`.
    pub fn insert(dialect: Dialect, table: &str, row: Vec<(&str, Value)>) -> Self {
        let names: Vec<String> = row.iter().map(|(name, _)| dialect.quote(name)).collect();
        let mut sql = Sql::new(dialect);
        sql.push("INSERT INTO ")
            .ident(table)
            .push(&format!(" ({}) VALUES (", names.join(", ")));
        for (i, (_, value)) in row.into_iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.bind(value);
        }
        sql.push(")");
        if dialect.insert_returns_id() {
            sql.push(" RETURNING ").ident("id");
        }
        sql
    }

    /// Appends another fragment's text and values (placeholders numbered on from ours).
    pub fn append(&mut self, other: Sql) -> &mut Self {
        debug_assert!(
            !self.dialect.numbers_placeholders() || other.binds.is_empty(),
            "numbered placeholders cannot be renumbered"
        );
        self.text.push_str(&other.text);
        self.binds.extend(other.binds);
        self
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// A quoted (validated) identifier.
    pub fn ident(&mut self, name: &str) -> &mut Self {
        let quoted = self.dialect.quote(name);
        self.text.push_str(&quoted);
        self
    }

    /// `alias."column"`.
    pub fn col(&mut self, alias: &str, column: &str) -> &mut Self {
        self.text.push_str(alias);
        self.text.push('.');
        self.ident(column)
    }

    /// A placeholder for `value`.
    pub fn bind(&mut self, value: Value) -> &mut Self {
        self.binds.push(value);
        let placeholder = self.dialect.placeholder(self.binds.len());
        self.text.push_str(&placeholder);
        self
    }

    /// A placeholder for a point in time.
    pub fn time(&mut self, at: DjangoTime) -> &mut Self {
        self.bind(Value::Timestamp(Some(at)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_bind_as_django_adapts_them() {
        use chrono::TimeZone;
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).unwrap();
        let kolkata = DjangoTime::Aware {
            at,
            zone: chrono_tz::Asia::Kolkata,
        };
        assert_eq!(Bound::of(kolkata, Dialect::Postgres), Bound::Instant(at));
        let wall = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .unwrap()
            .and_hms_opt(1, 30, 0)
            .unwrap();
        for dialect in [Dialect::Sqlite, Dialect::MySql] {
            assert_eq!(Bound::of(kolkata, dialect), Bound::Wall(wall));
        }
        for dialect in [Dialect::Sqlite, Dialect::MySql, Dialect::Postgres] {
            assert_eq!(
                Bound::of(DjangoTime::Naive(wall), dialect),
                Bound::Wall(wall)
            );
        }
    }

    #[test]
    fn placeholders_and_quotes_per_dialect() {
        assert_eq!(Dialect::Sqlite.placeholder(3), "?3");
        assert_eq!(Dialect::Postgres.placeholder(3), "$3");
        assert_eq!(Dialect::MySql.placeholder(3), "?");
        assert_eq!(Dialect::Sqlite.quote("t"), "\"t\"");
        assert_eq!(Dialect::Postgres.quote("t"), "\"t\"");
        assert_eq!(Dialect::MySql.quote("t"), "`t`");
        for (dialect, backend) in [
            (Dialect::Sqlite, Backend::Sqlite),
            (Dialect::Postgres, Backend::Postgres),
            (Dialect::MySql, Backend::MySql),
        ] {
            assert_eq!(dialect.backend(), backend);
        }
    }

    #[test]
    fn binds_number_placeholders_in_order() {
        let mut sql = Sql::new(Dialect::Postgres);
        sql.push("SELECT 1 FROM ")
            .ident("auth_user")
            .push(" u WHERE ")
            .col("u", "id")
            .push(" = ")
            .bind(Value::Int(Some(7)))
            .push(" OR ")
            .col("u", "id")
            .push(" = ")
            .bind(Value::Int(Some(8)));
        assert_eq!(
            sql.text,
            r#"SELECT 1 FROM "auth_user" u WHERE u."id" = $1 OR u."id" = $2"#
        );
        assert_eq!(sql.binds, [Value::Int(Some(7)), Value::Int(Some(8))]);
    }

    #[test]
    fn positional_fragments_append_with_their_values() {
        let mut joins = Sql::new(Dialect::MySql);
        joins
            .push(" JOIN ")
            .ident("a")
            .push(" ON ")
            .bind(Value::Int(Some(1)));
        let mut sql = Sql::new(Dialect::MySql);
        sql.push("SELECT ").bind(Value::Int(Some(0))).append(joins);
        assert_eq!(sql.text, "SELECT ? JOIN `a` ON ?");
        assert_eq!(sql.binds, [Value::Int(Some(0)), Value::Int(Some(1))]);
    }

    #[test]
    fn inserts_name_every_column_once() {
        let row = || {
            vec![
                ("client_id", Value::Text("c".into())),
                ("user_id", Value::Int(None)),
            ]
        };
        let sqlite = Sql::insert(Dialect::Sqlite, "app", row());
        assert_eq!(
            sqlite.text,
            r#"INSERT INTO "app" ("client_id", "user_id") VALUES (?1, ?2)"#
        );
        assert_eq!(sqlite.binds.len(), 2);
        assert_eq!(
            Sql::insert(Dialect::Postgres, "app", row()).text,
            r#"INSERT INTO "app" ("client_id", "user_id") VALUES ($1, $2) RETURNING "id""#
        );
        assert_eq!(
            Sql::insert(Dialect::MySql, "app", row()).text,
            "INSERT INTO `app` (`client_id`, `user_id`) VALUES (?, ?)"
        );
    }
}
