package projections

import (
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// AuditItemOf returns event e as the audit log shows it, from the event
// itself rather than the read model: for a subscription's history, read
// from the event log. Like the audit read model it leaves out a top-level
// key_hash of the data.
func AuditItemOf(e eventstore.Event) (AuditItem, error) {
	data, err := withoutKeyHash(e.Data)
	if err != nil {
		return AuditItem{}, fmt.Errorf("event %s: %w", e.ID, err)
	}
	m := e.Metadata
	return AuditItem{
		Position: e.Position, EventID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type,
		OccurredAt: viewTime(m.OccurredAt), RecordedAt: viewTime(e.RecordedAt),
		Actor:         AuditActor{Type: m.Actor.Type, ID: optionalID(m.Actor.ID), PartnerID: optionalID(m.Actor.PartnerID)},
		CorrelationID: optionalString(m.CorrelationID), CausationID: optionalString(m.CausationID),
		RequestID: optionalString(m.RequestID), IdempotencyKey: optionalString(m.IdempotencyKey),
		Data: data, ClientRequestID: optionalString(m.ClientRequestID),
	}, nil
}

func withoutKeyHash(data json.RawMessage) (json.RawMessage, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, fmt.Errorf("decode data: %w", err)
	}
	if _, ok := fields["key_hash"]; !ok {
		return data, nil
	}
	delete(fields, "key_hash")
	return json.Marshal(fields)
}

func optionalID(s string) *uuid.UUID {
	id, err := uuid.Parse(s)
	if err != nil {
		return nil
	}
	return &id
}

func optionalString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
