package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// rebuildBatch is how many events a rebuild reads and applies at a time,
// each batch in a transaction of its own.
const rebuildBatch = 5000

// Progress is told how far a long job has come: events done, of about
// total.
type Progress func(done, total int64)

// RebuildStats says what a rebuild did.
type RebuildStats struct {
	Events   int64
	Duration time.Duration
}

// Rebuild rebuilds projection p from the start of the log beside its live
// tables, in a scratch schema, then swaps the new tables in, in one
// transaction. Reads keep working on the live tables meanwhile; the live
// projection, if running, waits only during the swap.
func Rebuild(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, p Projection, progress Progress) (RebuildStats, error) {
	return RebuildAll(ctx, pool, store, []Projection{p}, progress)
}

// RebuildAll rebuilds every projection of ps as Rebuild does, reading the
// log once for all of them, and swaps them all in in one transaction.
func RebuildAll(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, progress Progress) (RebuildStats, error) {
	start := time.Now()
	if err := Setup(ctx, pool, ps); err != nil {
		return RebuildStats{}, err
	}
	scratch, err := buildScratch(ctx, pool, store, ps, 0, progress)
	defer scratch.drop(context.WithoutCancel(ctx), pool)
	if err != nil {
		return RebuildStats{}, err
	}
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i, p := range ps {
			live, err := checkpoint(ctx, tx, LiveSchema, p.Name()) // holds the live projection back until commit
			if err != nil {
				return err
			}
			if _, err := catchUp(ctx, tx, store, scratch.schemas[i], p, max(live, scratch.at)); err != nil {
				return err
			}
			if err := swap(ctx, tx, p, scratch.schemas[i]); err != nil {
				return fmt.Errorf("swap in rebuilt %s: %w", p.Name(), err)
			}
		}
		return nil
	})
	if err != nil {
		return RebuildStats{}, err
	}
	return RebuildStats{Events: scratch.events, Duration: time.Since(start)}, nil
}

// scratchBuild is projections built into schemas of their own, one each.
type scratchBuild struct {
	schemas []string
	at      eventstore.Position
	events  int64
}

// buildScratch creates a scratch schema for each projection of ps and
// applies the log to their tables there, reading it once: up to position
// until, or to the head as it finds it when until is 0. Each batch is
// applied to the projections at the same time, each in its own
// transaction. Indexes of an Indexer are made once the tables are loaded.
func buildScratch(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, until eventstore.Position, progress Progress) (scratchBuild, error) {
	var b scratchBuild
	for _, p := range ps {
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		schema := "readmodel_build_" + p.Name() + "_" + hex.EncodeToString(suffix)
		b.schemas = append(b.schemas, schema)
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			return setupSchema(ctx, tx, schema, []Projection{p}, true)
		}); err != nil {
			return b, err
		}
	}
	if err := b.load(ctx, pool, store, ps, until, progress); err != nil {
		return b, err
	}
	for i, p := range ps {
		if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return createIndexes(ctx, tx, b.schemas[i], p) }); err != nil {
			return b, err
		}
	}
	return b, nil
}

// load applies the log to the scratch tables, up to until (0: the head).
func (b *scratchBuild) load(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, until eventstore.Position, progress Progress) error {
	var total int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	for {
		batch, err := store.ReadAll(ctx, b.at, rebuildBatch)
		if err != nil {
			return err
		}
		batch = upTo(batch, until)
		if len(batch) == 0 {
			return nil
		}
		if err := applyToAll(ctx, pool, b.schemas, ps, batch); err != nil {
			return err
		}
		b.at, b.events = batch[len(batch)-1].Position, b.events+int64(len(batch))
		if progress != nil {
			progress(b.events, max(total, b.events))
		}
	}
}

// applyToAll applies batch to every projection's scratch schema at once.
func applyToAll(ctx context.Context, pool *pgxpool.Pool, schemas []string, ps []Projection, batch []eventstore.Event) error {
	errs := make([]error, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Go(func() { errs[i] = applyBatch(ctx, pool, schemas[i], p, batch) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// catchUp applies, inside tx, the events after the scratch checkpoint up to
// position to, and returns how many it applied.
func catchUp(ctx context.Context, tx pgx.Tx, store eventstore.Store, schema string, p Projection, to eventstore.Position) (int64, error) {
	var n int64
	for {
		at, err := checkpoint(ctx, tx, schema, p.Name())
		if err != nil || at >= to {
			return n, err
		}
		batch, err := store.ReadAll(ctx, at, rebuildBatch)
		if err != nil {
			return n, err
		}
		batch = upTo(batch, to)
		if len(batch) == 0 {
			return n, nil
		}
		if err := p.Apply(ctx, tx, schema, batch); err != nil {
			return n, fmt.Errorf("apply %s: %w", p.Name(), err)
		}
		if err := saveCheckpoint(ctx, tx, schema, p.Name(), batch[len(batch)-1].Position); err != nil {
			return n, err
		}
		n += int64(len(batch))
	}
}

// upTo cuts batch after position until; 0 keeps it whole.
func upTo(batch []eventstore.Event, until eventstore.Position) []eventstore.Event {
	if until == 0 {
		return batch
	}
	for i, e := range batch {
		if e.Position > until {
			return batch[:i]
		}
	}
	return batch
}

// swap moves p's rebuilt tables from scratch into the live schema and the
// live tables out, and takes over the scratch checkpoint.
func swap(ctx context.Context, tx pgx.Tx, p Projection, scratch string) error {
	retired := scratch + "_retired"
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{retired}.Sanitize()); err != nil {
		return err
	}
	for _, t := range p.Tables() {
		stmt := fmt.Sprintf(`ALTER TABLE %s SET SCHEMA %s; ALTER TABLE %s SET SCHEMA %s`,
			table(LiveSchema, t), pgx.Identifier{retired}.Sanitize(), table(scratch, t), pgx.Identifier{LiveSchema}.Sanitize())
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("swap table %s: %w", t, err)
		}
	}
	at, err := checkpoint(ctx, tx, scratch, p.Name())
	if err != nil {
		return err
	}
	if err := saveCheckpoint(ctx, tx, LiveSchema, p.Name(), at); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DROP SCHEMA `+pgx.Identifier{retired}.Sanitize()+` CASCADE`)
	return err
}

// drop removes the scratch schemas.
func (b scratchBuild) drop(ctx context.Context, pool *pgxpool.Pool) {
	for _, schema := range b.schemas {
		_, _ = pool.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{schema}.Sanitize()+` CASCADE`)
	}
}
