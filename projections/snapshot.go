package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// snapshotOptions open a transaction that reads one snapshot of the
// database from its first statement to its end, and writes nothing, with
// JIT compilation off, in the one round trip of the BEGIN: a read is
// short, and compiling a plan that the planner costs high (the MRR report
// of the largest tenant, planned for its values) took 70–360 ms where
// the query then ran in 20.
var snapshotOptions = pgx.TxOptions{BeginQuery: `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET LOCAL jit = off`}

// Snapshot runs read in one REPEATABLE READ READ ONLY transaction on
// pool, so that every query it makes through db sees the read models in
// one consistent state: a response built by read never mixes rows
// committed at different moments (a subscription's version with the
// items of the next one). The snapshot is taken at read's first
// statement, so a wait for Ledger-Min-Position must come before Snapshot,
// not inside it. The transaction is short and never deferrable: it holds
// no locks, and only delays the vacuum of rows changed since it began.
func Snapshot[T any](ctx context.Context, pool *pgxpool.Pool, read func(db Querier) (T, error)) (T, error) {
	var zero T
	tx, err := pool.BeginTx(ctx, snapshotOptions)
	if err != nil {
		return zero, fmt.Errorf("begin read snapshot: %w", err)
	}
	out, err := read(tx)
	if err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx)) // a broken connection is the pool's to drop; err says what failed
		return zero, err
	}
	if err := tx.Commit(ctx); err != nil {
		return zero, fmt.Errorf("end read snapshot: %w", err)
	}
	return out, nil
}
