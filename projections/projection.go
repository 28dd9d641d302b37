// Package projections keeps the Postgres read models in step with the
// event log. Each projection reads the global log from its own checkpoint,
// catching up and then following live; batches of events travel through a
// Watermill router, and each batch commits in one transaction together
// with the projection's checkpoint, so a crash never loses or
// double-applies an event. An event a projection cannot apply is parked
// (park.go), and an outage is retried until the database is back.
package projections

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"

	"ledger/eventstore"
)

// LiveSchema holds the read models that queries serve.
const LiveSchema = "readmodel"

// Projection turns events into the rows of its tables.
type Projection interface {
	// Name identifies the projection; it keys its checkpoint and lock and
	// never changes.
	Name() string
	// Tables lists the tables the projection owns.
	Tables() []string
	// Create creates the projection's tables, empty, with their indexes,
	// in schema.
	Create(ctx context.Context, tx pgx.Tx, schema string) error
	// Apply applies a batch of events, in position order, to the tables in
	// schema. It must ignore events it has no use for.
	Apply(ctx context.Context, tx pgx.Tx, schema string, batch []eventstore.Event) error
}

// Indexer is a projection whose secondary indexes are made apart from its
// tables, so that a rebuild can load the tables first and index them once,
// which is much cheaper than keeping the indexes up to date row by row.
type Indexer interface {
	// CreateIndexes creates the indexes of the projection's tables in
	// schema.
	CreateIndexes(ctx context.Context, tx pgx.Tx, schema string) error
}

// createIndexes creates p's indexes in schema, if it has any of its own.
func createIndexes(ctx context.Context, tx pgx.Tx, schema string, p Projection) error {
	if ix, ok := p.(Indexer); ok {
		if err := ix.CreateIndexes(ctx, tx, schema); err != nil {
			return fmt.Errorf("create indexes of %s: %w", p.Name(), err)
		}
	}
	return nil
}

// table returns the schema-qualified, quoted name of table.
func table(schema, name string) string {
	return pgx.Identifier{schema, name}.Sanitize()
}

// lockKey is the advisory lock that lets one replica at a time run the
// projection named name.
func lockKey(name string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "ledger projection %s", name)
	return int64(h.Sum64())
}
