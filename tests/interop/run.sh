#!/usr/bin/env bash
# Interop suite: prove against the real django-oauth-toolkit 3.4.1 that what oauthctl writes is
# what DOT accepts, and that DOT works on the schema `oauthctl migrate` creates.
#
#   OAUTHCTL_BIN=target/debug/oauthctl tests/interop/run.sh sqlite|postgres|mysql
#
# Needs tests/interop/setup_venv.sh to have run. Servers: PostgreSQL 127.0.0.1:5432 (postgres,
# trust), MariaDB/MySQL 127.0.0.1:3306 (root, no password); an unreachable server is a failure.
# Two fresh uniquely named databases per run, dropped on exit:
#   1. migrated by Django's `migrate` + a Django user -> oauthctl createapplication -> DOT checks
#      then `oauthctl apply` (interop_apply.py) -> DOT checks after every apply
#   2. created by `oauthctl migrate` only -> Django's ORM and DOT's endpoints on it
#   4. interop_tz.py: its own databases, Django's time-zone settings (USE_TZ, TIME_ZONE, the
#      per-database TIME_ZONE) against DOT's cleartokens and Django's own created/updated
# Prints one line per check and ends with "N passed, M failed"; exits 1 on any failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
backend="${1:-}"
case "$backend" in
    sqlite|postgres|mysql) ;;
    *) echo "usage: OAUTHCTL_BIN=/path/to/oauthctl $0 sqlite|postgres|mysql" >&2; exit 2 ;;
esac
: "${OAUTHCTL_BIN:?set OAUTHCTL_BIN to the oauthctl binary}"
if [ ! -x "$OAUTHCTL_BIN" ]; then
    echo "run.sh: OAUTHCTL_BIN=$OAUTHCTL_BIN is not an executable" >&2
    exit 1
fi
OAUTHCTL_BIN="$(cd "$(dirname "$OAUTHCTL_BIN")" && pwd)/$(basename "$OAUTHCTL_BIN")"
export OAUTHCTL_BIN

py="$here/.venv/bin/python"
if [ ! -x "$py" ]; then
    echo "run.sh: $py missing: run tests/interop/setup_venv.sh first" >&2
    exit 1
fi
# Hold the venv: setup_venv.sh rebuilds it only under an exclusive lock.
exec 9>>"$here/.venv.lock"
flock -s 9

start=$(date +%s)
work="$(mktemp -d "${TMPDIR:-/tmp}/oauthctl-interop-$backend.XXXXXX")"
results="$work/results"
: > "$results"
suffix="$(date +%s)_$$_$RANDOM"
db_django="oauthctl_interop_${suffix}_dj"
db_fresh="oauthctl_interop_${suffix}_oc"
created_dbs=()

cleanup() {
    local rc=$?
    for db in "${created_dbs[@]}"; do
        "$py" "$here/dbadmin.py" "$backend" drop "$db" || echo "run.sh: could not drop $db" >&2
    done
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

db_url() {  # oauthctl's URL for database $1
    case "$backend" in
        sqlite) echo "sqlite://$work/$1.sqlite3" ;;
        postgres) echo "postgres://${INTEROP_PG_USER:-postgres}@${INTEROP_PG_HOST:-127.0.0.1}:${INTEROP_PG_PORT:-5432}/$1" ;;
        mysql) echo "mysql://${INTEROP_MYSQL_USER:-root}@${INTEROP_MYSQL_HOST:-127.0.0.1}:${INTEROP_MYSQL_PORT:-3306}/$1" ;;
    esac
}
db_name() {  # the Django settings' NAME for database $1
    if [ "$backend" = sqlite ]; then echo "$work/$1.sqlite3"; else echo "$1"; fi
}

if [ "$backend" != sqlite ]; then
    # Unreachable server: fail loudly, never skip.
    if ! "$py" "$here/dbadmin.py" "$backend" ping; then
        echo "FAIL [$backend] database server reachable"
        echo "0 passed, 1 failed"
        exit 1
    fi
    for db in "$db_django" "$db_fresh"; do
        "$py" "$here/dbadmin.py" "$backend" create "$db"
        created_dbs+=("$db")
    done
fi

export INTEROP_BACKEND="$backend"
export PYTHONDONTWRITEBYTECODE=1
# A fresh RSA key for OIDC (RS256 apps), given to both DOT's settings and oauthctl.
OIDC_RSA_PRIVATE_KEY="$("$py" -c '
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
print(k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode(), end="")
')"
export OIDC_RSA_PRIVATE_KEY

echo "== $backend: oauthctl $("$OAUTHCTL_BIN" --version 2>/dev/null || echo '(no --version)') against Django + DOT $("$py" -c 'import django, oauth2_provider; print(django.get_version(), oauth2_provider.__version__)')"

# ---- 1. Django-migrated database
export INTEROP_DB_NAME="$(db_name "$db_django")" INTEROP_DATABASE_URL="$(db_url "$db_django")"
echo "== $backend: database 1 (Django migrate): $INTEROP_DATABASE_URL"
if "$py" "$here/project/manage.py" migrate --verbosity 0 >"$work/migrate.log" 2>&1; then
    echo "PASS [$backend/django-db] Django migrate"
    echo "1 0" >>"$results"
    "$py" "$here/interop.py" django-db --results "$results" || echo "0 1" >>"$results"
else
    echo "FAIL [$backend/django-db] Django migrate:"; sed 's/^/      /' "$work/migrate.log"
    printf '0 1\n# [%s/django-db] Django migrate\n' "$backend" >>"$results"
fi

# ---- 1b. `oauthctl apply` on the Django-migrated database (prunes phase 1's applications at the end)
echo "== $backend: apply on database 1"
"$py" "$here/interop_apply.py" --results "$results" || echo "0 1" >>"$results"

# ---- 2. database created by `oauthctl migrate` only
export INTEROP_DB_NAME="$(db_name "$db_fresh")" INTEROP_DATABASE_URL="$(db_url "$db_fresh")"
echo "== $backend: database 2 (oauthctl migrate): $INTEROP_DATABASE_URL"
"$py" "$here/interop.py" oauthctl-db --results "$results" || echo "0 1" >>"$results"

# ---- 3. catalogue-level schema diff of the two databases (compare_schema.py)
schema_ref="$(db_name "$db_django")"; schema_new="$(db_name "$db_fresh")"
case "$backend" in
    postgres) schema_ref="${INTEROP_PG_USER:-postgres}@${INTEROP_PG_HOST:-127.0.0.1}:${INTEROP_PG_PORT:-5432}/$db_django"
              schema_new="${INTEROP_PG_USER:-postgres}@${INTEROP_PG_HOST:-127.0.0.1}:${INTEROP_PG_PORT:-5432}/$db_fresh" ;;
    mysql) schema_ref="${INTEROP_MYSQL_USER:-root}@${INTEROP_MYSQL_HOST:-127.0.0.1}:${INTEROP_MYSQL_PORT:-3306}/$db_django"
           schema_new="${INTEROP_MYSQL_USER:-root}@${INTEROP_MYSQL_HOST:-127.0.0.1}:${INTEROP_MYSQL_PORT:-3306}/$db_fresh" ;;
esac
if "$py" "$here/compare_schema.py" -q --require-no-user-fk "$backend" "$schema_ref" "$schema_new" >"$work/schema.log" 2>&1; then
    echo "PASS [$backend/schema] oauthctl migrate's schema equals Django migrate's ($(tail -n1 "$work/schema.log"))"
    echo "1 0" >>"$results"
else
    echo "FAIL [$backend/schema] oauthctl migrate's schema differs from Django migrate's:"
    sed 's/^/      /' "$work/schema.log"
    printf '0 1\n# [%s/schema] oauthctl migrate schema vs Django migrate\n' "$backend" >>"$results"
fi

# ---- 4. Django's time-zone settings: DOT's cleartokens and createapplication under USE_TZ = False
#         (New York, Kolkata) and a per-database TIME_ZONE, on copies seeded through DOT's models
echo "== $backend: time zones (interop_tz.py)"
"$py" "$here/interop_tz.py" "$backend" --results "$results" || echo "0 1" >>"$results"

# ---- summary
passed=0; failed=0
while read -r p f; do
    [ "$p" = "#" ] && continue
    passed=$((passed + p)); failed=$((failed + f))
done <"$results"
echo "== $backend: $(( $(date +%s) - start ))s"
if [ "$failed" -ne 0 ]; then
    echo "failed checks:"
    grep '^# ' "$results" | sed 's/^# /  /'
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
