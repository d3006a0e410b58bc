#!/usr/bin/env python3
"""The write path of the cleanup-index benchmark: DOT-like token issuance by W writers for S seconds.

  write_load.py --database-url URL [--writers 8] [--seconds 30] [--refresh-share 0.5] [--seed 1]

Each writer is a process with its own connection; one issuance is one transaction, as DOT's token
endpoint writes it (oauth2_validators.save_bearer_token with ROTATE_REFRESH_TOKEN): an ID token, an
access token pointing at it and a refresh token pointing at the access token. A share of the
issuances (--refresh-share) are refreshes of one of the writer's own earlier refresh tokens, whose
rotation comes first in the same transaction: the old refresh token is locked, its access token
deleted (its refresh token's access_token_id nulled first, Django's SET_NULL), the old refresh token
marked revoked, and the new access token's source_refresh_token_id points at it. Values as DOT
writes them (token_checksum sha256 hex, resource '[]', naive UTC text on SQLite, datetime(6) on
MySQL, timestamptz on PostgreSQL), the snapshot's application and user.

Prints one JSON line: {"writers", "seconds", "issuances", "per_second", "refreshes", "errors"}; one
issuance = 3 tokens (access, refresh, ID). What the indexes cost shows as the per-second ratio of a
run with them to one without, on identical copies.
"""
import argparse
import datetime as dt
import hashlib
import json
import multiprocessing as mp
import os
import random
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_tokens import TABLES, connect, fmt_naive, uuid_is_native  # noqa: E402

AT_LIFETIME = dt.timedelta(seconds=36000)


def value_of(backend):
    """The function turning an aware UTC datetime into the backend's parameter."""
    if backend == "sqlite":
        return lambda t: fmt_naive(int((t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() * 1e6))
    if backend == "mysql":
        return lambda t: t.replace(tzinfo=None)
    return lambda t: t


class Writer:
    def __init__(self, url, seed):
        self.backend, self.conn = connect(url)
        b = self.backend
        self.ph = "?" if b == "sqlite" else "%s"
        self.at_value = value_of(b)
        cur = self.conn.cursor()
        if b == "sqlite":  # transactions are begun by hand (BEGIN IMMEDIATE: no upgrade deadlocks)
            cur.execute("PRAGMA busy_timeout = 30000")
        elif b == "postgres":
            self.conn.autocommit = False
        else:
            self.conn.autocommit(False)
        self.native_uuid = uuid_is_native(b, cur)
        cur.execute(f"SELECT MIN(id) FROM {TABLES['app']}")
        self.app_id = cur.fetchone()[0]
        cur.execute(f"SELECT MIN(user_id) FROM {TABLES['rt']}")
        self.user_id = cur.fetchone()[0] or 1
        self.end()
        self.rnd = random.Random(seed)
        self.live = []  # this writer's refresh tokens that are not revoked, oldest first

    def end(self):
        if self.backend != "sqlite" or self.conn.in_transaction:
            self.conn.commit()

    def uid(self):
        u = uuid.UUID(int=self.rnd.getrandbits(128), version=4)
        return str(u) if self.native_uuid else u.hex

    def token(self):
        text = "%030x" % self.rnd.getrandbits(120)
        return text, hashlib.sha256(text.encode()).hexdigest()

    def insert(self, cur, table, row):
        cols = ", ".join(row)
        marks = ", ".join(self.ph for _ in row)
        sql = f"INSERT INTO {table} ({cols}) VALUES ({marks})"
        if self.backend == "postgres":
            cur.execute(sql + " RETURNING id", list(row.values()))
            return cur.fetchone()[0]
        cur.execute(sql, list(row.values()))
        return cur.lastrowid

    def rotate(self, cur, old, now):
        """DOT's RefreshToken.revoke(): lock it, delete its access token, mark it revoked."""
        p, v = self.ph, self.at_value
        lock = "" if self.backend == "sqlite" else " FOR UPDATE"
        cur.execute(f"SELECT access_token_id FROM {TABLES['rt']} WHERE id = {p} AND revoked IS NULL{lock}", (old,))
        row = cur.fetchone()
        if row is None:
            return None
        if row[0] is not None:
            cur.execute(f"UPDATE {TABLES['rt']} SET access_token_id = NULL WHERE access_token_id = {p}", (row[0],))
            cur.execute(f"DELETE FROM {TABLES['at']} WHERE id = {p}", (row[0],))
        cur.execute(f"UPDATE {TABLES['rt']} SET access_token_id = NULL, revoked = {p}, updated = {p} WHERE id = {p}",
                    (v(now), v(now), old))
        return old

    def issue(self, refresh_share):
        now = dt.datetime.now(dt.timezone.utc)
        v = self.at_value
        cur = self.conn.cursor()
        if self.backend == "sqlite":
            cur.execute("BEGIN IMMEDIATE")
        source = None
        if self.live and self.rnd.random() < refresh_share:
            source = self.rotate(cur, self.live.pop(0), now)
        common = {"application_id": self.app_id, "user_id": self.user_id, "created": v(now), "updated": v(now)}
        idt = self.insert(cur, TABLES["idt"], dict(jti=self.uid(), expires=v(now + AT_LIFETIME), scope="openid",
                                                   **common))
        text, checksum = self.token()
        at = self.insert(cur, TABLES["at"], dict(token=text, token_checksum=checksum, expires=v(now + AT_LIFETIME),
                                                 scope="openid read", source_refresh_token_id=source, id_token_id=idt,
                                                 resource="[]", **common))
        text, checksum = self.token()
        rt = self.insert(cur, TABLES["rt"], dict(token=text, token_checksum=checksum, access_token_id=at,
                                                 revoked=None, token_family=self.uid(), resource="[]", **common))
        self.end()
        self.live.append(rt)
        return source is not None


def work(url, seconds, refresh_share, seed, start, results):
    w = Writer(url, seed)
    issued = refreshes = errors = 0
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            refreshes += w.issue(refresh_share)
            issued += 1
        except Exception as e:  # a deadlock or busy timeout: roll back, count it, go on
            errors += 1
            try:
                w.conn.rollback()
            except Exception:
                pass
            if errors > 1000:
                raise SystemExit(f"write_load: too many errors, last: {e}")
    results.put((issued, refreshes, errors))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--refresh-share", type=float, default=0.5)
    ap.add_argument("--seed", default="1")
    args = ap.parse_args()
    start = mp.Barrier(args.writers + 1)
    results = mp.Queue()
    procs = [mp.Process(target=work, args=(args.database_url, args.seconds, args.refresh_share,
                                           f"{args.seed}/{i}", start, results)) for i in range(args.writers)]
    for p in procs:
        p.start()
    start.wait()
    t0 = time.monotonic()
    got = [results.get() for _ in procs]
    took = time.monotonic() - t0
    for p in procs:
        p.join()
    issued = sum(g[0] for g in got)
    print(json.dumps({"writers": args.writers, "seconds": round(took, 3), "issuances": issued,
                      "per_second": round(issued / took, 1), "refreshes": sum(g[1] for g in got),
                      "errors": sum(g[2] for g in got)}))
    return 0 if all(p.exitcode == 0 for p in procs) else 1


if __name__ == "__main__":
    sys.exit(main())
