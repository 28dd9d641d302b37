package postgres

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/internal/pgtest"
)

func TestWaiterBacksOff(t *testing.T) {
	t.Parallel()
	const poll = 500 * time.Millisecond
	start := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		behind bool
		at     time.Duration // since start
		wait   time.Duration
		wakes  bool
	}{
		{false, 0, poll, true},
		{true, 0, time.Millisecond, true},
		{true, 10 * time.Millisecond, 2 * time.Millisecond, true},
		{true, 20 * time.Millisecond, 4 * time.Millisecond, true},
		{true, 30 * time.Millisecond, 8 * time.Millisecond, true},
		{true, 40 * time.Millisecond, 10 * time.Millisecond, true},
		{true, 900 * time.Millisecond, 10 * time.Millisecond, true},
		{true, 1100 * time.Millisecond, 10 * time.Millisecond, false},
		{true, 1200 * time.Millisecond, 20 * time.Millisecond, false},
		{true, 1300 * time.Millisecond, 40 * time.Millisecond, false},
		{true, 1400 * time.Millisecond, 80 * time.Millisecond, false},
		{true, 1500 * time.Millisecond, 160 * time.Millisecond, false},
		{true, 1600 * time.Millisecond, 320 * time.Millisecond, false},
		{true, 1700 * time.Millisecond, poll, false},
		{true, 9 * time.Second, poll, false},
		{false, 10 * time.Second, poll, true},
		{true, 10 * time.Second, time.Millisecond, true},
	}
	w := waiter{pause: minPause}
	for i, st := range steps {
		wait, wakes := w.next(st.behind, poll, start.Add(st.at))
		if wait != st.wait || wakes != st.wakes {
			t.Fatalf("step %d (behind %v at %s): wait %s, wakes %v; want %s, %v", i, st.behind, st.at, wait, wakes, st.wait, st.wakes)
		}
	}
}

// TestHeldBackReaders leaves a transaction open while an event commits
// after it: HeldBack names the holder, a subscriber that waits behind it
// reads less and less often, whatever else is appended meanwhile, and
// delivers the event once the transaction ends.
func TestHeldBackReaders(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("starts a server of its own")
	}
	// A server of its own: the transaction it leaves open would hold back
	// every reader of a shared one.
	pool := pgtest.NewCluster(t).Pool(t, "heldback")
	if err := Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	writer := New(pool)
	t.Cleanup(writer.Close)
	reads := &countingTracer{}
	reader := New(tracedPool(t, pool, reads))
	t.Cleanup(reader.Close)
	ctx := t.Context()

	open, pid := pgtest.OpenTransaction(t, pool)
	res := mustAppend(t, writer, eventstore.To("held-back", eventstore.NoStream(), newEvent(t, "Held")))
	h, err := reader.HeldBack(ctx)
	if err != nil || !h.Waiting || h.PID != pid || h.State != "idle in transaction" || h.Age(time.Now()) <= 0 {
		t.Fatalf("held back = %+v, %v; want readers held back by session %d, idle in transaction", h, err, pid)
	}

	delivered := make(chan eventstore.Position, 1)
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		_ = reader.Subscribe(subCtx, res.Position-1, func(_ context.Context, b []eventstore.Event) error {
			delivered <- b[0].Position
			return nil
		})
	}()
	time.Sleep(heldBackAfter + 500*time.Millisecond)
	before := reads.n.Load()
	for range 20 {
		mustAppend(t, writer, eventstore.To("held-back-more", eventstore.Any(), newEvent(t, "More")))
		time.Sleep(50 * time.Millisecond)
	}
	if n := reads.n.Load() - before; n > 20 {
		t.Fatalf("a subscriber held back for over %s read the log %d times in the next second", heldBackAfter, n)
	}
	if err := open.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-delivered:
		if p != res.Position {
			t.Fatalf("delivered %d first, want %d", p, res.Position)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the event was not delivered after the transaction ended")
	}
	if h, err := reader.HeldBack(ctx); err != nil || h.Waiting {
		t.Fatalf("held back after the transaction ended = %+v, %v", h, err)
	}
}

// countingTracer counts the reads of the events table a pool runs.
type countingTracer struct{ n atomic.Int64 }

func (c *countingTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	if strings.Contains(d.SQL, "FROM events") {
		c.n.Add(1)
	}
	return ctx
}

func (c *countingTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// tracedPool is a pool to pool's database whose queries go through tracer.
func tracedPool(t *testing.T, pool *pgxpool.Pool, tracer pgx.QueryTracer) *pgxpool.Pool {
	t.Helper()
	cfg := pool.Config().Copy()
	cfg.ConnConfig.Tracer = tracer
	traced, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	return traced
}
