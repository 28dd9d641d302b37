package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"ledger/eventstore"
)

func isInvalid(err error) bool { return errors.Is(err, eventstore.ErrInvalidEvent) }

// TestWakeUps checks how a subscriber in one process learns of an append in
// another: by NOTIFY when the appender announces it, by polling when not.
func TestWakeUps(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		poll     time.Duration
		announce bool
	}{
		{"notify from another process", time.Hour, true},
		{"polling when nothing announces", 50 * time.Millisecond, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			writer, pool := newTestStore(t)
			reader := New(pool, WithPollInterval(tc.poll))
			t.Cleanup(reader.Close)

			got := make(chan eventstore.Event, 1)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			go func() {
				_ = reader.Subscribe(ctx, 0, func(_ context.Context, b []eventstore.Event) error {
					got <- b[0]
					return nil
				})
			}()
			time.Sleep(100 * time.Millisecond) // let the subscriber go idle

			tx, err := pool.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			res := insertInTx(t, tx, "wake-1", newEvent(t, "Woke"))
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if tc.announce {
				writer.Committed()
			}
			select {
			case e := <-got:
				if e.Position != res.Position {
					t.Fatalf("delivered position %d, want %d", e.Position, res.Position)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("subscriber in the other process was not woken")
			}
		})
	}
}
