package projections

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// Outdated returns the projections of ps whose live tables are not the
// ones this build creates: a table missing, a column added, removed or of
// another type, an index changed. It compares the live schema with the
// tables Create makes in a scratch schema that it rolls back, so a change
// of a projection's tables needs no version number to be noticed.
// Projections not set up yet are not outdated: Setup creates them.
func Outdated(ctx context.Context, pool *pgxpool.Pool, ps []Projection) ([]Projection, error) {
	var outdated []Projection
	scratch := "shape_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{scratch}.Sanitize()); err != nil {
			return err
		}
		for _, p := range ps {
			set, err := isSetUp(ctx, tx, p)
			if err != nil || !set {
				return err
			}
			if err := p.Create(ctx, tx, scratch); err != nil {
				return fmt.Errorf("create tables of %s: %w", p.Name(), err)
			}
			if err := createIndexes(ctx, tx, scratch, p); err != nil {
				return err
			}
			want, err := shapeOf(ctx, tx, scratch, p.Tables())
			if err != nil {
				return err
			}
			have, err := shapeOf(ctx, tx, LiveSchema, p.Tables())
			if err != nil {
				return err
			}
			if !slices.Equal(want, have) {
				outdated = append(outdated, p)
			}
		}
		return errRollback
	})
	if err != nil && !errors.Is(err, errRollback) {
		return nil, fmt.Errorf("compare the read models' tables: %w", err)
	}
	return outdated, nil
}

// errRollback ends a transaction that only looked.
var errRollback = errors.New("rolled back on purpose")

// isSetUp reports whether p has a checkpoint in the live schema.
func isSetUp(ctx context.Context, tx pgx.Tx, p Projection) (bool, error) {
	var set bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1)`, p.Name()).Scan(&set)
	return set, err
}

// shapeOf describes tables in schema as sorted lines: one per column
// (name, type, nullability) and one per index (its definition, without
// the schema's name).
func shapeOf(ctx context.Context, tx pgx.Tx, schema string, tables []string) ([]string, error) {
	rows, err := tx.Query(ctx, `
SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable
  FROM information_schema.columns WHERE table_schema = $1 AND table_name = ANY($2)
UNION ALL
SELECT tablename || ' ' || indexname || ' ' || replace(indexdef, quote_ident($1) || '.', '')
  FROM pg_indexes WHERE schemaname = $1 AND tablename = ANY($2)
 ORDER BY 1`, schema, tables)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Upgrade rebuilds, beside the live ones, the read models whose tables
// this build changed (see Outdated), and swaps them in: after an upgrade,
// the read models have the new shape and hold the whole log. It returns
// the names of those it rebuilt.
func Upgrade(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, progress Progress) ([]string, error) {
	outdated, err := Outdated(ctx, pool, ps)
	if err != nil || len(outdated) == 0 {
		return nil, err
	}
	names := make([]string, len(outdated))
	for i, p := range outdated {
		names[i] = p.Name()
	}
	if _, err := RebuildAll(ctx, pool, store, outdated, progress); err != nil {
		return nil, fmt.Errorf("rebuild %s in the new shape: %w", strings.Join(names, ", "), err)
	}
	return names, nil
}
