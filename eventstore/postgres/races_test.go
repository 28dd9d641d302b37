package postgres

import (
	"errors"
	"sync"
	"testing"

	"github.com/google/uuid"

	"ledger/eventstore"
)

// TestConditionRacesNeedLocks runs the conformance suite's race of a
// conditioned append against a writer of its condition's stream, on a
// store that takes no advisory locks: then the log does show a writer's
// event before an append conditioned on the version it left. So the
// conformance test can catch the fault it guards against, and the locks
// are what prevent it.
func TestConditionRacesNeedLocks(t *testing.T) {
	t.Parallel()
	s, _ := newTestStore(t)
	s.noLocks = true
	const races, atOnce = 1000, 8
	violations := 0
	for done := 0; done < races && violations == 0; done += atOnce {
		violations += raceRound(t, s, atOnce)
	}
	if violations == 0 {
		t.Fatalf("%d races without locks never put a writer before an append conditioned on the version it left", races)
	}
}

// raceRound runs n races at once and returns how many ended with both
// appends landed and the writer's event first.
func raceRound(t *testing.T, s *Store, n int) int {
	t.Helper()
	type race struct {
		by, stream                string
		conditioned, writer       eventstore.AppendResult
		conditionedErr, writerErr error
	}
	races := make([]*race, n)
	for i := range races {
		r := &race{by: "by-" + uuid.NewString(), stream: "s-" + uuid.NewString()}
		mustAppend(t, s, eventstore.To(r.by, eventstore.NoStream(), newEvent(t, "Set")))
		races[i] = r
	}
	start := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range races {
		wg.Go(func() {
			<-start
			req := eventstore.To(r.stream, eventstore.NoStream(), newEvent(t, "Conditioned"))
			req.Conditions = []eventstore.Condition{{Stream: r.by, Version: 1}}
			r.conditioned, r.conditionedErr = s.Append(t.Context(), req)
		})
		wg.Go(func() {
			<-start
			r.writer, r.writerErr = s.Append(t.Context(), eventstore.To(r.by, eventstore.Exact(1), newEvent(t, "Moved")))
		})
	}
	close(start)
	wg.Wait()
	violations := 0
	for _, r := range races {
		switch {
		case r.writerErr != nil:
			t.Fatalf("writer: %v", r.writerErr)
		case errors.Is(r.conditionedErr, eventstore.ErrConcurrency):
		case r.conditionedErr != nil:
			t.Fatalf("conditioned append: %v", r.conditionedErr)
		case r.writer.Position < r.conditioned.Position:
			violations++
		}
	}
	return violations
}
