package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"ledger/eventstore"
)

func testReadAllInBatches(t *testing.T, s eventstore.Store) {
	prefix := newStream(t, "readall")
	from := head(t, s)
	var want []eventstore.EventData
	for i := range 5 {
		evs := events(t, i*3, 3)
		mustAppend(t, s, fmt.Sprintf("%s-%d", prefix, i), eventstore.NoStream(), evs...)
		want = append(want, evs...)
	}
	var got []eventstore.Event
	after := from
	for range 10_000 {
		batch, err := s.ReadAll(testContext(t), after, 4)
		if err != nil {
			t.Fatalf("read log after %d: %v", after, err)
		}
		if len(batch) > 4 {
			t.Fatalf("read %d events with limit 4", len(batch))
		}
		if len(batch) == 0 {
			if len(got) < len(want) {
				time.Sleep(10 * time.Millisecond) // the log may not be readable to its end yet
				continue
			}
			break
		}
		for _, e := range batch {
			if e.Position <= after {
				t.Fatalf("read position %d after %d", e.Position, after)
			}
			after = e.Position
		}
		got = append(got, ownedBy(prefix, batch)...)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d of own events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].ID != want[i].ID {
			t.Fatalf("event %d is %s, want %s", i, got[i].ID, want[i].ID)
		}
	}
}

func testHead(t *testing.T, s eventstore.Store) {
	res := mustAppend(t, s, newStream(t, "head"), eventstore.NoStream(), events(t, 1, 2)...)
	if h := head(t, s); h < res.Position {
		t.Fatalf("head %d is before the last append's position %d", h, res.Position)
	}
}

func testReadAsOf(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "asof")
	mustAppend(t, s, stream, eventstore.NoStream(), events(t, 1, 2)...)
	time.Sleep(20 * time.Millisecond)
	mustAppend(t, s, stream, eventstore.Exact(2), event(t, 3))
	all := readStream(t, s, stream)
	if len(all) != 3 {
		t.Fatalf("stream has %d events, want 3", len(all))
	}
	cases := []struct {
		name string
		at   time.Time
		want int
	}{
		{"before the first", all[0].RecordedAt.Add(-time.Millisecond), 0},
		{"at the first append", all[1].RecordedAt, 2},
		{"between appends", all[1].RecordedAt.Add(time.Millisecond), 2},
		{"at the last", all[2].RecordedAt, 3},
		{"long after", all[2].RecordedAt.Add(time.Hour), 3},
	}
	for _, tc := range cases {
		got, err := s.ReadStreamAsOf(testContext(t), stream, tc.at)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(got) != tc.want {
			t.Errorf("%s: %d events, want %d", tc.name, len(got), tc.want)
		}
		for i, e := range got {
			if e.ID != all[i].ID {
				t.Errorf("%s: event %d is %s, want %s", tc.name, i, e.ID, all[i].ID)
			}
		}
	}
}

// collector records what a subscription delivers and checks order.
type collector struct {
	prefix string
	mu     sync.Mutex
	last   eventstore.Position
	got    []eventstore.Event
	err    error
	more   chan struct{}
}

func newCollector(prefix string, after eventstore.Position) *collector {
	return &collector{prefix: prefix, last: after, more: make(chan struct{}, 1)}
}

func (c *collector) handle(_ context.Context, batch []eventstore.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(batch) == 0 {
		c.err = errors.New("empty batch delivered")
		return c.err
	}
	for _, e := range batch {
		if e.Position <= c.last {
			c.err = fmt.Errorf("position %d delivered after %d", e.Position, c.last)
			return c.err
		}
		c.last = e.Position
	}
	c.got = append(c.got, ownedBy(c.prefix, batch)...)
	select {
	case c.more <- struct{}{}:
	default:
	}
	return nil
}

// waitFor waits until n own events arrived, or fails the test.
func (c *collector) waitFor(t *testing.T, n int) []eventstore.Event {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		c.mu.Lock()
		got, err := append([]eventstore.Event(nil), c.got...), c.err
		c.mu.Unlock()
		if err != nil {
			t.Fatalf("subscription: %v", err)
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-c.more:
		case <-deadline:
			t.Fatalf("subscription delivered %d of %d events in %s", len(got), n, waitLimit)
		}
	}
}

// subscribe runs a subscription in the background until the test ends and
// returns a function that cancels it and returns its error.
func subscribe(t *testing.T, s eventstore.Store, after eventstore.Position, c *collector) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Subscribe(ctx, after, c.handle) }()
	stop := sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(waitLimit):
			return errors.New("subscription did not stop")
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// testLiveSubscriber runs writers on many streams while a subscriber tails
// the log: it must receive every event exactly once, in position order.
// A reader that trusts a sequence alone skips events that commit late; the
// rounds give such a reader many chances to be caught.
func testLiveSubscriber(t *testing.T, s eventstore.Store) {
	const rounds, writers, appends = 5, 8, 25
	for round := range rounds {
		prefix := newStream(t, fmt.Sprintf("live%d", round))
		c := newCollector(prefix, head(t, s))
		stop := subscribe(t, s, c.last, c)
		want := writeConcurrently(t, s, prefix, writers, appends)
		got := c.waitFor(t, len(want))
		if err := stop(); !errors.Is(err, context.Canceled) {
			t.Fatalf("round %d: subscription ended with %v, want context.Canceled", round, err)
		}
		checkExactlyOnce(t, got, want)
	}
}

// writeConcurrently appends from several writers, each to a stream of its
// own, with batches of one to three events. It returns every id written.
func writeConcurrently(t *testing.T, s eventstore.Store, prefix string, writers, appends int) map[string]bool {
	t.Helper()
	var mu sync.Mutex
	want := make(map[string]bool)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("%s-w%d", prefix, w)
			for i := range appends {
				batch := events(t, i, 1+(w+i)%3)
				if _, err := s.Append(testContext(t), eventstore.To(stream, eventstore.Any(), batch...)); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				mu.Lock()
				for _, e := range batch {
					want[e.ID.String()] = true
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	return want
}

func checkExactlyOnce(t *testing.T, got []eventstore.Event, want map[string]bool) {
	t.Helper()
	seen := make(map[string]bool, len(got))
	for _, e := range got {
		id := e.ID.String()
		if seen[id] {
			t.Fatalf("event %s delivered twice", id)
		}
		if !want[id] {
			t.Fatalf("event %s delivered but never written", id)
		}
		seen[id] = true
	}
	if len(seen) != len(want) {
		t.Fatalf("delivered %d of %d events", len(seen), len(want))
	}
}

func testResumeFromCheckpoint(t *testing.T, s eventstore.Store) {
	prefix := newStream(t, "resume")
	first := newCollector(prefix, head(t, s))
	stop := subscribe(t, s, first.last, first)
	before := writeConcurrently(t, s, prefix+"-a", 3, 4)
	got := first.waitFor(t, len(before))
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("first subscription ended with %v", err)
	}
	checkExactlyOnce(t, got, before)
	checkpoint := got[len(got)-1].Position

	after := writeConcurrently(t, s, prefix+"-b", 3, 4)
	second := newCollector(prefix, checkpoint)
	subscribe(t, s, checkpoint, second)
	checkExactlyOnce(t, second.waitFor(t, len(after)), after)
}

func testCancellation(t *testing.T, s eventstore.Store) {
	prefix := newStream(t, "cancel")
	cases := []struct {
		name  string
		block bool
	}{
		{"idle at the head of the log", false},
		{"inside a slow handler", true},
	}
	for _, tc := range cases {
		ctx, cancel := context.WithCancel(t.Context())
		entered := make(chan struct{}, 1)
		done := make(chan error, 1)
		from := head(t, s)
		go func() {
			done <- s.Subscribe(ctx, from, func(ctx context.Context, _ []eventstore.Event) error {
				select {
				case entered <- struct{}{}:
				default:
				}
				if tc.block {
					<-ctx.Done()
				}
				return nil
			})
		}()
		if tc.block {
			mustAppend(t, s, prefix+"-"+tc.name, eventstore.Any(), event(t, 1))
			select {
			case <-entered:
			case <-time.After(waitLimit):
				t.Fatalf("%s: handler never called", tc.name)
			}
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: subscription ended with %v, want context.Canceled", tc.name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: subscription still running 5s after cancel", tc.name)
		}
		t.Logf("%s: stopped %s after cancel", tc.name, time.Since(start))
	}
}

func testHandlerError(t *testing.T, s eventstore.Store) {
	from := head(t, s)
	mustAppend(t, s, newStream(t, "handlererr"), eventstore.Any(), event(t, 1))
	boom := errors.New("boom")
	err := s.Subscribe(testContext(t), from, func(context.Context, []eventstore.Event) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("subscription ended with %v, want the handler's error", err)
	}
}
