package storetest

import (
	"errors"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"ledger/eventstore"
)

// guarded returns s as a GuardedAppender, or skips the test for a store
// that is not one.
func guarded(t *testing.T, s eventstore.Store) eventstore.GuardedAppender {
	t.Helper()
	g, ok := s.(eventstore.GuardedAppender)
	if !ok {
		t.Skipf("%T does not append with guards", s)
	}
	return g
}

// testGuards appends to one stream guarded by others: it lands when every
// guard holds, and writes nothing, with ErrConcurrency, when one does not.
func testGuards(t *testing.T, s eventstore.Store) {
	g := guarded(t, s)
	by, other, absent := newStream(t, "guard-by"), newStream(t, "guard-other"), newStream(t, "guard-absent")
	mustAppend(t, s, by, eventstore.NoStream(), events(t, 1, 2)...)
	mustAppend(t, s, other, eventstore.NoStream(), events(t, 1, 1)...)
	cases := []struct {
		name   string
		guards []eventstore.Guard
		ok     bool
	}{
		{"none", nil, true},
		{"at their versions", []eventstore.Guard{{Stream: by, Version: 2}, {Stream: other, Version: 1}}, true},
		{"absent stream at 0", []eventstore.Guard{{Stream: absent, Version: 0}, {Stream: by, Version: 2}}, true},
		{"behind", []eventstore.Guard{{Stream: by, Version: 1}}, false},
		{"ahead", []eventstore.Guard{{Stream: by, Version: 3}}, false},
		{"existing stream at 0", []eventstore.Guard{{Stream: other, Version: 0}}, false},
		{"absent stream at 1", []eventstore.Guard{{Stream: absent, Version: 1}}, false},
		{"one of several fails", []eventstore.Guard{{Stream: by, Version: 2}, {Stream: other, Version: 2}, {Stream: absent, Version: 0}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range []int{1, 3} {
				stream := newStream(t, "guarded")
				mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, 1)...)
				res, err := g.AppendGuarded(testContext(t), stream, eventstore.Exact(1), tc.guards, events(t, 2, n)...)
				switch {
				case tc.ok && err != nil:
					t.Fatalf("%d events: %v", n, err)
				case tc.ok && res.Version != uint64(1+n):
					t.Fatalf("%d events: version %d, want %d", n, res.Version, 1+n)
				case !tc.ok && !errors.Is(err, eventstore.ErrConcurrency):
					t.Fatalf("%d events: err = %v, want ErrConcurrency", n, err)
				}
				want := 1
				if tc.ok {
					want += n
				}
				if got := readStream(t, s, stream); len(got) != want {
					t.Fatalf("%d events: stream holds %d events, want %d", n, len(got), want)
				}
			}
		})
	}
	if got := readStream(t, s, absent); len(got) != 0 {
		t.Fatalf("a guard wrote %d events to the stream it guards", len(got))
	}
}

// testGuardsRefused checks that malformed guards are refused before
// anything is written, and that a repeat of an append already made is a
// duplicate whatever its guards, as it is whatever its expected version.
func testGuardsRefused(t *testing.T, s eventstore.Store) {
	g := guarded(t, s)
	stream, by := newStream(t, "guard-refused"), newStream(t, "guard-refused-by")
	bad := map[string][]eventstore.Guard{
		"no stream name":     {{Stream: "", Version: 0}},
		"the stream itself":  {{Stream: stream, Version: 0}},
		"one stream twice":   {{Stream: by, Version: 0}, {Stream: by, Version: 0}},
		"and a good one too": {{Stream: by, Version: 0}, {Stream: stream, Version: 0}},
	}
	for name, guards := range bad {
		if _, err := g.AppendGuarded(testContext(t), stream, eventstore.Any(), guards, event(t, 1)); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 0 {
		t.Fatalf("refused appends wrote %d events", len(got))
	}
	batch := events(t, 1, 2)
	first, err := g.AppendGuarded(testContext(t), stream, eventstore.NoStream(), []eventstore.Guard{{Stream: by, Version: 0}}, batch...)
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, by, eventstore.NoStream(), event(t, 1))
	again, err := g.AppendGuarded(testContext(t), stream, eventstore.NoStream(), []eventstore.Guard{{Stream: by, Version: 0}}, batch...)
	if err != nil || !again.Duplicate || again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("repeat with a guard that no longer holds = %+v, %v; want duplicate of %+v", again, err, first)
	}
}

// testGuardedWritersSameStream has several writers append to one stream at
// the same expected version, each guarded by a stream that stays as it
// is: exactly one must win each version, as without guards.
func testGuardedWritersSameStream(t *testing.T, s eventstore.Store) {
	g := guarded(t, s)
	stream, by := newStream(t, "guard-race"), newStream(t, "guard-race-by")
	mustAppend(t, s, by, eventstore.NoStream(), event(t, 1))
	guards := []eventstore.Guard{{Stream: by, Version: 1}}
	raceRounds(t, s, stream, 4, 30, func(round int) error {
		_, err := g.AppendGuarded(testContext(t), stream, eventstore.Exact(uint64(round)), guards, event(t, round))
		return err
	})
}

// testGuardedWritersAtOnce has many writers append at once, each to a
// stream of its own, half of them guarded by a stream's current version
// and half by a version it has left behind: every current one lands, no
// stale one does, however the store groups or orders them.
func testGuardedWritersAtOnce(t *testing.T, s eventstore.Store) {
	g := guarded(t, s)
	const writers, rounds = 24, 8
	by := newStream(t, "guard-many-by")
	for round := range rounds {
		mustAppend(t, s, by, eventstore.Exact(uint64(round)), event(t, round))
		current := uint64(round + 1)
		streams := make([]string, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			streams[w] = newStream(t, "guard-many")
			guard := eventstore.Guard{Stream: by, Version: current - uint64(w%2)}
			wg.Go(func() {
				<-start
				_, errs[w] = g.AppendGuarded(testContext(t), streams[w], eventstore.NoStream(), []eventstore.Guard{guard}, event(t, w))
			})
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			stale := w%2 == 1
			switch {
			case !stale && err != nil:
				t.Fatalf("round %d, writer %d, guard current: %v", round, w, err)
			case stale && !errors.Is(err, eventstore.ErrConcurrency):
				t.Fatalf("round %d, writer %d, guard stale: err = %v, want ErrConcurrency", round, w, err)
			}
			want := 1
			if stale {
				want = 0
			}
			if got := readStream(t, s, streams[w]); len(got) != want {
				t.Fatalf("round %d, writer %d: %d events, want %d", round, w, len(got), want)
			}
		}
	}
}

// testGuardsAgainstAModel appends at random to a few streams, each append
// with a random expectation and random guards on the others, current or
// not: it must land exactly when a model of the streams' versions says
// that the expectation and every guard hold.
func testGuardsAgainstAModel(t *testing.T, s eventstore.Store) {
	g := guarded(t, s)
	rapid.Check(t, func(rt *rapid.T) {
		names := make([]string, 3)
		for i := range names {
			names[i] = newStream(t, "guard-model")
		}
		versions := make([]uint64, len(names))
		for step := range rapid.IntRange(1, 12).Draw(rt, "steps") {
			target := rapid.IntRange(0, len(names)-1).Draw(rt, "target")
			expected, holds := versions[target], true
			if rapid.IntRange(0, 4).Draw(rt, "stale expectation") == 0 {
				expected, holds = expected+1, false
			}
			var guards []eventstore.Guard
			for i := range names {
				if i == target || !rapid.Bool().Draw(rt, "guard") {
					continue
				}
				v := versions[i]
				if rapid.IntRange(0, 3).Draw(rt, "stale guard") == 0 {
					v, holds = v+1, false
				}
				guards = append(guards, eventstore.Guard{Stream: names[i], Version: v})
			}
			_, err := g.AppendGuarded(testContext(t), names[target], eventstore.Exact(expected), guards, event(t, step))
			switch {
			case holds && err != nil:
				rt.Fatalf("step %d: append to stream %d at %d with guards %v: %v", step, target, expected, guards, err)
			case !holds && !errors.Is(err, eventstore.ErrConcurrency):
				rt.Fatalf("step %d: append to stream %d at %d with guards %v: %v, want ErrConcurrency", step, target, expected, guards, err)
			case holds:
				versions[target]++
			}
		}
		for i, name := range names {
			if got := len(readStream(t, s, name)); uint64(got) != versions[i] {
				rt.Fatalf("stream %d holds %d events, the model %d", i, got, versions[i])
			}
		}
	})
}
