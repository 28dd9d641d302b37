package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// conditionRaces is how many times the log-order tests race a conditioned
// append against a writer to its condition stream.
const conditionRaces = 1000

// testConditionRacesInLogOrder races, a thousand times, an append
// conditioned on a stream at its current version against a writer to that
// stream. Either may win; what must never happen is that both land with
// the writer's event before the conditioned one in the global log: the
// log would then show an event decided on a state its stream had already
// left, such as a partner's write after its revocation.
func testConditionRacesInLogOrder(t *testing.T, s eventstore.Store) {
	requires(t, s, eventstore.ConditionsInLogOrder)
	raceConditions(t, s, conditionRaces, 4)
}

// testConditionRacesInGroups is testConditionRacesInLogOrder with 32
// races at once, so that a store that commits concurrent appends together
// puts racing ones in one group.
func testConditionRacesInGroups(t *testing.T, s eventstore.Store) {
	requires(t, s, eventstore.ConditionsInLogOrder)
	raceConditions(t, s, conditionRaces, 32)
}

// conditionRace is one race: an append to stream conditioned on by at
// version 1, and an append to by at version 1.
type conditionRace struct {
	stream, by           string
	conditioned, writer  eventstore.EventData
	conditionedErr, wErr error
}

func raceConditions(t *testing.T, s eventstore.Store, total, atOnce int) {
	t.Helper()
	from := head(t, s)
	var races []*conditionRace
	for len(races) < total {
		round := newConditionRaces(t, s, min(atOnce, total-len(races)))
		runConditionRound(t, s, round)
		races = append(races, round...)
	}
	order := logOrder(t, s, from, races)
	landed, refused := 0, 0
	for i, r := range races {
		switch {
		case r.wErr != nil:
			t.Fatalf("race %d: the writer of the condition's stream failed: %v", i, r.wErr)
		case errors.Is(r.conditionedErr, eventstore.ErrConcurrency):
			refused++
		case r.conditionedErr != nil:
			t.Fatalf("race %d: conditioned append: %v", i, r.conditionedErr)
		case order[r.writer.ID] < order[r.conditioned.ID]:
			t.Fatalf("race %d: both landed, and %s moved to version 2 at log index %d, before the append conditioned on its version 1 at %d",
				i, r.by, order[r.writer.ID], order[r.conditioned.ID])
		default:
			landed++
		}
	}
	t.Logf("%d races, %d at once: the conditioned append landed first in %d, was refused in %d", total, atOnce, landed, refused)
}

// newConditionRaces makes n races, their condition streams at version 1
// (written in one append, when the store takes several streams at once).
func newConditionRaces(t *testing.T, s eventstore.Store, n int) []*conditionRace {
	t.Helper()
	races := make([]*conditionRace, n)
	var setup eventstore.AppendRequest
	for i := range races {
		r := &conditionRace{stream: newStream(t, "race-cond"), by: newStream(t, "race-by"),
			conditioned: event(t, 1), writer: event(t, 2)}
		races[i] = r
		setup.Streams = append(setup.Streams, eventstore.StreamEvents{Stream: r.by, Expected: eventstore.NoStream(), Events: events(t, 0, 1)})
	}
	if _, err := s.Append(testContext(t), setup); err != nil {
		t.Fatalf("set up %d races: %v", n, err)
	}
	return races
}

// runConditionRound starts every race's two appends at once.
func runConditionRound(t *testing.T, s eventstore.Store, races []*conditionRace) {
	t.Helper()
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range races {
		cs := []eventstore.Condition{{Stream: r.by, Version: 1}}
		wg.Go(func() {
			<-start
			_, r.conditionedErr = s.Append(testContext(t), conditioned(r.stream, eventstore.NoStream(), cs, r.conditioned))
		})
		wg.Go(func() {
			<-start
			_, r.wErr = s.Append(testContext(t), eventstore.To(r.by, eventstore.Exact(1), r.writer))
		})
	}
	close(start)
	wg.Wait()
}

// logOrder reads the global log after from until it holds every event
// the races appended, and returns each event's index in it.
func logOrder(t *testing.T, s eventstore.Store, from eventstore.Position, races []*conditionRace) map[uuid.UUID]int {
	t.Helper()
	want := make(map[uuid.UUID]bool)
	for _, r := range races {
		want[r.writer.ID] = true
		if r.conditionedErr == nil {
			want[r.conditioned.ID] = true
		}
	}
	order := make(map[uuid.UUID]int, len(want))
	readLog(t, s, from, func(i int, e eventstore.Event) bool {
		if want[e.ID] {
			order[e.ID] = i
		}
		return len(order) < len(want)
	})
	return order
}

// readLog reads the global log after from, giving each event and its
// index to each, until each returns false; it fails t if the log ends
// first and stays so for a while.
func readLog(t *testing.T, s eventstore.Store, from eventstore.Position, each func(i int, e eventstore.Event) bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for i := 0; ; {
		batch, err := s.ReadAll(testContext(t), from, 1000)
		if err != nil {
			t.Fatalf("read log: %v", err)
		}
		if len(batch) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("the log ended after %d events, before every event expected", i)
			}
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for _, e := range batch {
			if !each(i, e) {
				return
			}
			i++
		}
		from = batch[len(batch)-1].Position
	}
}

// testVersionOrderInLog has writers append to one stream at once, with no
// expectation, half of them with idempotency keys: the global log must
// hold the stream's events in version order, whatever raced.
func testVersionOrderInLog(t *testing.T, s eventstore.Store) {
	const writers, each = 8, 25
	stream := newStream(t, "order")
	from := head(t, s)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				req := eventstore.To(stream, eventstore.Any(), event(t, w*each+i))
				if w%2 == 1 {
					req.Key = &eventstore.IdempotencyKey{Caller: "order-" + uuid.NewString(), Key: fmt.Sprint(i), Fingerprint: "f"}
				}
				if _, err := s.Append(testContext(t), req); err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	var last uint64
	readLog(t, s, from, func(i int, e eventstore.Event) bool {
		if e.Stream != stream {
			return true
		}
		if e.Version != last+1 {
			t.Fatalf("the log holds version %d of %s after version %d", e.Version, stream, last)
		}
		last = e.Version
		return last < writers*each
	})
}

// testUnknownOutcomes appends with contexts that end at random moments,
// some before the store answers, and repeats each append whose outcome
// that leaves unknown, as a caller must, with the same events, until the
// outcome is known: every append lands exactly once, and the repeat of
// one that did land reports it.
func testUnknownOutcomes(t *testing.T, s eventstore.Store) {
	const writers, each = 4, 25
	var unknown, recorded atomic.Int32
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if !appendUntilKnown(t, s, w*each+i, &unknown, &recorded) {
					return
				}
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d appends ended with their outcome unknown and were repeated; %d of the repeats found them recorded",
		unknown.Load(), writers*each, recorded.Load())
}

// appendUntilKnown makes append i of testUnknownOutcomes; it reports false
// when it failed t.
func appendUntilKnown(t *testing.T, s eventstore.Store, i int, unknown, recorded *atomic.Int32) bool {
	stream := newStream(t, "unknown")
	req := eventstore.To(stream, eventstore.NoStream(), events(t, 1, 2)...)
	if i%2 == 1 {
		req.Key = &eventstore.IdempotencyKey{Caller: "unknown-" + uuid.NewString(), Key: "k", Fingerprint: "f", Result: []byte("r")}
	}
	ctx, cancel := contextEndingWithin(t, time.Duration(i%20)*250*time.Microsecond)
	res, err := s.Append(ctx, req)
	cancel()
	for attempt := 0; !eventstore.OutcomeKnown(err); attempt++ {
		if attempt == 0 {
			unknown.Add(1)
		}
		if attempt == 20 {
			t.Errorf("append %d: outcome still unknown after %d repeats: %v", i, attempt, err)
			return false
		}
		res, err = s.Append(testContext(t), req)
	}
	if err != nil {
		t.Errorf("append %d: %v", i, err)
		return false
	}
	if res.Duplicate || res.Replayed {
		recorded.Add(1)
	}
	if got := readStream(t, s, stream); len(got) != 2 || res.Version != 2 {
		t.Errorf("append %d: stream holds %d events, result %+v; want 2 events at version 2", i, len(got), res)
		return false
	}
	if req.Key != nil && string(res.Result) != "r" {
		t.Errorf("append %d: the key's result is %q, want %q", i, res.Result, "r")
		return false
	}
	return true
}
