package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"ledger/eventstore"
)

// A group inserts the appends whose expectations and guards hold and
// leaves the others, which then run alone and get the single path's
// answers.
func TestGroupInsertsWhatHoldsAndLeavesTheRest(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	existing := newEvent(t, "Existing")
	if _, err := s.Append(ctx, "group-at-1", eventstore.NoStream(), existing); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "group-guard", eventstore.NoStream(), newEvent(t, "Guard")); err != nil {
		t.Fatal(err)
	}
	holds := []eventstore.Guard{{Stream: "group-guard", Version: 1}, {Stream: "group-unwritten", Version: 0}}
	cases := []struct {
		stream   string
		expected eventstore.ExpectedVersion
		guards   []eventstore.Guard
		event    eventstore.EventData
		appended bool
		wantErr  error // of the same append run alone afterwards
	}{
		{"group-new", eventstore.NoStream(), nil, newEvent(t, "A"), true, nil},
		{"group-at-1", eventstore.Exact(1), nil, newEvent(t, "B"), true, nil},
		{"group-any", eventstore.Any(), nil, newEvent(t, "C"), true, nil},
		{"group-stale", eventstore.Exact(3), nil, newEvent(t, "D"), false, eventstore.ErrConcurrency},
		{"group-missing", eventstore.StreamExists(), nil, newEvent(t, "E"), false, eventstore.ErrConcurrency},
		{"group-guarded", eventstore.NoStream(), holds, newEvent(t, "G"), true, nil},
		{"group-guard-behind", eventstore.NoStream(), []eventstore.Guard{{Stream: "group-guard", Version: 0}}, newEvent(t, "H"), false, eventstore.ErrConcurrency},
		{"group-guard-ahead", eventstore.Any(), []eventstore.Guard{holds[1], {Stream: "group-guard", Version: 2}}, newEvent(t, "I"), false, eventstore.ErrConcurrency},
	}
	group := make([]*queued, len(cases))
	for i, c := range cases {
		st, err := newStatement(c.stream, c.expected, c.guards, []eventstore.EventData{c.event}, false)
		if err != nil {
			t.Fatal(err)
		}
		group[i] = &queued{ctx: ctx, st: st, done: make(chan grouped, 1)}
	}
	conn := &groupConn{}
	defer conn.close()
	s.insertGroup(conn, group)
	var tx uint64
	for i, c := range cases {
		g := <-group[i].done
		if g.appended != c.appended {
			t.Fatalf("%s: appended %v, want %v", c.stream, g.appended, c.appended)
		}
		if !g.appended {
			_, err := s.AppendGuarded(ctx, c.stream, c.expected, c.guards, c.event)
			if !errors.Is(err, c.wantErr) {
				t.Fatalf("%s alone: %v, want %v", c.stream, err, c.wantErr)
			}
			continue
		}
		if tx == 0 {
			tx = uint64(g.res.Position) >> 16
		}
		if uint64(g.res.Position)>>16 != tx {
			t.Fatalf("%s: position %d outside the group's transaction %d", c.stream, g.res.Position, tx)
		}
		evs := readStream(t, s, c.stream)
		last := evs[len(evs)-1]
		if last.ID != c.event.ID || last.Version != g.res.Version || last.Position != g.res.Position {
			t.Fatalf("%s: stored %s v%d at %d, reported v%d at %d", c.stream, last.ID, last.Version, last.Position, g.res.Version, g.res.Position)
		}
	}

	// An id already stored makes the grouped statement fail: every append
	// of the group runs alone.
	again, err := newStatement("group-other", eventstore.Any(), nil, []eventstore.EventData{existing}, false)
	if err != nil {
		t.Fatal(err)
	}
	fresh, err := newStatement("group-fresh", eventstore.Any(), nil, []eventstore.EventData{newEvent(t, "F")}, false)
	if err != nil {
		t.Fatal(err)
	}
	pair := []*queued{{ctx: ctx, st: again, done: make(chan grouped, 1)}, {ctx: ctx, st: fresh, done: make(chan grouped, 1)}}
	s.insertGroup(conn, pair)
	for _, q := range pair {
		if g := <-q.done; g.appended {
			t.Fatalf("%s appended by a failed group", q.st.stream)
		}
	}
	if evs := readStream(t, s, "group-fresh"); len(evs) != 0 {
		t.Fatalf("group-fresh holds %d events after a failed group", len(evs))
	}
}

func readStream(t *testing.T, s *Store, stream string) []eventstore.Event {
	t.Helper()
	evs, err := s.ReadStream(t.Context(), stream, 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// Concurrent appenders to streams of their own are grouped: some of their
// events share a transaction, and every stream holds its events in order.
func TestConcurrentAppendsAreGrouped(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	const writers, rounds = 16, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("grouped-%d", w)
			for v := range rounds {
				if _, err := s.Append(context.Background(), stream, eventstore.Exact(uint64(v)), newEvent(t, "G")); err != nil {
					errs <- fmt.Errorf("%s v%d: %w", stream, v+1, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	txs := make(map[uint64]int)
	for w := range writers {
		evs := readStream(t, s, fmt.Sprintf("grouped-%d", w))
		if len(evs) != rounds {
			t.Fatalf("writer %d: %d events, want %d", w, len(evs), rounds)
		}
		for i, e := range evs {
			if e.Version != uint64(i+1) {
				t.Fatalf("writer %d: event %d at version %d", w, i, e.Version)
			}
			txs[uint64(e.Position)>>16]++
		}
	}
	if len(txs) == writers*rounds {
		t.Fatalf("%d appends in %d transactions: none were grouped", writers*rounds, len(txs))
	}
}
