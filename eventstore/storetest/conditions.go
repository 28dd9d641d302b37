package storetest

import (
	"errors"
	"sync"
	"testing"

	"pgregory.net/rapid"

	"ledger/eventstore"
)

// conditioned is the request of an append of evs to stream at expected,
// conditioned on cs.
func conditioned(stream string, expected eventstore.ExpectedVersion, cs []eventstore.Condition, evs ...eventstore.EventData) eventstore.AppendRequest {
	req := eventstore.To(stream, expected, evs...)
	req.Conditions = cs
	return req
}

// requires skips t on a store that cannot keep g.
func requires(t *testing.T, s eventstore.Store, g eventstore.Guarantee) {
	t.Helper()
	for _, unkept := range eventstore.Unkept(s) {
		if unkept == g {
			t.Skipf("%T does not promise that %s", s, g)
		}
	}
}

// testConditions appends to one stream conditioned on others: it lands
// when every condition holds, and writes nothing, with ErrConcurrency,
// when one does not.
func testConditions(t *testing.T, s eventstore.Store) {
	by, other, absent := newStream(t, "cond-by"), newStream(t, "cond-other"), newStream(t, "cond-absent")
	mustAppend(t, s, by, eventstore.NoStream(), events(t, 1, 2)...)
	mustAppend(t, s, other, eventstore.NoStream(), events(t, 1, 1)...)
	cases := []struct {
		name       string
		conditions []eventstore.Condition
		ok         bool
	}{
		{"none", nil, true},
		{"at their versions", []eventstore.Condition{{Stream: by, Version: 2}, {Stream: other, Version: 1}}, true},
		{"absent stream at 0", []eventstore.Condition{{Stream: absent, Version: 0}, {Stream: by, Version: 2}}, true},
		{"behind", []eventstore.Condition{{Stream: by, Version: 1}}, false},
		{"ahead", []eventstore.Condition{{Stream: by, Version: 3}}, false},
		{"existing stream at 0", []eventstore.Condition{{Stream: other, Version: 0}}, false},
		{"absent stream at 1", []eventstore.Condition{{Stream: absent, Version: 1}}, false},
		{"one of several fails", []eventstore.Condition{{Stream: by, Version: 2}, {Stream: other, Version: 2}, {Stream: absent, Version: 0}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, n := range []int{1, 3} {
				stream := newStream(t, "conditioned")
				mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, 1)...)
				res, err := s.Append(testContext(t), conditioned(stream, eventstore.Exact(1), tc.conditions, events(t, 2, n)...))
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
		t.Fatalf("a condition wrote %d events to the stream it names", len(got))
	}
}

// testConditionsRefused checks that malformed conditions are refused
// before anything is written, and that a repeat of an append already made
// is a duplicate whatever its conditions, as it is whatever its expected
// version.
func testConditionsRefused(t *testing.T, s eventstore.Store) {
	stream, by := newStream(t, "cond-refused"), newStream(t, "cond-refused-by")
	bad := map[string][]eventstore.Condition{
		"no stream name":     {{Stream: "", Version: 0}},
		"the stream itself":  {{Stream: stream, Version: 0}},
		"one stream twice":   {{Stream: by, Version: 0}, {Stream: by, Version: 0}},
		"and a good one too": {{Stream: by, Version: 0}, {Stream: stream, Version: 0}},
	}
	for name, cs := range bad {
		if _, err := s.Append(testContext(t), conditioned(stream, eventstore.Any(), cs, event(t, 1))); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("%s: err = %v, want ErrInvalidEvent", name, err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 0 {
		t.Fatalf("refused appends wrote %d events", len(got))
	}
	batch := events(t, 1, 2)
	cs := []eventstore.Condition{{Stream: by, Version: 0}}
	first, err := s.Append(testContext(t), conditioned(stream, eventstore.NoStream(), cs, batch...))
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, by, eventstore.NoStream(), event(t, 1))
	again, err := s.Append(testContext(t), conditioned(stream, eventstore.NoStream(), cs, batch...))
	if err != nil || !again.Duplicate || again.Version != first.Version || again.Position != first.Position {
		t.Fatalf("repeat with a condition that no longer holds = %+v, %v; want duplicate of %+v", again, err, first)
	}
}

// testConditionedWritersSameStream has several writers append to one
// stream at the same expected version, each conditioned on a stream that
// stays as it is: exactly one must win each version, as without
// conditions.
func testConditionedWritersSameStream(t *testing.T, s eventstore.Store) {
	stream, by := newStream(t, "cond-race"), newStream(t, "cond-race-by")
	mustAppend(t, s, by, eventstore.NoStream(), event(t, 1))
	cs := []eventstore.Condition{{Stream: by, Version: 1}}
	raceRounds(t, s, stream, 4, 30, func(round int) error {
		_, err := s.Append(testContext(t), conditioned(stream, eventstore.Exact(uint64(round)), cs, event(t, round)))
		return err
	})
}

// testConditionedWritersAtOnce has many writers append at once, each to a
// stream of its own, half of them conditioned on a stream's current
// version and half on a version it has left behind: every current one
// lands, no stale one does, however the store groups or orders them.
func testConditionedWritersAtOnce(t *testing.T, s eventstore.Store) {
	const writers, rounds = 24, 8
	by := newStream(t, "cond-many-by")
	for round := range rounds {
		mustAppend(t, s, by, eventstore.Exact(uint64(round)), event(t, round))
		current := uint64(round + 1)
		streams := make([]string, writers)
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range writers {
			streams[w] = newStream(t, "cond-many")
			cs := []eventstore.Condition{{Stream: by, Version: current - uint64(w%2)}}
			wg.Go(func() {
				<-start
				_, errs[w] = s.Append(testContext(t), conditioned(streams[w], eventstore.NoStream(), cs, event(t, w)))
			})
		}
		close(start)
		wg.Wait()
		for w, err := range errs {
			stale := w%2 == 1
			switch {
			case !stale && err != nil:
				t.Fatalf("round %d, writer %d, condition current: %v", round, w, err)
			case stale && !errors.Is(err, eventstore.ErrConcurrency):
				t.Fatalf("round %d, writer %d, condition stale: err = %v, want ErrConcurrency", round, w, err)
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

// testConditionsAgainstAModel appends at random to a few streams, each
// append with a random expectation and random conditions on the others,
// current or not: it must land exactly when a model of the streams'
// versions says that the expectation and every condition hold.
func testConditionsAgainstAModel(t *testing.T, s eventstore.Store) {
	rapid.Check(t, func(rt *rapid.T) {
		names := make([]string, 3)
		for i := range names {
			names[i] = newStream(t, "cond-model")
		}
		versions := make([]uint64, len(names))
		for step := range rapid.IntRange(1, 12).Draw(rt, "steps") {
			target := rapid.IntRange(0, len(names)-1).Draw(rt, "target")
			expected, holds := versions[target], true
			if rapid.IntRange(0, 4).Draw(rt, "stale expectation") == 0 {
				expected, holds = expected+1, false
			}
			var cs []eventstore.Condition
			for i := range names {
				if i == target || !rapid.Bool().Draw(rt, "condition") {
					continue
				}
				v := versions[i]
				if rapid.IntRange(0, 3).Draw(rt, "stale condition") == 0 {
					v, holds = v+1, false
				}
				cs = append(cs, eventstore.Condition{Stream: names[i], Version: v})
			}
			_, err := s.Append(testContext(t), conditioned(names[target], eventstore.Exact(expected), cs, event(t, step)))
			switch {
			case holds && err != nil:
				rt.Fatalf("step %d: append to stream %d at %d with conditions %v: %v", step, target, expected, cs, err)
			case !holds && !errors.Is(err, eventstore.ErrConcurrency):
				rt.Fatalf("step %d: append to stream %d at %d with conditions %v: %v, want ErrConcurrency", step, target, expected, cs, err)
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
