#!/usr/bin/env bash
# Differential test: `oauthctl cleartokens` must leave exactly the rows DOT 3.4.1's own
# `manage.py cleartokens` leaves, on the same data, settings and frozen "now".
#
#   OAUTHCTL_BIN=target/debug/oauthctl tests/interop/cleartokens_diff.sh sqlite|postgres|mysql [options]
#
# Options go to cleartokens_diff.py (--quick, -k SUBSTRING, --keep, --candidate floor, ...; see its
# docstring). Builds/refreshes the interop venv (setup_venv.sh) first. Servers: PostgreSQL
# 127.0.0.1:5432 (postgres, trust), MariaDB/MySQL 127.0.0.1:3306 (root, no password); an unreachable
# server is a failure. Prints one line per settings case and "N passed, M failed"; exit 1 on a difference.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
idir="${INTEROP_DIR:-$here}"
export INTEROP_DIR="$idir"
case "${1:-}" in
    sqlite|postgres|mysql) ;;
    *) echo "usage: OAUTHCTL_BIN=/path/to/oauthctl $0 sqlite|postgres|mysql [options]" >&2; exit 2 ;;
esac
if [ "$idir" = "$here" ]; then
    if [ ! -x "$here/setup_venv.sh" ]; then
        echo "cleartokens_diff.sh: $here/setup_venv.sh missing (the interop suite)" >&2
        exit 1
    fi
    "$here/setup_venv.sh"
fi
py="$idir/.venv/bin/python"
[ -x "$py" ] || { echo "cleartokens_diff.sh: $py missing" >&2; exit 1; }
# Hold the venv: setup_venv.sh rebuilds it only under an exclusive lock.
exec 9>>"$idir/.venv.lock"
flock -s 9
export PYTHONDONTWRITEBYTECODE=1
exec "$py" "$here/cleartokens_diff.py" "$@"
