package projections

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"ledger/eventstore"
)

func drawEvent(t *rapid.T, i int) eventstore.Event {
	text := rapid.StringN(0, 40, -1)
	at := func(label string) time.Time {
		return time.Unix(rapid.Int64Range(0, 4e9).Draw(t, label+"_s"), rapid.Int64Range(0, 999_999_999).Draw(t, label+"_ns")).UTC()
	}
	var id uuid.UUID
	copy(id[:], rapid.SliceOfN(rapid.Byte(), 16, 16).Draw(t, "id"))
	e := eventstore.Event{
		ID: id, Stream: text.Draw(t, "stream"), Version: rapid.Uint64().Draw(t, "version"),
		Position: eventstore.Position(rapid.Uint64().Draw(t, "position")), Type: text.Draw(t, "type"),
		SchemaVersion: rapid.IntRange(-5, 1000).Draw(t, "schema"),
		Metadata: eventstore.Metadata{
			TenantID: text.Draw(t, "tenant"), CorrelationID: text.Draw(t, "correlation"), CausationID: text.Draw(t, "causation"),
			RequestID: text.Draw(t, "request"), IdempotencyKey: text.Draw(t, "key"), OccurredAt: at("occurred"),
			Actor: eventstore.Actor{Type: text.Draw(t, "actor_type"), ID: text.Draw(t, "actor_id"), PartnerID: text.Draw(t, "partner")},
		},
		RecordedAt: at("recorded"),
	}
	if data := rapid.SliceOfN(rapid.Byte(), 0, 200).Draw(t, "data"); len(data) > 0 {
		e.Data = data
	}
	return e
}

// Whatever the events hold, a batch comes back from its payload as it was.
func TestBatchCodecRoundTrips(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		var batch []eventstore.Event
		for i := range rapid.IntRange(0, 20).Draw(t, "size") {
			batch = append(batch, drawEvent(t, i))
		}
		payload, err := encodeBatch(batch)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeBatch(payload)
		if err != nil {
			t.Fatal(err)
		}
		if len(batch) == 0 {
			batch = []eventstore.Event{}
		}
		if !reflect.DeepEqual(got, batch) {
			t.Fatalf("decoded %+v\nwant %+v", got, batch)
		}
	})
}

func TestBatchCodecRefusesMalformedPayloads(t *testing.T) {
	t.Parallel()
	e := eventstore.Event{ID: uuid.New(), Stream: "s", Version: 1, Position: 7, Type: "T", Data: []byte(`{}`),
		RecordedAt: time.Now().UTC()}
	good, err := encodeBatch([]eventstore.Event{e, e})
	if err != nil {
		t.Fatal(err)
	}
	for name, payload := range map[string][]byte{
		"empty":             nil,
		"another version":   append([]byte{2}, good[1:]...),
		"truncated":         good[:len(good)-1],
		"trailing bytes":    append(bytes.Clone(good), 0),
		"too many events":   {1, 0xff, 0xff, 0x03},
		"a string too long": append([]byte{1, 1}, bytes.Repeat([]byte{0xff}, 30)...),
	} {
		if _, err := decodeBatch(payload); !errors.Is(err, errBadBatch) {
			t.Errorf("%s: %v, want errBadBatch", name, err)
		}
	}
}

// FuzzDecodeBatch: any payload is refused or read, never a panic, and what
// is read encodes to a payload that reads back to the same encoding.
func FuzzDecodeBatch(f *testing.F) {
	e := eventstore.Event{ID: uuid.New(), Stream: "subscription-1", Version: 3, Position: 1 << 20, Type: "SubscriptionAmended",
		Data: []byte(`{"a":1}`), Metadata: eventstore.Metadata{TenantID: "t", RequestID: "r"}, RecordedAt: time.Now().UTC()}
	seed, err := encodeBatch([]eventstore.Event{e})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		batch, err := decodeBatch(payload)
		if err != nil {
			return
		}
		again, err := encodeBatch(batch)
		if err != nil {
			return // a time decoded from the payload that cannot be encoded again
		}
		back, err := decodeBatch(again)
		if err != nil {
			t.Fatalf("a re-encoded batch is refused: %v", err)
		}
		thrice, err := encodeBatch(back)
		if err != nil || !bytes.Equal(thrice, again) {
			t.Fatalf("a batch read back encodes differently: %v", err)
		}
	})
}
