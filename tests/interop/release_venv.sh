#!/usr/bin/env bash
# Build (or reuse) the virtualenv of one interop-matrix release and print its directory.
#
#   tests/interop/release_venv.sh tests/interop/releases/dot-2.0.0.txt   ->  .../interop-venvs/<hash>
#
# The venv lives under the build folder, ${INTEROP_VENV_ROOT:-${CARGO_TARGET_DIR:-<repo>/target}/interop-venvs},
# named by the sha256 of the requirements file plus the interpreter's version, so it is rebuilt only
# when either changes (a stale one is simply never looked up again). An exclusive flock per venv
# serialises concurrent builders; a venv counts as built only once its `.complete` stamp exists, so a
# build killed half-way is redone. pip's own cache (~/.cache/pip) is used, so a rebuild downloads nothing
# it already has. Exit 1 (with pip's output on stderr) when the venv cannot be built.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
req="${1:?usage: $0 REQUIREMENTS_FILE}"
[ -f "$req" ] || { echo "release_venv.sh: no requirements file $req" >&2; exit 1; }
python="${INTEROP_PYTHON:-python3.11}"
command -v "$python" >/dev/null 2>&1 || { echo "release_venv.sh: $python not found (set INTEROP_PYTHON)" >&2; exit 1; }

root="${INTEROP_VENV_ROOT:-${CARGO_TARGET_DIR:-$repo/target}/interop-venvs}"
mkdir -p "$root"
key="$( { sha256sum "$req" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-16)"
venv="$root/$key"

exec 9>>"$root/$key.lock"
flock -x 9
if [ ! -f "$venv/.complete" ]; then
    echo "release_venv.sh: building $venv from $(basename "$req")" >&2
    rm -rf "$venv"
    "$python" -m venv "$venv"
    if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >"$venv.log" 2>&1 \
        || ! "$venv/bin/python" -c 'import django, oauth2_provider, argon2, pymysql, psycopg' >>"$venv.log" 2>&1; then
        echo "release_venv.sh: could not build the venv for $req:" >&2
        sed 's/^/    /' "$venv.log" >&2
        exit 1
    fi
    cp "$req" "$venv/requirements.txt"
    touch "$venv/.complete"
fi
echo "$venv"
