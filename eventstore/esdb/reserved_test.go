package esdb

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"ledger/eventstore"
)

func newEvents(t *testing.T, n int) []eventstore.EventData {
	t.Helper()
	out := make([]eventstore.EventData, n)
	for i := range out {
		e, err := eventstore.NewEvent("Happened", map[string]int{"n": i}, eventstore.Metadata{Actor: eventstore.Actor{Type: "system"}})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = e
	}
	return out
}

func TestAppendRefusesReservedNames(t *testing.T) {
	t.Parallel()
	s := New(nil) // refused before any call to the server
	for _, stream := range []string{"$system", ClaimStreamPrefix + uuid.NewString(), KeyStreamPrefix + "abc"} {
		if _, err := s.Append(t.Context(), eventstore.To(stream, eventstore.Any(), newEvents(t, 1)...)); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("append to %s: err = %v, want ErrInvalidEvent", stream, err)
		}
		req := eventstore.To("subscription-1", eventstore.Any(), newEvents(t, 1)...)
		req.Conditions = []eventstore.Condition{{Stream: stream}}
		if _, err := s.Append(t.Context(), req); !errors.Is(err, eventstore.ErrInvalidEvent) {
			t.Errorf("condition on %s: err = %v, want ErrInvalidEvent", stream, err)
		}
	}
}
