#!/usr/bin/env python
"""Create / drop / ping the interop suite's server databases (run.sh's helper).

  dbadmin.py postgres|mysql ping
  dbadmin.py postgres|mysql create NAME     (PG: session time zone of the DB set to a non-UTC zone)
  dbadmin.py postgres|mysql drop NAME
"""
import os
import re
import sys

PG = dict(
    host=os.environ.get("INTEROP_PG_HOST", "127.0.0.1"),
    port=int(os.environ.get("INTEROP_PG_PORT", "5432")),
    user=os.environ.get("INTEROP_PG_USER", "postgres"),
)
MY = dict(
    host=os.environ.get("INTEROP_MYSQL_HOST", "127.0.0.1"),
    port=int(os.environ.get("INTEROP_MYSQL_PORT", "3306")),
    user=os.environ.get("INTEROP_MYSQL_USER", "root"),
)


def connect(backend):
    if backend == "postgres":
        import psycopg

        return psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=5, **PG)
    import pymysql

    return pymysql.connect(password="", autocommit=True, connect_timeout=5, **MY)


def main():
    backend, action, *rest = sys.argv[1:]
    name = rest[0] if rest else None
    if name is not None and not re.fullmatch(r"[a-z0-9_]{1,63}", name):
        sys.exit(f"dbadmin.py: bad database name {name!r}")
    try:
        conn = connect(backend)
    except Exception as exc:  # noqa: BLE001
        where = PG if backend == "postgres" else MY
        sys.exit(f"dbadmin.py: cannot reach {backend} at {where['host']}:{where['port']} as {where['user']}: {exc}")
    with conn:
        cur = conn.cursor()
        if action == "ping":
            cur.execute("SELECT version()")
            print(f"{backend}: {cur.fetchone()[0].splitlines()[0]}")
        elif action == "create":
            if backend == "postgres":
                cur.execute(f'CREATE DATABASE "{name}"')
                # Django sets its session TimeZone itself; a tool that leans on the server's zone
                # (NOW(), naive literals) gets caught by this.
                cur.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
            else:
                cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        elif action == "drop":
            if backend == "postgres":
                cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            else:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        else:
            sys.exit(f"dbadmin.py: unknown action {action!r}")


if __name__ == "__main__":
    main()
