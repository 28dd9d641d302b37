package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// diagnose explains an append that wrote nothing: its events were appended
// before (a duplicate), an id is recorded elsewhere, the stream's version
// did not satisfy the expectation, a guard did not hold, the caller's
// transaction is full, or a race was lost that a new attempt may win.
// raced says a unique constraint refused the insert.
func diagnose(ctx context.Context, q querier, st *statement, raced bool) (eventstore.AppendResult, error) {
	stream, events := st.stream, st.events
	if res, dup, err := findRecorded(ctx, q, stream, events); dup || err != nil {
		return res, err
	}
	var current int64
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM events WHERE stream = $1`, stream).Scan(&current); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: read version: %w", stream, err)
	}
	if !st.expected.Allows(uint64(current)) {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: expected %s, stream at version %d: %w", stream, st.expected, current, eventstore.ErrConcurrency)
	}
	if err := checkGuards(ctx, q, stream, st.guards); err != nil {
		return eventstore.AppendResult{}, err
	}
	if raced || !st.inTx {
		return eventstore.AppendResult{}, errRetry
	}
	var used int64
	err := q.QueryRow(ctx, `
SELECT count(*) FROM events
WHERE position >= pg_current_xact_id()::text::bigint << 16
  AND position < (pg_current_xact_id()::text::bigint << 16) + 65536`).Scan(&used)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: count transaction's events: %w", stream, err)
	}
	if used+int64(len(events)) > txCapacity {
		return eventstore.AppendResult{}, fmt.Errorf("%w: append to %s: a transaction holds at most %d events", eventstore.ErrInvalidEvent, stream, txCapacity)
	}
	return eventstore.AppendResult{}, errRetry
}

// checkGuards returns ErrConcurrency naming the first guard that does not
// hold, or nil when they all do.
func checkGuards(ctx context.Context, q querier, stream string, guards []eventstore.Guard) error {
	if len(guards) == 0 {
		return nil
	}
	streams, _ := guardArrays(guards)
	rows, err := q.Query(ctx, `
SELECT (SELECT coalesce(max(version), 0) FROM events WHERE stream = g.stream)
FROM unnest($1::text[]) WITH ORDINALITY AS g(stream, n) ORDER BY g.n`, streams)
	if err != nil {
		return fmt.Errorf("append to %s: read guarded versions: %w", stream, err)
	}
	current, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("append to %s: read guarded versions: %w", stream, err)
	}
	for i, g := range guards {
		if uint64(current[i]) != g.Version {
			return eventstore.GuardFailed(stream, g, uint64(current[i]))
		}
	}
	return nil
}

// findRecorded reports whether every event is already in stream, refusing
// ids recorded in another stream or a repeat of only some events.
func findRecorded(ctx context.Context, q querier, stream string, events []eventstore.EventData) (eventstore.AppendResult, bool, error) {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	rows, err := q.Query(ctx, `SELECT stream, version, position FROM events WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: find recorded ids: %w", stream, err)
	}
	defer rows.Close()
	var res eventstore.AppendResult
	found := 0
	for rows.Next() {
		var other string
		var version, position int64
		if err := rows.Scan(&other, &version, &position); err != nil {
			return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: find recorded ids: %w", stream, err)
		}
		if other != stream {
			return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: an event id is recorded in stream %s: %w", stream, other, eventstore.ErrDuplicateEventID)
		}
		found++
		res.Version = max(res.Version, uint64(version))
		res.Position = max(res.Position, eventstore.Position(position))
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: find recorded ids: %w", stream, err)
	}
	switch found {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(events):
		res.Duplicate = true
		return res, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: %d of %d events already recorded: %w", stream, found, len(events), eventstore.ErrDuplicateEventID)
	}
}
