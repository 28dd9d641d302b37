# Shared by the benchmark scripts: pgbench's raw single-row INSERT into the
# event store's own table. Source it from the repository's root.

# pgbench_setup DB WORKDIR creates database DB with the event store's table,
# from its migrations, and a sequence for pgbench's positions, and writes
# WORKDIR/insert.sql: one INSERT of an event of a realistic size.
pgbench_setup() {
    local db=$1 work=$2 m
    createdb "$db"
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
}

# pgbench_inserts DB WORKDIR CLIENTS SECONDS checkpoints DB, runs the INSERT
# with CLIENTS clients for SECONDS and prints the inserts per second.
pgbench_inserts() {
    local db=$1 work=$2 clients=$3 secs=$4
    psql -X -q -c CHECKPOINT "$db"
    pgbench -n -M prepared -c "$clients" -j "$(( clients < 2 ? 1 : 2 ))" -T "$secs" -f "$work/insert.sql" "$db" 2>/dev/null |
        awk '/^tps/ {print int($3)}'
}
