package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"ledger/eventstore"
)

func TestExpectedVersionAllows(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expected eventstore.ExpectedVersion
		current  uint64
		want     bool
	}{
		{eventstore.Any(), 0, true},
		{eventstore.Any(), 7, true},
		{eventstore.NoStream(), 0, true},
		{eventstore.NoStream(), 1, false},
		{eventstore.StreamExists(), 0, false},
		{eventstore.StreamExists(), 1, true},
		{eventstore.Exact(0), 0, true},
		{eventstore.Exact(0), 1, false},
		{eventstore.Exact(3), 3, true},
		{eventstore.Exact(3), 2, false},
		{eventstore.Exact(3), 4, false},
	}
	for _, tc := range cases {
		if got := tc.expected.Allows(tc.current); got != tc.want {
			t.Errorf("%s allows version %d = %v, want %v", tc.expected, tc.current, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	good, err := eventstore.NewEvent("Happened", map[string]int{"n": 1}, eventstore.Metadata{})
	if err != nil {
		t.Fatal(err)
	}
	if good.ID.Version() != 7 || good.SchemaVersion != 1 {
		t.Fatalf("NewEvent gave id version %d, schema version %d; want 7 and 1", good.ID.Version(), good.SchemaVersion)
	}
	with := func(change func(*eventstore.EventData)) eventstore.EventData {
		e := good
		e.ID = uuid.Must(uuid.NewV7())
		change(&e)
		return e
	}
	fresh := func() eventstore.EventData { return with(func(*eventstore.EventData) {}) }
	tooMany := make([]eventstore.EventData, eventstore.MaxAppendEvents+1)
	for i := range tooMany {
		tooMany[i] = fresh()
	}
	key := &eventstore.IdempotencyKey{Caller: "user-1", Key: "k", Fingerprint: "f"}
	to := eventstore.To
	any := eventstore.Any()
	two := func(a, b string) eventstore.AppendRequest {
		return eventstore.AppendRequest{Streams: []eventstore.StreamEvents{
			{Stream: a, Expected: any, Events: []eventstore.EventData{fresh()}},
			{Stream: b, Expected: any, Events: []eventstore.EventData{fresh()}},
		}}
	}
	withConditions := func(req eventstore.AppendRequest, cs ...eventstore.Condition) eventstore.AppendRequest {
		req.Conditions = cs
		return req
	}
	withKey := func(req eventstore.AppendRequest, k *eventstore.IdempotencyKey) eventstore.AppendRequest {
		req.Key = k
		return req
	}
	cases := []struct {
		name string
		req  eventstore.AppendRequest
		want string
	}{
		{"valid", to("s-1", any, good), ""},
		{"two streams", two("s-1", "s-2"), ""},
		{"conditions", withConditions(to("s-1", any, fresh()), eventstore.Condition{Stream: "s-2"}, eventstore.Condition{Stream: "s-3", Version: 4}), ""},
		{"a key and no events", eventstore.AppendRequest{Key: key}, ""},
		{"nothing", eventstore.AppendRequest{}, "needs events or a key"},
		{"no stream", to("", any, good), "empty stream name"},
		{"no events", to("s-1", any), "no events"},
		{"too many", to("s-1", any, tooMany...), "at most"},
		{"nil id", to("s-1", any, with(func(e *eventstore.EventData) { e.ID = uuid.Nil })), "no id"},
		{"repeated id", to("s-1", any, good, good), "given twice"},
		{"one id in two streams", eventstore.AppendRequest{Streams: []eventstore.StreamEvents{
			{Stream: "s-1", Expected: any, Events: []eventstore.EventData{good}},
			{Stream: "s-2", Expected: any, Events: []eventstore.EventData{good}},
		}}, "given twice"},
		{"one stream twice", two("s-1", "s-1"), "stream given twice"},
		{"no type", to("s-1", any, with(func(e *eventstore.EventData) { e.Type = "" })), "no type"},
		{"schema 0", to("s-1", any, with(func(e *eventstore.EventData) { e.SchemaVersion = 0 })), "schema version"},
		{"not JSON", to("s-1", any, with(func(e *eventstore.EventData) { e.Data = []byte("{") })), "not JSON"},
		{"condition on no stream", withConditions(to("s-1", any, fresh()), eventstore.Condition{}), "names no stream"},
		{"condition on a written stream", withConditions(two("s-1", "s-2"), eventstore.Condition{Stream: "s-2"}), "which the append writes"},
		{"condition twice", withConditions(to("s-1", any, fresh()), eventstore.Condition{Stream: "s-2"}, eventstore.Condition{Stream: "s-2"}), "given twice"},
		{"key without caller", withKey(to("s-1", any, fresh()), &eventstore.IdempotencyKey{Key: "k", Fingerprint: "f"}), "caller"},
		{"key too long", withKey(to("s-1", any, fresh()), &eventstore.IdempotencyKey{Caller: "c", Key: strings.Repeat("k", 256), Fingerprint: "f"}), "1 to 255"},
		{"key without fingerprint", withKey(to("s-1", any, fresh()), &eventstore.IdempotencyKey{Caller: "c", Key: "k"}), "fingerprint"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := tc.req.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if !errors.Is(err, eventstore.ErrInvalidEvent) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want ErrInvalidEvent mentioning %q", err, tc.want)
			}
		})
	}
}

func TestOutcomeKnown(t *testing.T) {
	t.Parallel()
	cases := []struct {
		err  error
		want bool
	}{
		{nil, true},
		{fmt.Errorf("append to s: %w", eventstore.ErrConcurrency), true},
		{eventstore.ErrInvalidEvent, true},
		{eventstore.ErrDuplicateEventID, true},
		{eventstore.ErrKeyReused, true},
		{eventstore.ErrLogRestored, true},
		{fmt.Errorf("append: %w: numeric value out of range", eventstore.ErrRefused), true},
		{context.DeadlineExceeded, false},
		{errors.New("connection reset by peer"), false},
	}
	for _, tc := range cases {
		if got := eventstore.OutcomeKnown(tc.err); got != tc.want {
			t.Errorf("OutcomeKnown(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
