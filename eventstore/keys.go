package eventstore

import "errors"

// ErrKeyReused reports an idempotency key that its caller already used for
// a different request. Nothing was written.
var ErrKeyReused = errors.New("eventstore: idempotency key reused for another request")

// IdempotencyKey identifies a caller's request for safe retries: the same
// caller sending the same key again gets the first result back.
type IdempotencyKey struct {
	// Caller is whoever owns the key, in the scope it is used in, such as
	// a tenant and a user; keys of different callers never meet. The
	// store treats it as opaque.
	Caller string
	// Key is the caller's key.
	Key string
	// Fingerprint identifies the request the key was first used for; the
	// key with another fingerprint is refused with ErrKeyReused.
	Fingerprint string
	// Result is what the key records for a replay to answer with, besides
	// the append's version and position: it is the writer's to shape.
	Result []byte
}

// MaxKeyLen bounds an idempotency key, and its caller, in bytes.
const MaxKeyLen = 255

// Validate reports whether key is usable.
func (key IdempotencyKey) Validate() error {
	switch {
	case key.Caller == "" || len(key.Caller) > MaxKeyLen:
		return errors.New("idempotency key: caller must have 1 to 255 bytes")
	case key.Key == "" || len(key.Key) > MaxKeyLen:
		return errors.New("idempotency key: must have 1 to 255 bytes")
	case key.Fingerprint == "":
		return errors.New("idempotency key: no fingerprint")
	}
	return nil
}
