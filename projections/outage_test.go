package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/dberr"
	"ledger/internal/pgtest"
)

// logRecorder is a slog handler that keeps the records of warning level
// and above.
type logRecorder struct {
	mu      sync.Mutex
	records []string
	errors  int
}

func (l *logRecorder) Enabled(_ context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn
}

func (l *logRecorder) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	defer l.mu.Unlock()
	l.records = append(l.records, b.String())
	if r.Level >= slog.LevelError {
		l.errors++
	}
	return nil
}

func (l *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logRecorder) WithGroup(string) slog.Handler      { return l }

// writeThrough appends n events as env.write does, trying each again
// while the database is unavailable (the pool may still hold connections
// to the server before its restart).
func (e env) writeThrough(t *testing.T, n int) []eventstore.Position {
	t.Helper()
	var out []eventstore.Position
	for i := range n {
		ev, err := eventstore.NewEvent("Noted", map[string]int{"i": i}, eventstore.Metadata{OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		for attempt := 0; ; attempt++ {
			res, err := e.store.Append(t.Context(), eventstore.To(fmt.Sprintf("note-%d", i%7), eventstore.Any(), ev))
			if err == nil {
				out = append(out, res.Position)
				break
			}
			if !dberr.Unavailable(err) || attempt > 50 {
				t.Fatalf("append: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return out
}

// clusterEnv returns an env on a private cluster, for the tests that
// restart or kill its server.
func clusterEnv(t *testing.T) (*pgtest.Cluster, env) {
	t.Helper()
	c := pgtest.NewCluster(t)
	pool := c.Pool(t, "ledger")
	if err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	return c, env{pool: pool, store: store}
}

// TestProjectionsResumeAfterRestartAndKill restarts (pg_ctl restart -m
// fast) and kills (kill -9 of the postmaster) a private server while a
// batch's transaction is open, two rounds each, the batch failing while
// the server is down: every time the runner resumes by itself within 2 s
// of the server's return, applies every event once, and parks nothing.
func TestProjectionsResumeAfterRestartAndKill(t *testing.T) {
	t.Parallel()
	c, e := clusterEnv(t)

	var armed atomic.Bool
	var release atomic.Pointer[chan struct{}]
	inBatch := make(chan struct{}, 1)
	p := &ledgerOf{name: "survivor", fail: func([]eventstore.Event) bool {
		if armed.CompareAndSwap(true, false) {
			inBatch <- struct{}{}
			<-*release.Load() // the fault happens here, inside the batch's transaction
		}
		return false
	}}
	logs := &logRecorder{}
	r := NewRunner(e.pool, e.store, slog.New(logs), p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// Each fault lets the batch go on (release) while the server is down,
	// so that it fails and is retried through the outage: a restart goes
	// on while the batch's next statement is sent; a killed server stays
	// down for longer than the retries that once gave up on a batch.
	restart := func(tb testing.TB, release func()) {
		go func() { time.Sleep(20 * time.Millisecond); release() }()
		c.Restart(tb)
	}
	kill := func(tb testing.TB, release func()) {
		c.Kill(tb)
		release()
		time.Sleep(1500 * time.Millisecond)
		c.Start(tb)
	}
	faults := []struct {
		name string
		do   func(testing.TB, func())
	}{
		{"fast restart", restart},
		{"kill -9", kill},
		{"fast restart again", restart},
		{"kill -9 again", kill},
	}
	total := 0
	for _, fault := range faults {
		caught := e.writeThrough(t, 30)
		total += 30
		e.waitFor(t, "survivor", total, caught[29])
		ch := make(chan struct{})
		release.Store(&ch)
		armed.Store(true)
		more := e.writeThrough(t, 20)
		total += 20
		select {
		case <-inBatch:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no batch began", fault.name)
		}
		fault.do(t, sync.OnceFunc(func() { close(ch) }))
		back := time.Now()
		e.waitFor(t, "survivor", total, more[19])
		if took := time.Since(back); took > 2*time.Second {
			t.Errorf("%s: the projection reached the head %s after the server came back, want within 2s", fault.name, took.Round(time.Millisecond))
		} else {
			t.Logf("%s: at the head %s after the server came back", fault.name, took.Round(time.Millisecond))
		}
	}
	if got := e.parked(t); len(got) != 0 {
		t.Errorf("parked during outages: %+v", got)
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	t.Logf("warnings:\n%s", strings.Join(logs.records, "\n"))
	if logs.errors > 0 {
		t.Errorf("%d errors logged, want only warnings of an unavailable database:\n%s", logs.errors, strings.Join(logs.records, "\n"))
	}
}

// TestLockTakenAgainAfterAnIdleRestart restarts a private server while the
// runner has nothing to do: the restart ends the sessions that held the
// projection's advisory lock, and the runner must notice and take the lock
// again, or a second replica could run the same projection beside it.
func TestLockTakenAgainAfterAnIdleRestart(t *testing.T) {
	t.Parallel()
	c, e := clusterEnv(t)
	p := &ledgerOf{name: "idle"}
	r := NewRunner(e.pool, e.store, slog.New(&logRecorder{}), p)
	r.lockRetry = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	positions := e.writeThrough(t, 5)
	e.waitFor(t, "idle", 5, positions[4])
	waitLockHeld(t, e.pool, lockKey("idle"))
	for round := range 3 {
		c.Restart(t)
		waitLockHeld(t, e.pool, lockKey("idle"))
		more := e.writeThrough(t, 5)
		e.waitFor(t, "idle", 5*(round+2), more[4])
	}
}

// waitLockHeld waits, at most 10 s, until some session holds the advisory
// lock key.
func waitLockHeld(t *testing.T, pool interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, key int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var held bool
		err := pool.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1)`,
			int64(uint64(key)>>32), int64(uint32(key))).Scan(&held)
		if err == nil && held {
			return
		}
		if time.Now().After(deadline) {
			var locks string
			_ = pool.QueryRow(t.Context(), `SELECT coalesce(string_agg(classid::text || '/' || objid::text || '/' || objsubid::text, ' '), '') FROM pg_locks WHERE locktype = 'advisory'`).Scan(&locks)
			t.Logf("advisory locks: %s; want %d/%d", locks, uint64(key)>>32, uint32(key))
			t.Fatalf("no session holds the projection's lock 10s on (last error %v)", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRebuildRefusesALogHeldBack: a transaction left open on the server
// holds the log's readers back; a rebuild then fails with ErrHeldBack and
// swaps nothing in, where it used to swap in read models short of the
// log and say it had rebuilt them. Once the transaction ends, it rebuilds
// every event. On a private cluster: the open transaction holds back
// every reader on its server.
func TestRebuildRefusesALogHeldBack(t *testing.T) {
	t.Parallel()
	_, e := clusterEnv(t)
	p := &ledgerOf{name: "held"}
	e.write(t, 5)
	if _, err := Rebuild(t.Context(), e.pool, e.store, p, nil); err != nil {
		t.Fatal(err)
	}
	holder, err := e.pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(context.Background())
	if _, err := holder.Exec(t.Context(), `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	e.write(t, 5)
	if _, err := Rebuild(t.Context(), e.pool, e.store, p, nil); !errors.Is(err, ErrHeldBack) {
		t.Fatalf("rebuild behind an open transaction: %v, want ErrHeldBack", err)
	}
	var at int64
	if err := e.pool.QueryRow(t.Context(), `SELECT position FROM readmodel.checkpoints WHERE name = $1`, p.Name()).Scan(&at); err != nil || at == 0 {
		t.Fatalf("the live checkpoint after the refused rebuild: %d, %v; want the first rebuild's", at, err)
	}
	if err := holder.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	stats, err := Rebuild(t.Context(), e.pool, e.store, p, nil)
	if err != nil || stats.Events != 10 {
		t.Fatalf("rebuild once the transaction ended: %+v, %v; want all 10 events", stats, err)
	}
}
