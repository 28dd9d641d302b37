package projections

import (
	"context"

	"ledger/eventstore"
)

// applyBatch applies batch to p as the live runner does: after p's
// checkpoint in schema, with its checkpoint, in one transaction that does
// not wait for the WAL flush.
func applyBatch(ctx context.Context, db TxBeginner, schema string, p Projection, batch []eventstore.Event) error {
	return applyWith(ctx, db, schema, p, batch, p.Apply, true)
}
