package esdb

import (
	"encoding/json"
	"fmt"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// userMetadata is the JSON user metadata of a stored event: the envelope
// with the event's schema version.
type userMetadata struct {
	SchemaVersion int `json:"schema_version"`
	eventstore.Metadata
}

func encodeMetadata(schemaVersion int, m eventstore.Metadata) ([]byte, error) {
	raw, err := json.Marshal(userMetadata{SchemaVersion: schemaVersion, Metadata: m})
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	return raw, nil
}

// decodeMetadata reverses encodeMetadata. Empty metadata, from an event
// another writer stored, decodes as the zero envelope.
func decodeMetadata(raw []byte) (int, eventstore.Metadata, error) {
	if len(raw) == 0 {
		return 0, eventstore.Metadata{}, nil
	}
	var um userMetadata
	if err := json.Unmarshal(raw, &um); err != nil {
		return 0, eventstore.Metadata{}, fmt.Errorf("decode metadata: %w", err)
	}
	return um.SchemaVersion, um.Metadata, nil
}

func encodeEvents(events []eventstore.EventData) ([]esdb.EventData, error) {
	out := make([]esdb.EventData, len(events))
	for i, e := range events {
		meta, err := encodeMetadata(e.SchemaVersion, e.Metadata)
		if err != nil {
			return nil, fmt.Errorf("event %s: %w", e.ID, err)
		}
		out[i] = esdb.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdb.ContentTypeJson,
			Data:        e.Data,
			Metadata:    meta,
		}
	}
	return out, nil
}

func decodeEvent(r *esdb.RecordedEvent) (eventstore.Event, error) {
	schema, meta, err := decodeMetadata(r.UserMetadata)
	if err != nil {
		return eventstore.Event{}, fmt.Errorf("event %s@%d: %w", r.StreamID, r.EventNumber+1, err)
	}
	return eventstore.Event{
		ID:            r.EventID,
		Stream:        r.StreamID,
		Version:       r.EventNumber + 1,
		Position:      toPosition(r.Position),
		Type:          r.EventType,
		SchemaVersion: schema,
		Data:          json.RawMessage(r.Data),
		Metadata:      meta,
		RecordedAt:    r.CreatedDate.UTC(),
	}, nil
}

func eventIDs(events []eventstore.EventData) []uuid.UUID {
	ids := make([]uuid.UUID, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}
