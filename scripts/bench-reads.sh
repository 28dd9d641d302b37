#!/usr/bin/env bash
# What a read costs: `ledger serve` on a fresh database with `ledger bench
# http --mix read=100` against it (32 clients, each reading one
# subscription of its own, no warmup), and the CPU time of the server and
# of that database's own Postgres backends (not of the machine's other
# databases), each divided by the reads answered. Given several binaries,
# it runs them in turn, round after round, so that they share the
# machine's moods: build one without a change to compare it with.
#
# Usage: scripts/bench-reads.sh [seconds, default 15] [rounds, default 1] [binary…, default this tree's]
# Needs a local Postgres reachable with the libpq defaults, curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
rounds=${2:-1}
shift $(( $# < 2 ? $# : 2 ))
work=$(mktemp -d)
db=
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    [ -n "$db" ] && dropdb --if-exists "$db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    go build -o "$work/ledger" ./cmd/ledger
    binaries=("$work/ledger")
fi

# ticks PID: the process's user and system CPU, in clock ticks.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
backends() { psql -XAtq -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()" "$db"; }

# run BINARY: one measured run on a fresh database.
run() {
    local bin=$1 port=$(( 19000 + RANDOM % 1000 )) p s0 s1 pg=0
    db=ledger_benchreads_$$_$RANDOM
    createdb "$db"
    LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn LEDGER_HTTP_ADDR=127.0.0.1:$port "$bin" serve >"$work/serve.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
    declare -A before=()
    for p in $(backends); do before[$p]=$(ticks "$p"); done
    s0=$(ticks "$server")
    LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn "$bin" bench http --url "http://127.0.0.1:$port" --clients 32 \
        --subscriptions 1 --warmup 0s --duration "${secs}s" --mix read=100 --json >"$work/summary.json" 2>"$work/progress.log" ||
        { cat "$work/progress.log" >&2; exit 1; }
    s1=$(ticks "$server")
    for p in $(backends); do pg=$(( pg + $(ticks "$p") - ${before[$p]:-0} )); done
    kill "$server" && wait "$server" 2>/dev/null || true
    server=
    dropdb "$db"
    db=
    jq -r --arg bin "$bin" --argjson s "$(( s1 - s0 ))" --argjson pg "$pg" --argjson hz "$(getconf CLK_TCK)" '.operations.read as $r |
      "\($bin)  reads/s=\($r.ok_per_second | floor)  p50=\($r.latency_ms.p50)ms  p99=\($r.latency_ms.p99)ms  errors=\($r.requests - $r.ok)  CPU per read: server \(($s * 1000000 / $hz / $r.ok) | floor) µs, postgres \(($pg * 1000000 / $hz / $r.ok) | floor) µs"' \
      "$work/summary.json"
}

for _ in $(seq 1 "$rounds"); do
    for bin in "${binaries[@]}"; do
        run "$bin"
    done
done
