#!/usr/bin/env python
"""Run django-oauth-toolkit's own management commands on one database, for the cleartokens
differential test (tests/interop/cleartokens_diff.py) and the benchmark (bench/cleartokens.sh).

  dot_cleartokens.py migrate
  dot_cleartokens.py cleartokens --now 2026-11-26T20:00:00Z [--rte N] [--grace N] [--reuse]
                                 [--batch-size N] [--batch-interval S] [--log]

The database comes from the interop project's settings (tests/interop/project): INTEROP_BACKEND
(sqlite|postgres|mysql) and INTEROP_DB_NAME (SQLite path or server database name), plus the
INTEROP_PG_* / INTEROP_MYSQL_* connection variables.

`cleartokens` runs DOT's real `manage.py cleartokens` (via call_command) with:
- `django.utils.timezone.now` frozen at --now, so DOT's `clear_expired()` uses exactly that instant
  (the same instant oauthctl gets through OAUTHCTL_NOW); under USE_TZ = False, as the naive local
  time in TIME_ZONE at that instant (what `datetime.now()` returns in a Django process);
- the OAUTH2_PROVIDER settings given on the command line layered over the project's
  (REFRESH_TOKEN_EXPIRE_SECONDS, REFRESH_TOKEN_GRACE_PERIOD_SECONDS, REFRESH_TOKEN_REUSE_PROTECTION,
  CLEAR_EXPIRED_TOKENS_BATCH_SIZE, CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL); an option not given keeps
  DOT's default.
--log prints DOT's INFO log lines (the per-step counts) on stderr.
"""
import argparse
import os
import sys
from datetime import datetime, timezone as dt_timezone

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP_DIR = os.environ.get("INTEROP_DIR", HERE)
sys.path.insert(0, os.path.join(INTEROP_DIR, "project"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "interop_project.settings")


def parse_now(text):
    """RFC 3339 -> aware UTC datetime (microsecond precision)."""
    t = text.strip()
    if t.endswith(("Z", "z")):
        t = t[:-1] + "+00:00"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        raise SystemExit(f"--now needs an offset (e.g. Z): {text!r}")
    return dt.astimezone(dt_timezone.utc)


def django_now(instant, settings):
    """What `timezone.now()` returns at `instant` under the project's USE_TZ / TIME_ZONE."""
    if settings.USE_TZ:
        return instant
    import zoneinfo

    return instant.astimezone(zoneinfo.ZoneInfo(settings.TIME_ZONE)).replace(tzinfo=None)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate")
    ct = sub.add_parser("cleartokens")
    ct.add_argument("--now", required=True)
    ct.add_argument("--rte", type=int, default=None, help="REFRESH_TOKEN_EXPIRE_SECONDS (default: unset)")
    ct.add_argument("--grace", type=int, default=None, help="REFRESH_TOKEN_GRACE_PERIOD_SECONDS")
    ct.add_argument("--reuse", action="store_true", help="REFRESH_TOKEN_REUSE_PROTECTION = True")
    ct.add_argument("--batch-size", type=int, default=None, help="CLEAR_EXPIRED_TOKENS_BATCH_SIZE")
    ct.add_argument("--batch-interval", type=float, default=None, help="CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL")
    ct.add_argument("--log", action="store_true", help="DOT's INFO log lines on stderr")
    args = ap.parse_args(argv)

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if args.cmd == "migrate":
        call_command("migrate", verbosity=0, interactive=False)
        return 0

    from django.test import override_settings
    from django.utils import timezone

    frozen = django_now(parse_now(args.now), settings)
    timezone.now = lambda: frozen  # DOT's models call django.utils.timezone.now()

    overrides = dict(getattr(settings, "OAUTH2_PROVIDER", {}))
    if args.rte is not None:
        overrides["REFRESH_TOKEN_EXPIRE_SECONDS"] = args.rte
    if args.grace is not None:
        overrides["REFRESH_TOKEN_GRACE_PERIOD_SECONDS"] = args.grace
    if args.reuse:
        overrides["REFRESH_TOKEN_REUSE_PROTECTION"] = True
    if args.batch_size is not None:
        overrides["CLEAR_EXPIRED_TOKENS_BATCH_SIZE"] = args.batch_size
    if args.batch_interval is not None:
        overrides["CLEAR_EXPIRED_TOKENS_BATCH_INTERVAL"] = args.batch_interval

    if args.log:
        import logging

        h = logging.StreamHandler(sys.stderr)
        h.setFormatter(logging.Formatter("DOT: %(message)s"))
        lg = logging.getLogger("oauth2_provider.models")
        lg.addHandler(h)
        lg.setLevel(logging.INFO)
        lg.propagate = False

    # override_settings fires setting_changed, on which DOT reloads oauth2_settings.
    with override_settings(OAUTH2_PROVIDER=overrides):
        from oauth2_provider.settings import oauth2_settings

        assert oauth2_settings.REFRESH_TOKEN_EXPIRE_SECONDS == overrides.get("REFRESH_TOKEN_EXPIRE_SECONDS")
        call_command("cleartokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
