#!/usr/bin/env python3
"""Print the "floor" of cleartokens: DOT 3.4.1's six deletion steps (docs/compatibility.md#the-six-steps) as single,
unbatched SQL statements, for the plain client of one backend (sqlite3 / psql / mariadb).

  floor_sql.py sqlite|postgres|mysql --now RFC3339 [--rte N] [--grace N] [--reuse]

Same order, same predicates and boundaries as DOT (steps 1 and 3 `<=`, steps 4-6 `<`), same cutoffs
(now, now - grace, now - RTE; with reuse protection the revoked cutoff is the expiry cutoff, and step 1
is skipped when that is unset), literals in each backend's storage form (docs/compatibility.md#storage-and-comparison). Before each
refresh-token delete, the references to the doomed rows are nulled (accesstoken.source_refresh_token_id,
Django's SET_NULL); steps 4 and 5 need no such UPDATE, because their predicate already requires that
nothing references the row (Django's Collector issues it anyway and it changes nothing). Each statement
runs in autocommit, i.e. is its own transaction. The minimum work any tool has to do, with no batching.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tokens import US, fmt_naive, parse_now  # noqa: E402

AT, RT, IDT, GR = ("oauth2_provider_accesstoken", "oauth2_provider_refreshtoken", "oauth2_provider_idtoken",
                   "oauth2_provider_grant")


def lit(backend, us):
    if backend == "postgres":
        return f"'{fmt_naive(us)}+00'::timestamptz"
    return f"'{fmt_naive(us)}'"


def cutoffs(now, rte=None, grace=None, reuse=False):
    """(revoked cutoff or None, expiry cutoff or None) in microseconds, as DOT computes them."""
    revoked_at = now - grace * US if grace else now
    expire_at = now - rte * US if rte else None
    if reuse:
        revoked_at = expire_at
    return revoked_at, expire_at


def statements(backend, now, rte=None, grace=None, reuse=False):
    revoked_at, expire_at = cutoffs(now, rte, grace, reuse)
    s = []
    if backend == "sqlite":
        s.append("PRAGMA foreign_keys = ON;")  # as Django's connections do
    elif backend == "mysql":
        # Django's MySQL session settings
        s.append("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED;")

    def rt_step(rt_where_sql, rt_where_mysql_join=None):
        if backend == "mysql" and rt_where_mysql_join:
            join, where = rt_where_mysql_join
            s.append(f"UPDATE `{AT}` s JOIN `{RT}` r ON s.source_refresh_token_id = r.id {join} "
                     f"SET s.source_refresh_token_id = NULL WHERE {where};")
            s.append(f"DELETE r FROM `{RT}` r {join} WHERE {where};")
            return
        s.append(f"UPDATE {AT} SET source_refresh_token_id = NULL WHERE source_refresh_token_id IN "
                 f"(SELECT id FROM {RT} WHERE {rt_where_sql});")
        s.append(f"DELETE FROM {RT} WHERE {rt_where_sql};")

    # 1. revoked refresh tokens
    if revoked_at is not None:
        rt_step(f"revoked <= {lit(backend, revoked_at)}")
    # 2. orphaned refresh tokens
    rt_step("revoked IS NULL AND access_token_id IS NULL")
    # 3. idle-expired refresh tokens
    if expire_at is not None:
        rt_step(f"revoked IS NULL AND access_token_id IN (SELECT id FROM {AT} WHERE expires <= {lit(backend, expire_at)})",
                (f"JOIN `{AT}` a ON r.access_token_id = a.id",
                 f"a.expires <= {lit(backend, expire_at)} AND r.revoked IS NULL"))
    # 4. expired access tokens that no refresh token points to
    s.append(f"DELETE FROM {AT} WHERE expires < {lit(backend, now)} AND NOT EXISTS "
             f"(SELECT 1 FROM {RT} r WHERE r.access_token_id = {AT}.id);")
    # 5. expired ID tokens that no access token points to
    s.append(f"DELETE FROM {IDT} WHERE expires < {lit(backend, now)} AND NOT EXISTS "
             f"(SELECT 1 FROM {AT} a WHERE a.id_token_id = {IDT}.id);")
    # 6. expired grants
    s.append(f"DELETE FROM {GR} WHERE expires < {lit(backend, now)};")
    return s


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("backend", choices=["sqlite", "postgres", "mysql"])
    ap.add_argument("--now", required=True)
    ap.add_argument("--rte", type=int, default=None)
    ap.add_argument("--grace", type=int, default=None)
    ap.add_argument("--reuse", action="store_true")
    a = ap.parse_args(argv)
    print("\n".join(statements(a.backend, parse_now(a.now), a.rte, a.grace, a.reuse)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
