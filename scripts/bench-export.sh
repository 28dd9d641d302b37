#!/usr/bin/env bash
# Memory of an audit export: seeds a fresh database with about N events of
# one tenant (`ledger bench seed`), brings the audit read model up to date
# (`ledger projections rebuild audit`), then exports the tenant's audit log
# with `ledger audit export` to a file, and reports the events and bytes
# written, the time taken, the maximum resident set size (from
# /usr/bin/time -v when present) and the RSS sampled every half second
# from /proc while it ran: flat memory is a maximum that does not grow
# with N, and samples that stay level from the first seconds to the last.
#
# Usage: scripts/bench-export.sh [events, default 1000000] [format: ndjson (default) or csv]
# Needs a local Postgres reachable with the libpq defaults (createdb).
# LEDGER_BIN, when set, is the ledger binary to run (else one is built).
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000000}
format=${2:-ndjson}
db=ledger_benchexport_$$
work=$(mktemp -d)
cleanup() {
    dropdb --if-exists "$db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

ledger=${LEDGER_BIN:-}
if [ -z "$ledger" ]; then
    go build -o "$work/ledger" ./cmd/ledger
    ledger=$work/ledger
fi
createdb "$db"
export LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn

echo "seeding about $events events of one tenant..." >&2
"$ledger" bench seed --events "$events" --tenants 1 2>/dev/null | tee "$work/seed.txt" >&2
tenant=$(awk '/^tenant /{print $2; exit}' "$work/seed.txt")
"$ledger" projections rebuild audit 2>/dev/null >&2

# rss_of PID: the process's resident set size in KiB, empty once it ended.
rss_of() { awk '/^VmRSS:/{print $2}' "/proc/$1/status" 2>/dev/null || true; }

timer=()
[ -x /usr/bin/time ] && timer=(/usr/bin/time -v -o "$work/time.txt")
start=$(date +%s.%N)
"${timer[@]}" "$ledger" audit export --tenant "$tenant" --format "$format" --output "$work/export.$format" 2>"$work/export.log" &
runner=$!
# With /usr/bin/time the export is its child.
sleep 0.2
pid=$(pgrep -P "$runner" -n 2>/dev/null || echo "$runner")
samples=()
while kill -0 "$runner" 2>/dev/null; do
    rss=$(rss_of "$pid")
    [ -n "$rss" ] && samples+=("$rss")
    sleep 0.5
done
wait "$runner"
elapsed=$(echo "$(date +%s.%N) - $start" | bc)

written=$(grep -o '[0-9]* events written' "$work/export.log" | awk '{print $1}')
bytes=$(stat -c %s "$work/export.$format")
maxrss=
[ -f "$work/time.txt" ] && maxrss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$work/time.txt")
echo "export: $written events, $bytes bytes of $format in ${elapsed}s ($(echo "$written / $elapsed" | bc) events/s)"
[ -n "$maxrss" ] && echo "max RSS (/usr/bin/time -v): $maxrss KiB"
if [ "${#samples[@]}" -gt 0 ]; then
    n=${#samples[@]}
    sorted=$(printf '%s\n' "${samples[@]}" | sort -n)
    echo "RSS samples every 0.5s: $n, min $(echo "$sorted" | head -1) KiB, max $(echo "$sorted" | tail -1) KiB," \
        "first ${samples[0]} KiB, at half ${samples[$((n / 2))]} KiB, last ${samples[$((n - 1))]} KiB"
fi
