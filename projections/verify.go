package projections

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Difference is a row found in only one of a live table and its rebuild.
type Difference struct {
	Projection string
	Table      string
	// Side is "live" for a row only the live table has, "rebuilt" for a
	// row only the rebuild has.
	Side string
	Row  string
}

// maxShownDifferences bounds the rows Verify returns per table and side.
const maxShownDifferences = 10

// Verify rebuilds projection p into a scratch schema up to the live
// projection's checkpoint and compares every table with the live one. It
// returns the rows that differ (at most ten per table and side), none when
// the live read model equals a fresh replay of the log.
func Verify(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, p Projection, progress Progress) ([]Difference, error) {
	var target int64
	err := pool.QueryRow(ctx, `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1`, p.Name()).Scan(&target)
	if err != nil {
		return nil, fmt.Errorf("read checkpoint of %s: %w", p.Name(), err)
	}
	// until 0 would mean the head: a projection that applied nothing yet is
	// compared with a build of nothing, up to a position before any event.
	scratch, err := buildScratch(ctx, pool, store, []Projection{p}, eventstore.Position(max(target, 1)), progress)
	defer scratch.drop(context.WithoutCancel(ctx), pool)
	if err != nil {
		return nil, err
	}
	var diffs []Difference
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		live, err := checkpoint(ctx, tx, LiveSchema, p.Name()) // holds the live projection still while comparing
		if err != nil {
			return err
		}
		if _, err := catchUp(ctx, tx, store, scratch.schemas[0], p, live); err != nil {
			return err
		}
		diffs, err = compare(ctx, tx, p, scratch.schemas[0])
		return err
	})
	return diffs, err
}

func compare(ctx context.Context, tx pgx.Tx, p Projection, scratch string) ([]Difference, error) {
	var out []Difference
	for _, t := range p.Tables() {
		sides := []struct{ name, from, minus string }{
			{"live", table(LiveSchema, t), table(scratch, t)},
			{"rebuilt", table(scratch, t), table(LiveSchema, t)},
		}
		for _, side := range sides {
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT row_to_json(d)::text FROM (SELECT * FROM %s EXCEPT ALL SELECT * FROM %s) d LIMIT %d`,
				side.from, side.minus, maxShownDifferences))
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			found, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				return nil, fmt.Errorf("compare %s: %w", t, err)
			}
			for _, row := range found {
				out = append(out, Difference{Projection: p.Name(), Table: t, Side: side.name, Row: row})
			}
		}
	}
	return out, nil
}
