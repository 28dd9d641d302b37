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

createdb "$db"
# The event store's own table, from its migrations, plus a sequence for
# pgbench's positions.
for m in eventstore/postgres/migrations/*.sql; do
    sed '/+goose Down/,$d' "$m"
done | psql -X -q -v ON_ERROR_STOP=1 "$db"
psql -X -q -v ON_ERROR_STOP=1 -c 'CREATE SEQUENCE events_position' "$db"
cat >"$work/insert.sql" <<'SQL'
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
VALUES (nextval('events_position'), gen_random_uuid(), 'bench-' || :client_id, nextval('events_position'),
  'SubscriptionAmended', 1,
  '{"changes":[{"item_id":"0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1c","quantity":42,"type":"change_quantity"}],"effective_date":"2026-12-01","subscription_id":"0193a1b2-7c3d-7e4f-8a5b-6c7d8e9f0a1b"}',
  '{"tenant_id":"0193a1b2-0000-7000-8000-000000000001","actor":{"type":"partner_user","id":"0193a1b2-0000-7000-8000-000000000002","partner_id":"0193a1b2-0000-7000-8000-000000000003"},"correlation_id":"0193a1b2-0000-7000-8000-000000000004","request_id":"req-0193a1b2","occurred_at":"2026-11-25T12:00:00.123456Z"}');
SQL

checkpoint() { psql -X -q -c CHECKPOINT "$db"; }

# Interleaved per client count, each after a checkpoint, so that both
# measure the same disk in the same state.
rows=()
for c in "${clients[@]}"; do
    checkpoint
    tps=$(pgbench -n -M prepared -c "$c" -j "$(( c < 2 ? 1 : 2 ))" -T "$secs" -f "$work/insert.sql" "$db" 2>/dev/null |
        awk '/^tps/ {print int($3)}')
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
