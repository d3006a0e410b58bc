#!/usr/bin/env bash
# The whole test suite: unit tests, integration tests against SQLite, PostgreSQL and MariaDB, and the
# interop suite against real Django OAuth Toolkit.
#
# It makes sure PostgreSQL (127.0.0.1:5432, user postgres, trust auth) and MariaDB (127.0.0.1:3306,
# root, empty password) are running — installing them with apt-get when they are missing and we are
# root — checks formatting and lints (`cargo fmt --check`, `cargo clippy -D warnings`), and then
# runs `cargo test` with OAUTHCTL_TEST_REQUIRE_ALL=1: a server, private-server binary or Python
# venv that is missing fails the run; nothing is ever skipped. (A plain `cargo test` skips what the
# machine lacks and says so in one note.) Extra arguments go to `cargo test`, e.g.
# `bash tests/run.sh cleartokens::` or `bash tests/run.sh sqlite`.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '==> %s\n' "$*" >&2; }

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    log "need to install $* but not root: install them yourself"; return 1
  fi
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

postgres_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && psql -h 127.0.0.1 -U postgres -d postgres -Atqc 'select 1' >/dev/null 2>&1; }
mariadb_up() { mariadb -h 127.0.0.1 -P 3306 -u root -e 'select 1' >/dev/null 2>&1; }

ensure_postgres() {
  postgres_up && return 0
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    log "installing PostgreSQL"; apt_install postgresql postgresql-client
  fi
  local version; version=$(ls /etc/postgresql | sort -V | tail -1)
  local hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect as postgres over TCP without a password, as on the team's machines.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba" 2>/dev/null; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
  log "starting PostgreSQL $version"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 1 60); do postgres_up && return 0; sleep 0.5; done
  log "PostgreSQL did not come up"; return 1
}

ensure_mariadb() {
  mariadb_up && return 0
  if [ ! -x /usr/sbin/mariadbd ]; then
    log "installing MariaDB"; apt_install mariadb-server mariadb-client
  fi
  log "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
  for _ in $(seq 1 60); do
    mariadb_up && return 0
    # A fresh Debian install lets root in over the socket only: allow an empty password over TCP.
    if mariadb -u root -e 'select 1' >/dev/null 2>&1; then
      mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD(''); CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;" || true
    fi
    sleep 0.5
  done
  log "MariaDB did not come up"; return 1
}

ensure_python() {
  if ! python3 -c 'import sys, venv; assert sys.version_info >= (3, 10)' 2>/dev/null; then
    log "installing Python 3 with venv"; apt_install python3 python3-venv
  fi
}

# The server-restart and PostgreSQL-password tests start private servers from these binaries.
ensure_server_binaries() {
  if [ -z "${OAUTHCTL_TEST_PG_BIN:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    log "installing PostgreSQL server binaries"; apt_install postgresql
  fi
  if [ ! -x "${OAUTHCTL_TEST_MARIADBD:-/usr/sbin/mariadbd}" ]; then
    log "installing MariaDB server binaries"; apt_install mariadb-server
  fi
}

# The packaging tests check the completion scripts, man pages and systemd units with these
# programs (tests/it/support/availability.rs, PACKAGING_TOOLS: program and Debian package).
ensure_packaging_tools() {
  local missing=() pair
  for pair in bash:bash zsh:zsh fish:fish man:man-db groff:groff-base systemd-analyze:systemd; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -gt 0 ]; then log "installing ${missing[*]}"; apt_install "${missing[@]}"; fi
}

# rustfmt and clippy come with rustup's default profile; a minimal toolchain may lack them.
ensure_cargo_component() {  # $1: cargo subcommand, $2: rustup component
  cargo "$1" --version >/dev/null 2>&1 && return 0
  if command -v rustup >/dev/null; then
    log "installing the $2 component"; rustup component add "$2"
  else
    log "cargo $1 is required (rustup component $2)"; return 1
  fi
}

command -v cargo >/dev/null || { log "cargo is required (Rust toolchain)"; exit 1; }
ensure_cargo_component fmt rustfmt
ensure_cargo_component clippy clippy
command -v pg_isready >/dev/null || apt_install postgresql-client
command -v mariadb >/dev/null || apt_install mariadb-client
ensure_postgres
ensure_mariadb
ensure_server_binaries
ensure_python
ensure_packaging_tools

log "checking formatting"
cargo fmt --all --check
log "running clippy"
cargo clippy --locked --all-targets -- -D warnings

# Every test runs: a missing server, server binary or venv is a failure, not a skip.
export OAUTHCTL_TEST_REQUIRE_ALL=1
log "running the test suite"
cargo test --locked "$@"
