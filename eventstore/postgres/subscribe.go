package postgres

import (
	"context"
	"errors"
	"sync"
	"time"

	"ledger/eventstore"
)

// notifyChannel is the LISTEN/NOTIFY channel that wakes subscribers in
// other processes.
const notifyChannel = "ledger_events"

// notifySQL wakes the listeners of notifyChannel. synchronous_commit is read
// at commit, so setting it anywhere in the statement applies.
const notifySQL = `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, '')`

// Subscribe implements eventstore.Store. It reads in batches until it has
// caught up, then waits for a wake-up (a local append, a NOTIFY from
// another process, or the poll interval) and reads again. When committed
// events wait behind a transaction still running, it reads again after a
// pause that doubles from 1 ms to 10 ms; once the same wait has lasted
// longer than heldBackAfter, the pause goes on doubling up to the poll
// interval and wake-ups no longer cut it short: a transaction left open
// holds readers back for as long as it stays open, and reading again at
// every append would only load the server.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.Handler) error {
	w := waiter{pause: minPause}
	for {
		woken := s.wake.wait() // taken before reading, so no wake-up is missed
		batch, err := s.ReadAll(ctx, after, s.opts.batchSize)
		if err != nil {
			return subscriptionErr(ctx, err)
		}
		if len(batch) > 0 {
			if err := handle(ctx, batch); err != nil {
				return err
			}
			after, w = batch[len(batch)-1].Position, waiter{pause: minPause}
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		head, err := s.Head(ctx)
		if err != nil {
			return subscriptionErr(ctx, err)
		}
		idle, wakes := w.next(head > after, s.opts.pollInterval, time.Now())
		if !wakes {
			woken = nil
		}
		timer := time.NewTimer(idle)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-woken:
			timer.Stop()
		case <-timer.C:
		}
	}
}

// minPause and maxPause bound the pause before reading again when events
// wait behind the transaction horizon, while the wait is young: the pause
// doubles from the first to the second, so a reader learns soon that the
// horizon moved. heldBackAfter is when a wait is no longer young.
const (
	minPause      = time.Millisecond
	maxPause      = 10 * time.Millisecond
	heldBackAfter = time.Second
)

// waiter is a caught-up subscriber's pause between reads.
type waiter struct {
	pause time.Duration
	since time.Time // when events were first found waiting behind the horizon
}

// next returns how long to wait before reading again, and whether a
// wake-up may cut that short: the poll interval, while nothing waits
// behind the horizon; else the pause, doubled for the next time.
func (w *waiter) next(behind bool, poll time.Duration, now time.Time) (time.Duration, bool) {
	if !behind {
		*w = waiter{pause: minPause}
		return poll, true
	}
	if w.since.IsZero() {
		w.since = now
	}
	young := now.Sub(w.since) < heldBackAfter
	wait, limit := min(w.pause, poll), poll
	if young {
		limit = maxPause
	}
	w.pause = min(2*w.pause, limit)
	return wait, young
}

func subscriptionErr(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return err
}

// listen holds one connection that LISTENs for other processes' appends and
// wakes this process's subscribers. On failure it reconnects after a pause;
// subscribers poll meanwhile.
func (s *Store) listen(ctx context.Context) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.opts.logger.Warn("event listener stopped; subscribers poll until it reconnects", "channel", notifyChannel, "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	pgConn := conn.Hijack()
	defer pgConn.Close(context.WithoutCancel(ctx))
	if _, err := pgConn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	s.wake.broadcast() // anything committed while no one listened
	for {
		if _, err := pgConn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.wake.broadcast()
	}
}

// notifyLoop sends one NOTIFY, in a transaction of its own, for each burst
// of local appends, at most once per notify interval. Appends never carry a
// NOTIFY, whose commit lock would serialize them. A wake-up needs no
// durability, so its transaction commits without waiting for a WAL flush.
func (s *Store) notifyLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		}
		if _, err := s.pool.Exec(ctx, notifySQL, notifyChannel); err != nil && !errors.Is(err, context.Canceled) {
			s.opts.logger.Warn("notify subscribers of other processes", "channel", notifyChannel, "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.notifyInterval):
		}
	}
}

// broadcaster wakes every goroutine waiting on it: a channel closed and
// replaced on each broadcast.
type broadcaster struct {
	mu sync.Mutex
	ch chan struct{}
}

func newBroadcaster() *broadcaster { return &broadcaster{ch: make(chan struct{})} }

func (b *broadcaster) wait() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.ch
}

func (b *broadcaster) broadcast() {
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.ch)
	b.ch = make(chan struct{})
}
