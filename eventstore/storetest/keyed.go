package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// RunKeyed runs the conformance tests of eventstore.KeyedAppender.
func RunKeyed(t *testing.T, open func(t *testing.T) eventstore.KeyedAppender) {
	tests := []struct {
		name string
		run  func(t *testing.T, s eventstore.KeyedAppender)
	}{
		{"RecordsAndReplays", testKeyedReplays},
		{"RefusesReuseForAnotherRequest", testKeyedReuse},
		{"CallersDoNotShareKeys", testKeyedCallers},
		{"RacingRetriesAppendOnce", testKeyedRace},
		{"FailedAppendRecordsNoKey", testKeyedFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, open(t))
		})
	}
}

func newKey(fingerprint string) eventstore.IdempotencyKey {
	return eventstore.IdempotencyKey{Caller: "user-" + uuid.NewString(), Key: uuid.NewString(), Fingerprint: fingerprint}
}

func renderPosition(r eventstore.AppendResult) ([]byte, error) {
	return fmt.Appendf(nil, `{"version":%d,"position":%d}`, r.Version, r.Position), nil
}

func appendKeyed(t *testing.T, s eventstore.KeyedAppender, stream string, key eventstore.IdempotencyKey, evs ...eventstore.EventData) (eventstore.KeyedResult, error) {
	t.Helper()
	return s.AppendKeyed(testContext(t), stream, eventstore.Any(), key, renderPosition, evs...)
}

func testKeyedReplays(t *testing.T, s eventstore.KeyedAppender) {
	stream := newStream(t, "keyed")
	key := newKey("request-a")
	first, err := appendKeyed(t, s, stream, key, event(t, 1))
	if err != nil || first.Replayed || first.Append.Version != 1 {
		t.Fatalf("first keyed append = %+v, %v; want version 1, not replayed", first, err)
	}
	again, err := appendKeyed(t, s, stream, key, event(t, 2))
	if err != nil || !again.Replayed || string(again.Result) != string(first.Result) || again.Append.Position != first.Append.Position {
		t.Fatalf("repeat = %+v (%s), %v; want the first result %s replayed", again, again.Result, err, first.Result)
	}
	found, ok, err := s.LookupKey(testContext(t), key)
	if err != nil || !ok || !found.Replayed || string(found.Result) != string(first.Result) {
		t.Fatalf("lookup = %+v, %v, %v; want the first result", found, ok, err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events after a replayed key, want 1", len(got))
	}
}

func testKeyedReuse(t *testing.T, s eventstore.KeyedAppender) {
	stream := newStream(t, "keyed-reuse")
	key := newKey("request-a")
	if _, err := appendKeyed(t, s, stream, key, event(t, 1)); err != nil {
		t.Fatal(err)
	}
	other := key
	other.Fingerprint = "request-b"
	if _, err := appendKeyed(t, s, stream, other, event(t, 2)); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Fatalf("key reused for another request: err = %v, want ErrKeyReused", err)
	}
	if _, _, err := s.LookupKey(testContext(t), other); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Fatalf("lookup for another request: err = %v, want ErrKeyReused", err)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events, want 1", len(got))
	}
}

func testKeyedCallers(t *testing.T, s eventstore.KeyedAppender) {
	stream := newStream(t, "keyed-callers")
	a := newKey("request")
	b := a
	b.Caller = "user-" + uuid.NewString()
	for _, key := range []eventstore.IdempotencyKey{a, b} {
		res, err := appendKeyed(t, s, stream, key, event(t, 1))
		if err != nil || res.Replayed {
			t.Fatalf("caller %s: %+v, %v; want a fresh append", key.Caller, res, err)
		}
	}
	if got := readStream(t, s, stream); len(got) != 2 {
		t.Fatalf("stream has %d events, want 2", len(got))
	}
}

func testKeyedRace(t *testing.T, s eventstore.KeyedAppender) {
	const racers = 8
	stream := newStream(t, "keyed-race")
	key := newKey("request")
	results := make([]eventstore.KeyedResult, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			var err error
			if results[i], err = appendKeyed(t, s, stream, key, event(t, i)); err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Replayed {
			fresh++
		}
		if string(r.Result) != string(results[0].Result) {
			t.Errorf("results differ: %s and %s", r.Result, results[0].Result)
		}
	}
	if fresh != 1 {
		t.Errorf("%d racers appended, want exactly 1", fresh)
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("stream has %d events after %d racing retries, want 1", len(got), racers)
	}
}

func testKeyedFailure(t *testing.T, s eventstore.KeyedAppender) {
	stream := newStream(t, "keyed-fail")
	mustAppend(t, s, stream, eventstore.NoStream(), event(t, 1))
	key := newKey("request")
	_, err := s.AppendKeyed(testContext(t), stream, eventstore.NoStream(), key, renderPosition, event(t, 2))
	if !errors.Is(err, eventstore.ErrConcurrency) {
		t.Fatalf("err = %v, want ErrConcurrency", err)
	}
	if _, found, err := s.LookupKey(testContext(t), key); found || err != nil {
		t.Fatalf("a failed append recorded its key (found %v, %v)", found, err)
	}
	failRender := func(eventstore.AppendResult) ([]byte, error) { return nil, errors.New("render failed") }
	if _, err := s.AppendKeyed(context.Background(), stream, eventstore.Any(), key, failRender, event(t, 3)); err == nil {
		t.Fatal("an append whose result failed to render succeeded")
	}
	if got := readStream(t, s, stream); len(got) != 1 {
		t.Fatalf("failed keyed appends wrote: stream has %d events, want 1", len(got))
	}
}
