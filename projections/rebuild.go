package projections

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// rebuildBatch is how many events a rebuild reads and applies at a time,
// each batch in a transaction of its own.
const rebuildBatch = 10000

// headWait bounds how long a rebuild waits for events before the head of
// the log that the store does not yield yet, behind a transaction still
// running.
const headWait = 5 * time.Second

// ErrHeldBack is a rebuild or verify that could not read the log up to
// its head: committed events wait behind a transaction still running
// somewhere on the database server, which `ledger projections status`,
// /readyz and docs/operations.md name. Nothing was swapped in.
var ErrHeldBack = errors.New("the log's readers are held back by a transaction still running; nothing was swapped in: try again once it ends")

// rebuildAhead is how many batches the reading of the log may run ahead
// of a projection's writing during a rebuild.
const rebuildAhead = 2

// indexConcurrency bounds the indexes a rebuild makes at once, and
// indexMemory is the maintenance_work_mem of each, enough to sort the
// keys of a few million rows in memory.
const (
	indexConcurrency = 4
	indexMemory      = "256MB"
)

// Progress is told how far a long job has come: in its step, done of
// about total.
type Progress func(step Step, done, total int64)

// Step is a step of a rebuild or verify, named by what it counts.
type Step string

// The steps of a rebuild, in order: the log is read and applied, then the
// loaded tables are indexed, then vacuumed and analyzed before the swap.
const (
	StepEvents  Step = "events"
	StepIndexes Step = "indexes"
	StepTables  Step = "tables vacuumed"
)

// tell calls progress, if there is one.
func (progress Progress) tell(step Step, done, total int64) {
	if progress != nil {
		progress(step, done, total)
	}
}

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
	defer scratch.drop(context.WithoutCancel(ctx), pool) // after a failure; after a swap, dropped already below
	if err == nil {
		err = vacuumScratch(ctx, pool, scratch.schemas, ps, progress)
	}
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
	scratch.drop(ctx, pool) // the replaced tables with them, once the swap no longer holds readers back
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
// until, or to the head as it finds it when until is 0. Indexes of an
// Indexer are made once the tables are loaded.
func buildScratch(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, until eventstore.Position, progress Progress) (scratchBuild, error) {
	var b scratchBuild
	for _, p := range ps {
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		b.schemas = append(b.schemas, "readmodel_build_"+p.Name()+"_"+hex.EncodeToString(suffix))
	}
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i, p := range ps {
			if err := setupSchema(ctx, tx, b.schemas[i], []Projection{p}, true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return b, err
	}
	defer lessGC()()
	if err := b.load(ctx, pool, store, ps, until, progress); err != nil {
		return b, err
	}
	return b, indexScratch(ctx, pool, b.schemas, ps, progress)
}

// rebuildGCPercent is the garbage collector's GOGC while a rebuild loads
// its tables. A rebuild allocates fast (every event it reads) and keeps
// little (the batches in flight): collecting a quarter as often as the
// default saves a good part of its CPU, for a heap of a few hundred MB.
const rebuildGCPercent = 400

var gcMu struct {
	sync.Mutex
	builds int
	was    int
}

// lessGC raises GOGC to rebuildGCPercent, unless it is higher already,
// until the function it returns is called by every build that called it.
func lessGC() (restore func()) {
	gcMu.Lock()
	defer gcMu.Unlock()
	if gcMu.builds == 0 {
		gcMu.was = debug.SetGCPercent(rebuildGCPercent)
		if gcMu.was < 0 || gcMu.was > rebuildGCPercent {
			debug.SetGCPercent(gcMu.was)
		}
	}
	gcMu.builds++
	return func() {
		gcMu.Lock()
		defer gcMu.Unlock()
		if gcMu.builds--; gcMu.builds == 0 {
			debug.SetGCPercent(gcMu.was)
		}
	}
}

// load applies the log to the scratch tables, up to until (0: the head).
// It reads the log once, and hands each batch to one goroutine per
// projection, which applies it in a transaction with the projection's
// checkpoint (through Load for a BulkLoader) while the next batches are
// read: the reading and each projection's writing go on at once, on
// connections of their own.
func (b *scratchBuild) load(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, ps []Projection, until eventstore.Position, progress Progress) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := newProgressTracker(len(ps), logSize(ctx, pool), progress)
	feeds := make([]chan []eventstore.Event, len(ps))
	var wg sync.WaitGroup
	for i, p := range ps {
		feeds[i] = make(chan []eventstore.Event, rebuildAhead)
		apply := p.Apply
		if l, ok := p.(BulkLoader); ok {
			apply = l.Load
		}
		wg.Go(func() {
			for batch := range feeds[i] {
				if err := applyWith(ctx, pool, b.schemas[i], p, batch, apply, true); err != nil {
					cancel(err)
					return
				}
				done.add(i, len(batch))
			}
		})
	}
	err := b.read(ctx, store, until, feeds)
	for _, f := range feeds {
		close(f)
	}
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

// logSize is about how many events the log holds, for progress: the
// statistics' count of the events table's rows, which costs nothing to
// read, where counting them would hold the start of a rebuild back. It is
// 0 when unknown.
func logSize(ctx context.Context, pool *pgxpool.Pool) int64 {
	var n int64
	_ = pool.QueryRow(ctx, `SELECT coalesce(n_live_tup, 0) FROM pg_stat_user_tables WHERE relid = 'events'::regclass`).Scan(&n)
	return n
}

// read reads the log after b.at, up to until, or when until is 0 up to
// the head as it was when the read began (and the rest of the batch that
// passes it), and sends each batch to every feed. Events that the store
// does not yield yet, behind a transaction still running, are waited for
// up to headWait without progress: then it is ErrHeldBack, rather than
// read models short of what they were asked to hold.
func (b *scratchBuild) read(ctx context.Context, store eventstore.Store, until eventstore.Position, feeds []chan []eventstore.Event) error {
	target := until
	if target == 0 {
		head, err := store.Head(ctx)
		if err != nil {
			return err
		}
		target = head
	}
	pause, waited := time.Millisecond, time.Duration(0)
	for {
		batch, err := store.ReadAll(ctx, b.at, rebuildBatch)
		if err != nil {
			return err
		}
		batch = upTo(batch, until)
		if len(batch) == 0 {
			if b.at >= target {
				return nil
			}
			if waited >= headWait {
				return fmt.Errorf("read the log after position %d of %d: %w", b.at, target, ErrHeldBack)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
			waited, pause = waited+pause, min(2*pause, 50*time.Millisecond)
			continue
		}
		for _, f := range feeds {
			select {
			case f <- batch:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		b.at, b.events = batch[len(batch)-1].Position, b.events+int64(len(batch))
		if b.at >= target {
			return nil
		}
		pause, waited = time.Millisecond, 0
	}
}

// progressTracker tells progress how many events every projection has
// applied, of about total.
type progressTracker struct {
	mu       sync.Mutex
	applied  []int64
	told     int64
	total    int64
	progress Progress
}

func newProgressTracker(projections int, total int64, progress Progress) *progressTracker {
	return &progressTracker{applied: make([]int64, projections), total: total, progress: progress}
}

// add counts n more events applied by projection i.
func (t *progressTracker) add(i, n int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.applied[i] += int64(n)
	if least := slices.Min(t.applied); least > t.told {
		t.told = least
		t.progress.tell(StepEvents, least, max(t.total, least))
	}
}

// indexScratch makes the indexes of the projections' loaded scratch
// tables, telling progress as each job ends. Those of a statementIndexer
// are made at the same time, up to indexConcurrency at once, each on a
// connection of its own and with indexMemory to sort in; the table is
// scanned by each of them, and Postgres lets concurrent scans of a table
// share their reads.
func indexScratch(ctx context.Context, pool *pgxpool.Pool, schemas []string, ps []Projection, progress Progress) error {
	var jobs []func(pgx.Tx) error
	var then []string
	for i, p := range ps {
		switch ix := p.(type) {
		case statementIndexer:
			each, after := ix.indexStatements(schemas[i])
			for _, stmt := range each {
				jobs = append(jobs, func(tx pgx.Tx) error {
					_, err := tx.Exec(ctx, stmt)
					return err
				})
			}
			then = append(then, after...)
		case Indexer:
			jobs = append(jobs, func(tx pgx.Tx) error { return createIndexes(ctx, tx, schemas[i], p) })
		}
	}
	errs := make([]error, len(jobs))
	slots := make(chan struct{}, indexConcurrency)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		made int64
	)
	total := int64(len(jobs))
	progress.tell(StepIndexes, 0, total)
	for j, job := range jobs {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			errs[j] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off; SET LOCAL max_parallel_maintenance_workers = 0; SET LOCAL maintenance_work_mem = '`+indexMemory+`'`); err != nil {
					return err
				}
				return job(tx)
			})
			mu.Lock()
			defer mu.Unlock()
			made++
			progress.tell(StepIndexes, made, total)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("index rebuilt tables: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for _, stmt := range then {
			if _, err := tx.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("index rebuilt tables: %w", err)
			}
		}
		return nil
	})
}

// vacuumScratch vacuums and analyzes the projections' rebuilt tables
// before they are swapped in: the planner then knows them from their
// first query, and the visibility map says every page is visible to all,
// which index-only scans (the audit log's) need not to read the table.
// Left to autovacuum, a table loaded at once waits until enough rows are
// inserted after it.
func vacuumScratch(ctx context.Context, pool *pgxpool.Pool, schemas []string, ps []Projection, progress Progress) error {
	var total, done int64
	for _, p := range ps {
		total += int64(len(p.Tables()))
	}
	progress.tell(StepTables, 0, total)
	for i, p := range ps {
		for _, t := range p.Tables() {
			if _, err := pool.Exec(ctx, `VACUUM (ANALYZE) `+table(schemas[i], t)); err != nil {
				return fmt.Errorf("vacuum rebuilt %s: %w", t, err)
			}
			done++
			progress.tell(StepTables, done, total)
		}
	}
	return nil
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
		if err := applyGuarded(ctx, tx, schema, p, batch); err != nil {
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
// live tables out, into retired(scratch) (a table new in this build has
// none to move out), and takes over the scratch checkpoint and parked
// events. Dropping the replaced tables is left to after the commit:
// unlinking their files takes a while, and the swap holds the live tables
// locked until it commits.
func swap(ctx context.Context, tx pgx.Tx, p Projection, scratch string) error {
	out := retired(scratch)
	if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{out}.Sanitize()); err != nil {
		return err
	}
	for _, t := range p.Tables() {
		stmt := fmt.Sprintf(`ALTER TABLE IF EXISTS %s SET SCHEMA %s; ALTER TABLE %s SET SCHEMA %s`,
			table(LiveSchema, t), pgx.Identifier{out}.Sanitize(), table(scratch, t), pgx.Identifier{LiveSchema}.Sanitize())
		if _, err := tx.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("swap table %s: %w", t, err)
		}
	}
	at, err := checkpoint(ctx, tx, scratch, p.Name())
	if err != nil {
		return err
	}
	if err := moveParked(ctx, tx, p.Name(), scratch); err != nil {
		return fmt.Errorf("parked events: %w", err)
	}
	return saveCheckpoint(ctx, tx, LiveSchema, p.Name(), at)
}

// retired is the schema that the live tables replaced from scratch move
// to.
func retired(scratch string) string { return scratch + "_retired" }

// drop removes the scratch schemas and those of the tables they replaced,
// in one transaction that need not wait for its WAL to be flushed: after
// a crash they would be gone, or left behind as after a failed build.
func (b scratchBuild) drop(ctx context.Context, pool *pgxpool.Pool) {
	if len(b.schemas) == 0 {
		return
	}
	var names []string
	for _, schema := range b.schemas {
		names = append(names, pgx.Identifier{schema}.Sanitize(), pgx.Identifier{retired(schema)}.Sanitize())
	}
	_ = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `SET LOCAL synchronous_commit = off; DROP SCHEMA IF EXISTS `+strings.Join(names, ", ")+` CASCADE`)
		return err
	})
}
