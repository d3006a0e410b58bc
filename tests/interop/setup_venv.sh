#!/usr/bin/env bash
# Create or refresh tests/interop/.venv (python3.11) with the pinned Django + DOT stack.
#
# Idempotent and safe to run concurrently: an exclusive flock on .venv.lock serialises the
# (re)build, and a stamp file holding the hash of requirements.txt (plus the interpreter's version)
# makes later calls a no-op until requirements.txt changes. run.sh holds a shared lock on the same
# file while it uses the venv, so a rebuild never pulls the venv from under a running suite.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv"
lock="$here/.venv.lock"
req="$here/requirements.txt"
python="${INTEROP_PYTHON:-python3.11}"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "setup_venv.sh: $python not found (set INTEROP_PYTHON to a Python 3.11 interpreter)" >&2
    exit 1
fi

want="$( { sha256sum "$req" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"

up_to_date() {
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]
}

exec 9>>"$lock"
# Fast path: a shared lock is enough to look at the stamp.
flock -s 9
if up_to_date; then
    exit 0
fi
# Upgrade to exclusive (flock releases and re-acquires, so two upgraders cannot deadlock),
# then look again: another process may have built it meanwhile.
flock -x 9
if up_to_date; then
    exit 0
fi

echo "setup_venv.sh: building $venv from requirements.txt" >&2
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req"
"$venv/bin/python" - <<'PY'
import django, oauth2_provider, argon2, pymysql, psycopg, prometheus_client  # noqa: F401  (fail now, not mid-suite)
print("setup_venv.sh: Django", django.get_version(), "DOT", oauth2_provider.__version__)
PY
echo "$want" > "$stamp"
