package projections

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"ledger/eventstore"
)

// ErrLagging reports that the read models did not reach a position in time.
var ErrLagging = errors.New("read models have not reached the position yet")

// BeyondHeadError reports a wait for a position the log has not reached:
// no write has been given it, so no wait would end.
type BeyondHeadError struct {
	Position eventstore.Position
	Head     eventstore.Position
}

// Error implements error.
func (e *BeyondHeadError) Error() string {
	return fmt.Sprintf("position %d is beyond the log's head, %d", e.Position, e.Head)
}

// lowestCheckpointSQL reads how far every read model has got.
var lowestCheckpointSQL = `SELECT coalesce(min(position), 0) FROM ` + table(LiveSchema, "checkpoints")

// pollTimeout bounds one read of the checkpoints by a Waiter's poller.
const pollTimeout = 2 * time.Second

func lagging(ctx context.Context, position eventstore.Position, timeout time.Duration) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("position %d after %s: %w", position, timeout, ErrLagging)
	}
	return ctx.Err()
}

// Waiter lets reads wait for the read models to reach a position
// (Ledger-Min-Position). While anyone waits, one goroutine reads the
// lowest checkpoint, at once when a new waiter arrives and then at
// growing intervals, and wakes every waiter after each read: a thousand
// waiting requests cost the database what one does. A position beyond the
// log's head is refused at once. It is safe for concurrent use, and the
// one way to wait for the read models.
type Waiter struct {
	pool *pgxpool.Pool
	head func(context.Context) (eventstore.Position, error)

	mu       sync.Mutex
	reached  eventstore.Position // the lowest checkpoint last read
	seenHead eventstore.Position // the highest head read
	err      error               // of the last read, nil when it succeeded
	wake     chan struct{}       // closed and replaced after each read
	waiters  int
	polling  bool
	kick     chan struct{}
	loops    int // poll loops running: never more than one
	maxLoops int
}

// NewWaiter returns a Waiter on the checkpoints in pool, that reads the
// log's head with head.
func NewWaiter(pool *pgxpool.Pool, head func(context.Context) (eventstore.Position, error)) *Waiter {
	return &Waiter{pool: pool, head: head, wake: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// Wait returns once every read model includes position, or after timeout
// with ErrLagging. A position beyond the log's head is a *BeyondHeadError
// at once.
func (w *Waiter) Wait(ctx context.Context, position eventstore.Position, timeout time.Duration) error {
	w.mu.Lock()
	reached, seenHead := w.reached, w.seenHead
	w.mu.Unlock()
	if position <= reached {
		return nil
	}
	if position > seenHead {
		if err := w.checkHead(ctx, position); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	w.join()
	defer w.leave()
	for {
		w.mu.Lock()
		reached, err, wake := w.reached, w.err, w.wake
		w.mu.Unlock()
		switch {
		case position <= reached:
			return nil
		case err != nil && ctx.Err() == nil:
			return fmt.Errorf("read checkpoints: %w", err)
		}
		select {
		case <-ctx.Done():
			return lagging(ctx, position, timeout)
		case <-wake:
		}
	}
}

// checkHead reads the log's head and refuses a position beyond it.
func (w *Waiter) checkHead(ctx context.Context, position eventstore.Position) error {
	head, err := w.head(ctx)
	if err != nil {
		return fmt.Errorf("read the log's head: %w", err)
	}
	w.mu.Lock()
	w.seenHead = max(w.seenHead, head)
	w.mu.Unlock()
	if position > head {
		return &BeyondHeadError{Position: position, Head: head}
	}
	return nil
}

// join counts a waiter in, starts the poller when none runs and asks it
// to read now.
func (w *Waiter) join() {
	w.mu.Lock()
	w.waiters++
	if !w.polling {
		w.polling, w.err = true, nil
		w.loops++
		w.maxLoops = max(w.maxLoops, w.loops)
		go w.poll()
	}
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *Waiter) leave() {
	w.mu.Lock()
	w.waiters--
	w.mu.Unlock()
}

// poll reads the lowest checkpoint and wakes the waiters, until none is
// left.
func (w *Waiter) poll() {
	pause := time.Millisecond
	for {
		lowest, err := w.readLowest()
		w.mu.Lock()
		if err == nil {
			w.reached = max(w.reached, lowest)
		}
		w.err = err
		close(w.wake)
		w.wake = make(chan struct{})
		if w.waiters == 0 {
			w.polling = false
			w.loops--
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		select {
		case <-w.kick:
			pause = time.Millisecond
		case <-time.After(pause):
			pause = min(2*pause, 25*time.Millisecond)
		}
	}
}

// readLowest reads the lowest checkpoint; read models not set up yet
// count as at 0.
func (w *Waiter) readLowest() (eventstore.Position, error) {
	ctx, cancel := context.WithTimeout(context.Background(), pollTimeout)
	defer cancel()
	var lowest int64
	err := w.pool.QueryRow(ctx, lowestCheckpointSQL).Scan(&lowest)
	if notSetUp(err) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return eventstore.Position(lowest), nil
}

// notSetUp reports the error of a query on read models that do not exist
// yet (SQLSTATE 42P01, undefined_table).
func notSetUp(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}
