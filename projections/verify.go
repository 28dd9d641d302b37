package projections

import (
	"context"
	"fmt"
	"strings"

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
		cols, err := comparedColumns(ctx, tx, scratch, t)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", t, err)
		}
		sides := []struct{ name, from, minus string }{
			{"live", table(LiveSchema, t), table(scratch, t)},
			{"rebuilt", table(scratch, t), table(LiveSchema, t)},
		}
		for _, side := range sides {
			rows, err := tx.Query(ctx, fmt.Sprintf(`SELECT row_to_json(d)::text FROM (SELECT %[1]s FROM %[2]s EXCEPT ALL SELECT %[1]s FROM %[3]s) d LIMIT %[4]d`,
				cols, side.from, side.minus, maxShownDifferences))
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

// comparedColumns is the select list that compares the rows of table t
// of schema: every column, a json one as jsonb, which has equality (json
// has none) and ignores the layout of the text.
func comparedColumns(ctx context.Context, tx pgx.Tx, schema, t string) (string, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, a.atttypid = 'json'::regtype FROM pg_attribute a
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, table(schema, t))
	if err != nil {
		return "", err
	}
	var cols []string
	var name string
	var isJSON bool
	_, err = pgx.ForEachRow(rows, []any{&name, &isJSON}, func() error {
		col := pgx.Identifier{name}.Sanitize()
		if isJSON {
			col += "::jsonb AS " + col
		}
		cols = append(cols, col)
		return nil
	})
	return strings.Join(cols, ", "), err
}
