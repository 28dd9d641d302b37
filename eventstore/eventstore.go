// Package eventstore defines the append-only event log that is the ledger's
// source of truth, and the one small interface every backend implements.
//
// Streams are per aggregate; every event carries an envelope that records
// who acted, for whom and why. The global log orders every event of every
// stream by Position, and no reader of it ever skips an event.
package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Position is an event's place in the global log. Positions strictly
// increase in log order but need not be contiguous: a reader moves from one
// position to the next greater one. The zero Position is before the first
// event.
type Position uint64

// Store is the event log. Every backend implements it and passes the
// conformance suite in package storetest.
type Store interface {
	// Append atomically appends events to stream if its current version
	// satisfies expected; otherwise it returns ErrConcurrency and writes
	// nothing. When every event id is already in the stream, it appends
	// nothing and reports the earlier append with Duplicate set.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream returns up to limit events of stream with version >= from,
	// in version order. A stream that does not exist reads as empty.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]Event, error)

	// ReadStreamAsOf returns the events of stream recorded at or before at,
	// in version order: the stream as it stood at that instant.
	ReadStreamAsOf(ctx context.Context, stream string, at time.Time) ([]Event, error)

	// ReadAll returns up to limit events of the global log with a position
	// greater than after, in position order. It never returns an event
	// while an event with a smaller position may still become visible.
	ReadAll(ctx context.Context, after Position, limit int) ([]Event, error)

	// Subscribe delivers the global log after the caller's checkpoint to
	// handle, in position order and in batches: first what is already
	// stored, then each new event as it commits. It returns when ctx ends
	// (with ctx's error) or when handle or the backend fails.
	Subscribe(ctx context.Context, after Position, handle Handler) error

	// Head returns the position of the last event in the global log, or 0
	// when the log is empty.
	Head(ctx context.Context) (Position, error)
}

// Handler receives a batch of events from a subscription. The batch is never
// empty. Returning an error ends the subscription with that error.
type Handler func(ctx context.Context, batch []Event) error

// Metadata records who acted, for whom and why. It travels with every event.
type Metadata struct {
	TenantID       string    `json:"tenant_id,omitempty"`
	Actor          Actor     `json:"actor"`
	CorrelationID  string    `json:"correlation_id,omitempty"`
	CausationID    string    `json:"causation_id,omitempty"`
	RequestID      string    `json:"request_id,omitempty"`
	IdempotencyKey string    `json:"idempotency_key,omitempty"`
	OccurredAt     time.Time `json:"occurred_at"`
}

// Actor is the principal that caused an event.
type Actor struct {
	Type      string `json:"type"`
	ID        string `json:"id,omitempty"`
	PartnerID string `json:"partner_id,omitempty"`
}

// EventData is an event as a writer proposes it, before the store records it.
type EventData struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// Event is a recorded event: the proposed envelope plus what the store
// assigned on commit.
type Event struct {
	ID            uuid.UUID
	Stream        string
	Version       uint64
	Position      Position
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
	RecordedAt    time.Time
}

// AppendResult reports where an append landed.
type AppendResult struct {
	// Version is the stream's version after the append: the version of its
	// last event.
	Version uint64
	// Position is the global position of the append's last event.
	Position Position
	// Duplicate is true when every event was already in the stream, so the
	// store appended nothing and Version and Position are the earlier ones.
	Duplicate bool
}

// NewEvent builds EventData with a fresh UUID v7 id and data marshalled to
// JSON. SchemaVersion defaults to 1.
func NewEvent(eventType string, data any, meta Metadata) (EventData, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return EventData{}, fmt.Errorf("new event id: %w", err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return EventData{}, fmt.Errorf("marshal %s: %w", eventType, err)
	}
	return EventData{ID: id, Type: eventType, SchemaVersion: 1, Data: raw, Metadata: meta}, nil
}

// Validate reports whether an append request is well formed: a stream name,
// at least one event, and for each event an id, a type and JSON data.
func Validate(stream string, events []EventData) error {
	if stream == "" {
		return fmt.Errorf("%w: empty stream name", ErrInvalidEvent)
	}
	if len(events) == 0 {
		return fmt.Errorf("%w: append to %s: no events", ErrInvalidEvent, stream)
	}
	if len(events) > MaxAppendEvents {
		return fmt.Errorf("%w: append to %s: %d events, at most %d", ErrInvalidEvent, stream, len(events), MaxAppendEvents)
	}
	seen := make(map[uuid.UUID]bool, len(events))
	for i, e := range events {
		switch {
		case e.ID == uuid.Nil:
			return fmt.Errorf("%w: append to %s: event %d has no id", ErrInvalidEvent, stream, i)
		case seen[e.ID]:
			return fmt.Errorf("%w: append to %s: event id %s given twice", ErrInvalidEvent, stream, e.ID)
		case e.Type == "":
			return fmt.Errorf("%w: append to %s: event %d has no type", ErrInvalidEvent, stream, i)
		case e.SchemaVersion < 1:
			return fmt.Errorf("%w: append to %s: event %d has schema version %d", ErrInvalidEvent, stream, i, e.SchemaVersion)
		case !json.Valid(e.Data):
			return fmt.Errorf("%w: append to %s: event %d data is not JSON", ErrInvalidEvent, stream, i)
		}
		seen[e.ID] = true
	}
	return nil
}

// MaxAppendEvents bounds the events of one append.
const MaxAppendEvents = 10_000
