package esdb

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"ledger/eventstore"
)

func TestUnkept(t *testing.T) {
	t.Parallel()
	s := New(nil)
	want := []eventstore.Guarantee{eventstore.ConditionsInLogOrder, eventstore.AtomicStreams, eventstore.AtomicKeys}
	if got := eventstore.Unkept(s); !reflect.DeepEqual(got, want) {
		t.Errorf("Unkept = %q, want %q", got, want)
	}
}

func TestWarnings(t *testing.T) {
	t.Parallel()
	s := New(nil)
	got := s.Warnings()
	if len(got) != len(s.Unkept()) {
		t.Fatalf("%d warnings for %d unkept guarantees", len(got), len(s.Unkept()))
	}
	for i, w := range got {
		if !strings.HasPrefix(w, "eventstoredb: ") || strings.ContainsAny(w, "\n\r") || strings.HasSuffix(w, ".") {
			t.Errorf("warning %d %q is not one line starting with the backend's name", i, w)
		}
		if slices.Index(got, w) != i {
			t.Errorf("warning %d %q given twice", i, w)
		}
	}
	for _, want := range []string{"read just before the write", "one after another", "after its events"} {
		if !slices.ContainsFunc(got, func(w string) bool { return strings.Contains(w, want) }) {
			t.Errorf("no warning says %q: %q", want, got)
		}
	}
	if w := warning("a guarantee not yet named"); !strings.Contains(w, "a guarantee not yet named") {
		t.Errorf("warning for an unknown guarantee = %q", w)
	}
}

func TestKeyStream(t *testing.T) {
	t.Parallel()
	key := func(caller, k string) eventstore.IdempotencyKey {
		return eventstore.IdempotencyKey{Caller: caller, Key: k, Fingerprint: "f"}
	}
	base := keyStream(key("user-1", "k1"))
	if !strings.HasPrefix(base, KeyStreamPrefix) || len(base) != len(KeyStreamPrefix)+64 {
		t.Fatalf("key stream %q: want the prefix and 64 hex digits", base)
	}
	same := key("user-1", "k1")
	same.Fingerprint, same.Result = "another", []byte("x")
	if keyStream(same) != base {
		t.Error("the key stream depends on the fingerprint or result")
	}
	distinct := []eventstore.IdempotencyKey{
		key("user-1", "k1"), key("user-2", "k1"), key("user-1", "k2"),
		key("ab", "c"), key("a", "bc"), key("a\x00", "b"), key("a", "\x00b"),
	}
	seen := make(map[string]int)
	for i, k := range distinct {
		name := keyStream(k)
		if j, ok := seen[name]; ok {
			t.Errorf("keys %d and %d share stream %s", j, i, name)
		}
		seen[name] = i
		if err := checkStreamName(name); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("key stream %s is not reserved: %v", name, err)
		}
	}
	if !isSystem(&esdb.RecordedEvent{StreamID: base, EventType: KeyEventType}) {
		t.Error("the global log would show key records")
	}
}

func TestKeyRecordAnswer(t *testing.T) {
	t.Parallel()
	key := eventstore.IdempotencyKey{Caller: "user-1", Key: "k", Fingerprint: "f", Result: []byte("first")}
	rec := newKeyRecord(key, eventstore.AppendResult{Version: 3, Versions: []uint64{3, 1}, Position: 1234, Duplicate: true})
	key.Result[0] = 'F'
	res, err := rec.answer(key)
	want := eventstore.AppendResult{Version: 3, Position: 1234, Replayed: true, Result: []byte("first")}
	if err != nil || !reflect.DeepEqual(res, want) {
		t.Errorf("answer = %+v, %v; want %+v", res, err, want)
	}
	other := key
	other.Fingerprint = "g"
	if _, err := rec.answer(other); !errors.Is(err, eventstore.ErrKeyReused) {
		t.Errorf("another fingerprint: err = %v, want ErrKeyReused", err)
	}
	stranger := key
	stranger.Caller = "user-2"
	if _, err := rec.answer(stranger); err == nil || errors.Is(err, eventstore.ErrKeyReused) {
		t.Errorf("another caller's record: err = %v, want a corrupt-record error", err)
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	streams := []eventstore.StreamEvents{
		{Stream: "a", Events: make([]eventstore.EventData, 2)},
		{Stream: "b", Events: make([]eventstore.EventData, 1)},
	}
	cases := []struct {
		name    string
		matches []match
		dup     bool
		failAt  int // index of the stream whose add fails, or -1
	}{
		{"none", []match{{}, {}}, false, -1},
		{"all", []match{{2, 5, 1500}, {1, 1, 1600}}, true, -1},
		{"first stream only", []match{{2, 5, 1500}, {}}, false, 1},
		{"second stream only", []match{{}, {1, 1, 1600}}, false, 1},
		{"part of the first", []match{{1, 4, 1400}, {1, 1, 1600}}, false, 0},
	}
	for _, tc := range cases {
		tl := newTally(len(streams))
		failedAt := -1
		for i, m := range tc.matches {
			if err := tl.add(i, streams[i], m); err != nil {
				if !errors.Is(err, eventstore.ErrDuplicateEventID) || !strings.Contains(err.Error(), streams[i].Stream) {
					t.Errorf("%s: err = %v", tc.name, err)
				}
				failedAt = i
				break
			}
		}
		if failedAt != tc.failAt {
			t.Errorf("%s: failed at stream %d, want %d", tc.name, failedAt, tc.failAt)
			continue
		}
		if failedAt >= 0 {
			continue
		}
		res, dup := tl.verdict()
		want := eventstore.AppendResult{}
		if tc.dup {
			want = eventstore.AppendResult{Version: 5, Versions: []uint64{5, 1}, Position: 1600, Duplicate: true}
		}
		if dup != tc.dup || !reflect.DeepEqual(res, want) {
			t.Errorf("%s: verdict = %+v, %t; want %+v, %t", tc.name, res, dup, want, tc.dup)
		}
	}
	if _, dup := newTally(0).verdict(); dup {
		t.Error("a request of no events is a duplicate")
	}
}

func TestVersionChecks(t *testing.T) {
	t.Parallel()
	cond := eventstore.Condition{Stream: "partner-1", Version: 2}
	if err := checkCondition(cond, 2); err != nil {
		t.Errorf("condition held: %v", err)
	}
	for _, current := range []uint64{0, 1, 3} {
		err := checkCondition(cond, current)
		if !errors.Is(err, eventstore.ErrConcurrency) || !strings.Contains(err.Error(), "partner-1") {
			t.Errorf("condition at %d: err = %v, want ErrConcurrency naming the stream", current, err)
		}
	}
	st := eventstore.StreamEvents{Stream: "account-1", Expected: eventstore.Exact(3)}
	if err := checkExpected(st, 3); err != nil {
		t.Errorf("expectation held: %v", err)
	}
	if err := checkExpected(st, 4); !errors.Is(err, eventstore.ErrConcurrency) || !strings.Contains(err.Error(), "account-1") {
		t.Errorf("expectation failed: err = %v, want ErrConcurrency naming the stream", err)
	}
}

func TestPartlyWritten(t *testing.T) {
	t.Parallel()
	streams := []eventstore.StreamEvents{{Stream: "a"}, {Stream: "b"}, {Stream: "c"}}
	cause := errors.New("connection lost")
	err := partlyWritten(streams, 2, cause)
	if !errors.Is(err, ErrPartlyWritten) || !errors.Is(err, cause) || eventstore.OutcomeKnown(err) {
		t.Fatalf("err = %v: want ErrPartlyWritten wrapping the cause, outcome unknown", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "append to c, stream 3 of 3, after writing a, b") {
		t.Errorf("err = %q does not say which streams were written", msg)
	}
}
