package commands_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"ledger/commands"
	"ledger/domain"
	"ledger/eventstore"
	"ledger/eventstore/postgres"
	"ledger/internal/pgtest"
)

func newPostgresWorld(t *testing.T) *world {
	t.Helper()
	store := postgresStore(t)
	return newWorld(t, func(func() time.Time) eventstore.Store { return store })
}

// postgresStore is an event store in a fresh database of its own.
func postgresStore(t *testing.T) *postgres.Store {
	t.Helper()
	pool := pgtest.NewDatabase(t, 16)
	if err := postgres.Migrate(context.Background(), pool); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	store := postgres.New(pool)
	t.Cleanup(store.Close)
	return store
}

// TestPostgresRacingRetriesAppendOnce sends one request, with one
// idempotency key, from many goroutines at once: one append, and every
// caller gets its result.
func TestPostgresRacingRetriesAppendOnce(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	const racers = 8
	req := w.req(w.admin)
	req.IdempotencyKey = "add-finance"
	results := make([]commands.UserAdded, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			var err error
			results[i], err = w.svc.AddTenantUser(context.Background(), req, commands.AddUser{Name: "Fin", Role: domain.RoleFinance})
			if err != nil {
				t.Errorf("racer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	fresh := 0
	for _, r := range results {
		if !r.Replayed {
			fresh++
		}
		if r.State == nil || r.State.ID != results[0].State.ID || r.Position != results[0].Position {
			t.Fatalf("racers saw different users: %+v and %+v", r.State, results[0].State)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d racers added the user, want 1", fresh)
	}
	tenant, err := w.store.ReadStream(context.Background(), commands.TenantStream(w.tenant), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(tenant) != 3 { // created, admin added, finance added once
		t.Fatalf("tenant stream has %d events, want 3", len(tenant))
	}
}

// TestPostgresConcurrentWritersAllLand has many callers change one
// aggregate at once without If-Match: each is decided again on fresh state
// when another wins, so all land.
func TestPostgresConcurrentWritersAllLand(t *testing.T) {
	t.Parallel()
	w := newPostgresWorld(t)
	const writers = 6
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			cmd := commands.AddUser{Name: "auditor", Role: domain.RoleAuditor}
			if _, err := w.svc.AddTenantUser(context.Background(), w.req(w.admin), cmd); err != nil {
				t.Errorf("writer %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	tenant, err := w.store.ReadStream(context.Background(), commands.TenantStream(w.tenant), 1, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(tenant) != 2+writers {
		t.Fatalf("tenant stream has %d events, want %d", len(tenant), 2+writers)
	}
}
