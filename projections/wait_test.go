package projections

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"

	"ledger/eventstore"
)

func TestWaiterRefusesPositionsBeyondTheHeadAtOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 5)
	head := positions[len(positions)-1]
	w := NewWaiter(e.pool, e.store.Head)
	for _, pos := range []eventstore.Position{head + 1, math.MaxUint64} {
		start := time.Now()
		err := w.Wait(t.Context(), pos, 5*time.Second)
		var beyond *BeyondHeadError
		if !errors.As(err, &beyond) || beyond.Head != head || beyond.Position != pos {
			t.Fatalf("Wait(%d) = %v, want a BeyondHeadError naming head %d", pos, err, head)
		}
		if took := time.Since(start); took > time.Second {
			t.Errorf("Wait(%d) took %s to refuse", pos, took)
		}
	}
}

func TestWaiterSharesOnePollAmongWaiters(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	positions := e.write(t, 20)
	last := positions[len(positions)-1]
	w := NewWaiter(e.pool, e.store.Head)

	err := w.Wait(t.Context(), last, 100*time.Millisecond)
	if !errors.Is(err, ErrLagging) {
		t.Fatalf("Wait before any projection runs = %v, want ErrLagging", err)
	}

	const waiters = 200
	errs := make(chan error, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		wg.Go(func() { errs <- w.Wait(t.Context(), positions[i%len(positions)], 30*time.Second) })
	}
	time.Sleep(200 * time.Millisecond)
	e.start(t, Audit{})
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Wait once the projection runs = %v", err)
		}
	}
	w.mu.Lock()
	loops, running := w.maxLoops, w.waiters
	w.mu.Unlock()
	if loops != 1 || running != 0 {
		t.Errorf("%d poll loops at once, %d waiters left; want 1 and 0", loops, running)
	}
	if err := w.Wait(t.Context(), last, time.Millisecond); err != nil {
		t.Errorf("Wait for a position reached = %v, want at once", err)
	}
}
