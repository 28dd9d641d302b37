package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Positions come from transaction ids, which belong to the server, not to
// the database: a database restored into another server, copied with
// pg_dump and pg_restore, or moved by logical replication, finds a counter
// that may restart far below the ids its positions were made from. New
// events would then take positions below old ones, and every reader, its
// checkpoint past them, would skip them all. So positions are
//
//	position_base + transaction id * 65536 + index in the transaction
//
// where position_base (table event_log) is 0 until a rebase raises it. An
// append refuses to write unless its positions lie above the floor: the
// highest position the store has seen committed (in its appends, its
// reads and the log's head, which it reads before its first append and
// whenever a subscriber idles). A transaction that takes its id after an
// event committed has a greater id, so the floor holds on a log that
// stays on its server, and fails, with eventstore.ErrLogRestored, on one
// whose server's ids restart lower. CheckPositions tells the same at
// start-up, from the log alone; Rebase, run once after the move, raises
// the base so that positions go on above every old one.

// restoredSQL is true when the log holds a position that no transaction
// the current snapshot knows of could have made.
const restoredSQL = `
SELECT (SELECT coalesce(max(position), 0) FROM events)
    >= (SELECT position_base FROM event_log) + pg_snapshot_xmax(pg_current_snapshot())::text::bigint * 65536`

// floor returns the highest position the store has seen committed,
// reading the log's head the first time.
func (s *Store) floor(ctx context.Context) (int64, error) {
	if !s.seeded.Load() {
		if _, err := s.Head(ctx); err != nil {
			return 0, err
		}
		s.seeded.Store(true)
	}
	return s.seen.Load(), nil
}

// saw raises the floor to p, a position seen committed.
func (s *Store) saw(p eventstore.Position) {
	for seen := s.seen.Load(); int64(p) > seen && !s.seen.CompareAndSwap(seen, int64(p)); seen = s.seen.Load() {
	}
}

// CheckPositions returns eventstore.ErrLogRestored when the log's
// positions run ahead of this server's transaction ids: the database was
// restored or moved and must be rebased (Rebase) before it takes appends.
func (s *Store) CheckPositions(ctx context.Context) error {
	var restored bool
	if err := s.pool.QueryRow(ctx, restoredSQL).Scan(&restored); err != nil {
		return fmt.Errorf("check positions: %w", err)
	}
	if restored {
		return fmt.Errorf("check positions: %w (with every ledger process stopped, run `ledger eventstore rebase`)", eventstore.ErrLogRestored)
	}
	return nil
}

// Rebased is what Rebase did: the position base before and after, equal
// when the log needed no rebase.
type Rebased struct {
	OldBase, NewBase int64
	// Head is the log's last position, which every new one follows.
	Head int64
}

// Rebase raises the position base, if the log needs it, so that every
// position assigned from now on follows every position in the log. It
// locks the events table against appends while it runs; run it after a
// restore or a move, before the ledger starts again. It changes nothing
// on a log that needs no rebase, so running it twice is harmless.
func Rebase(ctx context.Context, pool *pgxpool.Pool) (Rebased, error) {
	var r Rebased
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		var xmax int64
		err := tx.QueryRow(ctx, `
SELECT (SELECT coalesce(max(position), 0) FROM events), position_base,
       pg_snapshot_xmax(pg_current_snapshot())::text::bigint
FROM event_log`).Scan(&r.Head, &r.OldBase, &xmax)
		if err != nil {
			return err
		}
		r.NewBase = r.OldBase
		if r.Head < r.OldBase+xmax*txCapacity {
			return nil
		}
		// Every transaction from now on has an id of at least xmax.
		r.NewBase = r.Head + txCapacity - xmax*txCapacity
		_, err = tx.Exec(ctx, `UPDATE event_log SET position_base = $1, rebased_at = now()`, r.NewBase)
		return err
	})
	if err != nil {
		return Rebased{}, fmt.Errorf("rebase positions: %w", err)
	}
	return r, nil
}
