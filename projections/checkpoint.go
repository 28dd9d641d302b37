package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// setupSchema creates schema with its checkpoints and parked events
// tables, and the tables
// of each projection that has no checkpoint there yet, with their indexes
// unless indexLater.
func setupSchema(ctx context.Context, tx pgx.Tx, schema string, projections []Projection, indexLater bool) error {
	ddl := fmt.Sprintf(`
CREATE SCHEMA IF NOT EXISTS %s;
CREATE TABLE IF NOT EXISTS %s (
    name       text        PRIMARY KEY,
    position   bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
)`, pgx.Identifier{schema}.Sanitize(), table(schema, "checkpoints")) + ";" + parkedDDL(schema)
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

// applyFunc writes a batch of events into a projection's tables in schema.
type applyFunc func(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error

// applyWith applies the events of batch after the projection's checkpoint
// with apply, and moves the checkpoint, in one transaction, parking the
// events it cannot apply as applyGroup does. Events at or before the
// checkpoint were applied already and are skipped, so applying a batch
// twice changes nothing.
//
// With async, the transaction commits without waiting for its WAL to be
// flushed. A crash may then lose it: a live read model is derived from the
// log, and its rows and checkpoint are lost or kept together, so a
// database crash can only set it back a few milliseconds, to be applied
// again (the events themselves are durable); a scratch build is lost in a
// crash anyway, while the swap, which commits durably, flushes the WAL of
// every transaction before it.
func applyWith(ctx context.Context, db TxBeginner, schema string, p Projection, batch []eventstore.Event, apply applyFunc, async bool) error {
	_, err := applyGroup(ctx, db, schema, []member{{name: p.Name(), apply: apply}}, batch, async)
	return err
}

// member is a projection in a group transaction, with the function that
// writes its batches.
type member struct {
	name  string
	apply applyFunc
}

// applyGroup applies batch to every member from its own checkpoint, as
// applyWith does for one, and moves those checkpoints, all in one
// transaction: members at the same checkpoint share the reading of the
// log and the cost of a transaction. It returns what each member applied
// and parked.
//
// Events of a stream with parked events in a member are parked for it
// too, never applied out of order. When a member fails on the batch in a
// way the events may be at fault for (see eventsFault), the transaction
// runs again guarded: each member's events in savepoints, split until
// the events at fault are found and parked, the rest applied. Any other
// failure (an outage, a conflict) is returned, for the caller to retry.
func applyGroup(ctx context.Context, db TxBeginner, schema string, members []member, batch []eventstore.Event, async bool) ([]outcome, error) {
	out, err := applyGroupTx(ctx, db, schema, members, batch, async, false, nil)
	var applyErr *applyError
	if err == nil || ctx.Err() != nil || !errors.As(err, &applyErr) || !eventsFault(applyErr.err) {
		return out, err
	}
	return applyGroupTx(ctx, db, schema, members, batch, async, true, applyErr)
}

// applyGroupTx is one transaction of applyGroup. Guarded, failed is how a
// member failed on the batch unguarded.
func applyGroupTx(ctx context.Context, db TxBeginner, schema string, members []member, batch []eventstore.Event,
	async, guarded bool, failed *applyError) ([]outcome, error) {
	out := make([]outcome, len(members))
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		clear(out)
		if async {
			if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off`); err != nil {
				return err
			}
		}
		names := make([]string, len(members))
		for i, m := range members {
			names[i] = m.name
		}
		at, stale, err := groupState(ctx, tx, schema, names)
		if err != nil {
			return err
		}
		var moved []string
		for i, m := range members {
			fresh := batch
			for len(fresh) > 0 && fresh[0].Position <= at[m.name] {
				fresh = fresh[1:]
			}
			if len(fresh) == 0 {
				continue
			}
			p := &parker{tx: tx, schema: schema, m: m, stale: stale[m.name]}
			if failed != nil && failed.projection == m.name {
				p.failed = failed
			}
			if out[i], err = p.run(ctx, fresh, guarded); err != nil {
				return err
			}
			moved = append(moved, m.name)
		}
		if len(moved) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE `+table(schema, "checkpoints")+` SET position = $2, updated_at = now() WHERE name = ANY($1)`,
			moved, int64(batch[len(batch)-1].Position))
		return err
	})
	return out, err
}

// groupState reads the checkpoints of the projections named in schema,
// locking their rows until tx ends, and the streams with parked events in
// each. The parked streams are read by a statement of their own, which
// starts once the locks are taken: it sees what a transaction that held
// them (a retry of a stream) committed.
func groupState(ctx context.Context, tx pgx.Tx, schema string, names []string) (map[string]eventstore.Position, map[string]map[string]bool, error) {
	at := make(map[string]eventstore.Position, len(names))
	stale := map[string]map[string]bool{}
	var b pgx.Batch
	b.Queue(`SELECT name, position FROM `+table(schema, "checkpoints")+` WHERE name = ANY($1) ORDER BY name FOR UPDATE`, names).
		Query(func(rows pgx.Rows) error {
			var (
				name string
				pos  int64
			)
			_, err := pgx.ForEachRow(rows, []any{&name, &pos}, func() error {
				at[name] = eventstore.Position(pos)
				return nil
			})
			return err
		})
	b.Queue(`SELECT DISTINCT projection, stream FROM `+table(schema, parkedTable)+` WHERE projection = ANY($1)`, names).
		Query(func(rows pgx.Rows) error {
			var name, stream string
			_, err := pgx.ForEachRow(rows, []any{&name, &stream}, func() error {
				if stale[name] == nil {
					stale[name] = map[string]bool{}
				}
				stale[name][stream] = true
				return nil
			})
			return err
		})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, nil, err
	}
	for _, n := range names {
		if _, ok := at[n]; !ok {
			return nil, nil, fmt.Errorf("projection %s has no checkpoint in %s", n, schema)
		}
	}
	return at, stale, nil
}
