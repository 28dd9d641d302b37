#!/usr/bin/env bash
# Where the machine's CPU goes under the HTTP load: `ledger serve` on a
# fresh database with `ledger bench http` against it, and, over a window
# in the middle of the run, the CPU time of the server, of the load tool
# and of every Postgres process, each divided by the amendments answered
# meanwhile (from the server's own request counter on /metrics).
#
# Usage: scripts/bench-cpu.sh [seconds of window, default 10] [mix, default amend=100] [clients, default 32]
# Needs a local Postgres reachable with the libpq defaults, curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
window=${1:-10}
mix=${2:-amend=100}
clients=${3:-32}
db=ledger_benchcpu_$$
port=$(( 19000 + $$ % 1000 ))
work=$(mktemp -d)
server=
load=
cleanup() {
    [ -n "$load" ] && kill "$load" 2>/dev/null && wait "$load" 2>/dev/null || true
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    dropdb --if-exists "$db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ledger" ./cmd/ledger
createdb "$db"
export LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn
LEDGER_HTTP_ADDR=127.0.0.1:$port "$work/ledger" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
"$work/ledger" bench http --url "http://127.0.0.1:$port" --clients "$clients" --mix "$mix" \
    --duration "$(( 2 * window + 5 ))s" --json >"$work/summary.json" 2>"$work/progress.log" &
load=$!

# ticks PID: the process's user and system CPU, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
postgres_ticks() {
    local p sum=0
    for p in $(pgrep -u postgres); do sum=$(( sum + $(ticks "$p" 2>/dev/null || echo 0) )); done
    echo "$sum"
}
amendments() {
    curl -s "http://127.0.0.1:$port/metrics" |
        awk '/^ledger_http_request_duration_seconds_count\{.*amendments/ {n += $2} END {print n + 0}'
}

sleep "$(( window / 2 + 5 ))"
s1=$(ticks "$server"); l1=$(ticks "$load"); p1=$(postgres_ticks); a1=$(amendments)
sleep "$window"
s2=$(ticks "$server"); l2=$(ticks "$load"); p2=$(postgres_ticks); a2=$(amendments)
wait "$load" || { cat "$work/progress.log" >&2; exit 1; }
load=
n=$(( a2 - a1 ))
[ "$n" -gt 0 ] || { echo "no amendments answered in the window" >&2; exit 1; }
hz=$(getconf CLK_TCK)
us() { echo $(( ($1) * 1000000 / hz / n )); }
echo "amendments in ${window}s: $n"
echo "CPU per amendment: server $(us "s2 - s1") µs, load tool $(us "l2 - l1") µs, postgres $(us "p2 - p1") µs"
jq -r '.operations | to_entries[] | select(.value.requests > 0) |
  "\(.key)  ok/s=\(.value.ok_per_second | floor)  p50=\(.value.latency_ms.p50)ms  p99=\(.value.latency_ms.p99)ms"' "$work/summary.json"
