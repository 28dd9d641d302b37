package eventstore_test

import (
	"errors"
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
	tooMany := make([]eventstore.EventData, eventstore.MaxAppendEvents+1)
	for i := range tooMany {
		tooMany[i] = with(func(*eventstore.EventData) {})
	}
	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
		want   string
	}{
		{"valid", "s-1", []eventstore.EventData{good}, ""},
		{"no stream", "", []eventstore.EventData{good}, "empty stream name"},
		{"no events", "s-1", nil, "no events"},
		{"too many", "s-1", tooMany, "at most"},
		{"nil id", "s-1", []eventstore.EventData{with(func(e *eventstore.EventData) { e.ID = uuid.Nil })}, "no id"},
		{"repeated id", "s-1", []eventstore.EventData{good, good}, "given twice"},
		{"no type", "s-1", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Type = "" })}, "no type"},
		{"schema 0", "s-1", []eventstore.EventData{with(func(e *eventstore.EventData) { e.SchemaVersion = 0 })}, "schema version"},
		{"not JSON", "s-1", []eventstore.EventData{with(func(e *eventstore.EventData) { e.Data = []byte("{") })}, "not JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := eventstore.Validate(tc.stream, tc.events)
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
