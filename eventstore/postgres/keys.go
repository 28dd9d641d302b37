package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

var _ eventstore.KeyedAppender = (*Store)(nil)

// AppendKeyed implements eventstore.KeyedAppender in one transaction. It
// claims the key first: a request racing with the same key waits on the
// key's primary key until this transaction ends, then finds the key taken
// and returns the recorded result.
func (s *Store) AppendKeyed(ctx context.Context, stream string, expected eventstore.ExpectedVersion, key eventstore.IdempotencyKey, render func(eventstore.AppendResult) ([]byte, error), events ...eventstore.EventData) (eventstore.KeyedResult, error) {
	if err := eventstore.ValidateKey(key); err != nil {
		return eventstore.KeyedResult{}, err
	}
	var res eventstore.KeyedResult
	claimed := false
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
INSERT INTO idempotency_keys (caller, key, fingerprint, result, stream_version, position)
VALUES ($1, $2, $3, '', 0, 0) ON CONFLICT DO NOTHING`, key.Caller, key.Key, key.Fingerprint)
		if err != nil {
			return fmt.Errorf("claim key: %w", err)
		}
		if claimed = tag.RowsAffected() == 1; !claimed {
			return nil
		}
		if res.Append, err = s.AppendTx(ctx, tx, stream, expected, events...); err != nil {
			return err
		}
		if res.Result, err = render(res.Append); err != nil {
			return fmt.Errorf("render result: %w", err)
		}
		_, err = tx.Exec(ctx, `
UPDATE idempotency_keys SET result = $3, stream_version = $4, position = $5 WHERE caller = $1 AND key = $2`,
			key.Caller, key.Key, res.Result, int64(res.Append.Version), int64(res.Append.Position))
		return err
	})
	if err != nil {
		return eventstore.KeyedResult{}, fmt.Errorf("append to %s with key %s: %w", stream, key.Key, err)
	}
	if !claimed {
		res, _, err := s.LookupKey(ctx, key)
		return res, err
	}
	s.committed()
	return res, nil
}

// LookupKey implements eventstore.KeyedAppender.
func (s *Store) LookupKey(ctx context.Context, key eventstore.IdempotencyKey) (eventstore.KeyedResult, bool, error) {
	var (
		fingerprint       string
		res               eventstore.KeyedResult
		version, position int64
	)
	err := s.pool.QueryRow(ctx, `
SELECT fingerprint, result, stream_version, position FROM idempotency_keys WHERE caller = $1 AND key = $2`,
		key.Caller, key.Key).Scan(&fingerprint, &res.Result, &version, &position)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return eventstore.KeyedResult{}, false, nil
	case err != nil:
		return eventstore.KeyedResult{}, false, fmt.Errorf("look up key %s: %w", key.Key, err)
	case fingerprint != key.Fingerprint:
		return eventstore.KeyedResult{}, true, fmt.Errorf("key %s: %w", key.Key, eventstore.ErrKeyReused)
	}
	res.Append = eventstore.AppendResult{Version: uint64(version), Position: eventstore.Position(position), Duplicate: true}
	res.Replayed = true
	return res, true, nil
}
