package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// LookupKey implements eventstore.Store.
func (s *Store) LookupKey(ctx context.Context, key eventstore.IdempotencyKey) (eventstore.AppendResult, bool, error) {
	var (
		fingerprint       string
		res               eventstore.AppendResult
		version, position int64
	)
	err := s.pool.QueryRow(ctx, `
SELECT fingerprint, result, stream_version, position FROM idempotency_keys WHERE caller = $1 AND key = $2`,
		key.Caller, key.Key).Scan(&fingerprint, &res.Result, &version, &position)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.AppendResult{}, false, nil
	case err != nil:
		return eventstore.AppendResult{}, false, fmt.Errorf("look up key %s: %w", key.Key, err)
	case fingerprint != key.Fingerprint:
		return eventstore.AppendResult{}, true, fmt.Errorf("key %s: %w", key.Key, eventstore.ErrKeyReused)
	}
	res.Version, res.Position, res.Replayed = uint64(version), eventstore.Position(position), true
	return res, true, nil
}
