package postgres

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Concurrent appends of one event each, to different streams, are grouped:
// a worker takes every such append waiting and inserts them with one
// statement, in one transaction, each with its own expected version. An
// append stays atomic and keeps its rules; what the group saves is the
// statement, the round trip and the commit that each append paid alone.
// Whatever the grouped statement does not insert (a failed expectation, an
// id already stored) runs again alone, by the single-append path, which
// decides what it was; a grouped statement that fails (a race with
// another process on a stream, a connection lost) sends every append of
// the group down that path too.
//
// One worker runs the groups, on a connection of its own, so that the
// appends that arrive while it runs one wait for the next: the busier the
// store, the larger the groups. That connection waits at most
// groupLockTimeout for a lock (another transaction writing one of the
// group's streams), after which the group fails and its appends run alone,
// rather than hold the others back.
const (
	batchWorkers     = 1
	maxBatch         = 64
	batchTimeout     = 30 * time.Second
	groupLockTimeout = "100ms"
)

// appendBatchSQL inserts one event per row of its arrays, each to its own
// stream, where that stream's expectation and the append's guards hold;
// parameters $1..$8 as appendSQL's, one array element per append, and
// $9..$11 the guards of every append, each with its append's place in the
// arrays (from 1). Positions number the events within their transaction
// in the arrays' order.
const appendBatchSQL = `
INSERT INTO events (position, event_id, stream, version, type, schema_version, data, metadata)
SELECT (pg_current_xact_id()::text::bigint << 16) + b.n - 1, b.id, b.stream, cur.v + 1, b.type, b.sv, b.data, b.meta
FROM unnest($1::text[], $2::int[], $3::bigint[], $4::uuid[], $5::text[], $6::int[], $7::json[], $8::json[])
    WITH ORDINALITY AS b(stream, mode, exact, id, type, sv, data, meta, n),
LATERAL (SELECT coalesce(max(version), 0) AS v FROM events WHERE stream = b.stream) AS cur
WHERE (b.mode = 0 OR (b.mode = 1 AND cur.v = b.exact) OR (b.mode = 2 AND cur.v > 0))
  AND NOT EXISTS (
    SELECT 1 FROM unnest($9::int[], $10::text[], $11::bigint[]) AS g(n, stream, v)
    WHERE g.n = b.n AND (SELECT coalesce(max(version), 0) FROM events WHERE stream = g.stream) <> g.v)
RETURNING stream, version, position`

// queued is an append waiting for a group.
type queued struct {
	ctx  context.Context
	st   *statement
	done chan grouped
}

// grouped is what became of a queued append: appended with res, or left
// to run alone.
type grouped struct {
	res      eventstore.AppendResult
	appended bool
}

// appendGrouped offers st to the workers and waits for its group. It
// reports false when st was not appended and should run alone.
func (s *Store) appendGrouped(ctx context.Context, st *statement) (eventstore.AppendResult, bool, error) {
	q := &queued{ctx: ctx, st: st, done: make(chan grouped, 1)}
	select {
	case s.queue <- q:
	case <-ctx.Done():
		return eventstore.AppendResult{}, false, ctx.Err()
	case <-s.closed:
		return eventstore.AppendResult{}, false, nil
	}
	select {
	case g := <-q.done:
		return g.res, g.appended, nil
	case <-ctx.Done():
		return eventstore.AppendResult{}, false, ctx.Err()
	}
}

// groupAppends is a worker: it takes the appends waiting, up to maxBatch,
// and inserts them together, until ctx ends.
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
		group, streams := []*queued{first}, map[string]bool{first.st.stream: true}
	take:
		for len(group) < maxBatch {
			select {
			case q := <-s.queue:
				if streams[q.st.stream] {
					q.done <- grouped{} // a second append to a stream waits for no one: alone
					continue
				}
				streams[q.st.stream] = true
				group = append(group, q)
			default:
				break take
			}
		}
		s.insertGroup(&conn, group)
	}
}

// insertGroup inserts group in one statement and tells each append what
// became of it.
func (s *Store) insertGroup(conn *groupConn, group []*queued) {
	live := group[:0]
	for _, q := range group {
		if q.ctx.Err() == nil {
			live = append(live, q)
		} else {
			q.done <- grouped{}
		}
	}
	if len(live) == 0 {
		return
	}
	got := s.runGroup(conn, live)
	for _, q := range live {
		res, ok := got[q.st.stream]
		q.done <- grouped{res: res, appended: ok}
	}
	if len(got) > 0 {
		s.committed()
	}
}

// runGroup runs the grouped statement and returns what it appended, by
// stream; nothing when it failed.
func (s *Store) runGroup(conn *groupConn, group []*queued) map[string]eventstore.AppendResult {
	n := len(group)
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
		guardOf       []int32
		guardStreams  []string
		guardVersions []int64
	)
	for i, q := range group {
		e := q.st.one
		streams[i], modes[i], exacts[i] = q.st.stream, e.mode, e.exact
		ids[i], types[i], svs[i], data[i], metas[i] = e.id, e.typ, e.sv, e.data, e.meta
		for _, g := range q.st.guards {
			guardOf = append(guardOf, int32(i+1))
			guardStreams, guardVersions = append(guardStreams, g.Stream), append(guardVersions, int64(g.Version))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	c, err := conn.get(ctx, s.pool)
	if err != nil {
		return nil
	}
	rows, err := c.Query(ctx, appendBatchSQL, streams, modes, exacts, ids, types, svs, data, metas, guardOf, guardStreams, guardVersions)
	if err != nil {
		conn.closeIfBroken()
		return nil
	}
	got := make(map[string]eventstore.AppendResult, n)
	for rows.Next() {
		var (
			stream            string
			version, position int64
		)
		if err := rows.Scan(&stream, &version, &position); err != nil {
			rows.Close()
			return nil
		}
		got[stream] = eventstore.AppendResult{Version: uint64(version), Position: eventstore.Position(position)}
	}
	if rows.Err() != nil {
		conn.closeIfBroken()
		return nil // not committed: every append runs alone
	}
	return got
}

// groupConn is the worker's connection, with its lock timeout; made again
// after it breaks.
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
	if _, err := c.Exec(ctx, `SELECT set_config('lock_timeout', $1, false)`, groupLockTimeout); err != nil {
		c.Release()
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

// close closes the connection rather than return it, with its lock
// timeout, to the pool.
func (g *groupConn) close() {
	if g.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = g.c.Conn().Close(ctx)
	g.c.Release()
	g.c = nil
}
