#!/usr/bin/env bash
# The HTTP load benchmark beside pgbench's raw single-row INSERT ceiling at
# the same client count, in one sitting: pgbench into a copy of the events
# table, then `ledger serve` on a fresh database and `ledger bench http`
# against it, then pgbench again, all on this machine. The share is given
# against the higher of the two pgbench runs: the machine's speed wanders
# from minute to minute, and the higher ceiling is the harder test.
#
# Usage: scripts/bench-http.sh [seconds, default 20] [mix, default amend=100] [clients, default 32]
# Needs a local Postgres reachable with the libpq defaults, and pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
mix=${2:-amend=100}
clients=${3:-32}
db=ledger_benchhttp_$$
port=$(( 18000 + $$ % 1000 ))
work=$(mktemp -d)
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    dropdb --if-exists "$db" >/dev/null 2>&1 || true
    dropdb --if-exists "${db}_pgbench" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/ledger" ./cmd/ledger

. scripts/pgbench-lib.sh
pgbench_setup "${db}_pgbench" "$work"
before=$(pgbench_inserts "${db}_pgbench" "$work" "$clients" "$secs")

createdb "$db"
export LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn
LEDGER_HTTP_ADDR=127.0.0.1:$port "$work/ledger" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
psql -X -q -c CHECKPOINT "$db"
"$work/ledger" bench http --url "http://127.0.0.1:$port" --clients "$clients" --duration "${secs}s" --mix "$mix" \
    --json >"$work/summary.json" 2>"$work/progress.log" || { cat "$work/progress.log" >&2; exit 1; }
kill "$server" && wait "$server" 2>/dev/null || true
server=
after=$(pgbench_inserts "${db}_pgbench" "$work" "$clients" "$secs")
tps=$(( before > after ? before : after ))
echo "pgbench  clients=$clients  inserts/s=$before before, $after after"
jq -r --argjson tps "$tps" '
  .operations | to_entries[] | select(.value.requests > 0) |
  "\(.key)  ok/s=\(.value.ok_per_second | floor)  p50=\(.value.latency_ms.p50)ms  p99=\(.value.latency_ms.p99)ms  max=\(.value.latency_ms.max)ms  share_of_pgbench=\((100 * .value.ok_per_second / $tps) | floor)%"' \
  "$work/summary.json"
jq -c '.projection_lag' "$work/summary.json"
