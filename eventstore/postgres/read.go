package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

const eventColumns = `position, event_id, stream, version, type, schema_version, data, metadata, recorded_at`

// readAllSQL reads the global log below the horizon: the positions of the
// oldest transaction still running. Every transaction with a smaller id
// has ended, so every event with a smaller position is visible now or
// never will be.
const readAllSQL = `
SELECT ` + eventColumns + ` FROM events
WHERE position > $1
  AND position < (SELECT position_base FROM event_log)
                 + pg_snapshot_xmin(pg_current_snapshot())::text::bigint * 65536
ORDER BY position
LIMIT $2`

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.Event, error) {
	return s.queryEvents(ctx, "read "+stream, readStreamSQL, stream, int64(from), limit)
}

const readStreamSQL = `SELECT ` + eventColumns + ` FROM events
WHERE stream = $1 AND version >= $2 ORDER BY version LIMIT $3`

// ReadStreams implements eventstore.MultiReader: the reads are sent
// together and answered in one round trip.
func (s *Store) ReadStreams(ctx context.Context, reads []eventstore.StreamRead) ([][]eventstore.Event, error) {
	batch := &pgx.Batch{}
	for _, r := range reads {
		batch.Queue(readStreamSQL, r.Stream, int64(r.From), r.Limit)
	}
	results := s.pool.SendBatch(ctx, batch)
	defer results.Close()
	out := make([][]eventstore.Event, len(reads))
	for i, r := range reads {
		rows, err := results.Query()
		if err == nil {
			out[i], err = scanEvents(rows)
			s.sawEvents(out[i])
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", r.Stream, err)
		}
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("read %d streams: %w", len(reads), err)
	}
	return out, nil
}

// ReadStreamAsOf implements eventstore.Store. It returns the longest prefix
// of the stream recorded at or before at.
func (s *Store) ReadStreamAsOf(ctx context.Context, stream string, at time.Time) ([]eventstore.Event, error) {
	return s.queryEvents(ctx, "read "+stream+" as of "+at.Format(time.RFC3339Nano), `SELECT `+eventColumns+` FROM events
WHERE stream = $1 AND version < coalesce(
    (SELECT min(version) FROM events WHERE stream = $1 AND recorded_at > $2), 9223372036854775807)
ORDER BY version`, stream, at)
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.Event, error) {
	return s.queryEvents(ctx, fmt.Sprintf("read log after %d", after), s.readAllSQL, int64(after), limit)
}

// queryEvents runs a query of eventColumns; what names the read in errors.
func (s *Store) queryEvents(ctx context.Context, what, query string, args ...any) ([]eventstore.Event, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	s.sawEvents(events)
	return events, nil
}

// sawEvents raises the floor of appends to the positions of events.
func (s *Store) sawEvents(events []eventstore.Event) {
	for _, e := range events {
		s.saw(e.Position)
	}
}

// Head implements eventstore.Store.
func (s *Store) Head(ctx context.Context) (eventstore.Position, error) {
	var head int64
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(max(position), 0) FROM events`).Scan(&head); err != nil {
		return 0, fmt.Errorf("read head: %w", err)
	}
	s.saw(eventstore.Position(head))
	return eventstore.Position(head), nil
}

func scanEvents(rows pgx.Rows) ([]eventstore.Event, error) {
	defer rows.Close()
	var out []eventstore.Event
	for rows.Next() {
		var (
			e             eventstore.Event
			pos, version  int64
			schemaVersion int32
			data, meta    []byte
		)
		err := rows.Scan(&pos, &e.ID, &e.Stream, &version, &e.Type, &schemaVersion, &data, &meta, &e.RecordedAt)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(meta, &e.Metadata); err != nil {
			return nil, fmt.Errorf("metadata of event %s: %w", e.ID, err)
		}
		e.Position, e.Version, e.SchemaVersion = eventstore.Position(pos), uint64(version), int(schemaVersion)
		e.Data, e.RecordedAt = data, e.RecordedAt.UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
