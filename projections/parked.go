package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// ParkedEvent is an event a projection did not apply: it failed on it
// (Error says how), or skipped it because an earlier event of its stream
// is parked.
type ParkedEvent struct {
	Position   eventstore.Position `json:"position"`
	Projection string              `json:"projection"`
	Stream     string              `json:"stream"`
	TenantID   *uuid.UUID          `json:"tenant_id"`
	EventType  string              `json:"event_type"`
	Error      string              `json:"error"`
	ParkedAt   time.Time           `json:"parked_at"`
}

// ListParked returns the events parked in the live read models, by
// position, then projection. It returns none before they are set up.
func ListParked(ctx context.Context, db Querier) ([]ParkedEvent, error) {
	rows, err := db.Query(ctx, `SELECT position, projection, stream, tenant_id, event_type, error, parked_at
FROM `+table(LiveSchema, parkedTable)+` ORDER BY position, projection`)
	if err != nil {
		if notSetUp(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	events, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (ParkedEvent, error) {
		var e ParkedEvent
		var pos int64
		err := row.Scan(&pos, &e.Projection, &e.Stream, &e.TenantID, &e.EventType, &e.Error, &e.ParkedAt)
		e.Position, e.ParkedAt = eventstore.Position(pos), e.ParkedAt.UTC()
		return e, err
	})
	if err != nil {
		if notSetUp(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list parked events: %w", err)
	}
	return events, nil
}

// ErrNotParked reports a stream with no parked events to retry.
var ErrNotParked = errors.New("no parked events")

// StreamRetry is what retrying a stream did in one projection.
type StreamRetry struct {
	Projection string
	// Applied counts the parked events applied now.
	Applied int
	// Gone counts the parked events the log no longer holds: dropped
	// with their parked rows.
	Gone int
}

// RetryStream applies again, after a fix, the events of stream parked in
// the live read models of ps: for each projection it is parked in, in one
// transaction that holds the live projection back, it reads the stream's
// parked events from the log and applies them, in order, then removes
// their parked rows, so the stream is no longer stale there and the live
// projection applies its later events as they come. Events the log no
// longer holds are dropped. An event that fails again fails the retry in
// its projection, which keeps its parked rows; the projections retried
// before it stay retried.
func RetryStream(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, stream string) ([]StreamRetry, error) {
	if err := Setup(ctx, pool, ps); err != nil {
		return nil, err
	}
	var names []string
	rows, err := pool.Query(ctx, `SELECT DISTINCT projection FROM `+table(LiveSchema, parkedTable)+` WHERE stream = $1 ORDER BY projection`, stream)
	if err == nil {
		names, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil {
		return nil, fmt.Errorf("read parked events of %s: %w", stream, err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("stream %s: %w", stream, ErrNotParked)
	}
	events, err := readStream(ctx, store, stream)
	if err != nil {
		return nil, err
	}
	var done []StreamRetry
	for _, name := range names {
		i := slices.IndexFunc(ps, func(p Projection) bool { return p.Name() == name })
		if i < 0 {
			return done, fmt.Errorf("stream %s is parked in %s, which is not a projection of this build", stream, name)
		}
		res, err := retryIn(ctx, pool, ps[i], stream, events)
		if err != nil {
			return done, err
		}
		done = append(done, res)
	}
	return done, nil
}

// retryIn applies the events of stream parked in p, in one transaction.
func retryIn(ctx context.Context, pool *pgxpool.Pool, p Projection, stream string, events []eventstore.Event) (StreamRetry, error) {
	res := StreamRetry{Projection: p.Name()}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		res.Applied, res.Gone = 0, 0
		if _, err := checkpoint(ctx, tx, LiveSchema, p.Name()); err != nil { // holds the live projection back
			return err
		}
		rows, err := tx.Query(ctx, `DELETE FROM `+table(LiveSchema, parkedTable)+` WHERE projection = $1 AND stream = $2 RETURNING position`,
			p.Name(), stream)
		if err != nil {
			return err
		}
		positions, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		parked := make(map[eventstore.Position]bool, len(positions))
		for _, pos := range positions {
			parked[eventstore.Position(pos)] = true
		}
		var retried []eventstore.Event
		for _, e := range events {
			if parked[e.Position] {
				retried = append(retried, e)
			}
		}
		res.Applied, res.Gone = len(retried), len(positions)-len(retried)
		if len(retried) == 0 {
			return nil
		}
		if err := safeApply(ctx, p.Apply, tx, LiveSchema, retried); err != nil {
			return fmt.Errorf("apply the parked events of %s to %s again: %w", stream, p.Name(), err)
		}
		return nil
	})
	return res, err
}

// readStream reads every event of stream from the log.
func readStream(ctx context.Context, store eventstore.Store, stream string) ([]eventstore.Event, error) {
	const page = 1000
	var out []eventstore.Event
	from := uint64(1)
	for {
		batch, err := store.ReadStream(ctx, stream, from, page)
		if err != nil {
			return nil, fmt.Errorf("read stream %s: %w", stream, err)
		}
		out = append(out, batch...)
		if len(batch) < page {
			return out, nil
		}
		from = batch[len(batch)-1].Version + 1
	}
}
