package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// naiveReadAllSQL orders by position alone, trusting that a later position
// never commits before an earlier one. It is wrong, and the test below
// proves that it skips events.
const naiveReadAllSQL = `
SELECT ` + eventColumns + ` FROM events WHERE position > $1 ORDER BY position LIMIT $2`

func newTestStore(t *testing.T, opts ...Option) (*Store, *pgxpool.Pool) {
	t.Helper()
	pool := pgtest.NewDatabase(t, 8)
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	s := New(pool, opts...)
	t.Cleanup(s.Close)
	return s, pool
}

func newEvent(t *testing.T, typ string) eventstore.EventData {
	t.Helper()
	e, err := eventstore.NewEvent(typ, map[string]string{"k": "v"}, eventstore.Metadata{OccurredAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReaderNeverSkipsLateCommit holds a transaction open after it appended
// (so its events take the smaller positions), commits a later append, reads,
// then commits the first and reads on from the checkpoint. The horizon
// reader must deliver both; the naive reader is shown to lose the first.
func TestReaderNeverSkipsLateCommit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		query    string
		wantSkip bool
	}{
		{"below the transaction horizon", readAllSQL, false},
		{"by position alone", naiveReadAllSQL, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, pool := newTestStore(t)
			s.readAllSQL = tc.query
			ctx := t.Context()

			slow, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Rollback(context.Background())
			late, err := s.AppendTx(ctx, slow, "slow-1", eventstore.NoStream(), newEvent(t, "Slow"))
			if err != nil {
				t.Fatalf("append in open transaction: %v", err)
			}
			fast, err := s.Append(ctx, "fast-1", eventstore.NoStream(), newEvent(t, "Fast"))
			if err != nil {
				t.Fatalf("append: %v", err)
			}
			if late.Position >= fast.Position {
				t.Fatalf("the open transaction's position %d is not before the committed one's %d", late.Position, fast.Position)
			}

			delivered := read(t, s, 0)
			checkpoint := eventstore.Position(0)
			if len(delivered) > 0 {
				checkpoint = delivered[len(delivered)-1].Position
			}
			if err := slow.Commit(ctx); err != nil {
				t.Fatalf("commit: %v", err)
			}
			waitForHorizon(t, pool, fast.Position)
			delivered = append(delivered, read(t, s, checkpoint)...)

			skipped := !contains(delivered, late.Position)
			if skipped != tc.wantSkip {
				t.Fatalf("skipped the late commit = %v, want %v (delivered %d events)", skipped, tc.wantSkip, len(delivered))
			}
			if !contains(delivered, fast.Position) {
				t.Fatalf("the committed append at %d was never delivered", fast.Position)
			}
		})
	}
}

// waitForHorizon waits until every transaction that could hold a position
// up to p has ended. The horizon is the whole server's, so transactions of
// other tests can hold it back for a while.
func waitForHorizon(t *testing.T, pool *pgxpool.Pool, p eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var passed bool
		err := pool.QueryRow(t.Context(),
			`SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 16 > $1`, int64(p)).Scan(&passed)
		if err != nil {
			t.Fatalf("read horizon: %v", err)
		}
		if passed {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the transaction horizon did not pass position %d in 30s", p)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func read(t *testing.T, s *Store, after eventstore.Position) []eventstore.Event {
	t.Helper()
	evs, err := s.ReadAll(t.Context(), after, 100)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	return evs
}

func contains(evs []eventstore.Event, p eventstore.Position) bool {
	for _, e := range evs {
		if e.Position == p {
			return true
		}
	}
	return false
}

// TestAppendTxRefusesOverfullTransaction checks the bound that keeps
// positions of one transaction from reaching the next transaction's.
func TestAppendTxRefusesOverfullTransaction(t *testing.T) {
	t.Parallel()
	s, pool := newTestStore(t)
	ctx := t.Context()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background())
	batch := make([]eventstore.EventData, eventstore.MaxAppendEvents)
	for i := range batch {
		batch[i] = newEvent(t, "Bulk")
	}
	appended := 0
	for appended+len(batch) <= txCapacity {
		for i := range batch {
			batch[i] = newEvent(t, "Bulk")
		}
		if _, err := s.AppendTx(ctx, tx, "bulk-1", eventstore.Any(), batch...); err != nil {
			t.Fatalf("append after %d events: %v", appended, err)
		}
		appended += len(batch)
	}
	for i := range batch {
		batch[i] = newEvent(t, "Bulk")
	}
	_, err = s.AppendTx(ctx, tx, "bulk-1", eventstore.Any(), batch...)
	if err == nil || !isInvalid(err) {
		t.Fatalf("append past %d events in one transaction: err = %v, want ErrInvalidEvent", txCapacity, err)
	}
}
