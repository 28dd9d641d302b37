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

// applyUnguarded applies batch to p with apply as applyBatch does, but
// fails, moving nothing, on an event p cannot apply, where applyBatch and
// the runner would park it: for tests of what a projection refuses.
func applyUnguarded(ctx context.Context, db TxBeginner, schema string, p Projection, batch []eventstore.Event, apply applyFunc) error {
	_, err := applyGroupTx(ctx, db, schema, []member{{name: p.Name(), apply: apply}}, batch, true, false, nil)
	return err
}
