package outbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// Metadata keys that every published message carries besides its payload,
// so that consumers can route or filter without decoding it. Watermill
// carries them as NATS headers or AMQP headers.
const (
	// HeaderEventType holds the event's type, e.g. "SubscriptionCreated".
	HeaderEventType = "event_type"
	// HeaderStream holds the name of the event's stream.
	HeaderStream = "stream"
	// HeaderPosition holds the event's global position, in decimal.
	HeaderPosition = "position"
)

// Envelope is the JSON payload of every published message: a recorded
// event with everything the store assigned to it. Data is the event's data
// byte for byte as it was written, but for its secret fields (key_hash),
// which never leave the ledger (redactData).
type Envelope struct {
	ID            uuid.UUID           `json:"id"`
	Stream        string              `json:"stream"`
	Version       uint64              `json:"version"`
	Position      uint64              `json:"position"`
	Type          string              `json:"type"`
	SchemaVersion int                 `json:"schema_version"`
	Data          json.RawMessage     `json:"data"`
	Metadata      eventstore.Metadata `json:"metadata"`
	RecordedAt    time.Time           `json:"recorded_at"`
}

// EnvelopeOf returns the envelope that carries e, its data without
// secret fields; data that is not JSON is carried as none.
func EnvelopeOf(e eventstore.Event) Envelope {
	data, err := redactData(e.Data)
	if err != nil {
		data = nil
	}
	return Envelope{
		ID: e.ID, Stream: e.Stream, Version: e.Version, Position: uint64(e.Position),
		Type: e.Type, SchemaVersion: e.SchemaVersion, Data: data,
		Metadata: e.Metadata, RecordedAt: e.RecordedAt,
	}
}

// Event returns the recorded event that the envelope carries.
func (env Envelope) Event() eventstore.Event {
	return eventstore.Event{
		ID: env.ID, Stream: env.Stream, Version: env.Version, Position: eventstore.Position(env.Position),
		Type: env.Type, SchemaVersion: env.SchemaVersion, Data: env.Data,
		Metadata: env.Metadata, RecordedAt: env.RecordedAt,
	}
}

// envelopeHead is the envelope without its data, which encodeEnvelope
// appends as it is: encoding/json would compact it and escape HTML in it.
type envelopeHead struct {
	ID            uuid.UUID           `json:"id"`
	Stream        string              `json:"stream"`
	Version       uint64              `json:"version"`
	Position      uint64              `json:"position"`
	Type          string              `json:"type"`
	SchemaVersion int                 `json:"schema_version"`
	Metadata      eventstore.Metadata `json:"metadata"`
	RecordedAt    time.Time           `json:"recorded_at"`
}

// encodeEnvelope returns the JSON envelope of e, with e's data last, byte
// for byte as it was written but for its secret fields.
func encodeEnvelope(e eventstore.Event) ([]byte, error) {
	head, err := json.Marshal(envelopeHead{
		ID: e.ID, Stream: e.Stream, Version: e.Version, Position: uint64(e.Position), Type: e.Type,
		SchemaVersion: e.SchemaVersion, Metadata: e.Metadata, RecordedAt: e.RecordedAt,
	})
	if err != nil {
		return nil, err
	}
	data := []byte(e.Data)
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("null")
	} else if !json.Valid(data) {
		return nil, errors.New("data is not JSON")
	} else if data, err = redactData(data); err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(head)+len(data)+10)
	out = append(out, head[:len(head)-1]...)
	out = append(out, `,"data":`...)
	out = append(out, data...)
	return append(out, '}'), nil
}

// NewMessage builds the Watermill message that publishes e: its UUID is
// the event id, its payload the JSON envelope, and its metadata the
// event's type, stream and position.
func NewMessage(e eventstore.Event) (*message.Message, error) {
	payload, err := encodeEnvelope(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	msg := message.NewMessage(e.ID.String(), payload)
	msg.Metadata.Set(HeaderEventType, e.Type)
	msg.Metadata.Set(HeaderStream, e.Stream)
	msg.Metadata.Set(HeaderPosition, strconv.FormatUint(uint64(e.Position), 10))
	return msg, nil
}

// Decode reads the envelope of a message that a Publisher sent, and checks
// that the message UUID is the event id.
func Decode(msg *message.Message) (Envelope, error) {
	var env Envelope
	if err := json.Unmarshal(msg.Payload, &env); err != nil {
		return Envelope{}, fmt.Errorf("decode message %s: %w", msg.UUID, err)
	}
	if env.ID.String() != msg.UUID {
		return Envelope{}, fmt.Errorf("decode message %s: it carries event %s", msg.UUID, env.ID)
	}
	return env, nil
}
