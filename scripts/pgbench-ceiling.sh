#!/usr/bin/env bash
# Measures pgbench's raw ceiling of durable single-row INSERTs into the
# event store's own table (created from its migrations, with a payload of
# the same size), then the event store's own append benchmark, in one sitting,
# and prints appends/s as a share of the ceiling at each client count.
#
# Usage: scripts/pgbench-ceiling.sh [seconds per run, default 20]
# Connects with the libpq defaults (PGHOST, PGPORT, PGUSER); set them to
# point elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
db=ledger_pgbench_$$
clients=(1 8 32)
work=$(mktemp -d)
trap 'dropdb --if-exists "$db" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

. scripts/pgbench-lib.sh
pgbench_setup "$db" "$work"

checkpoint() { psql -X -q -c CHECKPOINT "$db"; }

# Interleaved per client count, each after a checkpoint, so that both
# measure the same disk in the same state.
rows=()
for c in "${clients[@]}"; do
    tps=$(pgbench_inserts "$db" "$work" "$c" "$secs")
    echo "pgbench        clients=$c  inserts/s=$tps"
    checkpoint
    ours=$(go test -run '^$' -bench "BenchmarkAppend/writers=$c\$" -benchtime "${secs}s" ./eventstore/postgres/ |
        awk '/appends\/s/ { for (i = 1; i <= NF; i++) if ($(i+1) == "appends/s") print int($i) }')
    echo "ledger Append  writers=$c  appends/s=$ours"
    rows+=("$(awk -v c="$c" -v p="$tps" -v o="$ours" 'BEGIN { printf "| %d | %d | %d | %.0f %% |", c, p, o, 100 * o / p }')")
done

echo
echo "| clients | pgbench INSERT/s | ledger appends/s | share |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
