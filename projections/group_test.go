package projections

import (
	"context"
	"errors"
	"testing"
	"time"

	"ledger/eventstore"
)

func TestGroupAppliesEachProjectionFromItsOwnCheckpoint(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 20)
	ahead := &ledgerOf{name: "ahead"}
	stop := e.start(t, ahead)
	e.waitFor(t, "ahead", 20, first[19])
	if err := stop(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("runner stopped with %v", err)
	}
	more := e.write(t, 10)
	e.start(t, ahead, &ledgerOf{name: "behind"})
	e.waitFor(t, "ahead", 30, more[9])
	e.waitFor(t, "behind", 30, more[9])
}

func TestPoisonInAGroupHaltsOnlyTheProjectionThatFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 10)
	r := NewRunner(e.pool, e.store, discard(),
		&ledgerOf{name: "sound"}, &ledgerOf{name: "broken", fail: func([]eventstore.Event) bool { return true }})
	r.retries = 1
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	e.waitFor(t, "sound", 10, first[9])
	more := e.write(t, 5)
	e.waitFor(t, "sound", 15, more[4])
	e.waitFor(t, "broken", 0, 0)
	if cp := e.checkpoint(t, "broken"); cp != 0 {
		t.Fatalf("broken's checkpoint = %d; want 0", cp)
	}
}

// A replica that holds some of its projections' locks takes the others
// over when the replica holding them stops, even with no events to apply.
func TestAReplicaTakesOverTheLocksItLacked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 10)
	x, y := &ledgerOf{name: "x"}, &ledgerOf{name: "y"}
	stopB := e.start(t, x)
	e.waitFor(t, "x", 10, first[9])
	e.start(t, x, y) // takes y; x is B's
	e.waitFor(t, "y", 10, first[9])
	if err := stopB(); err != nil && !errors.Is(err, context.Canceled) {
		t.Logf("replica B stopped with %v", err)
	}
	time.Sleep(200 * time.Millisecond) // A takes x over while idle
	more := e.write(t, 10)
	e.waitFor(t, "x", 20, more[9])
	e.waitFor(t, "y", 20, more[9])
}
