#!/usr/bin/env bash
# Where Postgres's time goes under the HTTP load: a Postgres server of the
# script's own (initdb on a spare port, with pg_stat_statements loaded,
# fsync on, as the user postgres when run as root), `ledger serve` on it,
# `ledger bench http` against it for a warmup, then, statistics reset, for
# the measured run; prints the statements that took most time and the
# load's summary. The shared server is never touched.
#
# Usage: scripts/bench-statements.sh [seconds, default 15] [mix, default amend=100] [ledger binary, default: built from here]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
mix=${2:-amend=100}
work=$(mktemp -d)
bin=${3:-$work/ledger}
[ -n "${3:-}" ] || go build -o "$bin" ./cmd/ledger
pgbin=$(pg_config --bindir 2>/dev/null || ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
port=$(( 19500 + $$ % 400 ))
http=$(( port + 400 ))
as=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    as=(runuser -u postgres --)
fi
server=
cleanup() {
    [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
    "${as[@]}" "$pgbin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"${as[@]}" "$pgbin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
"${as[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/pg.log" -w start \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements -c max_connections=200" >/dev/null
sql() { psql -X -q -h 127.0.0.1 -p "$port" -U postgres "$@"; }
sql -c "CREATE DATABASE ledger" postgres
sql -d ledger -c "CREATE EXTENSION pg_stat_statements"

export LEDGER_DATABASE_URL="host=127.0.0.1 port=$port user=postgres dbname=ledger" LEDGER_LOG_LEVEL=warn
LEDGER_HTTP_ADDR=127.0.0.1:$http "$bin" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$http/healthz" >/dev/null && break; sleep 0.1; done
"$bin" bench http --url "http://127.0.0.1:$http" --clients 32 --duration 5s --warmup 2s --mix "$mix" --json >/dev/null 2>&1
sql -d ledger -c "SELECT pg_stat_statements_reset()" >/dev/null
"$bin" bench http --url "http://127.0.0.1:$http" --clients 32 --duration "${secs}s" --warmup 0s --mix "$mix" --json >"$work/summary.json" 2>/dev/null
sql -d ledger -c "
SELECT calls, round(total_exec_time::numeric) AS ms, round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
       left(regexp_replace(query, '\s+', ' ', 'g'), 90) AS statement
FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 14"
jq -r '.operations | to_entries[] | select(.value.requests > 0) |
  "\(.key)  ok/s=\(.value.ok_per_second | floor)  p50=\(.value.latency_ms.p50)ms  p99=\(.value.latency_ms.p99)ms  errors=\(.value.errors | length)"' "$work/summary.json"
