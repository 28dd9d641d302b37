#!/usr/bin/env bash
# Failover of two replicas under load, the long version of
# TestFailoverTwoReplicas (cmd/ledger/failover_test.go): two `ledger serve`
# on a Postgres cluster of their own, 8 writers (amendments and usage
# records, each with an Idempotency-Key, about 200 writes/s offered) sent to
# both replicas in turn as a load balancer would, and six kills (SIGKILL)
# of the replica holding the projections, back and forth, each started
# again after the other took over. It prints, for each kill, the takeover
# time (from the kill until every projection applied an event appended
# after it), the requests cut short in flight on the killed replica, and
# the writes/s and p99 latency from 1 s before the kill to 1 s after the
# takeover; then the run's totals. It fails if a takeover took 5 s or
# more, a client saw any other error, an acknowledged write is not in the
# log exactly once, or `ledger projections verify` fails afterwards.
#
# Usage: scripts/bench-failover.sh
# Needs the PostgreSQL server binaries (initdb, pg_ctl), as `make test` does.
set -euo pipefail
cd "$(dirname "$0")/.."
LEDGER_FAILOVER_LONG=1 go test -count=1 -run '^TestFailoverTwoReplicas$' -v -timeout 30m ./cmd/ledger 2>&1 |
    grep -v '^=== \|^pgtest: '
