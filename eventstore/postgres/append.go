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

// An append is one transaction of two statements, sent together in one
// round trip (a pgx batch runs as one implicit transaction):
//
//  1. the locks: transaction-scoped advisory locks on every stream it
//     touches, in the order of their keys, exclusive on the streams it
//     writes (and on its idempotency key), shared on the streams it is
//     conditioned on;
//  2. the insert: on a snapshot taken after the locks, the events, where
//     every expectation and condition holds, at positions derived from
//     the transaction's id, which the insert is the first to take.
//
// So a condition holds in log order. Take an append A conditioned on
// stream G at version v, and a writer W of G. If A locks G first, W waits
// until A has committed, and only then takes its transaction id, which is
// therefore greater than A's: W's events follow A's in the log. If W locks
// G first, A's insert runs after W has committed, on a snapshot that sees
// G past v, and A writes nothing. Two writers of one stream take turns the
// same way, so a stream's versions follow its positions.
//
// The insert also refuses to write unless its positions lie above the
// floor, the highest position the store has seen committed: a log
// restored or moved to a server whose transaction ids restart lower fails
// it (see positions.go).

// txCapacity is how many events one transaction can append: the low 16 bits
// of a position number the events within their transaction.
const txCapacity = 1 << 16

// Fragments of the insert statements. Positions are
// position_base + transaction id * 65536 + index, computed with bigint
// arithmetic, which fails rather than wrap past 2^63.
const (
	positionExpr = `log.base + pg_current_xact_id()::text::bigint * 65536`

	// aboveFloor* hold while the append's positions lie above the
	// floor, the last of its parameters: the highest position the store
	// has seen committed. A transaction that takes its id after an event
	// committed has a greater id, so this fails only when the log was
	// restored or moved under the store (see positions.go).
	aboveFloorOne   = "\n  AND " + positionExpr + " > $11"
	aboveFloorMany  = "\n           AND " + positionExpr + " > $16"
	aboveFloorGroup = "\n  AND " + positionExpr + " > $12"

	logBase = `log AS (SELECT position_base AS base FROM event_log)`
)

// appendOneSQL appends a single event to one stream, under conditions:
// the common case, with the event's fields as scalar parameters. $1
// stream, $2 expectation (0 any, 1 exact, 2 exists), $3 exact version,
// $4..$8 the event's id, type, schema version, data and metadata, $9 and
// $10 the conditions' streams and versions, $11 the floor.
const appendOneSQL = `
WITH ` + logBase + `,
cur AS (SELECT coalesce(max(version), 0) AS v FROM events WHERE stream = $1)
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT ` + positionExpr + `, $4, $1, cur.v + 1, $5, $6, $7, $8
FROM log, cur
WHERE ($2 = 0 OR ($2 = 1 AND cur.v = $3) OR ($2 = 2 AND cur.v > 0))
  AND NOT EXISTS (
    SELECT 1 FROM unnest($9::text[], $10::bigint[]) AS c(stream, v)
    WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream = c.stream) <> c.v)` + aboveFloorOne + `
RETURNING stream, version, position`

// appendSQL appends to several streams under conditions, and records an
// idempotency key. $1..$3 the streams with their expectations and exact
// versions; $4..$9 the events, each with the place of its stream in $1
// (from 1); $10 and $11 the conditions; $12..$15 the key's caller (null:
// no key), key, fingerprint and result; $16 the floor. It returns a row
// per event written, and one of nulls when it recorded the key.
const appendSQL = `
WITH ` + logBase + `,
s AS (
    SELECT s.i, s.stream, s.mode, s.exact,
           (SELECT coalesce(max(version), 0) FROM events WHERE stream = s.stream) AS v
    FROM unnest($1::text[], $2::int[], $3::bigint[]) WITH ORDINALITY AS s(stream, mode, exact, i)
),
gate AS (
    SELECT ` + positionExpr + ` AS pos,
           NOT EXISTS (SELECT 1 FROM s WHERE NOT (s.mode = 0 OR (s.mode = 1 AND s.v = s.exact) OR (s.mode = 2 AND s.v > 0)))
           AND NOT EXISTS (
               SELECT 1 FROM unnest($10::text[], $11::bigint[]) AS c(stream, v)
               WHERE (SELECT coalesce(max(version), 0) FROM events WHERE stream = c.stream) <> c.v)
           AND NOT EXISTS (SELECT 1 FROM idempotency_keys WHERE caller = $12::text AND key = $13::text)` + aboveFloorMany + ` AS ok
    FROM log
),
ins AS (
    INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
    SELECT gate.pos + e.n - 1, e.id, s.stream, s.v + row_number() OVER (PARTITION BY e.si ORDER BY e.n),
           e.type, e.sv, e.data, e.meta
    FROM gate,
         unnest($4::int[], $5::uuid[], $6::text[], $7::int[], $8::json[], $9::json[]) WITH ORDINALITY AS e(si, id, type, sv, data, meta, n)
         JOIN s ON s.i = e.si
    WHERE gate.ok
    RETURNING stream, version, position
),
k AS (
    INSERT INTO idempotency_keys (caller, key, fingerprint, result, stream_version, position)
    SELECT $12::text, $13::text, $14::text, $15::bytea,
           coalesce((SELECT max(version) FROM ins WHERE stream = ($1::text[])[1]), 0),
           coalesce((SELECT max(position) FROM ins), 0)
    FROM gate WHERE gate.ok AND $12::text IS NOT NULL
    RETURNING 1
)
SELECT stream, version, position FROM ins
UNION ALL SELECT NULL, NULL, NULL FROM k`

// lockOneSQL and lockSQL take the advisory locks of an append: one
// exclusive lock, or a lock per key in the arrays' order, exclusive where
// $2 says so and shared elsewhere.
const (
	lockOneSQL = `SELECT pg_advisory_xact_lock($1)`
	lockSQL    = `
SELECT CASE WHEN l.x THEN pg_advisory_xact_lock(l.k) ELSE pg_advisory_xact_lock_shared(l.k) END
FROM unnest($1::bigint[], $2::bool[]) AS l(k, x)`
)

// maxRetries bounds how often an append whose expectation still holds is
// tried again when its statement found otherwise: an expectation such as
// StreamExists that came to hold just after.
const maxRetries = 20

// errRetry marks an append to try again.
var errRetry = errors.New("retry")

// Append implements eventstore.Store. Each attempt is one transaction and
// one round trip; a single event, with other appends in progress, may
// share its transaction with them (batch.go).
func (s *Store) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	st, err := newStatement(req)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	// An append with others in progress is offered to a group; alone,
	// it has nothing to share and runs at once.
	others := s.appending.Add(1) > 1
	defer s.appending.Add(-1)
	if others && st.groupable() {
		if res, appended, err := s.appendGrouped(ctx, st); err != nil || appended {
			return res, err
		}
	}
	for attempt := 0; ; attempt++ {
		res, err := s.runAlone(ctx, st)
		if errors.Is(err, errRetry) && attempt < maxRetries {
			continue
		}
		if errors.Is(err, errRetry) {
			err = fmt.Errorf("append to %s: %d attempts found it changing: %w", st.name(), attempt+1, eventstore.ErrConcurrency)
		}
		if err == nil {
			s.saw(res.Position)
		}
		if err == nil && !res.Duplicate && !res.Replayed {
			s.committed()
		}
		return res, err
	}
}

// Committed wakes this process's subscribers and, soon after, those of other
// processes. Append calls it itself.
func (s *Store) Committed() { s.committed() }

func (s *Store) committed() {
	s.wake.broadcast()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// statement is one append, ready to run and to run again.
type statement struct {
	req   eventstore.AppendRequest
	locks []advisoryLock
	query string
	args  []any
	one   *oneEvent // set for a single event to one stream with no key
}

// oneEvent is the parameters of a single-event append: its stream's
// expectation, and the event.
type oneEvent struct {
	stream string
	mode   int
	exact  int64
	id     uuid.UUID
	typ    string
	sv     int32
	data   string
	meta   string
}

func newStatement(req eventstore.AppendRequest) (*statement, error) {
	if err := req.Validate(); err != nil {
		return nil, err
	}
	st := &statement{req: req, locks: locksOf(req)}
	condStreams, condVersions := conditionArrays(req.Conditions)
	if len(req.Streams) == 1 && len(req.Streams[0].Events) == 1 && req.Key == nil {
		one, err := newOneEvent(req.Streams[0])
		if err != nil {
			return nil, err
		}
		st.one, st.query = one, appendOneSQL
		st.args = []any{one.stream, one.mode, one.exact, one.id, one.typ, one.sv, one.data, one.meta, condStreams, condVersions}
		return st, nil
	}
	args, err := appendArgs(req)
	if err != nil {
		return nil, err
	}
	st.query, st.args = appendSQL, append(args, condStreams, condVersions)
	st.args = append(st.args, keyArgs(req.Key)...)
	return st, nil
}

func newOneEvent(s eventstore.StreamEvents) (*oneEvent, error) {
	e := s.Events[0]
	meta, err := json.Marshal(e.Metadata)
	if err != nil {
		return nil, fmt.Errorf("append to %s: metadata: %w", s.Stream, err)
	}
	mode, exact := expectation(s.Expected)
	return &oneEvent{stream: s.Stream, mode: mode, exact: exact, id: e.ID, typ: e.Type, sv: int32(e.SchemaVersion),
		data: string(e.Data), meta: string(meta)}, nil
}

// expectation encodes an expected version for the statements: 0 any, 1
// exact (with the version), 2 stream exists.
func expectation(expected eventstore.ExpectedVersion) (mode int, exact int64) {
	if v, ok := expected.Version(); ok {
		return 1, int64(v)
	}
	if expected.IsStreamExists() {
		return 2, 0
	}
	return 0, 0
}

// appendArgs are appendSQL's parameters $1 to $9: the streams and events.
func appendArgs(req eventstore.AppendRequest) ([]any, error) {
	n := len(req.Streams)
	streams, modes, exacts := make([]string, n), make([]int32, n), make([]int64, n)
	var (
		of    []int32
		ids   []uuid.UUID
		types []string
		svs   []int32
		data  []string
		metas []string
	)
	for i, s := range req.Streams {
		mode, exact := expectation(s.Expected)
		streams[i], modes[i], exacts[i] = s.Stream, int32(mode), exact
		for _, e := range s.Events {
			meta, err := json.Marshal(e.Metadata)
			if err != nil {
				return nil, fmt.Errorf("append to %s: metadata: %w", s.Stream, err)
			}
			of, ids, types = append(of, int32(i+1)), append(ids, e.ID), append(types, e.Type)
			svs, data, metas = append(svs, int32(e.SchemaVersion)), append(data, string(e.Data)), append(metas, string(meta))
		}
	}
	return []any{streams, modes, exacts, of, ids, types, svs, data, metas}, nil
}

func conditionArrays(cs []eventstore.Condition) ([]string, []int64) {
	streams, versions := make([]string, len(cs)), make([]int64, len(cs))
	for i, c := range cs {
		streams[i], versions[i] = c.Stream, int64(c.Version)
	}
	return streams, versions
}

// keyArgs are appendSQL's parameters $12 to $15: the key, or nulls.
func keyArgs(key *eventstore.IdempotencyKey) []any {
	if key == nil {
		return []any{nil, nil, nil, nil}
	}
	result := key.Result
	if result == nil {
		result = []byte{}
	}
	return []any{key.Caller, key.Key, key.Fingerprint, result}
}

// name names st's append in errors: its first stream, or its key.
func (st *statement) name() string {
	if len(st.req.Streams) > 0 {
		return st.req.Streams[0].Stream
	}
	return "key " + st.req.Key.Key
}

// groupable says whether st may share a transaction with other appends.
func (st *statement) groupable() bool { return st.one != nil }

// runAlone runs st in a transaction of its own, and explains an append
// that wrote nothing.
func (s *Store) runAlone(ctx context.Context, st *statement) (eventstore.AppendResult, error) {
	var (
		res     eventstore.AppendResult
		written bool
	)
	err := s.sendInsert(ctx, s.pool, st.locks, st.query, st.args, func(rows pgx.Rows) (err error) {
		res, written, err = st.scan(rows)
		return err
	})
	switch {
	case isUniqueViolation(err):
		return s.diagnose(ctx, st)
	case err != nil:
		return eventstore.AppendResult{}, fmt.Errorf("append to %s: %w", st.name(), refused(err))
	case !written:
		return s.diagnose(ctx, st)
	}
	return res, nil
}

// batchSender is what sends an append's batch: the pool, or the grouping
// worker's connection.
type batchSender interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// sendInsert runs an append as one transaction in one round trip: the
// statement that takes locks (unless a test turned locks off), then the
// insert query with args and, last, the floor; it hands the insert's rows
// to scan. The append committed only if the error is nil: the commit's
// own failure is reported when the batch closes.
func (s *Store) sendInsert(ctx context.Context, to batchSender, locks []advisoryLock, query string, args []any, scan func(pgx.Rows) error) error {
	floor, err := s.floor(ctx)
	if err != nil {
		return err
	}
	b := &pgx.Batch{}
	if !s.noLocks {
		queueLocks(b, locks)
	}
	b.Queue(query, append(args[:len(args):len(args)], floor)...)
	br := to.SendBatch(ctx, b)
	for range b.Len() - 1 {
		if _, err := br.Exec(); err != nil {
			return errors.Join(err, br.Close())
		}
	}
	rows, err := br.Query()
	if err == nil {
		err = scan(rows)
	}
	return errors.Join(err, br.Close())
}

// refused marks err as eventstore.ErrRefused when the server reported
// it: the append's transaction then ended without committing. Any other
// error (a lost connection, a context that ended before the answer) leaves
// the outcome unknown.
func refused(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("%w: %w", eventstore.ErrRefused, err)
	}
	return err
}

// scan reads the rows of st's insert: a row per event written, and for
// appendSQL a row of nulls when the key was recorded.
func (st *statement) scan(rows pgx.Rows) (eventstore.AppendResult, bool, error) {
	defer rows.Close()
	versions := make(map[string]uint64, len(st.req.Streams))
	var res eventstore.AppendResult
	n, keyed := 0, false
	for rows.Next() {
		var (
			stream            *string
			version, position *int64
		)
		if err := rows.Scan(&stream, &version, &position); err != nil {
			return eventstore.AppendResult{}, false, err
		}
		if stream == nil {
			keyed = true
			continue
		}
		n++
		versions[*stream] = max(versions[*stream], uint64(*version))
		res.Position = max(res.Position, eventstore.Position(*position))
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, false, err
	}
	switch total := len(st.req.Events()); {
	case n == 0 && !keyed:
		return eventstore.AppendResult{}, false, nil
	case n != total:
		return eventstore.AppendResult{}, false, fmt.Errorf("%d of %d events written", n, total)
	}
	res.Versions = make([]uint64, len(st.req.Streams))
	for i, s := range st.req.Streams {
		res.Versions[i] = versions[s.Stream]
	}
	if len(res.Versions) > 0 {
		res.Version = res.Versions[0]
	}
	if st.req.Key != nil {
		res.Result = st.req.Key.Result
	}
	return res, true, nil
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}
