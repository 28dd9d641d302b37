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
	// Append appends what req asks, atomically, if every stream's current
	// version satisfies its expectation and every condition holds;
	// otherwise it returns ErrConcurrency and writes nothing. A request
	// whose events are all recorded already, each in the stream it names,
	// appends nothing and reports the earlier append with Duplicate set;
	// one whose key is recorded reports the key's record with Replayed
	// set (or ErrKeyReused for another fingerprint). Any error that
	// OutcomeKnown does not recognise leaves the outcome unknown.
	Append(ctx context.Context, req AppendRequest) (AppendResult, error)

	// LookupKey returns what key recorded, with Replayed set, when it was
	// recorded with the same fingerprint; ErrKeyReused when it was
	// recorded with another; found is false when it was not recorded.
	LookupKey(ctx context.Context, key IdempotencyKey) (res AppendResult, found bool, err error)

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

	// ClientRequestID is the caller's own X-Request-ID, when it sent a
	// valid one; RequestID is always the server's.
	ClientRequestID string `json:"client_request_id,omitempty"`
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

func jsonValid(data []byte) bool { return json.Valid(data) }
