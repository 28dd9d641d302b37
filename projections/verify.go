package projections

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/domain"
	"ledger/eventstore"
)

// Difference is what Verify found wrong with a read model: a row that
// only one of a live table and its rebuild has, a subscription that the
// read model and the domain disagree on, or a projection behind the head
// of the log.
type Difference struct {
	Projection string
	Table      string
	// Side is one of SideLive, SideRebuilt, SideDomain and SideHead.
	Side string
	// Row is the row as JSON, its values as their text in the read model;
	// for SideDomain what each side says, for SideHead how far behind.
	Row string
}

// The sides of a Difference.
const (
	// SideLive is a row only the live table has.
	SideLive = "live"
	// SideRebuilt is a row only the rebuild has.
	SideRebuilt = "rebuilt"
	// SideDomain is a subscription whose version or MRR, as the read
	// model's SQL computes them, differ from its stream folded by the
	// domain; or an invoice that does (verifyInvoices).
	SideDomain = "domain"
	// SideSubscription is an item whose copy of its subscription's
	// currency, account, creating partner or end date (which the MRR
	// report reads) differs from the subscription's row.
	SideSubscription = "subscription"
	// SideHead is a projection that did not reach the head of the log,
	// as Verify found it when it began, within behindWait.
	SideHead = "head"
)

// behindWait is how long Verify waits for a projection that is behind
// the head of the log to reach it, before reporting it behind: a running
// projection gets there in milliseconds, a halted one never does.
const behindWait = 5 * time.Second

// maxBehindCount bounds the events Verify counts to say how far behind
// the head a projection is.
const maxBehindCount = 100_000

// maxShownDifferences bounds the rows Verify returns per table and side.
const maxShownDifferences = 10

// Verify rebuilds projection p into a scratch schema up to the live
// projection's checkpoint and compares every table with the live one,
// every value by its exact text (100.000000 is not 100). For the
// subscriptions projection it also folds every subscription's stream with
// the domain and compares its version and MRR with the read model's SQL
// (verifyMRR), and for the invoices projection each invoice with its
// account's invoice stream (verifyInvoices), and for mrr_movements each
// subscription's MRR steps with the domain's fold of its stream
// (verifyMRRSteps). Then it checks that the projection reached the head
// of the log as it was when Verify began. It returns what differs (at
// most ten rows per table and side), none when the live read model
// equals a fresh replay of the whole log.
func Verify(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, p Projection, progress Progress) ([]Difference, error) {
	head, err := store.Head(ctx)
	if err != nil {
		return nil, err
	}
	var target int64
	err = pool.QueryRow(ctx, `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1`, p.Name()).Scan(&target)
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
	if err != nil {
		return nil, err
	}
	if _, ok := p.(Subscriptions); ok {
		drift, err := verifyMRR(ctx, pool, store, domain.DateOf(time.Now()))
		if err != nil {
			return nil, err
		}
		copies, err := verifyItemCopies(ctx, pool)
		if err != nil {
			return nil, err
		}
		diffs = append(append(diffs, drift...), copies...)
	}
	if _, ok := p.(Invoices); ok {
		drift, err := verifyInvoices(ctx, pool, store)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, drift...)
	}
	if _, ok := p.(MRRHistory); ok {
		drift, err := verifyMRRSteps(ctx, pool, store)
		if err != nil {
			return nil, err
		}
		diffs = append(diffs, drift...)
	}
	behind, err := verifyHead(ctx, pool, store, p, head)
	if err != nil || behind == nil {
		return diffs, err
	}
	return append(diffs, *behind), nil
}

func compare(ctx context.Context, tx pgx.Tx, p Projection, scratch string) ([]Difference, error) {
	var out []Difference
	for _, t := range p.Tables() {
		cols, err := comparedColumns(ctx, tx, scratch, t)
		if err != nil {
			return nil, fmt.Errorf("compare %s: %w", t, err)
		}
		sides := []struct{ name, from, minus string }{
			{SideLive, table(LiveSchema, t), table(scratch, t)},
			{SideRebuilt, table(scratch, t), table(LiveSchema, t)},
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
// of schema: every column as its text, so that values equal but written
// differently (numeric 100.000000 and 100) differ, as they do in what the
// API shows; a json one through jsonb, whose text ignores the layout
// (spaces, the order of keys) but keeps every number as written.
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
			cols = append(cols, col+"::jsonb::text AS "+col)
		} else {
			cols = append(cols, col+"::text AS "+col)
		}
		return nil
	})
	return strings.Join(cols, ", "), err
}

// verifyHead waits up to behindWait for p's live checkpoint to reach
// head, and returns a SideHead difference saying by how many events it
// is behind when it does not.
func verifyHead(ctx context.Context, pool *pgxpool.Pool, store eventstore.Store, p Projection, head eventstore.Position) (*Difference, error) {
	deadline := time.Now().Add(behindWait)
	var at int64
	for {
		err := pool.QueryRow(ctx, `SELECT position FROM `+table(LiveSchema, "checkpoints")+` WHERE name = $1`, p.Name()).Scan(&at)
		if err != nil {
			return nil, fmt.Errorf("read checkpoint of %s: %w", p.Name(), err)
		}
		if eventstore.Position(at) >= head {
			return nil, nil
		}
		if time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	n, err := countEvents(ctx, store, eventstore.Position(at), head)
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("behind the head by %d events", n)
	switch {
	case n >= maxBehindCount:
		what = fmt.Sprintf("behind the head by at least %d events", n)
	case n == 1:
		what = "behind the head by 1 event"
	}
	return &Difference{Projection: p.Name(), Side: SideHead, Row: fmt.Sprintf("%s (checkpoint %d, head %d)", what, at, head)}, nil
}

// countEvents counts the events after position from up to position to,
// at most about maxBehindCount.
func countEvents(ctx context.Context, store eventstore.Store, from, to eventstore.Position) (int64, error) {
	var n int64
	for from < to && n < maxBehindCount {
		batch, err := store.ReadAll(ctx, from, rebuildBatch)
		if err != nil {
			return n, fmt.Errorf("count events behind: %w", err)
		}
		batch = upTo(batch, to)
		if len(batch) == 0 {
			break
		}
		n, from = n+int64(len(batch)), batch[len(batch)-1].Position
	}
	return n, nil
}
