#!/usr/bin/env bash
# Every figure of the scale work (issue 16, docs/benchmarks.md) in one
# command, step by step with a progress line on stderr:
#
#   1. seed a fresh database with N events (`ledger bench seed`, 1,000
#      tenants and 100,000 accounts at 10,000,000), with an API key file;
#   2. `ledger projections rebuild --all` over it: events/s;
#   3. `ledger projections verify`: every read model equals a replay;
#   4. `ledger bench reads`: the audit log's 64 filter shapes, first and
#      deep page, and the revenue reports, p50/p99 over 100 reads each,
#      with every plan written beside the figures;
#   5. an amendment on a 100,000-event stream against one on a new stream,
#      cold and warm (persisted snapshots);
#   6. append → visible at 200 commands/s, every projection running;
#   7. two replicas, the holder of the projections killed back and forth.
#
# Usage: scripts/bench-scale.sh [events, default 10000000] [output dir, default ./bench-scale-out]
# Needs a local Postgres reachable with the libpq defaults (createdb), and
# the PostgreSQL server binaries for step 7. The database is kept for
# further runs (its name is printed); the output directory holds each
# step's output. At 10,000,000 events the whole run takes about 30 minutes
# on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
out=${2:-bench-scale-out}
db=ledger_scale_$(date +%Y%m%d%H%M%S)
mkdir -p "$out"
steps=7
step() { printf '\n[%d/%d] %s\n' "$1" "$steps" "$2" >&2; }

go build -o "$out/ledger" ./cmd/ledger
ledger=$out/ledger
createdb "$db"
export LEDGER_DATABASE_URL="dbname=$db" LEDGER_LOG_LEVEL=warn
echo "database $db" >&2

step 1 "seed $events events"
"$ledger" migrate >/dev/null
"$ledger" bench seed --events "$events" --keys "$out/keys.json" | tee "$out/seed.txt"

step 2 "rebuild every read model"
"$ledger" projections rebuild --all | tee "$out/rebuild.txt"

step 3 "verify every read model against a replay of the log"
"$ledger" projections verify | tee "$out/verify.txt"

step 4 "audit filter shapes and revenue reports"
"$ledger" bench reads --runs 100 --explain "$out/audit-plans.md" | tee "$out/reads.txt"

step 5 "amendments on a 100,000-event stream and on a new one"
go test ./commands -run '^$' -bench 'BenchmarkAmendLongStream/events=(100000|new)/(cold|warm)$' -benchtime 300x -count 3 |
    tee "$out/snapshots.txt"

step 6 "append to visible at 200 commands/s"
go test ./projections -run '^$' -bench BenchmarkAppendToVisible -benchtime 3000x -count 3 | tee "$out/visible.txt"

step 7 "failover of two replicas"
scripts/bench-failover.sh | tee "$out/failover.txt"

printf '\ndone: every step'"'"'s output is in %s; the database %s is kept\n' "$out" "$db" >&2
