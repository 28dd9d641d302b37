package projections

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

// ledgerOf records every position it applies under a primary key, so that
// applying an event twice fails, and can be told to fail.
type ledgerOf struct {
	name string
	// fail, when set, is asked before each batch whether to fail half way
	// through it: after its first event is written, inside the
	// transaction, with a serialization failure, which is the
	// environment's fault (retried whole), never the events' (parked).
	fail func(batch []eventstore.Event) bool
	// poison, when set, says which events it fails on, after writing the
	// events of the batch before them.
	poison func(e eventstore.Event) bool
}

func (l *ledgerOf) Name() string     { return l.name }
func (l *ledgerOf) Tables() []string { return []string{l.name} }

func (l *ledgerOf) Create(ctx context.Context, tx pgx.Tx, schema string) error {
	_, err := tx.Exec(ctx, `CREATE TABLE `+table(schema, l.name)+` (position bigint PRIMARY KEY, stream text NOT NULL)`)
	return err
}

func (l *ledgerOf) Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error {
	for i, e := range batch {
		if l.poison != nil && l.poison(e) {
			return fmt.Errorf("event at %d is poison, as told", e.Position)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+table(schema, l.name)+` VALUES ($1, $2)`, int64(e.Position), e.Stream); err != nil {
			return err
		}
		if i == 0 && l.fail != nil && l.fail(batch) {
			return &pgconn.PgError{Code: "40001", Message: "failing half way, as told"}
		}
	}
	return nil
}

type env struct {
	pool  *pgxpool.Pool
	store *postgres.Store
}

func newEnv(t *testing.T) env {
	t.Helper()
	pool := pgtest.NewDatabase(t, 16)
	if err := postgres.Migrate(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	return env{pool: pool, store: store}
}

func (e env) write(t *testing.T, n int) []eventstore.Position {
	t.Helper()
	var out []eventstore.Position
	for i := range n {
		ev, err := eventstore.NewEvent("Noted", map[string]int{"i": i}, eventstore.Metadata{OccurredAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.store.Append(t.Context(), eventstore.To(fmt.Sprintf("note-%d", i%7), eventstore.Any(), ev))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, res.Position)
	}
	return out
}

// start runs a runner until the test ends or stop is called.
func (e env) start(t *testing.T, ps ...Projection) (stop func() error) {
	t.Helper()
	r := NewRunner(e.pool, e.store, discard(), ps...)
	r.lockRetry = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(30 * time.Second):
			return errors.New("runner did not stop")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitFor waits until the projection's table holds want rows and its
// checkpoint reached at.
func (e env) waitFor(t *testing.T, name string, want int, at eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var rows int
		var cp int64
		err := e.pool.QueryRow(t.Context(), `SELECT (SELECT count(*) FROM `+table(LiveSchema, name)+`),
            (SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1)`, name).Scan(&rows, &cp)
		if err == nil && rows == want && eventstore.Position(cp) >= at {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d rows at checkpoint %d (err %v), want %d rows at %d", name, rows, cp, err, want, at)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunnerCatchesUpThenFollows(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	before := e.write(t, 20)
	e.start(t, &ledgerOf{name: "follow"})
	e.waitFor(t, "follow", 20, before[19])
	after := e.write(t, 15)
	e.waitFor(t, "follow", 35, after[14])
}

func TestFailedTransactionIsRetriedAndAppliedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 30)
	var failures atomic.Int32
	e.start(t, &ledgerOf{name: "flaky", fail: func([]eventstore.Event) bool { return failures.Add(1) <= 2 }})
	e.waitFor(t, "flaky", 30, positions[29])
	if failures.Load() < 3 {
		t.Fatalf("the projection failed %d times, want 2 failures then success", failures.Load()-1)
	}
	var parked int
	if err := e.pool.QueryRow(t.Context(), `SELECT count(*) FROM `+table(LiveSchema, parkedTable)+` WHERE projection = 'flaky'`).
		Scan(&parked); err != nil || parked != 0 {
		t.Errorf("%d events parked (err %v), want none: a failed transaction is retried whole", parked, err)
	}
}

func TestKilledMidBatchResumesWithoutLossOrRepeat(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 40)
	blocked := make(chan struct{})
	var once sync.Once
	p := &ledgerOf{name: "killed", fail: func([]eventstore.Event) bool {
		once.Do(func() { close(blocked) })
		time.Sleep(200 * time.Millisecond) // the runner is killed here, inside the batch's transaction
		return false
	}}
	stop := e.start(t, p)
	<-blocked
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("runner stopped with %v", err)
	}
	p.fail = nil
	e.start(t, p)
	e.waitFor(t, "killed", 40, positions[39])
}

func TestOneReplicaAtATimeAndFailover(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 10)
	stopA := e.start(t, &ledgerOf{name: "replicated"})
	e.start(t, &ledgerOf{name: "replicated"})
	e.waitFor(t, "replicated", 10, first[9])
	if err := stopA(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("replica A stopped with %v", err)
	}
	more := e.write(t, 10)
	e.waitFor(t, "replicated", 20, more[9])
}

// discard is a logger that writes nothing.
func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// checkpoint reads the live checkpoint of projection name.
func (e env) checkpoint(t *testing.T, name string) eventstore.Position {
	t.Helper()
	var cp int64
	if err := e.pool.QueryRow(context.Background(), `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1`, name).Scan(&cp); err != nil {
		t.Fatalf("checkpoint of %s: %v", name, err)
	}
	return eventstore.Position(cp)
}
