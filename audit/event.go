package audit

import (
	"encoding/json"
	"fmt"

	"ledger/eventstore"
)

// LeafOf returns the leaf of an event read through eventstore.Store: its
// metadata encoded again, which canonicalizes to the same leaf as the
// metadata column as written (the store writes json.Marshal of the same
// struct).
func LeafOf(e eventstore.Event) (Leaf, error) {
	meta, err := json.Marshal(e.Metadata)
	if err != nil {
		return Leaf{}, fmt.Errorf("metadata of event %s: %w", e.ID, err)
	}
	return Leaf{ID: e.ID, Stream: e.Stream, Version: e.Version, Type: e.Type, SchemaVersion: e.SchemaVersion,
		Data: e.Data, Metadata: meta, RecordedAt: e.RecordedAt}, nil
}
