package projections

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"ledger/internal/pgtest"
)

// TestSnapshotIsOneReadOnlySnapshotWithoutJIT holds Snapshot's
// transaction to what its reads rely on: one REPEATABLE READ snapshot that
// refuses writes, with JIT compilation off, and no transaction left open
// on the connection afterwards.
func TestSnapshotIsOneReadOnlySnapshotWithoutJIT(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 1) // one connection: the last check sees the one the snapshots ran on
	ctx := context.Background()
	type settings struct{ isolation, readOnly, jit string }
	got, err := Snapshot(ctx, pool, func(db Querier) (settings, error) {
		var s settings
		err := db.QueryRow(ctx, `SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only'),
    current_setting('jit')`).Scan(&s.isolation, &s.readOnly, &s.jit)
		return s, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := (settings{"repeatable read", "on", "off"}); got != want {
		t.Errorf("a snapshot runs with %+v, want %+v", got, want)
	}
	_, err = Snapshot(ctx, pool, func(db Querier) (int, error) {
		return 0, db.QueryRow(ctx, `CREATE TABLE snapshot_wrote (id int)`).Scan()
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "25006" { // read_only_sql_transaction
		t.Errorf("a write in a snapshot: %v, want read_only_sql_transaction", err)
	}
	var jit, sessionJIT string
	if err := pool.QueryRow(ctx, `SELECT current_setting('jit'), reset_val FROM pg_settings WHERE name = 'jit'`).
		Scan(&jit, &sessionJIT); err != nil {
		t.Fatal(err)
	}
	if jit != sessionJIT {
		t.Errorf("after a snapshot, jit = %s on its connection, want the session's %s: SET LOCAL outlived its transaction", jit, sessionJIT)
	}
}
