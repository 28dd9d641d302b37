package memory

import (
	"context"
	"fmt"
	"slices"

	"ledger/eventstore"
)

var _ eventstore.KeyedAppender = (*Store)(nil)

type keyID struct{ caller, key string }

type keyRecord struct {
	fingerprint string
	result      []byte
	append      eventstore.AppendResult
}

// AppendKeyed implements eventstore.KeyedAppender.
func (s *Store) AppendKeyed(ctx context.Context, stream string, expected eventstore.ExpectedVersion, key eventstore.IdempotencyKey, render func(eventstore.AppendResult) ([]byte, error), events ...eventstore.EventData) (eventstore.KeyedResult, error) {
	if err := eventstore.ValidateKey(key); err != nil {
		return eventstore.KeyedResult{}, err
	}
	s.keyMu.Lock() // held across the append, so that the key and the events go together
	defer s.keyMu.Unlock()
	if res, found, err := s.lookup(key); found || err != nil {
		return res, err
	}
	var result []byte
	appended, err := s.appendThen(ctx, stream, expected, nil, events, func(res eventstore.AppendResult) error {
		var err error
		if result, err = render(res); err != nil {
			return fmt.Errorf("render result for key %s: %w", key.Key, err)
		}
		return nil
	})
	if err != nil {
		return eventstore.KeyedResult{}, err
	}
	s.keys[keyID{key.Caller, key.Key}] = keyRecord{fingerprint: key.Fingerprint, result: slices.Clone(result), append: appended}
	return eventstore.KeyedResult{Append: appended, Result: result}, nil
}

// LookupKey implements eventstore.KeyedAppender.
func (s *Store) LookupKey(ctx context.Context, key eventstore.IdempotencyKey) (eventstore.KeyedResult, bool, error) {
	if err := ctx.Err(); err != nil {
		return eventstore.KeyedResult{}, false, err
	}
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	res, found, err := s.lookup(key)
	return res, found, err
}

func (s *Store) lookup(key eventstore.IdempotencyKey) (eventstore.KeyedResult, bool, error) {
	rec, ok := s.keys[keyID{key.Caller, key.Key}]
	switch {
	case !ok:
		return eventstore.KeyedResult{}, false, nil
	case rec.fingerprint != key.Fingerprint:
		return eventstore.KeyedResult{}, true, fmt.Errorf("key %s: %w", key.Key, eventstore.ErrKeyReused)
	}
	replayed := rec.append
	replayed.Duplicate = true
	return eventstore.KeyedResult{Append: replayed, Result: slices.Clone(rec.result), Replayed: true}, true, nil
}
