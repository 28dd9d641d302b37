package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// diagnose explains an append that wrote nothing, after its transaction:
// its key was recorded before (a replay, or ErrKeyReused), its events were
// (a duplicate, or ErrDuplicateEventID for an id elsewhere or a partial
// repeat), an expectation or a condition does not hold (ErrConcurrency),
// the log was restored (ErrLogRestored), or none of these holds any more,
// and it may run again.
func (s *Store) diagnose(ctx context.Context, st *statement) (eventstore.AppendResult, error) {
	if st.req.Key != nil {
		if res, found, err := s.LookupKey(ctx, *st.req.Key); found || err != nil {
			return res, err
		}
	}
	if res, dup, err := s.findRecorded(ctx, st.req); dup || err != nil {
		return res, err
	}
	if err := s.checkVersions(ctx, st.req); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.CheckPositions(ctx); err != nil {
		return eventstore.AppendResult{}, err
	}
	return eventstore.AppendResult{}, errRetry
}

// checkVersions returns ErrConcurrency naming the first stream whose
// expectation or condition does not hold, or nil when they all do.
func (s *Store) checkVersions(ctx context.Context, req eventstore.AppendRequest) error {
	streams := make([]string, 0, len(req.Streams)+len(req.Conditions))
	for _, st := range req.Streams {
		streams = append(streams, st.Stream)
	}
	for _, c := range req.Conditions {
		streams = append(streams, c.Stream)
	}
	rows, err := s.pool.Query(ctx, `
SELECT (SELECT coalesce(max(version), 0) FROM events WHERE stream = x.stream)
FROM unnest($1::text[]) WITH ORDINALITY AS x(stream, n) ORDER BY x.n`, streams)
	if err != nil {
		return fmt.Errorf("append: read versions: %w", err)
	}
	current, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return fmt.Errorf("append: read versions: %w", err)
	}
	for i, st := range req.Streams {
		if v := uint64(current[i]); !st.Expected.Allows(v) {
			return fmt.Errorf("append to %s: expected %s, stream at version %d: %w", st.Stream, st.Expected, v, eventstore.ErrConcurrency)
		}
	}
	for i, c := range req.Conditions {
		if v := uint64(current[len(req.Streams)+i]); v != c.Version {
			return fmt.Errorf("append: condition expects %s at version %d, it is at %d: %w", c.Stream, c.Version, v, eventstore.ErrConcurrency)
		}
	}
	return nil
}

// findRecorded reports whether every event of req is already recorded,
// each in the stream req names, and refuses an id recorded in another
// stream or a repeat of only some events.
func (s *Store) findRecorded(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, bool, error) {
	streamOf := make(map[uuid.UUID]int)
	var ids []uuid.UUID
	for i, st := range req.Streams {
		for _, e := range st.Events {
			streamOf[e.ID] = i
			ids = append(ids, e.ID)
		}
	}
	if len(ids) == 0 {
		return eventstore.AppendResult{}, false, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT event_id, stream, version, position FROM events WHERE event_id = ANY($1)`, ids)
	if err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("append: find recorded ids: %w", err)
	}
	defer rows.Close()
	res := eventstore.AppendResult{Versions: make([]uint64, len(req.Streams)), Duplicate: true}
	found := 0
	for rows.Next() {
		var (
			id                uuid.UUID
			stream            string
			version, position int64
		)
		if err := rows.Scan(&id, &stream, &version, &position); err != nil {
			return eventstore.AppendResult{}, false, fmt.Errorf("append: find recorded ids: %w", err)
		}
		i := streamOf[id]
		if want := req.Streams[i].Stream; stream != want {
			return eventstore.AppendResult{}, false, fmt.Errorf("append to %s: event %s is recorded in stream %s: %w", want, id, stream, eventstore.ErrDuplicateEventID)
		}
		found++
		res.Versions[i] = max(res.Versions[i], uint64(version))
		res.Position = max(res.Position, eventstore.Position(position))
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("append: find recorded ids: %w", err)
	}
	switch found {
	case 0:
		return eventstore.AppendResult{}, false, nil
	case len(ids):
		res.Version = res.Versions[0]
		return res, true, nil
	default:
		return eventstore.AppendResult{}, false, fmt.Errorf("append: %d of %d events already recorded: %w", found, len(ids), eventstore.ErrDuplicateEventID)
	}
}
