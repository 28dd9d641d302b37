package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// setupSchema creates schema with its checkpoints table, and the tables
// of each projection that has no checkpoint there yet, with their indexes
// unless indexLater.
func setupSchema(ctx context.Context, tx pgx.Tx, schema string, projections []Projection, indexLater bool) error {
	ddl := fmt.Sprintf(`
CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)`, pgx.Identifier{schema}.Sanitize(), table(schema, "checkpoints"))
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return fmt.Errorf("create schema %s: %w", schema, err)
	}
	for _, p := range projections {
		tag, err := tx.Exec(ctx, `INSERT INTO `+table(schema, "checkpoints")+` (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING`, p.Name())
		if err != nil {
			return fmt.Errorf("checkpoint of %s: %w", p.Name(), err)
		}
		if tag.RowsAffected() == 0 {
			continue
		}
		if err := p.Create(ctx, tx, schema); err != nil {
			return fmt.Errorf("create tables of %s: %w", p.Name(), err)
		}
		if !indexLater {
			if err := createIndexes(ctx, tx, schema, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// TxBeginner starts transactions: a pool or a connection.
type TxBeginner interface {
	Begin(context.Context) (pgx.Tx, error)
}

// Setup creates the live read models that do not exist yet. Several
// replicas may call it at once.
func Setup(ctx context.Context, db TxBeginner, projections []Projection) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey("setup")); err != nil {
			return err
		}
		return setupSchema(ctx, tx, LiveSchema, projections, false)
	})
}

// checkpoint reads projection name's position in schema, locking its row
// until tx ends.
func checkpoint(ctx context.Context, tx pgx.Tx, schema, name string) (eventstore.Position, error) {
	var pos int64
	err := tx.QueryRow(ctx, `SELECT position FROM `+table(schema, "checkpoints")+` WHERE name = $1 FOR UPDATE`, name).Scan(&pos)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("projection %s has no checkpoint in %s", name, schema)
	}
	return eventstore.Position(pos), err
}

func saveCheckpoint(ctx context.Context, tx pgx.Tx, schema, name string, pos eventstore.Position) error {
	_, err := tx.Exec(ctx, `UPDATE `+table(schema, "checkpoints")+` SET position = $2, updated_at = now() WHERE name = $1`, name, int64(pos))
	return err
}

// applyBatch applies the events of batch after the projection's
// checkpoint and moves the checkpoint, in one transaction. Events at or
// before the checkpoint were applied already and are skipped, so applying
// a batch twice changes nothing.
func applyBatch(ctx context.Context, db TxBeginner, schema string, p Projection, batch []eventstore.Event) error {
	return pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		at, err := checkpoint(ctx, tx, schema, p.Name())
		if err != nil {
			return err
		}
		fresh := batch
		for len(fresh) > 0 && fresh[0].Position <= at {
			fresh = fresh[1:]
		}
		if len(fresh) == 0 {
			return nil
		}
		if err := p.Apply(ctx, tx, schema, fresh); err != nil {
			return fmt.Errorf("apply %s: %w", p.Name(), err)
		}
		return saveCheckpoint(ctx, tx, schema, p.Name(), fresh[len(fresh)-1].Position)
	})
}
