package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"ledger/eventstore"
)

func newKey(fingerprint string) *eventstore.IdempotencyKey {
	return &eventstore.IdempotencyKey{Caller: "user-" + uuid.NewString(), Key: uuid.NewString(), Fingerprint: fingerprint,
		Result: []byte(`{"answer":"` + fingerprint + `"}`)}
}

func keyed(stream string, expected eventstore.ExpectedVersion, key *eventstore.IdempotencyKey, evs ...eventstore.EventData) eventstore.AppendRequest {
	req := eventstore.To(stream, expected, evs...)
	req.Key = key
	return req
}

// contextEndingWithin returns a context that ends after d.
func contextEndingWithin(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	t.Helper()
	return context.WithTimeout(t.Context(), d)
}

// testKeyRecordsAndReplays appends with a key, then repeats the key with
// other events: the repeat appends nothing and answers with the first
// append's record, as does a lookup.
func testKeyRecordsAndReplays(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "keyed")
	key := newKey("request-a")
	first, err := s.Append(testContext(t), keyed(stream, eventstore.Any(), key, event(t, 1)))
	if err != nil || first.Replayed || first.Version != 1 || string(first.Result) != string(key.Result) {
		t.Fatalf("first keyed append = %+v, %v; want version 1, not replayed, the key's result", first, err)
	}
	again := *key
	again.Result = []byte("another answer")
	res, err := s.Append(testContext(t), keyed(stream, eventstore.Any(), &again, event(t, 2)))
	if err != nil || !res.Replayed || string(res.Result) != string(key.Result) || res.Position != first.Position || res.Version != 1 {
		t.Fatalf("repeat = %+v (%s), %v; want the first record (%s at %d) replayed", res, res.Result, err, key.Result, first.Position)
	}
	found, ok, err := s.LookupKey(testContext(t), *key)
	if err != nil || !ok || !found.Replayed || string(found.Result) != string(key.Result) || found.Position != first.Position {
		t.Fatalf("lookup = %+v, %v, %v; want the first record", found, ok, err)
	}
	if _, ok, err := s.LookupKey(testContext(t), *newKey("never")); ok || err != nil {
		t.Fatalf("lookup of a key never used = found %v, %v", ok, err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events after a replayed key, want 1", len(got))
	}
}

func testKeyReusedForAnotherRequest(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "keyed-reuse")
	key := newKey("request-a")
	if _, err := s.Append(testContext(t), keyed(stream, eventstore.Any(), key, event(t, 1))); err != nil {
		t.Fatal(err)
	}
	other := *key
	other.Fingerprint = "request-b"
	if _, err := s.Append(testContext(t), keyed(stream, eventstore.Any(), &other, event(t, 2))); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Fatalf("key reused for another request: err = %v, want ErrKeyReused", err)
	}
	if _, _, err := s.LookupKey(testContext(t), other); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Fatalf("lookup for another request: err = %v, want ErrKeyReused", err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events, want 1", len(got))
	}
}

func testKeyCallersApart(t *testing.T, s eventstore.Store) {
	stream := newStream(t, "keyed-callers")
	a := newKey("request")
	b := *a
	b.Caller = "user-" + uuid.NewString()
	for _, key := range []*eventstore.IdempotencyKey{a, &b} {
		res, err := s.Append(testContext(t), keyed(stream, eventstore.Any(), key, event(t, 1)))
		if err != nil || res.Replayed {
			t.Fatalf("caller %s: %+v, %v; want a fresh append", key.Caller, res, err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

// testKeyRacingRetries sends one keyed request, each time with events of
// its own, from many goroutines at once: one appends, the others answer
// with its record.
func testKeyRacingRetries(t *testing.T, s eventstore.Store) {
	requires(t, s, eventstore.AtomicKeys)
	const racers = 8
	for round := range 10 {
		stream := newStream(t, "keyed-race")
		key := newKey(fmt.Sprint("request-", round))
		results := make([]eventstore.AppendResult, racers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range racers {
			wg.Go(func() {
				<-start
				var err error
				if results[i], err = s.Append(testContext(t), keyed(stream, eventstore.Any(), key, event(t, i))); err != nil {
					t.Errorf("racer %d: %v", i, err)
				}
			})
		}
		close(start)
		wg.Wait()
		fresh := 0
		for _, r := range results {
			if !r.Replayed {
				fresh++
			}
			if string(r.Result) != string(key.Result) || r.Position != results[0].Position {
				t.Errorf("round %d: results differ: %+v and %+v", round, r, results[0])
			}
		}
		if fresh != 1 {
			t.Errorf("round %d: %d racers appended, want exactly 1", round, fresh)
		}
		if got := readStream(t, s, stream); len(got) != 1 {
			t.Fatalf("round %d: stream has %d events after %d racing retries, want 1", round, len(got), racers)
		}
	}
}

// testKeyOfFailedAppend checks that an append refused for its expectation
// or its conditions records no key, so that a corrected retry can use it.
func testKeyOfFailedAppend(t *testing.T, s eventstore.Store) {
	stream, by := newStream(t, "keyed-fail"), newStream(t, "keyed-fail-by")
	mustAppend(t, s, stream, eventstore.NoStream(), event(t, 1))
	key := newKey("request")
	if _, err := s.Append(testContext(t), keyed(stream, eventstore.NoStream(), key, event(t, 2))); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v, want ErrConcurrency", err)
	}
	req := keyed(stream, eventstore.Exact(1), key, event(t, 3))
	req.Conditions = []eventstore.Condition{{Stream: by, Version: 1}}
	if _, err := s.Append(testContext(t), req); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("condition failed: err = %v, want ErrConcurrency", err)
	}
	if _, found, err := s.LookupKey(testContext(t), *key); found || err != nil {
		t.Fatalf("a failed append recorded its key (found %v, %v)", found, err)
	}
	if res, err := s.Append(testContext(t), keyed(stream, eventstore.Exact(1), key, event(t, 4))); err != nil || res.Replayed || res.Version != 2 {
		t.Fatalf("retry with the key = %+v, %v; want a fresh append at version 2", res, err)
	}
}

// testKeyWithoutEvents records a key for a request that changed nothing,
// under a condition: it is recorded when the condition holds, replayed
// after, and not recorded when the condition fails.
func testKeyWithoutEvents(t *testing.T, s eventstore.Store) {
	by := newStream(t, "keyed-none-by")
	mustAppend(t, s, by, eventstore.NoStream(), event(t, 1))
	stale := newKey("nothing")
	req := eventstore.AppendRequest{Key: stale, Conditions: []eventstore.Condition{{Stream: by, Version: 2}}}
	if _, err := s.Append(testContext(t), req); !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("keyed append of nothing under a stale condition: err = %v, want ErrConcurrency", err)
	}
	if _, found, _ := s.LookupKey(testContext(t), *stale); found {
		t.Fatal("a key whose condition failed was recorded")
	}
	key := newKey("nothing")
	req = eventstore.AppendRequest{Key: key, Conditions: []eventstore.Condition{{Stream: by, Version: 1}}}
	res, err := s.Append(testContext(t), req)
	if err != nil || res.Replayed || string(res.Result) != string(key.Result) {
		t.Fatalf("keyed append of nothing = %+v, %v; want it recorded", res, err)
	}
	again, err := s.Append(testContext(t), req)
	if err != nil || !again.Replayed || string(again.Result) != string(key.Result) {
		t.Fatalf("repeat = %+v, %v; want a replay", again, err)
	}
}

// testKeyAcrossStreams records one key with an append to several
// streams: one record, and a replay that appends to none of them.
func testKeyAcrossStreams(t *testing.T, s eventstore.Store) {
	requires(t, s, eventstore.AtomicStreams)
	a, b := newStream(t, "keyed-multi"), newStream(t, "keyed-multi")
	key := newKey("multi")
	req := eventstore.AppendRequest{Key: key, Streams: []eventstore.StreamEvents{
		{Stream: a, Expected: eventstore.NoStream(), Events: events(t, 1, 2)},
		{Stream: b, Expected: eventstore.NoStream(), Events: events(t, 1, 1)},
	}}
	first, err := s.Append(testContext(t), req)
	if err != nil || first.Version != 2 || len(first.Versions) != 2 || first.Versions[1] != 1 {
		t.Fatalf("keyed append to two streams = %+v, %v; want versions 2 and 1", first, err)
	}
	req.Streams[0].Events, req.Streams[1].Events = events(t, 3, 1), events(t, 3, 1)
	again, err := s.Append(testContext(t), req)
	if err != nil || !again.Replayed || again.Position != first.Position || again.Version != 2 {
		t.Fatalf("repeat = %+v, %v; want the first replayed", again, err)
	}
	if len(readStream(t, s, a)) != 2 || len(readStream(t, s, b)) != 1 {
		t.Fatal("a replayed key appended")
	}
}
