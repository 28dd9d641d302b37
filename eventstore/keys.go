package eventstore

import (
	"context"
	"errors"
)

// ErrKeyReused reports an idempotency key that its caller already used for
// a different request. Nothing was written.
var ErrKeyReused = errors.New("eventstore: idempotency key reused for another request")

// IdempotencyKey identifies a caller's request for safe retries: the same
// caller sending the same key again gets the first result back.
type IdempotencyKey struct {
	// Caller is whoever owns the key, such as a user id; keys of different
	// callers never meet.
	Caller string
	// Key is the caller's key.
	Key string
	// Fingerprint identifies the request the key was first used for; the
	// key with another fingerprint is refused with ErrKeyReused.
	Fingerprint string
}

// KeyedResult is what a keyed append returns: the append and the result
// recorded with the key, either just now or by the first request
// (Replayed).
type KeyedResult struct {
	Append   AppendResult
	Result   []byte
	Replayed bool
}

// KeyedAppender is a Store that records an idempotency key together with
// an append, atomically: the events and the key's result are both
// committed, or neither is. Two requests racing with the same key append
// once; the other gets the first one's result.
type KeyedAppender interface {
	Store
	// AppendKeyed appends events as Append does and records key with the
	// result that render makes from the append. When key was recorded
	// before, it appends nothing and returns the recorded result with
	// Replayed set, or ErrKeyReused if the fingerprints differ.
	AppendKeyed(ctx context.Context, stream string, expected ExpectedVersion, key IdempotencyKey, render func(AppendResult) ([]byte, error), events ...EventData) (KeyedResult, error)
	// LookupKey returns the result recorded for key, if any: with
	// Replayed set when the fingerprints match, else ErrKeyReused.
	LookupKey(ctx context.Context, key IdempotencyKey) (KeyedResult, bool, error)
}

// ValidateKey reports whether key is usable.
func ValidateKey(key IdempotencyKey) error {
	switch {
	case key.Caller == "":
		return errors.New("idempotency key: no caller")
	case key.Key == "" || len(key.Key) > 255:
		return errors.New("idempotency key: must have 1 to 255 characters")
	case key.Fingerprint == "":
		return errors.New("idempotency key: no fingerprint")
	}
	return nil
}
