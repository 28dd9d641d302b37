package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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
			late := insertInTx(t, slow, "slow-1", newEvent(t, "Slow"))
			fast, err := s.Append(ctx, eventstore.To("fast-1", eventstore.NoStream(), newEvent(t, "Fast")))
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
		err := pool.QueryRow(t.Context(), `
SELECT (SELECT position_base FROM event_log) + pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536 > $1`,
			int64(p)).Scan(&passed)
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

// insertInTx writes event to stream inside tx, as an append's insert
// would, and leaves tx open: a transaction that holds the horizon back.
func insertInTx(t *testing.T, tx pgx.Tx, stream string, e eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	var res eventstore.AppendResult
	err := tx.QueryRow(t.Context(), `
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT (SELECT position_base FROM event_log) + pg_current_xact_id()::text::bigint * 65536,
       $2, $1, (SELECT coalesce(max(version), 0) + 1 FROM events WHERE stream = $1), $3, 1, $4, '{}'
RETURNING version, position`, stream, e.ID, e.Type, string(e.Data)).Scan(&res.Version, &res.Position)
	if err != nil {
		t.Fatalf("insert in an open transaction: %v", err)
	}
	return res
}
