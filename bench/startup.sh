#!/usr/bin/env bash
# Size and start-up time of the release binary: what a cron job or CronJob pays per run before any
# real work. Prints the figures for BENCHMARKS.md ("Release build: size and start-up").
#
#   bash bench/startup.sh [RUNS]     # default 21 runs per case, median reported
#
# Cases: `oauthctl --version` (process start, argument parsing), and `cleartokens --dry-run` on
# an empty SQLite database made by `oauthctl migrate` (runtime, open, schema check, six counts,
# report). The binary is target/release/oauthctl (built with `cargo build --release --locked` when
# missing), or OAUTHCTL_BIN. Wall time per run from `date +%s%N` around the command, so it
# includes fork/exec; the machine's load average is printed before and after, because on shared
# cores a busy neighbour moves every figure.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=${1:-21}
[ "$runs" -ge 5 ] || { echo "RUNS must be at least 5 (a median of fewer says little)" >&2; exit 2; }

bin=${OAUTHCTL_BIN:-${CARGO_TARGET_DIR:-target}/release/oauthctl}
if [ ! -x "$bin" ]; then
  echo "==> building the release binary (LTO: takes minutes)" >&2
  cargo build --release --locked --bin oauthctl >&2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="sqlite://$work/empty.sqlite3"
"$bin" --database-url "$db" migrate >/dev/null

# One case: warm-up run, then RUNS timed runs; prints "median min max" in milliseconds.
time_case() {
  local times=() i start end
  "$@" >/dev/null 2>&1
  for ((i = 0; i < runs; i++)); do
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '
    { t[NR] = $1 }
    END {
      median = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
      printf "%.2f %.2f %.2f\n", median / 1000, t[1] / 1000, t[NR] / 1000
    }'
}

size=$(stat -c %s "$bin")
echo "binary: $bin"
echo "version: $("$bin" --version)"
printf 'size: %d bytes (%.1f MiB)\n' "$size" "$(awk -v s="$size" 'BEGIN { print s / 1048576 }')"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs per case: $runs (after one warm-up run); times in ms: median min max"
echo "--version: $(time_case "$bin" --version)"
echo "cleartokens --dry-run (empty SQLite): $(time_case "$bin" --database-url "$db" cleartokens --dry-run --refresh-token-expire-seconds 86400)"
echo "cleartokens --dry-run --format json (empty SQLite): $(time_case "$bin" --database-url "$db" cleartokens --dry-run --format json --refresh-token-expire-seconds 86400)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
