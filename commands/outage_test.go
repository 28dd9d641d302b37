package commands_test

import (
	"context"
	"sync/atomic"
	"testing"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/dberr"
	"ledger/internal/pgtest"
)

// TestOutcomeUnknownInAnOutage cuts an amendment's append short, as a
// caller that gives up would, and kills the database: the command repeats
// the append to learn its outcome until it stops waiting, and its error
// is the outage's (answered 503 database_unavailable), not the
// cancellation's (a 500).
func TestOutcomeUnknownInAnOutage(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	pool := cluster.Pool(t, "outage")
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pg := postgres.New(pool)
	t.Cleanup(pg.Close)
	// The pool forgets its connections with the server: every repeat
	// dials, and is refused.
	store := &cutOff{Store: pg, kill: func() { cluster.Kill(t); pool.Reset() }}
	r := newRace(t, store, 1)
	store.armed.Store(true)
	_, err := r.amend(context.Background(), r.svc, r.req(r.admin), 0, 7)
	if err == nil || !dberr.Unavailable(err) {
		t.Fatalf("amend while the database is down = %v, want an error that dberr.Unavailable recognises", err)
	}
	cluster.Start(t)
}

// cutOff is a store whose first append once armed is sent with a context
// already cancelled, after which the database is killed.
type cutOff struct {
	eventstore.Store
	kill  func()
	armed atomic.Bool
}

func (s *cutOff) Append(ctx context.Context, req eventstore.AppendRequest) (eventstore.AppendResult, error) {
	if !s.armed.CompareAndSwap(true, false) {
		return s.Store.Append(ctx, req)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	res, err := s.Store.Append(cancelled, req)
	s.kill()
	return res, err
}
