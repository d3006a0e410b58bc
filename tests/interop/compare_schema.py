#!/usr/bin/env python3
"""Compare the Django OAuth Toolkit tables of two databases of the same backend.

Usage:
    python compare_schema.py sqlite   PATH_A PATH_B
    python compare_schema.py postgres DSN_A  DSN_B
    python compare_schema.py mysql    DSN_A  DSN_B        (``mariadb`` is accepted as an alias)

A is the reference (migrated by Django's ``manage.py migrate``), B the candidate (migrated by
``oauthctl migrate``). Both are introspected from the catalogue, never from dumps:

- columns: name, type, nullability, default, identity/auto-increment, collation, column CHECKs;
- primary keys, unique constraints and indexes: by column set + uniqueness (+ access method, opclass
  and predicate on PostgreSQL; prefix length on MySQL), and separately by name;
- foreign keys: by column -> target table.column, deferrability and ON DELETE/UPDATE, and by name;
- table-level CHECK constraints, plus PostgreSQL identity sequences and MySQL engine/collation.

Differences are printed and the exit status is 1. The one allowed difference is a foreign key from a
``user_id`` column to a non-DOT table (the user model, ``auth_user``) that exists in A but not in B:
oauthctl creates no users table, so its ``user_id`` columns keep their type, nullability and index but
carry no FK. Those absences are listed as "allowed". A different column order is reported as a note
only (oauthctl may order columns as a fresh CreateModel does) unless ``--strict-order`` is given.

Database arguments:
- sqlite:   a file path, or ``sqlite://PATH`` / ``sqlite:PATH``. Opened read-only; stdlib sqlite3.
- postgres: ``[user[:password]@]host[:port]/dbname`` (user defaults to ``postgres``, port to 5432),
            or anything psycopg accepts (``postgresql://...`` URL or ``key=value`` conninfo).
            Needs psycopg (3) or psycopg2. ``--schema`` picks the schema (default: current_schema()).
- mysql:    ``[user[:password]@]host[:port]/dbname`` or ``mysql://`` / ``mariadb://`` URL
            (user defaults to ``root``, password to ``$MYSQL_PWD`` or empty, port to 3306). Needs PyMySQL.

Options:
    --tables T1,T2,...        tables to compare (default: the six oauth2_provider_* tables of DOT 3.4.1)
    --strict-order            a different column order is a difference
    --require-no-user-fk      also fail if B *has* a user_id FK to a non-DOT table
    -q / --quiet              print only differences and the result line

Exit status: 0 = same (beyond the allowed difference), 1 = different, 2 = usage or connection error.
"""

import argparse
import os
import re
import sys
from urllib.parse import unquote, urlsplit

DOT_TABLES = [
    "oauth2_provider_application",
    "oauth2_provider_accesstoken",
    "oauth2_provider_refreshtoken",
    "oauth2_provider_idtoken",
    "oauth2_provider_grant",
    "oauth2_provider_devicegrant",
]


class UsageError(Exception):
    pass


# --------------------------------------------------------------------------------------------------
# Normalised schema model
#
# table -> {
#   "columns": [(name, {attr: value})]   ordered
#   "indexes": {name: {attr: value}}     every index / PK / unique (incl. implicit ones)
#   "fks":     {key: {attr: value}}      key is the constraint name, or a synthetic one (SQLite)
#   "checks":  {name: clause}            table-level CHECK constraints
#   "table":   {attr: value}             table options
# }
# Index attrs must include "columns" (tuple) and "unique" (bool). FK attrs must include "columns",
# "ref_table", "ref_columns" and "name".
# --------------------------------------------------------------------------------------------------


def _split_top_level(body):
    """Split a parenthesised SQL body on top-level commas (quotes and nesting respected)."""
    items, depth, cur, quote = [], 0, [], None
    for ch in body:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = None
            continue
        if ch in "'\"`[":
            quote = "]" if ch == "[" else ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        items.append("".join(cur).strip())
    return items


def _balanced_after(text, start):
    """Return the balanced '(...)' group starting at or after index start, including parentheses."""
    i = text.index("(", start)
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return text[i : j + 1]
    raise ValueError("unbalanced parentheses in %r" % text)


def _unquote_ident(tok):
    tok = tok.strip()
    if tok[:1] in "\"`[" and len(tok) > 1:
        return tok[1:-1]
    return tok


def _ws(s):
    return re.sub(r"\s+", " ", s).strip() if s is not None else None


# ------------------------------------------------------------------------------------------ SQLite


def introspect_sqlite(arg, tables, _opts):
    import sqlite3

    path = arg
    for prefix in ("sqlite://", "sqlite:"):
        if path.startswith(prefix):
            path = path[len(prefix) :]
            break
    if not os.path.exists(path):
        raise UsageError("no such SQLite file: %s" % path)
    conn = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    out = {}
    for t in tables:
        row = conn.execute("SELECT sql FROM sqlite_master WHERE type='table' AND name=?", (t,)).fetchone()
        if row is None:
            continue
        create_sql = row[0]
        body = create_sql[create_sql.index("(") + 1 : create_sql.rindex(")")]
        items = _split_top_level(body)
        col_items, table_items = {}, []
        for it in items:
            first = it.split(None, 1)[0].upper()
            if first in ("CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"):
                table_items.append(it)
            else:
                m = re.match(r'\s*("[^"]*"|`[^`]*`|\[[^\]]*\]|\S+)', it)
                col_items[_unquote_ident(m.group(1))] = it

        columns = []
        for cid, name, ctype, notnull, dflt, pk, hidden in conn.execute('PRAGMA table_xinfo("%s")' % t):
            item = col_items.get(name, "")
            checks = []
            pos = 0
            while True:
                m = re.search(r"\bCHECK\b", item[pos:], re.I)
                if not m:
                    break
                grp = _balanced_after(item, pos + m.end())
                checks.append(_ws(grp))
                pos = item.index(grp, pos) + len(grp)
            coll = re.search(r"\bCOLLATE\s+(\S+)", item, re.I)
            columns.append(
                (
                    name,
                    {
                        "type": ctype,
                        "nullable": not notnull,
                        "default": dflt,
                        "primary_key_position": pk,
                        "autoincrement": bool(re.search(r"\bAUTOINCREMENT\b", item, re.I)),
                        "collate": coll.group(1) if coll else None,
                        "check": tuple(checks),
                        "hidden": hidden,
                    },
                )
            )

        indexes = {}
        for _seq, iname, unique, origin, partial in conn.execute('PRAGMA index_list("%s")' % t):
            cols = []
            for _seqno, _cid, cname, desc, coll, key in conn.execute('PRAGMA index_xinfo("%s")' % iname):
                if key:
                    cols.append((cname, "DESC" if desc else "ASC", coll))
            where = None
            if partial:
                isql = conn.execute("SELECT sql FROM sqlite_master WHERE name=?", (iname,)).fetchone()[0]
                where = _ws(isql[re.search(r"\bWHERE\b", isql, re.I).end() :])
            indexes[iname] = {
                "columns": tuple(c[0] for c in cols),
                "unique": bool(unique),
                "origin": {"c": "CREATE INDEX", "u": "UNIQUE constraint", "pk": "PRIMARY KEY"}.get(origin, origin),
                "order/collation": tuple(c[1:] for c in cols),
                "where": where,
            }
        # An INTEGER PRIMARY KEY (rowid alias) has no index_list entry; record the PK explicitly.
        pk_cols = tuple(n for n, a in sorted(columns, key=lambda c: c[1]["primary_key_position"]) if a["primary_key_position"])
        if pk_cols and not any(i["origin"] == "PRIMARY KEY" for i in indexes.values()):
            indexes["<primary key>"] = {"columns": pk_cols, "unique": True, "origin": "PRIMARY KEY (rowid)",
                                         "order/collation": None, "where": None}

        fks = {}
        rows = conn.execute('PRAGMA foreign_key_list("%s")' % t).fetchall()
        by_id = {}
        for fid, seq, ref_table, from_col, to_col, on_update, on_delete, match in rows:
            by_id.setdefault(fid, []).append((seq, ref_table, from_col, to_col, on_update, on_delete, match))
        for fid, parts in by_id.items():
            parts.sort()
            ref_table = parts[0][1]
            from_cols = tuple(p[2] for p in parts)
            # Deferrability is not in the pragma: read it from the column / table constraint text.
            text = ""
            name = None
            if len(from_cols) == 1 and from_cols[0] in col_items:
                text = col_items[from_cols[0]]
            for it in table_items:
                if re.search(r"\bFOREIGN\s+KEY\b", it, re.I) and all(c in it for c in from_cols):
                    text = it
                    m = re.match(r'\s*CONSTRAINT\s+("[^"]*"|`[^`]*`|\S+)', it, re.I)
                    name = _unquote_ident(m.group(1)) if m else None
            m = re.search(r"\bCONSTRAINT\s+(\"[^\"]*\"|`[^`]*`|\S+)\s+REFERENCES\b", text, re.I)
            if m:
                name = _unquote_ident(m.group(1))
            deferrable = bool(re.search(r"(?<!NOT )\bDEFERRABLE\b", text, re.I)) and not re.search(r"\bNOT\s+DEFERRABLE\b", text, re.I)
            initially_deferred = bool(re.search(r"\bINITIALLY\s+DEFERRED\b", text, re.I))
            key = "%s->%s" % (",".join(from_cols), ref_table)
            fks[key] = {
                "name": name,
                "columns": from_cols,
                "ref_table": ref_table,
                "ref_columns": tuple(p[3] for p in parts),
                "deferrable": deferrable,
                "initially_deferred": initially_deferred,
                "on_delete": parts[0][5],
                "on_update": parts[0][4],
                "match": parts[0][6],
            }

        checks = {}
        n = 0
        for it in table_items:
            m = re.match(r'\s*(?:CONSTRAINT\s+("[^"]*"|`[^`]*`|\S+)\s+)?CHECK\b', it, re.I)
            if m:
                n += 1
                cname = _unquote_ident(m.group(1)) if m.group(1) else "<unnamed check %d>" % n
                checks[cname] = _ws(_balanced_after(it, m.end()))

        out[t] = {
            "columns": columns,
            "indexes": indexes,
            "fks": fks,
            "checks": checks,
            "table": {
                "without_rowid": bool(re.search(r"\)\s*WITHOUT\s+ROWID\s*$", create_sql, re.I)),
                "strict": bool(re.search(r"\)\s*(?:WITHOUT\s+ROWID\s*,\s*)?STRICT\s*$", create_sql, re.I)),
            },
        }
    conn.close()
    return out


# -------------------------------------------------------------------------------------- PostgreSQL


def _pg_connect(arg):
    try:
        import psycopg as pg  # psycopg 3
    except ImportError:
        try:
            import psycopg2 as pg
        except ImportError:
            raise UsageError("postgres needs psycopg (3) or psycopg2")
    if "://" in arg or "=" in arg:
        dsn = arg
        return pg.connect(dsn)
    m = re.match(r"^(?:(?P<user>[^:@/]+)(?::(?P<pw>[^@/]*))?@)?(?P<host>[^:/]*)(?::(?P<port>\d+))?/(?P<db>.+)$", arg)
    if not m:
        raise UsageError("postgres DSN must look like [user[:password]@]host[:port]/dbname, got %r" % arg)
    kw = dict(
        host=m.group("host") or "127.0.0.1",
        port=int(m.group("port") or 5432),
        user=m.group("user") or os.environ.get("PGUSER", "postgres"),
        dbname=m.group("db"),
    )
    if m.group("pw") is not None:
        kw["password"] = m.group("pw")
    return pg.connect(**kw)


def introspect_postgres(arg, tables, opts):
    conn = _pg_connect(arg)
    cur = conn.cursor()
    if opts.schema:
        schema = opts.schema
    else:
        cur.execute("SELECT current_schema()")
        schema = cur.fetchone()[0]
    cur.execute("SELECT current_setting('server_version_num')::int")
    nnd_expr = "i.indnullsnotdistinct" if cur.fetchone()[0] >= 150000 else "false"  # column new in PG 15
    out = {}
    for t in tables:
        cur.execute(
            """SELECT c.oid, c.relkind, c.relpersistence, c.reloptions
                 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = %s AND c.relname = %s""",
            (schema, t),
        )
        row = cur.fetchone()
        if row is None:
            continue
        oid, relkind, persistence, reloptions = row

        cur.execute(
            """SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                      pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated,
                      CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                           THEN (SELECT collname FROM pg_collation WHERE oid = a.attcollation) END,
                      pg_get_serial_sequence(quote_ident(%s) || '.' || quote_ident(%s), a.attname)
                 FROM pg_attribute a
                 JOIN pg_type t ON t.oid = a.atttypid
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
                ORDER BY a.attnum""",
            (schema, t, oid),
        )
        columns = []
        for name, typ, notnull, default, identity, generated, coll, seq in cur.fetchall():
            attrs = {
                "type": typ,
                "nullable": not notnull,
                "default": default,
                "identity": {"": None, "a": "ALWAYS", "d": "BY DEFAULT"}.get(identity, identity),
                "generated": generated or None,
                "collation": coll,
            }
            if seq:
                cur.execute(
                    """SELECT format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin, s.seqmax,
                              s.seqcache, s.seqcycle
                         FROM pg_sequence s WHERE s.seqrelid = %s::regclass""",
                    (seq,),
                )
                attrs["sequence"] = (seq.split(".", 1)[-1],) + tuple(cur.fetchone())
            columns.append((name, attrs))
        colnames = {}
        cur.execute("SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (oid,))
        for num, name in cur.fetchall():
            colnames[num] = name

        # Constraints: p/u/x/c and f.
        cur.execute(
            """SELECT con.conname, con.contype, con.conkey, con.condeferrable, con.condeferred,
                      con.confrelid::regclass::text, con.confkey, con.confupdtype, con.confdeltype,
                      con.confmatchtype, pg_get_constraintdef(con.oid), con.conindid, con.confrelid
                 FROM pg_constraint con WHERE con.conrelid = %s""",
            (oid,),
        )
        cons = cur.fetchall()
        fks, checks, con_by_index = {}, {}, {}
        actions = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
        for (cname, ctype, conkey, deferrable, deferred, ref, confkey, upd, dele, match, cdef,
             indid, confrelid) in cons:
            if ctype == "f":
                cur.execute("SELECT attnum, attname FROM pg_attribute WHERE attrelid = %s AND attnum > 0", (confrelid,))
                refcols = dict(cur.fetchall())
                fks[cname] = {
                    "name": cname,
                    "columns": tuple(colnames[k] for k in conkey),
                    "ref_table": ref.split(".")[-1].strip('"'),
                    "ref_columns": tuple(refcols[k] for k in confkey),
                    "deferrable": deferrable,
                    "initially_deferred": deferred,
                    "on_delete": actions.get(dele, dele),
                    "on_update": actions.get(upd, upd),
                    "match": {"s": "SIMPLE", "f": "FULL", "p": "PARTIAL"}.get(match, match),
                }
            elif ctype == "c":
                checks[cname] = cdef
            else:
                con_by_index[indid] = (cname, {"p": "PRIMARY KEY", "u": "UNIQUE", "x": "EXCLUDE"}[ctype],
                                       deferrable, deferred)

        cur.execute(
            """SELECT ic.relname, i.indexrelid, i.indisunique, i.indisprimary, am.amname, i.indnkeyatts,
                      i.indkey::int2[], pg_get_expr(i.indpred, i.indrelid), %s,
                      ARRAY(SELECT opc.opcname || CASE WHEN opc.opcdefault THEN '' ELSE ' (non-default)' END
                              FROM unnest(i.indclass) WITH ORDINALITY k(oid, ord)
                              JOIN pg_opclass opc ON opc.oid = k.oid ORDER BY k.ord),
                      i.indoption::int2[], ic.reloptions
                 FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
                 JOIN pg_am am ON am.oid = ic.relam
                WHERE i.indrelid = %%s""" % nnd_expr,
            (oid,),
        )
        indexes = {}
        for (iname, ioid, unique, primary, method, nkey, indkey, pred, nnd, opclasses, indoption,
             ireloptions) in cur.fetchall():
            cols = []
            for pos, k in enumerate(indkey[:nkey], start=1):
                if k == 0:
                    cur.execute("SELECT pg_get_indexdef(%s, %s, true)", (ioid, pos))
                    cols.append("expr:" + cur.fetchone()[0])
                else:
                    cols.append(colnames[k])
            con = con_by_index.get(ioid)
            indexes[iname] = {
                "columns": tuple(cols),
                "unique": unique,
                "origin": con[1] + " constraint" if con else "CREATE INDEX",
                "constraint_deferrable": (con[2], con[3]) if con else None,
                "method": method,
                "opclasses": tuple(opclasses),
                "options": tuple(indoption),
                "include": tuple(colnames.get(k, k) for k in indkey[nkey:]),
                "where": pred,
                "nulls_not_distinct": nnd,
                "reloptions": ireloptions,
            }
        out[t] = {
            "columns": columns,
            "indexes": indexes,
            "fks": fks,
            "checks": checks,
            "table": {"relkind": relkind, "persistence": persistence, "reloptions": reloptions},
        }
    conn.close()
    return out


# ----------------------------------------------------------------------------------- MySQL/MariaDB


def _mysql_connect(arg):
    try:
        import pymysql
    except ImportError:
        raise UsageError("mysql needs PyMySQL")
    if "://" in arg:
        u = urlsplit(arg)
        kw = dict(host=u.hostname or "127.0.0.1", port=u.port or 3306, user=unquote(u.username or "root"),
                  password=unquote(u.password) if u.password is not None else os.environ.get("MYSQL_PWD", ""),
                  database=u.path.lstrip("/"))
    else:
        m = re.match(r"^(?:(?P<user>[^:@/]+)(?::(?P<pw>[^@/]*))?@)?(?P<host>[^:/]*)(?::(?P<port>\d+))?/(?P<db>.+)$", arg)
        if not m:
            raise UsageError("mysql DSN must look like [user[:password]@]host[:port]/dbname, got %r" % arg)
        kw = dict(host=m.group("host") or "127.0.0.1", port=int(m.group("port") or 3306),
                  user=m.group("user") or "root",
                  password=m.group("pw") if m.group("pw") is not None else os.environ.get("MYSQL_PWD", ""),
                  database=m.group("db"))
    if not kw["database"]:
        raise UsageError("mysql DSN has no database name: %r" % arg)
    return pymysql.connect(charset="utf8mb4", **kw), kw["database"]


def introspect_mysql(arg, tables, _opts):
    conn, db = _mysql_connect(arg)
    cur = conn.cursor()
    out = {}
    for t in tables:
        cur.execute(
            """SELECT ENGINE, TABLE_COLLATION, CREATE_OPTIONS FROM information_schema.TABLES
                WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s""",
            (db, t),
        )
        trow = cur.fetchone()
        if trow is None:
            continue
        cur.execute(
            """SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, CHARACTER_SET_NAME,
                      COLLATION_NAME, GENERATION_EXPRESSION
                 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
                ORDER BY ORDINAL_POSITION""",
            (db, t),
        )
        columns = []
        for name, ctype, nullable, default, extra, charset, coll, gen in cur.fetchall():
            # MariaDB reports "no default" of a nullable column as the string 'NULL', MySQL as NULL.
            if default == "NULL" and nullable == "YES":
                default = None
            columns.append((name, {"type": ctype, "nullable": nullable == "YES", "default": default,
                                   "extra": extra or None, "charset": charset, "collation": coll,
                                   "generated": gen or None}))

        cur.execute(
            """SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, SUB_PART, INDEX_TYPE, COLLATION
                 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
                ORDER BY INDEX_NAME, SEQ_IN_INDEX""",
            (db, t),
        )
        raw = {}
        for iname, non_unique, _seq, col, sub, itype, coll in cur.fetchall():
            e = raw.setdefault(iname, {"columns": [], "unique": not int(non_unique), "prefix": [],
                                       "method": itype, "order": []})
            e["columns"].append(col)
            e["prefix"].append(sub)
            e["order"].append(coll)
        indexes = {}
        for iname, e in raw.items():
            indexes[iname] = {
                "columns": tuple(e["columns"]),
                "unique": e["unique"],
                "origin": "PRIMARY KEY" if iname == "PRIMARY" else "index",
                "prefix": tuple(e["prefix"]),
                "method": e["method"],
                "order": tuple(e["order"]),
            }

        cur.execute(
            """SELECT rc.CONSTRAINT_NAME, rc.REFERENCED_TABLE_NAME, rc.UPDATE_RULE, rc.DELETE_RULE, rc.MATCH_OPTION,
                      k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME, k.ORDINAL_POSITION
                 FROM information_schema.REFERENTIAL_CONSTRAINTS rc
                 JOIN information_schema.KEY_COLUMN_USAGE k
                   ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME
                  AND k.TABLE_NAME = rc.TABLE_NAME
                WHERE rc.CONSTRAINT_SCHEMA = %s AND rc.TABLE_NAME = %s
                ORDER BY rc.CONSTRAINT_NAME, k.ORDINAL_POSITION""",
            (db, t),
        )
        fks = {}
        for cname, ref, upd, dele, match, col, refcol, _pos in cur.fetchall():
            e = fks.setdefault(cname, {"name": cname, "columns": (), "ref_table": ref, "ref_columns": (),
                                       "deferrable": False, "initially_deferred": False,
                                       "on_delete": dele, "on_update": upd, "match": match})
            e["columns"] += (col,)
            e["ref_columns"] += (refcol,)

        checks = {}
        try:  # MariaDB: CHECK_CONSTRAINTS has TABLE_NAME (column-level checks are named after the column)
            cur.execute(
                """SELECT CONSTRAINT_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
                    WHERE CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s""",
                (db, t),
            )
        except Exception:  # MySQL 8: join through TABLE_CONSTRAINTS
            cur.execute(
                """SELECT cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE
                     FROM information_schema.TABLE_CONSTRAINTS tc
                     JOIN information_schema.CHECK_CONSTRAINTS cc
                       ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
                    WHERE tc.CONSTRAINT_TYPE = 'CHECK' AND tc.TABLE_SCHEMA = %s AND tc.TABLE_NAME = %s""",
                (db, t),
            )
        for cname, clause in cur.fetchall():
            checks[cname] = _ws(clause)

        out[t] = {
            "columns": columns,
            "indexes": indexes,
            "fks": fks,
            "checks": checks,
            "table": {"engine": trow[0], "collation": trow[1], "create_options": trow[2] or None},
        }
    conn.close()
    return out


# ------------------------------------------------------------------------------------------ compare


def _fmt(v):
    if isinstance(v, tuple):
        return "(" + ", ".join(_fmt(x) for x in v) + ")"
    return repr(v) if isinstance(v, str) else str(v)


def _idx_desc(i):
    return "%s%s [%s]" % ("UNIQUE " if i["unique"] else "", _fmt(i["columns"]),
                         ", ".join("%s=%s" % (k, _fmt(v)) for k, v in sorted(i.items())
                                   if k not in ("columns", "unique") and v not in (None, (), False)))


def _idx_key(i):
    return tuple(sorted((k, v if not isinstance(v, list) else tuple(v)) for k, v in i.items()))


def _fk_def(f):
    return (f["columns"], f["ref_table"], f["ref_columns"], f["deferrable"], f["initially_deferred"],
            f["on_delete"], f["on_update"], f.get("match"))


def _fk_desc(f):
    return "%s -> %s%s %s, ON DELETE %s, ON UPDATE %s%s" % (
        ",".join(f["columns"]), f["ref_table"], _fmt(f["ref_columns"]),
        ("DEFERRABLE INITIALLY DEFERRED" if f["initially_deferred"] else "DEFERRABLE INITIALLY IMMEDIATE")
        if f["deferrable"] else "NOT DEFERRABLE",
        f["on_delete"], f["on_update"], (" [%s]" % f["name"]) if f.get("name") else "")


def is_user_fk(fk, dot_tables):
    return fk["columns"] == ("user_id",) and fk["ref_table"] not in dot_tables


def compare(a, b, tables, opts):
    diffs, allowed, notes = [], [], []
    dot = set(DOT_TABLES) | set(tables)

    for t in tables:
        if t not in a and t not in b:
            diffs.append("%s: missing in both A and B" % t)
            continue
        if t not in a or t not in b:
            diffs.append("%s: table missing in %s" % (t, "A" if t not in a else "B"))
            continue
        ta, tb = a[t], b[t]

        if ta["table"] != tb["table"]:
            for k in sorted(set(ta["table"]) | set(tb["table"])):
                if ta["table"].get(k) != tb["table"].get(k):
                    diffs.append("%s: table %s: A=%s B=%s" % (t, k, _fmt(ta["table"].get(k)), _fmt(tb["table"].get(k))))

        # Columns
        ca, cb = dict(ta["columns"]), dict(tb["columns"])
        for name in [n for n, _ in ta["columns"] if n not in cb]:
            diffs.append("%s: column %s missing in B" % (t, name))
        for name in [n for n, _ in tb["columns"] if n not in ca]:
            diffs.append("%s: column %s only in B" % (t, name))
        for name, attrs in ta["columns"]:
            if name not in cb:
                continue
            for k in sorted(set(attrs) | set(cb[name])):
                if attrs.get(k) != cb[name].get(k):
                    diffs.append("%s.%s: %s A=%s B=%s" % (t, name, k, _fmt(attrs.get(k)), _fmt(cb[name].get(k))))
        order_a = [n for n, _ in ta["columns"] if n in cb]
        order_b = [n for n, _ in tb["columns"] if n in ca]
        if order_a != order_b:
            msg = "%s: column order differs\n      A: %s\n      B: %s" % (t, ", ".join(order_a), ", ".join(order_b))
            (diffs if opts.strict_order else notes).append(msg)

        # Indexes / unique / PK: by definition (column set + uniqueness + details), then by name.
        def_a, def_b = {}, {}
        for n, i in ta["indexes"].items():
            def_a.setdefault(_idx_key(i), []).append(n)
        for n, i in tb["indexes"].items():
            def_b.setdefault(_idx_key(i), []).append(n)
        for key in sorted(set(def_a) | set(def_b), key=str):
            na, nb = def_a.get(key, []), def_b.get(key, [])
            if len(na) != len(nb):
                desc = _idx_desc(dict(key))
                diffs.append("%s: index %s: %d in A %s, %d in B %s" % (t, desc, len(na), sorted(na), len(nb), sorted(nb)))
        for n in sorted(set(ta["indexes"]) | set(tb["indexes"])):
            ia, ib = ta["indexes"].get(n), tb["indexes"].get(n)
            if ia is None:
                diffs.append("%s: index name %s only in B: %s" % (t, n, _idx_desc(ib)))
            elif ib is None:
                diffs.append("%s: index name %s missing in B (A: %s)" % (t, n, _idx_desc(ia)))
            elif _idx_key(ia) != _idx_key(ib):
                diffs.append("%s: index %s differs\n      A: %s\n      B: %s" % (t, n, _idx_desc(ia), _idx_desc(ib)))

        # CHECK constraints
        for n in sorted(set(ta["checks"]) | set(tb["checks"])):
            if ta["checks"].get(n) != tb["checks"].get(n):
                diffs.append("%s: check %s: A=%s B=%s" % (t, n, _fmt(ta["checks"].get(n)), _fmt(tb["checks"].get(n))))

        # Foreign keys: by definition, then by name.
        fa = {_fk_def(f): f for f in ta["fks"].values()}
        fb = {_fk_def(f): f for f in tb["fks"].values()}
        for key in sorted(set(fa) | set(fb), key=str):
            if key in fa and key not in fb:
                if is_user_fk(fa[key], dot):
                    allowed.append("%s: user FK absent in B: %s" % (t, _fk_desc(fa[key])))
                else:
                    diffs.append("%s: FK missing in B: %s" % (t, _fk_desc(fa[key])))
            elif key in fb and key not in fa:
                diffs.append("%s: FK only in B: %s" % (t, _fk_desc(fb[key])))
            elif fa[key].get("name") != fb[key].get("name"):
                diffs.append("%s: FK %s named %s in A, %s in B" % (t, _fk_desc(fa[key]), fa[key].get("name"), fb[key].get("name")))
        if opts.require_no_user_fk:
            for f in tb["fks"].values():
                if is_user_fk(f, dot):
                    diffs.append("%s: B has a user FK (--require-no-user-fk): %s" % (t, _fk_desc(f)))
    return diffs, allowed, notes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring for the DSN formats.")
    p.add_argument("backend", choices=["sqlite", "postgres", "postgresql", "mysql", "mariadb"])
    p.add_argument("a", help="reference database (migrated by Django)")
    p.add_argument("b", help="candidate database (migrated by oauthctl)")
    p.add_argument("--tables", default=",".join(DOT_TABLES))
    p.add_argument("--schema", default=None, help="PostgreSQL schema (default: current_schema())")
    p.add_argument("--strict-order", action="store_true")
    p.add_argument("--require-no-user-fk", action="store_true")
    p.add_argument("-q", "--quiet", action="store_true")
    opts = p.parse_args(argv)
    tables = [t.strip() for t in opts.tables.split(",") if t.strip()]
    for t in tables:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", t):
            p.error("not a plain table name: %r" % t)
    backend = {"postgresql": "postgres", "mariadb": "mysql"}.get(opts.backend, opts.backend)
    fn = {"sqlite": introspect_sqlite, "postgres": introspect_postgres, "mysql": introspect_mysql}[backend]
    try:
        a = fn(opts.a, tables, opts)
        b = fn(opts.b, tables, opts)
    except UsageError as e:
        print("compare_schema: %s" % e, file=sys.stderr)
        return 2
    except Exception as e:  # connection / driver errors
        print("compare_schema: cannot introspect: %s: %s" % (type(e).__name__, e), file=sys.stderr)
        return 2

    diffs, allowed, notes = compare(a, b, tables, opts)
    if not opts.quiet:
        print("backend %s: A=%s B=%s" % (backend, opts.a, opts.b))
        for t in tables:
            if t in a and t in b:
                print("  %s: %d columns, %d indexes/keys, %d FKs in A; %d, %d, %d in B" % (
                    t, len(a[t]["columns"]), len(a[t]["indexes"]), len(a[t]["fks"]),
                    len(b[t]["columns"]), len(b[t]["indexes"]), len(b[t]["fks"])))
        for line in allowed:
            print("allowed: " + line)
        for line in notes:
            print("note: " + line)
    for line in diffs:
        print("DIFF: " + line)
    if diffs:
        print("RESULT: %d difference(s)" % len(diffs))
        return 1
    print("RESULT: no differences (%d tables; %d allowed user FK absence(s)%s)" % (
        len(tables), len(allowed), ", %d note(s)" % len(notes) if notes else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
