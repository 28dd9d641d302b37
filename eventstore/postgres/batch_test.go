package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"ledger/eventstore"
)

// A group inserts the appends whose expectations and conditions hold and
// leaves the others, which then run alone and get the single path's
// answers.
func TestGroupInsertsWhatHoldsAndLeavesTheRest(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	ctx := t.Context()
	existing := newEvent(t, "Existing")
	mustAppend(t, s, eventstore.To("group-at-1", eventstore.NoStream(), existing))
	mustAppend(t, s, eventstore.To("group-cond", eventstore.NoStream(), newEvent(t, "Cond")))
	holds := []eventstore.Condition{{Stream: "group-cond", Version: 1}, {Stream: "group-unwritten", Version: 0}}
	cases := []struct {
		stream     string
		expected   eventstore.ExpectedVersion
		conditions []eventstore.Condition
		event      eventstore.EventData
		appended   bool
		wantErr    error // of the same append run alone afterwards
	}{
		{"group-new", eventstore.NoStream(), nil, newEvent(t, "A"), true, nil},
		{"group-at-1", eventstore.Exact(1), nil, newEvent(t, "B"), true, nil},
		{"group-any", eventstore.Any(), nil, newEvent(t, "C"), true, nil},
		{"group-stale", eventstore.Exact(3), nil, newEvent(t, "D"), false, eventstore.ErrConcurrency},
		{"group-missing", eventstore.StreamExists(), nil, newEvent(t, "E"), false, eventstore.ErrConcurrency},
		{"group-conditioned", eventstore.NoStream(), holds, newEvent(t, "G"), true, nil},
		{"group-cond-behind", eventstore.NoStream(), []eventstore.Condition{{Stream: "group-cond", Version: 0}}, newEvent(t, "H"), false, eventstore.ErrConcurrency},
		{"group-cond-ahead", eventstore.Any(), []eventstore.Condition{holds[1], {Stream: "group-cond", Version: 2}}, newEvent(t, "I"), false, eventstore.ErrConcurrency},
	}
	g := newGroup()
	for _, c := range cases {
		req := eventstore.To(c.stream, c.expected, c.event)
		req.Conditions = c.conditions
		g.admit(queue(t, req))
	}
	if len(g.members) != len(cases) {
		t.Fatalf("the group admitted %d of %d appends to streams of their own", len(g.members), len(cases))
	}
	conn := &groupConn{}
	defer conn.close()
	s.runGroup(conn, g)
	var tx uint64
	for i, c := range cases {
		res := <-g.members[i].done
		if res.appended != c.appended || res.err != nil {
			t.Fatalf("%s: appended %v (%v), want %v", c.stream, res.appended, res.err, c.appended)
		}
		if !res.appended {
			req := eventstore.To(c.stream, c.expected, c.event)
			req.Conditions = c.conditions
			if _, err := s.Append(ctx, req); !errors.Is(err, c.wantErr) {
				t.Fatalf("%s alone: %v, want %v", c.stream, err, c.wantErr)
			}
			continue
		}
		if tx == 0 {
			tx = uint64(res.res.Position) >> 16
		}
		if uint64(res.res.Position)>>16 != tx {
			t.Fatalf("%s: position %d outside the group's transaction %d", c.stream, res.res.Position, tx)
		}
		evs := readStream(t, s, c.stream)
		last := evs[len(evs)-1]
		if last.ID != c.event.ID || last.Version != res.res.Version || last.Position != res.res.Position {
			t.Fatalf("%s: stored %s v%d at %d, reported v%d at %d", c.stream, last.ID, last.Version, last.Position, res.res.Version, res.res.Position)
		}
	}

	// An id already stored makes the grouped statement fail: every append
	// of the group runs alone.
	pair := newGroup()
	pair.admit(queue(t, eventstore.To("group-other", eventstore.Any(), existing)))
	pair.admit(queue(t, eventstore.To("group-fresh", eventstore.Any(), newEvent(t, "F"))))
	s.runGroup(conn, pair)
	for _, q := range pair.members {
		if g := <-q.done; g.appended || g.err != nil {
			t.Fatalf("%s appended by a failed group (%v)", q.st.one.stream, g.err)
		}
	}
	if evs := readStream(t, s, "group-fresh"); len(evs) != 0 {
		t.Fatalf("group-fresh holds %d events after a failed group", len(evs))
	}
}

// TestGroupAdmitsNoConflicts checks that a group never holds two appends
// of which one writes a stream the other writes or is conditioned on:
// those run alone, after the group.
func TestGroupAdmitsNoConflicts(t *testing.T) {
	t.Parallel()
	on := func(stream string, cs ...string) eventstore.AppendRequest {
		req := eventstore.To(stream, eventstore.Any(), newEvent(t, "X"))
		for _, c := range cs {
			req.Conditions = append(req.Conditions, eventstore.Condition{Stream: c})
		}
		return req
	}
	cases := []struct {
		name   string
		first  eventstore.AppendRequest
		second eventstore.AppendRequest
		admit  bool
	}{
		{"different streams", on("a"), on("b"), true},
		{"a shared condition", on("a", "c"), on("b", "c"), true},
		{"the same stream", on("a"), on("a"), false},
		{"writes what the first reads", on("a", "c"), on("c"), false},
		{"reads what the first writes", on("a"), on("b", "a"), false},
	}
	for _, tc := range cases {
		g := newGroup()
		g.admit(queue(t, tc.first))
		second := queue(t, tc.second)
		g.admit(second)
		if admitted := len(g.members) == 2; admitted != tc.admit {
			t.Errorf("%s: admitted %v, want %v", tc.name, admitted, tc.admit)
		}
		if !tc.admit {
			if res := <-second.done; res.appended || res.err != nil {
				t.Errorf("%s: the conflicting append was not sent to run alone: %+v", tc.name, res)
			}
		}
	}
}

// TestWithdrawnAppendsStayOut checks that an append whose caller gave up
// before a group took it never runs.
func TestWithdrawnAppendsStayOut(t *testing.T) {
	t.Parallel()
	q := queue(t, eventstore.To("withdrawn", eventstore.Any(), newEvent(t, "W")))
	q.state.Store(withdrawn)
	g := newGroup()
	g.admit(q)
	if len(g.members) != 0 {
		t.Fatal("a group took an append its caller withdrew")
	}
}

func queue(t *testing.T, req eventstore.AppendRequest) *queued {
	t.Helper()
	st, err := newStatement(req)
	if err != nil {
		t.Fatal(err)
	}
	return &queued{st: st, done: make(chan grouped, 1)}
}

func mustAppend(t *testing.T, s *Store, req eventstore.AppendRequest) eventstore.AppendResult {
	t.Helper()
	res, err := s.Append(t.Context(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res
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
				if _, err := s.Append(context.Background(), eventstore.To(stream, eventstore.Exact(uint64(v)), newEvent(t, "G"))); err != nil {
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
