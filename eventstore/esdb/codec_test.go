package esdb

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

func TestExpectedRevision(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		expected eventstore.ExpectedVersion
		want     esdb.ExpectedRevision
	}{
		{"any", eventstore.Any(), esdb.Any{}},
		{"no stream", eventstore.NoStream(), esdb.NoStream{}},
		{"stream exists", eventstore.StreamExists(), esdb.StreamExists{}},
		{"exact 0", eventstore.Exact(0), esdb.NoStream{}},
		{"exact 1", eventstore.Exact(1), esdb.Revision(0)},
		{"exact 42", eventstore.Exact(42), esdb.Revision(41)},
		{"exact max", eventstore.Exact(math.MaxUint64), esdb.Revision(math.MaxUint64 - 1)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := expectedRevision(tc.expected); got != tc.want {
				t.Errorf("expectedRevision(%s) = %#v, want %#v", tc.expected, got, tc.want)
			}
		})
	}
}

func TestPositionMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		server esdb.Position
		ledger eventstore.Position
	}{
		{"first user event", esdb.Position{Commit: 1404, Prepare: 1404}, 1404},
		{"large", esdb.Position{Commit: 1 << 40, Prepare: 1 << 40}, 1 << 40},
		{"commit wins", esdb.Position{Commit: 900, Prepare: 850}, 900},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := toPosition(tc.server); got != tc.ledger {
				t.Errorf("toPosition(%+v) = %d, want %d", tc.server, got, tc.ledger)
			}
			back := fromPosition(tc.ledger)
			want := esdb.Position{Commit: uint64(tc.ledger), Prepare: uint64(tc.ledger)}
			if back != want {
				t.Errorf("fromPosition(%d) = %#v, want %#v", tc.ledger, back, want)
			}
		})
	}
}

func TestPositionEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		got  any
		want any
	}{
		{"zero resumes from the start", fromPosition(0), esdb.Start{}},
		{"no position on old servers", toPosition(esdb.Position{Commit: math.MaxUint64, Prepare: math.MaxUint64}), eventstore.Position(0)},
		{"revision of version 0", revisionOf(0), uint64(0)},
		{"revision of version 1", revisionOf(1), uint64(0)},
		{"revision of version 7", revisionOf(7), uint64(6)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.got != tc.want {
				t.Errorf("got %#v, want %#v", tc.got, tc.want)
			}
		})
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		schema int
		meta   eventstore.Metadata
	}{
		{"zero envelope", 1, eventstore.Metadata{}},
		{"full envelope", 3, eventstore.Metadata{
			TenantID:       "tenant-1",
			Actor:          eventstore.Actor{Type: "partner_user", ID: "user-1", PartnerID: "partner-1"},
			CorrelationID:  "corr-1",
			CausationID:    "cause-1",
			RequestID:      "req-1",
			IdempotencyKey: "key-1",
			OccurredAt:     time.Date(2026, 11, 25, 10, 0, 0, 123000, time.UTC),
		}},
		{"system actor", 2, eventstore.Metadata{
			Actor:      eventstore.Actor{Type: "system"},
			OccurredAt: time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC),
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			raw, err := encodeMetadata(tc.schema, tc.meta)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(raw, &fields); err != nil {
				t.Fatalf("metadata %s is not a JSON object: %v", raw, err)
			}
			if _, ok := fields["schema_version"]; !ok {
				t.Errorf("metadata %s has no schema_version", raw)
			}
			schema, meta, err := decodeMetadata(raw)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if schema != tc.schema || !reflect.DeepEqual(meta, tc.meta) {
				t.Errorf("round trip = %d %+v, want %d %+v", schema, meta, tc.schema, tc.meta)
			}
		})
	}
}

func TestDecodeMetadataEdges(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		raw     string
		schema  int
		wantErr bool
	}{
		{"empty", "", 0, false},
		{"foreign object", `{"source":"elsewhere"}`, 0, false},
		{"schema only", `{"schema_version":4}`, 4, false},
		{"not json", `{nope`, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			schema, _, err := decodeMetadata([]byte(tc.raw))
			if (err != nil) != tc.wantErr || schema != tc.schema {
				t.Errorf("decodeMetadata(%q) = %d, %v; want %d, error %t", tc.raw, schema, err, tc.schema, tc.wantErr)
			}
		})
	}
}

func TestEventRoundTrip(t *testing.T) {
	t.Parallel()
	meta := eventstore.Metadata{Actor: eventstore.Actor{Type: "user", ID: "u1"}, OccurredAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	in := eventstore.EventData{ID: uuid.New(), Type: "SubscriptionStarted", SchemaVersion: 2, Data: json.RawMessage(`{"plan":"pro"}`), Metadata: meta}
	out, err := encodeEvents([]eventstore.EventData{in})
	if err != nil {
		t.Fatalf("encode: %v", err)
	}
	sent := out[0]
	if sent.EventID != in.ID || sent.EventType != in.Type || sent.ContentType != esdb.ContentTypeJson || string(sent.Data) != string(in.Data) {
		t.Fatalf("encoded %+v from %+v", sent, in)
	}
	created := time.Date(2026, 2, 3, 4, 5, 6, 700, time.FixedZone("CET", 3600))
	got, err := decodeEvent(&esdb.RecordedEvent{
		EventID:      sent.EventID,
		EventType:    sent.EventType,
		StreamID:     "subscription-1",
		EventNumber:  4,
		Position:     esdb.Position{Commit: 5000, Prepare: 5000},
		CreatedDate:  created,
		Data:         sent.Data,
		UserMetadata: sent.Metadata,
	})
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	want := eventstore.Event{
		ID: in.ID, Stream: "subscription-1", Version: 5, Position: 5000, Type: in.Type,
		SchemaVersion: 2, Data: in.Data, Metadata: meta, RecordedAt: created.UTC(),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}

func TestIsSystem(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stream, typ string
		want        bool
	}{
		{"subscription-1", "SubscriptionStarted", false},
		{"subscription-1", "$metadata", true},
		{"$$subscription-1", "$metadata", true},
		{"$projections-x-result", "Result", true},
		{ClaimStreamPrefix + uuid.NewString(), ClaimEventType, true},
		{KeyStreamPrefix + "0123abcd", KeyEventType, true},
	}
	for _, tc := range cases {
		if got := isSystem(&esdb.RecordedEvent{StreamID: tc.stream, EventType: tc.typ}); got != tc.want {
			t.Errorf("isSystem(%s, %s) = %t, want %t", tc.stream, tc.typ, got, tc.want)
		}
	}
}

func TestCheckStreamName(t *testing.T) {
	t.Parallel()
	cases := []struct {
		stream string
		ok     bool
	}{
		{"subscription-1", true},
		{"ledger-events", true},
		{"$system", false},
		{"ledger-keys", true},
		{ClaimStreamPrefix + uuid.NewString(), false},
		{KeyStreamPrefix + "0123abcd", false},
	}
	for _, tc := range cases {
		err := checkStreamName(tc.stream)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, eventstore.ErrInvalidEvent)) {
			t.Errorf("checkStreamName(%q) = %v, want ok %t", tc.stream, err, tc.ok)
		}
	}
}

func TestFirstError(t *testing.T) {
	t.Parallel()
	cancelled := errors.New("cancelled")
	dup := errors.Join(errors.New("event id taken"), eventstore.ErrDuplicateEventID)
	cases := []struct {
		name string
		errs []error
		want error
	}{
		{"none", []error{nil, nil}, nil},
		{"first", []error{nil, cancelled}, cancelled},
		{"duplicate wins", []error{cancelled, nil, dup}, dup},
	}
	for _, tc := range cases {
		if got := firstError(tc.errs); got != tc.want {
			t.Errorf("%s: firstError = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestOpenHidesPassword(t *testing.T) {
	t.Parallel()
	_, err := Open("esdb://admin:s3cret@localhost:notaport?tls=false")
	if err == nil {
		t.Fatal("Open accepted an invalid connection string")
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %q shows the password", err)
	}
}
