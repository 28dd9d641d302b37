package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"pgregory.net/rapid"

	"ledger/commands"
	"ledger/eventstore"
	"ledger/internal/pgtest"
)

// parked reads the live parked events.
func (e env) parked(t *testing.T) []ParkedEvent {
	t.Helper()
	got, err := ListParked(t.Context(), e.pool)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// wantParked checks the parked events of one projection: at each
// position, its stream, and an error that contains the reason.
func wantParked(t *testing.T, got []ParkedEvent, projection string, want ...ParkedEvent) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		g, w := got[i], want[i]
		ok = g.Projection == projection && g.Position == w.Position && g.Stream == w.Stream && strings.Contains(g.Error, w.Error) &&
			g.EventType == "Noted" && time.Since(g.ParkedAt) < time.Minute
	}
	if !ok {
		t.Fatalf("parked %+v\nwant in %s %+v", got, projection, want)
	}
}

func (e env) rowsOf(t *testing.T, name, stream string) []int64 {
	t.Helper()
	rows, err := e.pool.Query(t.Context(), `SELECT position FROM `+table(LiveSchema, name)+` WHERE stream = $1 ORDER BY position`, stream)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// An event a projection cannot apply is parked, and so is every later
// event of its stream; the other streams go on, and the checkpoint passes
// them all. Once fixed, a retry of the stream applies them in order and
// the stream goes on live.
func TestPoisonIsParkedWithTheRestOfItsStream(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 20) // event i in stream note-(i%7)
	bad := first[8]         // note-1, which has first[1] before it and first[15] after
	var poisoned atomic.Bool
	poisoned.Store(true)
	p := &ledgerOf{name: "parking", poison: func(ev eventstore.Event) bool { return poisoned.Load() && ev.Position == bad }}
	e.start(t, p)
	e.waitFor(t, "parking", 18, first[19])
	wantParked(t, e.parked(t), "parking",
		ParkedEvent{Position: bad, Stream: "note-1", Error: "poison, as told"},
		ParkedEvent{Position: first[15], Stream: "note-1", Error: skippedReason})

	more := e.write(t, 7) // note-1 again at more[1]
	e.waitFor(t, "parking", 24, more[6])
	if got := e.rowsOf(t, "parking", "note-1"); !slices.Equal(got, []int64{int64(first[1])}) {
		t.Fatalf("note-1 holds %v, want only %d: nothing after its parked event", got, first[1])
	}
	if n := len(e.parked(t)); n != 3 {
		t.Fatalf("%d parked events, want 3: the later event of note-1 parked too", n)
	}

	poisoned.Store(false) // the fix
	res, err := RetryStream(t.Context(), e.pool, e.store, []Projection{p}, "note-1")
	if err != nil || !slices.Equal(res, []StreamRetry{{Projection: "parking", Applied: 3}}) {
		t.Fatalf("retry note-1 = %+v, %v; want 3 events applied in parking", res, err)
	}
	e.waitFor(t, "parking", 27, more[6])
	if got := e.parked(t); len(got) != 0 {
		t.Fatalf("parked after the retry: %+v", got)
	}
	again := e.write(t, 7)
	e.waitFor(t, "parking", 34, again[6])
	want := []int64{int64(first[1]), int64(bad), int64(first[15]), int64(more[1]), int64(again[1])}
	if got := e.rowsOf(t, "parking", "note-1"); !slices.Equal(got, want) {
		t.Fatalf("note-1 holds %v, want %v", got, want)
	}
	if _, err := RetryStream(t.Context(), e.pool, e.store, []Projection{p}, "note-1"); !errors.Is(err, ErrNotParked) {
		t.Fatalf("retry of a stream with nothing parked: %v, want ErrNotParked", err)
	}
}

// A retry that fails again changes nothing; once the poison event is gone
// from the log, the retry drops its parked row and applies the rest.
func TestRetryStreamFailsAgainThenDropsWhatTheLogLost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 14) // note-3 at first[3] and first[10]
	p := &ledgerOf{name: "retried", poison: func(ev eventstore.Event) bool { return ev.Position == first[3] }}
	stop := e.start(t, p)
	e.waitFor(t, "retried", 12, first[13])
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("runner stopped with %v", err)
	}

	res, err := RetryStream(t.Context(), e.pool, e.store, []Projection{p}, "note-3")
	if err == nil || !strings.Contains(err.Error(), "poison, as told") || len(res) != 0 {
		t.Fatalf("retry of a stream still poisoned = %+v, %v; want its error", res, err)
	}
	if n := len(e.parked(t)); n != 2 {
		t.Fatalf("%d parked events after a failed retry, want the 2 still there", n)
	}
	if _, err := e.pool.Exec(t.Context(), `ALTER TABLE events DISABLE TRIGGER events_append_only`); err != nil { // the log is append-only
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(t.Context(), `DELETE FROM events WHERE position = $1`, int64(first[3])); err != nil {
		t.Fatal(err)
	}
	res, err = RetryStream(t.Context(), e.pool, e.store, []Projection{p}, "note-3")
	if err != nil || !slices.Equal(res, []StreamRetry{{Projection: "retried", Applied: 1, Gone: 1}}) {
		t.Fatalf("retry after deleting the poison event = %+v, %v; want 1 applied, 1 gone", res, err)
	}
	if got := e.rowsOf(t, "retried", "note-3"); !slices.Equal(got, []int64{int64(first[10])}) || len(e.parked(t)) != 0 {
		t.Fatalf("note-3 holds %v with %d parked, want %d and none", got, len(e.parked(t)), first[10])
	}
}

// A rebuild parks what it cannot apply in its scratch schema, and the swap
// brings those parked events in with the tables: a rebuild after the fix
// clears them.
func TestRebuildSwapsInItsParkedEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 14)
	var poisoned atomic.Bool
	poisoned.Store(true)
	p := &ledgerOf{name: "rebuilt", poison: func(ev eventstore.Event) bool { return poisoned.Load() && ev.Position == first[2] }}
	e.rebuildTo(t, p, first[13])
	e.waitFor(t, "rebuilt", 12, first[13])
	wantParked(t, e.parked(t), "rebuilt",
		ParkedEvent{Position: first[2], Stream: "note-2", Error: "poison, as told"},
		ParkedEvent{Position: first[9], Stream: "note-2", Error: skippedReason})
	poisoned.Store(false)
	e.rebuildTo(t, p, first[13])
	e.waitFor(t, "rebuilt", 14, first[13])
	if got := e.parked(t); len(got) != 0 {
		t.Fatalf("parked after a rebuild with the fix: %+v", got)
	}
}

// rebuildTo rebuilds p until its checkpoint reaches position: a rebuild
// stops short of events it does not see within a few seconds, behind a
// transaction another test holds open on the same server.
func (e env) rebuildTo(t *testing.T, p Projection, position eventstore.Position) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		if _, err := Rebuild(t.Context(), e.pool, e.store, p, nil); err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		if e.checkpoint(t, p.Name()) >= position || time.Now().After(deadline) {
			return
		}
	}
}

// A failure that is the environment's, not the events', is never parked:
// with a projection's table dropped, the runner retries until it is back.
func TestATableMissingIsRetriedNotParked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 5)
	p := &ledgerOf{name: "dropped"}
	e.start(t, p)
	e.waitFor(t, "dropped", 5, first[4])
	if _, err := e.pool.Exec(t.Context(), `DROP TABLE `+table(LiveSchema, "dropped")); err != nil {
		t.Fatal(err)
	}
	more := e.write(t, 5)
	time.Sleep(time.Second) // several retries
	if got := e.parked(t); len(got) != 0 || e.checkpoint(t, "dropped") != first[4] {
		t.Fatalf("with the table missing: parked %+v, checkpoint %d; want nothing parked, still at %d", got, e.checkpoint(t, "dropped"), first[4])
	}
	if err := pgx.BeginFunc(t.Context(), e.pool, func(tx pgx.Tx) error { return p.Create(t.Context(), tx, LiveSchema) }); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "dropped", 5, more[4])
}

func TestEventsFault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"numeric overflow", &pgconn.PgError{Code: "22003"}, true},
		{"date out of range", fmt.Errorf("insert: %w", &pgconn.PgError{Code: "22008"}), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, true},
		{"row affected twice", &pgconn.PgError{Code: "21000"}, true},
		{"decoding", errors.New("subscriptions: event at 9: unreadable"), true},
		{"panic", fmt.Errorf("%w: nil map", errPanicked), true},
		{"table missing", &pgconn.PgError{Code: "42P01"}, false},
		{"disk full", &pgconn.PgError{Code: "53100"}, false},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, false},
		{"serialization", &pgconn.PgError{Code: "40001"}, false},
		{"shutting down", &pgconn.PgError{Code: "57P01"}, false},
		{"connection lost", &pgconn.PgError{Code: "08006"}, false},
		{"cancelled", fmt.Errorf("apply: %w", context.Canceled), false},
	}
	for _, tt := range tests {
		if got := eventsFault(tt.err); got != tt.want {
			t.Errorf("%s: eventsFault(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// The stream names the queries check are those the commands write.
func TestStreamNamesAreTheCommands(t *testing.T) {
	t.Parallel()
	tenant, id := uuid.New(), uuid.New()
	for _, tt := range []struct{ got, want string }{
		{streamName("account", tenant, id), commands.AccountStream(tenant, id)},
		{streamName("product", tenant, id), commands.ProductStream(tenant, id)},
		{streamName("subscription", tenant, id), commands.SubscriptionStream(tenant, id)},
		{streamName("usage", tenant, id), commands.UsageStream(tenant, id)},
		{streamName("access", tenant, id), commands.AccessStream(tenant, id)},
	} {
		if tt.got != tt.want {
			t.Errorf("stream %q, want %q", tt.got, tt.want)
		}
	}
}

// Whatever the events, their streams and which of them are poison, and
// however the log is cut into batches: every event with no poison event
// at or before it in its stream is applied, once; every other is parked,
// the first poison event of a stream with its error and the rest as
// skipped; and the checkpoint is at the last event.
func TestParkingProperty(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewDatabase(t, 4)
	var run atomic.Int64
	rapid.Check(t, func(rt *rapid.T) {
		ctx := rt.Context()
		schema := fmt.Sprintf("prop_%d", run.Add(1))
		n, streams := rapid.IntRange(1, 40).Draw(rt, "events"), rapid.IntRange(1, 5).Draw(rt, "streams")
		poison := map[eventstore.Position]bool{}
		batch := make([]eventstore.Event, n)
		for i := range batch {
			pos := eventstore.Position(2*i + 1)
			batch[i] = eventstore.Event{Position: pos, Stream: fmt.Sprintf("s-%d", rapid.IntRange(0, streams-1).Draw(rt, "stream")), Type: "Noted"}
			poison[pos] = rapid.IntRange(0, 5).Draw(rt, "poison") == 0
		}
		p := &ledgerOf{name: "prop", poison: func(e eventstore.Event) bool { return poison[e.Position] }}
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return setupSchema(ctx, tx, schema, []Projection{p}, false) }); err != nil {
			rt.Fatal(err)
		}
		for rest := batch; len(rest) > 0; {
			k := rapid.IntRange(1, len(rest)).Draw(rt, "batch")
			if _, err := applyGroup(ctx, pool, schema, []member{{name: p.name, apply: p.Apply}}, rest[:k], false); err != nil {
				rt.Fatalf("apply: %v", err)
			}
			rest = rest[k:]
		}
		checkParkingProperty(rt, pool, schema, batch, poison)
	})
}

func checkParkingProperty(rt *rapid.T, db Querier, schema string, batch []eventstore.Event, poison map[eventstore.Position]bool) {
	ctx := rt.Context()
	var wantApplied []int64
	var wantParked []string
	stale := map[string]bool{}
	for _, e := range batch {
		switch {
		case stale[e.Stream]:
			wantParked = append(wantParked, fmt.Sprintf("%d %s skipped", e.Position, e.Stream))
		case poison[e.Position]:
			stale[e.Stream] = true
			wantParked = append(wantParked, fmt.Sprintf("%d %s poison", e.Position, e.Stream))
		default:
			wantApplied = append(wantApplied, int64(e.Position))
		}
	}
	rows, err := db.Query(ctx, `SELECT position FROM `+table(schema, "prop")+` ORDER BY position`)
	if err != nil {
		rt.Fatal(err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		rt.Fatal(err)
	}
	rows, err = db.Query(ctx, `SELECT position || ' ' || stream || ' ' || CASE WHEN error = $1 THEN 'skipped' ELSE 'poison' END
FROM `+table(schema, parkedTable)+` WHERE projection = 'prop' ORDER BY position`, skippedReason)
	if err != nil {
		rt.Fatal(err)
	}
	parked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		rt.Fatal(err)
	}
	var at int64
	if err := db.QueryRow(ctx, `SELECT position FROM `+table(schema, "checkpoints")+` WHERE name = 'prop'`).Scan(&at); err != nil {
		rt.Fatal(err)
	}
	if !slices.Equal(applied, wantApplied) || !slices.Equal(parked, wantParked) || at != int64(batch[len(batch)-1].Position) {
		rt.Fatalf("applied %v, parked %v, checkpoint %d\nwant applied %v, parked %v, checkpoint %d",
			applied, parked, at, wantApplied, wantParked, batch[len(batch)-1].Position)
	}
}
