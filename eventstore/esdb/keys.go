package esdb

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"ledger/eventstore"
)

// The server has no transaction that takes an idempotency key with the
// events, so Append records a key after its events: it writes one record
// event to the key's own stream, which must not exist yet. The stream's
// name is derived from the key's Caller and Key; its record holds the
// fingerprint, the result, and the version and position the append
// reported. Keys are never removed.
const (
	// KeyStreamPrefix begins the name of every key stream. Append refuses
	// stream names with this prefix.
	KeyStreamPrefix = "ledger-key-"
	// KeyEventType is the type of the record event in a key stream. It
	// begins with "$", so the ledger's global log never shows it.
	KeyEventType = "$ledger-key"
)

// keyRecord is the data of a key stream's record event.
type keyRecord struct {
	Caller      string              `json:"caller"`
	Key         string              `json:"key"`
	Fingerprint string              `json:"fingerprint"`
	Result      []byte              `json:"result,omitempty"`
	Version     uint64              `json:"version"`
	Position    eventstore.Position `json:"position"`
}

// keyStream returns the name of key's stream: the prefix and the hex
// SHA-256 of the caller's length, the caller and the key, so that no two
// callers' keys share a stream.
func keyStream(key eventstore.IdempotencyKey) string {
	h := sha256.New()
	h.Write(binary.AppendUvarint(nil, uint64(len(key.Caller))))
	h.Write([]byte(key.Caller))
	h.Write([]byte(key.Key))
	return KeyStreamPrefix + hex.EncodeToString(h.Sum(nil))
}

// newKeyRecord is the record of key for an append that reported res.
func newKeyRecord(key eventstore.IdempotencyKey, res eventstore.AppendResult) keyRecord {
	return keyRecord{Caller: key.Caller, Key: key.Key, Fingerprint: key.Fingerprint,
		Result: slices.Clone(key.Result), Version: res.Version, Position: res.Position}
}

// answer is what rec answers a request with key: its record, replayed,
// when the fingerprints agree, else ErrKeyReused.
func (rec keyRecord) answer(key eventstore.IdempotencyKey) (eventstore.AppendResult, error) {
	stream := keyStream(key)
	switch {
	case rec.Caller != key.Caller || rec.Key != key.Key:
		return eventstore.AppendResult{}, fmt.Errorf("key stream %s holds another key", stream)
	case rec.Fingerprint != key.Fingerprint:
		return eventstore.AppendResult{}, fmt.Errorf("key stream %s: %w", stream, eventstore.ErrKeyReused)
	}
	return eventstore.AppendResult{Version: rec.Version, Position: rec.Position, Replayed: true,
		Result: slices.Clone(rec.Result)}, nil
}

// LookupKey implements eventstore.Store: it reads the key's stream (see
// KeyStreamPrefix).
func (s *Store) LookupKey(ctx context.Context, key eventstore.IdempotencyKey) (eventstore.AppendResult, bool, error) {
	stream := keyStream(key)
	var rec *keyRecord
	err := s.eachInStream(ctx, stream, 0, 1, func(r *esdb.RecordedEvent) (bool, error) {
		rec = new(keyRecord)
		return false, json.Unmarshal(r.Data, rec)
	})
	if err != nil {
		return eventstore.AppendResult{}, false, fmt.Errorf("look up key in %s: %w", stream, err)
	}
	if rec == nil {
		return eventstore.AppendResult{}, false, nil
	}
	res, err := rec.answer(key)
	return res, true, err
}

// recordKey records key for the append that reported res, and returns
// res with the key's result. If another request recorded the key first,
// and res is a fresh append, both appended: res is returned as it is, the
// key keeps the other's record. If res appended nothing (a duplicate, or
// a request of no events), the other's record answers. An error leaves
// the key unrecorded or its outcome unknown, and res's events written.
func (s *Store) recordKey(ctx context.Context, key eventstore.IdempotencyKey, res eventstore.AppendResult) (eventstore.AppendResult, error) {
	stream := keyStream(key)
	data, err := json.Marshal(newKeyRecord(key, res))
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("record key in %s: %w", stream, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("record key in %s: %w", stream, err)
	}
	record := esdb.EventData{EventID: id, EventType: KeyEventType, ContentType: esdb.ContentTypeJson, Data: data}
	opts := esdb.AppendToStreamOptions{ExpectedRevision: esdb.NoStream{}}
	_, err = s.client.AppendToStream(ctx, stream, opts, record)
	fresh := !res.Duplicate && len(res.Versions) > 0
	switch {
	case err == nil || (fresh && hasCode(err, esdb.ErrorCodeWrongExpectedVersion)):
		res.Result = slices.Clone(key.Result)
		return res, nil
	case !hasCode(err, esdb.ErrorCodeWrongExpectedVersion) && fresh:
		return eventstore.AppendResult{}, fmt.Errorf("append written, but its key not recorded in %s: %w", stream, ctxErr(ctx, err))
	case !hasCode(err, esdb.ErrorCodeWrongExpectedVersion):
		return eventstore.AppendResult{}, fmt.Errorf("record key in %s: %w", stream, ctxErr(ctx, err))
	}
	stored, found, err := s.LookupKey(ctx, key)
	switch {
	case err != nil:
		return eventstore.AppendResult{}, err
	case !found:
		return eventstore.AppendResult{}, fmt.Errorf("record key in %s: the stream exists but holds no record", stream)
	}
	return stored, nil
}
