package projections

import (
	"context"
	"errors"
	"strings"
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

// A projection of a group that cannot apply an event parks it; the other
// projections of the group apply it, and every checkpoint moves on.
func TestPoisonInAGroupParksOnlyInTheProjectionThatFails(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first := e.write(t, 10)
	bad := first[4]
	e.start(t, &ledgerOf{name: "sound"}, &ledgerOf{name: "broken", poison: func(ev eventstore.Event) bool { return ev.Position == bad }})
	e.waitFor(t, "sound", 10, first[9])
	more := e.write(t, 5)
	e.waitFor(t, "sound", 15, more[4])
	e.waitFor(t, "broken", 13, more[4]) // all but the poison event and the later one of its stream, note-4
	got := e.parked(t)
	if len(got) != 2 || got[0].Projection != "broken" || got[0].Position != bad || got[0].Stream != "note-4" ||
		!strings.Contains(got[0].Error, "poison, as told") || got[1].Position != more[4] || got[1].Error != skippedReason {
		t.Fatalf("parked %+v, want the event at %d of note-4 in broken only, then the one at %d skipped", got, bad, more[4])
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
