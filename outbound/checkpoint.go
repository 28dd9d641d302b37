package outbound

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// CheckpointTable holds each publisher's checkpoint: the position of the
// last event that its broker confirmed. It lives beside the events table.
const CheckpointTable = "outbound_checkpoint"

const createCheckpointSQL = `
CREATE TABLE IF NOT EXISTS outbound_checkpoint (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)`

// lockKey is the advisory lock that lets one replica at a time run the
// publisher whose checkpoint is called name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "ledger outbound %s", name)
	return int64(h.Sum64())
}

// setupKey serializes the creation of the checkpoint table by replicas
// that start at once.
var setupKey = lockKey("\x00setup")

// setup creates the checkpoint table if it is missing, and the publisher's
// checkpoint, at position 0, if it has none.
func setup(ctx context.Context, pool *pgxpool.Pool, name string) error {
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, setupKey); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, createCheckpointSQL); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO outbound_checkpoint (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("set up checkpoint %s: %w", name, err)
	}
	return nil
}

// tryLock takes the publisher's advisory lock on conn if no session holds
// it, and reports whether it did.
func tryLock(ctx context.Context, conn *pgxpool.Conn, name string) (bool, error) {
	var locked bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&locked); err != nil {
		return false, fmt.Errorf("lock %s: %w", name, err)
	}
	return locked, nil
}

// unlock gives the lock back. A connection that cannot say so is closed,
// which releases the lock too, so that the pool never hands out a
// connection that still holds it.
func unlock(ctx context.Context, conn *pgxpool.Conn, name string) {
	ctx = context.WithoutCancel(ctx)
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, lockKey(name)); err != nil {
		_ = conn.Conn().Close(ctx)
	}
}

// readCheckpoint returns the publisher's checkpoint.
func readCheckpoint(ctx context.Context, q querier, name string) (eventstore.Position, error) {
	var pos int64
	err := q.QueryRow(ctx, `SELECT position FROM outbound_checkpoint WHERE name = $1`, name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("read checkpoint %s: no such checkpoint", name)
	}
	if err != nil {
		return 0, fmt.Errorf("read checkpoint %s: %w", name, err)
	}
	return eventstore.Position(pos), nil
}

// saveCheckpoint moves the publisher's checkpoint to pos. It runs on the
// connection that holds the publisher's lock: if that connection is lost,
// and with it the lock, the save fails rather than race a replica that
// took over.
func saveCheckpoint(ctx context.Context, conn *pgxpool.Conn, name string, pos eventstore.Position) error {
	tag, err := conn.Exec(ctx, `UPDATE outbound_checkpoint SET position = $2, updated_at = now() WHERE name = $1`, name, int64(pos))
	if err != nil {
		return fmt.Errorf("save checkpoint %s at %d: %w", name, pos, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("save checkpoint %s at %d: no such checkpoint", name, pos)
	}
	return nil
}

// querier runs a query: a pool or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}
