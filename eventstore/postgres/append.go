package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"ledger/eventstore"
)

// txCapacity is how many events one transaction can append: the low 16 bits
// of a position number the events within their transaction.
const txCapacity = 1 << 16

// The append statements insert a batch in one statement when the stream's
// current version satisfies the expected version, and the guards hold;
// otherwise they insert nothing and the caller diagnoses why. Parameters:
// $1 stream, $2 expectation (0 any, 1 exact, 2 exists), $3 exact version,
// $4..$8 the events' ids, types, schema versions, data and metadata, and
// in the guarded statements $9 and $10 the guards' streams and versions.
const (
	appendHead = `
WITH cur AS (
    SELECT coalesce(max(version), 0) AS v FROM events WHERE stream = $1
)`
	appendInsert = `
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT next.pos + b.n - 1, b.id, $1, cur.v + b.n, b.type, b.sv, b.data, b.meta
FROM next, cur, unnest($4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[])
    WITH ORDINALITY AS b(id, type, sv, data, meta, n)` + appendExpected
	appendInsertOne = `
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT pg_current_xact_id()::text::bigint << 16, $4, $1, cur.v + 1, $5, $6, $7, $8
FROM cur` + appendExpected
	appendReturning = `
RETURNING version, position`

	appendExpected = `
WHERE ($2 = 0 OR ($2 = 1 AND cur.v = $3) OR ($2 = 2 AND cur.v > 0))`

	// appendGuards holds when every guarded stream is at its version.
	appendGuards = `
  AND NOT EXISTS (
    SELECT 1 FROM unnest($9::text[], $10::bigint[]) AS g(stream, v)
    WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream = g.stream) <> g.v)`

	appendNext = `, next AS (
    SELECT pg_current_xact_id()::text::bigint << 16 AS pos
)`

	// appendSQL runs in a transaction of its own, so its events are the
	// first of their transaction, and a repeated id fails on the unique
	// index.
	appendSQL        = appendHead + appendNext + appendInsert + appendReturning
	appendGuardedSQL = appendHead + appendNext + appendInsert + appendGuards + appendReturning

	// appendOneSQL is appendSQL for a single event, whose fields are
	// scalar parameters: the common case, without arrays to encode and
	// unnest.
	appendOneSQL        = appendHead + appendInsertOne + appendReturning
	appendOneGuardedSQL = appendHead + appendInsertOne + appendGuards + appendReturning

	// appendTxSQL runs in the caller's transaction: it numbers its events
	// after those the transaction appended already, refuses to overflow the
	// transaction's positions, and inserts nothing rather than fail (and
	// abort the transaction) on a repeated id.
	appendTxSQL = appendHead + `, tx AS (
    SELECT pg_current_xact_id()::text::bigint << 16 AS lo
), next AS (
    SELECT coalesce((SELECT max(position) + 1 FROM events
                     WHERE position >= tx.lo AND position < tx.lo + 65536), tx.lo) AS pos, tx.lo
    FROM tx
)` + appendInsert + `
  AND next.pos - next.lo + cardinality($4::uuid[]) <= 65536
  AND NOT EXISTS (SELECT 1 FROM events WHERE event_id = ANY($4::uuid[]))` + appendReturning
)

// maxRetries bounds how often an append whose expectation still holds is
// tried again after losing a race (expected Any or StreamExists).
const maxRetries = 20

// errRetry marks a lost race that a new attempt may win.
var errRetry = errors.New("retry")

// querier is what an append needs of a pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Append implements eventstore.Store. Each attempt is one statement in its
// own transaction, so an append is atomic and costs one round trip.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return s.AppendGuarded(ctx, stream, expected, nil, events...)
}

// AppendGuarded implements eventstore.GuardedAppender: the guards are
// checked in the append's own statement, against the streams as that
// statement finds them. An append to a guarded stream that commits while
// the statement runs is not seen, just as a read before the append would
// not have seen it; every append that committed before is.
func (s *Store) AppendGuarded(ctx context.Context, stream string, expected eventstore.ExpectedVersion, guards []eventstore.Guard, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	st, err := newStatement(stream, expected, guards, events, false)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// An append with others in progress is offered to a group; alone,
	// it has nothing to share and runs at once.
	others := s.appending.Add(1) > 1
	defer s.appending.Add(-1)
	if others && st.one != nil {
		if res, appended, err := s.appendGrouped(ctx, st); err != nil || appended {
			return res, err
		}
	}
	for attempt := 0; ; attempt++ {
		res, err := st.run(ctx, s.pool)
		if errors.Is(err, errRetry) && attempt < maxRetries {
			continue
		}
		if errors.Is(err, errRetry) {
			err = fmt.Errorf("append to %s: %d attempts lost races: %w", stream, attempt+1, eventstore.ErrConcurrency)
		}
		if err == nil && !res.Duplicate {
			s.committed()
		}
		return res, err
	}
}

// AppendTx appends inside the caller's transaction, with the rules of
// Append. The events become visible when tx commits; call Committed then so
// that subscribers wake at once. A conflict detected by a unique constraint
// aborts tx and returns ErrConcurrency: retry the whole transaction, and a
// repeat of events that did commit then reports Duplicate. One transaction
// can append at most 65,536 events.
func (s *Store) AppendTx(ctx context.Context, tx pgx.Tx, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	st, err := newStatement(stream, expected, nil, events, true)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, err := st.run(ctx, tx)
	if errors.Is(err, errRetry) {
		err = fmt.Errorf("append to %s: lost a race: %w", stream, eventstore.ErrConcurrency)
	}
	return res, err
}

// Committed wakes this process's subscribers and, soon after, those of other
// processes. Append calls it itself; callers of AppendTx call it after
// their commit.
func (s *Store) Committed() { s.committed() }

func (s *Store) committed() {
	s.wake.broadcast()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// statement is one append, ready to run and to run again after a lost race.
type statement struct {
	stream   string
	expected eventstore.ExpectedVersion
	guards   []eventstore.Guard
	events   []eventstore.EventData
	inTx     bool // runs in the caller's transaction
	query    string
	args     []any
	one      *oneEvent // the event of a single-event append outside a transaction
}

// oneEvent is the parameters of a single-event append: its stream's
// expectation, and the event.
type oneEvent struct {
	mode  int
	exact int64
	id    uuid.UUID
	typ   string
	sv    int32
	data  string
	meta  string
}

func newStatement(stream string, expected eventstore.ExpectedVersion, guards []eventstore.Guard, events []eventstore.EventData, inTx bool) (*statement, error) {
	if err := eventstore.Validate(stream, events); err != nil {
		return nil, err
	}
	if err := eventstore.ValidateGuards(stream, guards); err != nil {
		return nil, err
	}
	mode, exact := 0, int64(0)
	if v, ok := expected.Version(); ok {
		mode, exact = 1, int64(v)
	} else if expected.IsStreamExists() {
		mode = 2
	}
	ids := make([]uuid.UUID, len(events))
	types := make([]string, len(events))
	svs := make([]int32, len(events))
	data := make([]string, len(events))
	metas := make([]string, len(events))
	for i, e := range events {
		meta, err := json.Marshal(e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("append to %s: metadata of event %d: %w", stream, i, err)
		}
		ids[i], types[i], svs[i], data[i], metas[i] = e.ID, e.Type, int32(e.SchemaVersion), string(e.Data), string(meta)
	}
	st := &statement{stream: stream, expected: expected, guards: guards, events: events, inTx: inTx}
	switch {
	case inTx:
		st.query, st.args = appendTxSQL, []any{stream, mode, exact, ids, types, svs, data, metas}
	case len(events) == 1:
		st.query, st.args = appendOneSQL, []any{stream, mode, exact, ids[0], types[0], svs[0], data[0], metas[0]}
		st.one = &oneEvent{mode: mode, exact: exact, id: ids[0], typ: types[0], sv: svs[0], data: data[0], meta: metas[0]}
	default:
		st.query, st.args = appendSQL, []any{stream, mode, exact, ids, types, svs, data, metas}
	}
	if len(guards) > 0 {
		st.guard()
	}
	return st, nil
}

// guard turns st into its guarded statement.
func (st *statement) guard() {
	streams, versions := guardArrays(st.guards)
	st.query = appendGuardedSQL
	if st.one != nil {
		st.query = appendOneGuardedSQL
	}
	st.args = append(st.args, streams, versions)
}

func guardArrays(guards []eventstore.Guard) ([]string, []int64) {
	streams, versions := make([]string, len(guards)), make([]int64, len(guards))
	for i, g := range guards {
		streams[i], versions[i] = g.Stream, int64(g.Version)
	}
	return streams, versions
}

// run tries the append once on q.
func (st *statement) run(ctx context.Context, q querier) (eventstore.AppendResult, error) {
	rows, err := q.Query(ctx, st.query, st.args...)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.stream, err)
	}
	var res eventstore.AppendResult
	n := 0
	for rows.Next() {
		var version, position int64
		if err := rows.Scan(&version, &position); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.stream, err)
		}
		n++
		res.Version = max(res.Version, uint64(version))
		res.Position = max(res.Position, eventstore.Position(position))
	}
	err = rows.Err()
	switch {
	case isUniqueViolation(err) && st.inTx:
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: a concurrent append won: %w", st.stream, eventstore.ErrConcurrency)
	case isUniqueViolation(err):
		return diagnose(ctx, q, st, true)
	case err != nil:
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.stream, err)
	case n == 0:
		return diagnose(ctx, q, st, false)
	case n != len(st.events):
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %d of %d events written", st.stream, n, len(st.events))
	}
	return res, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
