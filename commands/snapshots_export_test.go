package commands

import (
	"encoding/json"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// RecordSnapshot encodes state as the record of a persisted snapshot of
// stream at version, taken at the event eventID at position, with schema
// version schema: for tests to store snapshots of their own making.
func RecordSnapshot(stream string, version uint64, position eventstore.Position, eventID uuid.UUID, schema int, state any) ([]byte, error) {
	encoded, err := encodeState(state)
	if err != nil {
		return nil, err
	}
	r := storedSnapshot{Stream: stream, Version: version, Position: uint64(position), EventID: eventID,
		SchemaVersion: schema, State: encoded}
	r.Checksum = r.checksum()
	return json.Marshal(r)
}

// SnapshotState returns the state bytes of a snapshot's record.
func SnapshotState(record []byte) ([]byte, error) {
	var r storedSnapshot
	err := json.Unmarshal(record, &r)
	return r.State, err
}

// WithSnapshotState returns record with its state replaced by state, its
// checksum left as it was.
func WithSnapshotState(record, state []byte) ([]byte, error) {
	var r storedSnapshot
	if err := json.Unmarshal(record, &r); err != nil {
		return nil, err
	}
	r.State = state
	return json.Marshal(r)
}
