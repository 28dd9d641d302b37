package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// ErrLagging reports that the read models did not reach a position in time.
var ErrLagging = errors.New("read models have not reached the position yet")

// WaitFor waits until every projection's checkpoint has reached position,
// at most timeout: read-your-writes for a caller that knows the position
// of its last write (Ledger-Min-Position). Read models not set up yet
// count as behind.
func WaitFor(ctx context.Context, pool *pgxpool.Pool, position eventstore.Position, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pause := time.Millisecond
	for {
		var lowest int64
		err := pool.QueryRow(ctx, `SELECT coalesce(min(position), 0) FROM `+table(LiveSchema, "checkpoints")).Scan(&lowest)
		switch {
		case err == nil && eventstore.Position(lowest) >= position:
			return nil
		case err != nil && ctx.Err() == nil && !notSetUp(err):
			return fmt.Errorf("read checkpoints: %w", err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("position %d after %s: %w", position, timeout, ErrLagging)
			}
			return ctx.Err()
		case <-time.After(pause):
			pause = min(2*pause, 25*time.Millisecond)
		}
	}
}

// notSetUp reports the error of a query on read models that do not exist
// yet (SQLSTATE 42P01, undefined_table).
func notSetUp(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
