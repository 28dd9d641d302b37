package postgres

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Concurrent appends of one event each, to different streams, are grouped:
// a worker takes the appends waiting and runs them as one transaction, one
// round trip and one commit, each with its own expectation and conditions.
// The group takes the locks of all its appends at once, in key order, and
// admits no two appends of which one writes a stream that the other writes
// or is conditioned on: within the group, then, no append's checks depend
// on another's rows, and each append holds in log order as if alone.
//
// An append that the group does not write (an expectation or a condition
// that failed, an id already recorded) runs again alone, which decides
// what it was. An append once taken into a group waits for the group's
// real outcome, whatever its own context: the group never commits behind
// a caller that gave up. The group runs within the latest deadline of its
// appends, and at most groupTimeout; when its outcome is unknown (a lost
// connection), every append learns so, and its caller repeats it with the
// same events, which tells.
//
// One worker runs the groups, on a connection of its own, so that the
// appends that arrive while it runs one wait for the next: the busier the
// store, the larger the groups.
const (
	maxBatch     = 64
	groupTimeout = 30 * time.Second
)

// appendGroupSQL inserts one event per row of its arrays, each to its own
// stream, where that stream's expectation and the append's conditions
// hold; parameters $1..$8 as appendOneSQL's, one array element per append,
// and $9..$11 the conditions of every append, each with its append's place
// in the arrays (from 1); $12 the floor (see aboveFloorOne). Positions number the events within their
// transaction in the arrays' order.
const appendGroupSQL = `
WITH ` + logBase + `
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT ` + positionExpr + ` + b.n - 1, b.id, b.stream, cur.v + 1, b.type, b.sv, b.data, b.meta
FROM log,
     unnest($1::text[], $2::int[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[])
         WITH ORDINALITY AS b(stream, mode, exact, id, type, sv, data, meta, n),
     LATERAL (SELECT coalesce(max(version), 0) AS v FROM events WHERE stream = b.stream) AS cur
WHERE (b.mode = 0 OR (b.mode = 1 AND cur.v = b.exact) OR (b.mode = 2 AND cur.v > 0))
  AND NOT EXISTS (
    SELECT 1 FROM unnest($9::int[], $10::text[], $11::bigint[]) AS c(n, stream, v)
    WHERE c.n = b.n AND (SELECT coalesce(max(version), 0) FROM events WHERE stream = c.stream) <> c.v)` + aboveFloorGroup + `
RETURNING stream, version, position`

// The states of a queued append.
const (
	waiting int32 = iota
	taken
	withdrawn
)

// queued is an append waiting for a group.
type queued struct {
	st    *statement
	state atomic.Int32
	done  chan grouped
	// deadline is the caller's, or zero.
	deadline time.Time
}

// grouped is what became of a queued append: appended with res; left to
// run alone; or err, when the group's outcome is unknown.
type grouped struct {
	res      eventstore.AppendResult
	appended bool
	err      error
}

// appendGrouped offers st to the worker and waits for its group. It
// reports false when st was not appended and should run alone.
func (s *Store) appendGrouped(ctx context.Context, st *statement) (eventstore.AppendResult, bool, error) {
	q := &queued{st: st, done: make(chan grouped, 1)}
	q.deadline, _ = ctx.Deadline()
	select {
	case s.queue <- q:
	case <-ctx.Done():
		return eventstore.AppendResult{}, false, ctx.Err()
	case <-s.closed:
		return eventstore.AppendResult{}, false, nil
	}
	select {
	case g := <-q.done:
		return g.res, g.appended, g.err
	case <-ctx.Done():
	}
	if q.state.CompareAndSwap(waiting, withdrawn) {
		return eventstore.AppendResult{}, false, ctx.Err() // never ran
	}
	g := <-q.done // taken: its group decides, bounded by groupTimeout
	return g.res, g.appended, g.err
}

// groupAppends is the worker: it takes the appends waiting, up to
// maxBatch, and appends them together, until ctx ends.
func (s *Store) groupAppends(ctx context.Context) {
	var conn groupConn
	defer conn.close()
	for {
		var first *queued
		select {
		case first = <-s.queue:
		case <-ctx.Done():
			return
		}
		group := newGroup()
		group.admit(first)
	take:
		for len(group.members) < maxBatch {
			select {
			case q := <-s.queue:
				group.admit(q)
			default:
				break take
			}
		}
		if len(group.members) > 0 {
			s.runGroup(&conn, group)
		}
	}
}

// group is the appends of one transaction, and the streams they write and
// read.
type group struct {
	members []*queued
	writes  map[string]bool
	reads   map[string]bool
}

func newGroup() *group {
	return &group{writes: make(map[string]bool), reads: make(map[string]bool)}
}

// admit takes q into g, unless its caller withdrew it, or it writes a
// stream that g writes or reads, or reads one that g writes: such an
// append runs alone instead.
func (g *group) admit(q *queued) {
	stream := q.st.one.stream
	conflicts := g.writes[stream] || g.reads[stream]
	for _, c := range q.st.req.Conditions {
		conflicts = conflicts || g.writes[c.Stream]
	}
	if conflicts {
		q.done <- grouped{}
		return
	}
	if !q.state.CompareAndSwap(waiting, taken) {
		return // withdrawn
	}
	g.members = append(g.members, q)
	g.writes[stream] = true
	for _, c := range q.st.req.Conditions {
		g.reads[c.Stream] = true
	}
}

// runGroup appends g's members in one transaction and tells each what
// became of it.
func (s *Store) runGroup(conn *groupConn, g *group) {
	ctx, cancel := context.WithDeadline(context.Background(), g.deadline())
	defer cancel()
	got, err := s.insertGroup(ctx, conn, g)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		err = nil // the server refused it, so nothing was written: each runs alone
	}
	for _, q := range g.members {
		res, ok := got[q.st.one.stream]
		s.saw(res.Position)
		q.done <- grouped{res: res, appended: ok, err: err}
	}
	if len(got) > 0 {
		s.committed()
	}
}

// deadline is the latest deadline of g's members, and at most
// groupTimeout from now.
func (g *group) deadline() time.Time {
	limit := time.Now().Add(groupTimeout)
	var latest time.Time
	for _, q := range g.members {
		if q.deadline.IsZero() {
			return limit
		}
		if q.deadline.After(latest) {
			latest = q.deadline
		}
	}
	if latest.After(limit) {
		return limit
	}
	return latest
}

// insertGroup runs g's locks and insert as one transaction and returns
// what it appended, by stream, once it has committed.
func (s *Store) insertGroup(ctx context.Context, conn *groupConn, g *group) (map[string]eventstore.AppendResult, error) {
	n := len(g.members)
	var (
		streams = make([]string, n)
		modes   = make([]int, n)
		exacts  = make([]int64, n)
		ids     = make([]uuid.UUID, n)
		types   = make([]string, n)
		svs     = make([]int32, n)
		data    = make([]string, n)
		metas   = make([]string, n)
	)
	var (
		condOf       []int32
		condStreams  []string
		condVersions []int64
		locks        []advisoryLock
	)
	for i, q := range g.members {
		e := q.st.one
		streams[i], modes[i], exacts[i] = e.stream, e.mode, e.exact
		ids[i], types[i], svs[i], data[i], metas[i] = e.id, e.typ, e.sv, e.data, e.meta
		for _, c := range q.st.req.Conditions {
			condOf = append(condOf, int32(i+1))
			condStreams, condVersions = append(condStreams, c.Stream), append(condVersions, int64(c.Version))
		}
		locks = append(locks, q.st.locks...)
	}
	c, err := conn.get(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	var got map[string]eventstore.AppendResult
	args := []any{streams, modes, exacts, ids, types, svs, data, metas, condOf, condStreams, condVersions}
	err = s.sendInsert(ctx, c, mergeLocks(locks), appendGroupSQL, args, func(rows pgx.Rows) (err error) {
		got, err = scanGroup(rows)
		return err
	})
	if err != nil {
		conn.closeIfBroken()
		return nil, err
	}
	return got, nil
}

// scanGroup reads the rows of a group's insert: a row per append written.
func scanGroup(rows pgx.Rows) (map[string]eventstore.AppendResult, error) {
	defer rows.Close()
	got := make(map[string]eventstore.AppendResult)
	for rows.Next() {
		var (
			stream            string
			version, position int64
		)
		if err := rows.Scan(&stream, &version, &position); err != nil {
			return nil, err
		}
		got[stream] = eventstore.AppendResult{Version: uint64(version), Versions: []uint64{uint64(version)}, Position: eventstore.Position(position)}
	}
	return got, rows.Err()
}

// groupConn is the worker's connection, made again after it breaks.
type groupConn struct {
	c *pgxpool.Conn
}

func (g *groupConn) get(ctx context.Context, pool *pgxpool.Pool) (*pgxpool.Conn, error) {
	if g.c != nil {
		return g.c, nil
	}
	c, err := pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	g.c = c
	return c, nil
}

// closeIfBroken lets a connection that failed go, so that the next group
// takes a fresh one.
func (g *groupConn) closeIfBroken() {
	if g.c != nil && g.c.Conn().IsClosed() {
		g.c.Release()
		g.c = nil
	}
}

// close returns the connection to the pool.
func (g *groupConn) close() {
	if g.c != nil {
		g.c.Release()
		g.c = nil
	}
}
